/* C[M,N] += A[M,K] * B[K,N] for the small per-head products inside
 * attention, run by one thread. A is addressed with two strides so that a
 * transposed operand costs nothing: A(m,k) = A[m*sam + k*sak]; B and C are
 * row-major with leading dimensions ldb, ldc. On AVX-512 a 4x64 register
 * tile (16 accumulators) is explicit; elsewhere the same loop nest is left
 * to the vectoriser. */
#ifndef LPK_CPU_SMALLMM_H
#define LPK_CPU_SMALLMM_H

#include <stddef.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif

static inline void smallmm_generic(int M, int N, int K, const float *A,
                                   ptrdiff_t sam, ptrdiff_t sak,
                                   const float *B, ptrdiff_t ldb, float *C,
                                   ptrdiff_t ldc) {
    for (int m = 0; m < M; m++) {
        float *c = C + m * ldc;
        for (int k = 0; k < K; k++) {
            float a = A[m * sam + k * sak];
            const float *b = B + k * ldb;
#pragma omp simd
            for (int n = 0; n < N; n++) c[n] += a * b[n];
        }
    }
}

static inline void smallmm(int M, int N, int K, const float *A, ptrdiff_t sam,
                           ptrdiff_t sak, const float *B, ptrdiff_t ldb,
                           float *C, ptrdiff_t ldc) {
#ifdef __AVX512F__
    int m0 = 0;
    for (; m0 + 4 <= M; m0 += 4) {
        int n0 = 0;
        for (; n0 + 64 <= N; n0 += 64) {
            __m512 c00 = _mm512_setzero_ps(), c01 = c00, c02 = c00, c03 = c00;
            __m512 c10 = c00, c11 = c00, c12 = c00, c13 = c00;
            __m512 c20 = c00, c21 = c00, c22 = c00, c23 = c00;
            __m512 c30 = c00, c31 = c00, c32 = c00, c33 = c00;
            const float *a0 = A + m0 * sam, *a1 = a0 + sam, *a2 = a1 + sam, *a3 = a2 + sam;
            for (int k = 0; k < K; k++) {
                const float *b = B + k * ldb + n0;
                __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
                __m512 b2 = _mm512_loadu_ps(b + 32), b3 = _mm512_loadu_ps(b + 48);
                __m512 x = _mm512_set1_ps(a0[k * sak]);
                c00 = _mm512_fmadd_ps(x, b0, c00); c01 = _mm512_fmadd_ps(x, b1, c01);
                c02 = _mm512_fmadd_ps(x, b2, c02); c03 = _mm512_fmadd_ps(x, b3, c03);
                x = _mm512_set1_ps(a1[k * sak]);
                c10 = _mm512_fmadd_ps(x, b0, c10); c11 = _mm512_fmadd_ps(x, b1, c11);
                c12 = _mm512_fmadd_ps(x, b2, c12); c13 = _mm512_fmadd_ps(x, b3, c13);
                x = _mm512_set1_ps(a2[k * sak]);
                c20 = _mm512_fmadd_ps(x, b0, c20); c21 = _mm512_fmadd_ps(x, b1, c21);
                c22 = _mm512_fmadd_ps(x, b2, c22); c23 = _mm512_fmadd_ps(x, b3, c23);
                x = _mm512_set1_ps(a3[k * sak]);
                c30 = _mm512_fmadd_ps(x, b0, c30); c31 = _mm512_fmadd_ps(x, b1, c31);
                c32 = _mm512_fmadd_ps(x, b2, c32); c33 = _mm512_fmadd_ps(x, b3, c33);
            }
#define LPK_ACC_ROW(r, v0, v1, v2, v3)                                        \
    do {                                                                      \
        float *c = C + (m0 + r) * ldc + n0;                                   \
        _mm512_storeu_ps(c, _mm512_add_ps(_mm512_loadu_ps(c), v0));           \
        _mm512_storeu_ps(c + 16, _mm512_add_ps(_mm512_loadu_ps(c + 16), v1)); \
        _mm512_storeu_ps(c + 32, _mm512_add_ps(_mm512_loadu_ps(c + 32), v2)); \
        _mm512_storeu_ps(c + 48, _mm512_add_ps(_mm512_loadu_ps(c + 48), v3)); \
    } while (0)
            LPK_ACC_ROW(0, c00, c01, c02, c03);
            LPK_ACC_ROW(1, c10, c11, c12, c13);
            LPK_ACC_ROW(2, c20, c21, c22, c23);
            LPK_ACC_ROW(3, c30, c31, c32, c33);
#undef LPK_ACC_ROW
        }
        if (n0 < N)
            smallmm_generic(4, N - n0, K, A + m0 * sam, sam, sak, B + n0, ldb,
                            C + m0 * ldc + n0, ldc);
    }
    if (m0 < M)
        smallmm_generic(M - m0, N, K, A + m0 * sam, sam, sak, B, ldb,
                        C + m0 * ldc, ldc);
#else
    smallmm_generic(M, N, K, A, sam, sak, B, ldb, C, ldc);
#endif
}

#endif
