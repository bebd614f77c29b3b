/* Whether this machine can run this CPU build. Compiled at the baseline ISA
 * (kernels/BUILD), never at the build's own: the loader calls it before it
 * knows whether any other code in the library may run. */
#include <stdio.h>
#include <string.h>

#include <lpk/backend.h>

#ifndef LPK_CPU_LEVEL
#error "LPK_CPU_LEVEL (2, 3 or 4: x86-64-v2/v3/v4) must be set by kernels/BUILD"
#endif

/* What each build is compiled for (-march=x86-64-vN, plus AVX512-BF16 for
 * the avx512 build, whose attention kernels use it). */
static const char *const needs[] = {
    "sse3",    "ssse3",    "sse4.1",   "sse4.2",   "popcnt",
#if LPK_CPU_LEVEL >= 3
    "avx",     "avx2",     "fma",      "bmi",      "bmi2",     "f16c",       "movbe",
#endif
#if LPK_CPU_LEVEL >= 4
    "avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl", "avx512bf16",
#endif
};

/* __builtin_cpu_supports takes only a literal */
static int supports(const char *f) {
#define F(name) \
    if (!strcmp(f, name)) return __builtin_cpu_supports(name)
    F("sse3");
    F("ssse3");
    F("sse4.1");
    F("sse4.2");
    F("popcnt");
    F("avx");
    F("avx2");
    F("fma");
    F("bmi");
    F("bmi2");
    F("f16c");
    F("movbe");
    F("avx512f");
    F("avx512bw");
    F("avx512cd");
    F("avx512dq");
    F("avx512vl");
    F("avx512bf16");
#undef F
    return 0;
}

__attribute__((visibility("default"))) int lpk_backend_score(char *why, size_t whylen) {
    __builtin_cpu_init();
    for (size_t i = 0; i < sizeof needs / sizeof needs[0]; i++)
        if (!supports(needs[i])) {
            snprintf(why, whylen, "needs %s, which this CPU lacks", needs[i]);
            return 0;
        }
    return 10 * LPK_CPU_LEVEL;
}
