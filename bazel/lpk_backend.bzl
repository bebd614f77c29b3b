"""lpk_cpu_build: one build of the CPU kernel backend as a run-time library."""

# Every CPU source but the score function, which is compiled apart.
_CPU_SRCS = [
    "src/cpu/attention.c",
    "src/cpu/attention_bf16.c",
    "src/cpu/backend.c",
    "src/cpu/elementwise.c",
    "src/cpu/gemm.c",
    "src/cpu/loss.c",
    "src/cpu/norm_embed.c",
    "src/cpu/transpose.c",
]

def lpk_cpu_build(build, level, march):
    """liblpk_cpu_BUILD.so: the CPU kernels compiled with MARCH.

    LEVEL is the x86-64 microarchitecture level (2, 3, 4) the score function
    checks at run time; it is compiled for the plain x86-64 baseline so the
    loader can call it on any CPU. The library must not need any symbol
    from the program that loads it: -z defs makes such a reference a link
    error, and the version script exports only the entry and the score.
    """
    define = "-DLPK_CPU_BUILD=\\\"%s\\\"" % build
    native.cc_library(
        name = "cpu_score_" + build,
        srcs = ["src/cpu/score.c"],
        copts = ["-march=x86-64", "-mtune=generic", "-DLPK_CPU_LEVEL=%d" % level],
        deps = [":headers"],
        alwayslink = True,
    )
    native.cc_library(
        name = "cpu_" + build,
        srcs = _CPU_SRCS + native.glob(["src/cpu/*.h"]),
        # no errno from sqrtf/logf, so those loops vectorise; no other fast-math
        copts = march + [define, "-fopenmp", "-fno-math-errno", "-O3", "-fvisibility=hidden"],
        deps = [
            ":headers",
            "//bazel:dnnl",
            "//bazel:math",
            "//bazel:openblas",
            "//bazel:openmp",
        ],
        alwayslink = True,
    )
    native.cc_binary(
        name = "liblpk_cpu_%s.so" % build,
        linkshared = 1,
        deps = [":cpu_" + build, ":cpu_score_" + build],
        additional_linker_inputs = ["//bazel:backend.lds"],
        linkopts = [
            "-Wl,-z,defs",
            "-Wl,--version-script=$(location //bazel:backend.lds)",
        ],
    )
