/* 16 x 16 float tiles transposed in AVX-512 registers, shared by the
 * transpose kernels and attention (which lays K and V out by columns). */
#ifndef LPK_CPU_TILE16_H
#define LPK_CPU_TILE16_H

#include <stddef.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif

static inline int min_i(int a, int b) { return a < b ? a : b; }

#ifdef __AVX512F__
/* r[q] holds source row q of a 16 x 16 tile; afterwards column q. */
static inline void tr16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 8; i++) { /* pairs of rows interleaved per 128-bit lane */
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) { /* 4 x 4 blocks transposed within lanes */
        r[4 * i + 0] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
        r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
    }
    for (int k = 0; k < 4; k++) { /* then the 4 x 4 grid of lanes */
        __m512 a = _mm512_shuffle_f32x4(r[k], r[4 + k], 0x88);
        __m512 b = _mm512_shuffle_f32x4(r[k], r[4 + k], 0xDD);
        __m512 c = _mm512_shuffle_f32x4(r[8 + k], r[12 + k], 0x88);
        __m512 d = _mm512_shuffle_f32x4(r[8 + k], r[12 + k], 0xDD);
        t[k] = _mm512_shuffle_f32x4(a, c, 0x88);
        t[8 + k] = _mm512_shuffle_f32x4(a, c, 0xDD);
        t[4 + k] = _mm512_shuffle_f32x4(b, d, 0x88);
        t[12 + k] = _mm512_shuffle_f32x4(b, d, 0xDD);
    }
    for (int i = 0; i < 16; i++) r[i] = t[i];
}

/* lpk_to_bf16 on 16 lanes, bit for bit */
static inline __m256i to_bf16x16(__m512 x) {
    __m512i u = _mm512_castps_si512(x);
    __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    __m512i rne =
        _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7FFF))), 16);
    __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7FFFFFFF)),
                                            _mm512_set1_epi32(0x7F800000));
    __m512i q = _mm512_or_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40));
    return _mm512_cvtepi32_epi16(_mm512_mask_mov_epi32(rne, nan, q));
}

static inline void load_tile(__m512 r[16], const float *src, ptrdiff_t lds) {
    for (int q = 0; q < 16; q++) r[q] = _mm512_loadu_ps(src + q * lds);
    tr16(r);
}
#endif

/* dst[c * ldd + r] = src[r * lds + c] for r < rows, c < cols */
static inline void transpose_f32(float *dst, ptrdiff_t ldd, const float *src, ptrdiff_t lds, int rows,
                                 int cols) {
    int r0 = 0;
#ifdef __AVX512F__
    for (; r0 + 16 <= rows; r0 += 16) {
        int c0 = 0;
        for (; c0 + 16 <= cols; c0 += 16) {
            __m512 t[16];
            load_tile(t, src + r0 * lds + c0, lds);
            for (int q = 0; q < 16; q++) _mm512_storeu_ps(dst + (c0 + q) * ldd + r0, t[q]);
        }
        for (int c = c0; c < cols; c++)
            for (int r = r0; r < r0 + 16; r++) dst[c * ldd + r] = src[r * lds + c];
    }
#endif
    for (int r = r0; r < rows; r++)
        for (int c = 0; c < cols; c++) dst[c * ldd + r] = src[r * lds + c];
}

#endif
