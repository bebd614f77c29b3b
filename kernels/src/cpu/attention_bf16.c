/* Causal attention with bf16 products, for mixed precision on CPUs with
 * AVX512-BF16: the same blocked algorithm as attention.c (scores of QB
 * query rows at a time, the row log-sum-exp kept, probabilities recomputed
 * in the backward), but the five small products per block run as bf16 dot
 * products with fp32 accumulation (vdpbf16ps), as PyTorch's autocast runs
 * attention's matmuls. Softmax, the log-sum-exp and every sum stay fp32.
 *
 * vdpbf16ps multiplies pairs along the reduction: an operand is stored as
 * 32-bit words holding two bf16 of consecutive reduction indices. Words live
 * in float arrays (bit patterns only, moved and broadcast, never computed
 * on). Layouts, for a matrix M[r][c]:
 *   rows  word(r, cp) = M[r][2cp], M[r][2cp+1]    pairs along columns
 *   cols  word(cp, r) = the same, transposed       (rows + 16x16 transpose)
 *   ipair word(rp, c) = M[2rp][c], M[2rp+1][c]     pairs along rows
 * Odd sizes pad with zeros. */
#include "internal.h"

#if defined(__AVX512BF16__) && defined(__AVX512F__)

#include <immintrin.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "attn_rows.h"
#include "tile16.h"

#define QB 64

static inline __mmask16 tail16(int n) { return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1); }

/* rows layout of n rows x c columns (row stride lds) into dst[n][cpw];
 * the native conversion rounds to nearest even like lpk_to_bf16 */
static void pack_rows(float *dst, int cpw, const float *src, ptrdiff_t lds, int n, int c) {
    for (int r = 0; r < n; r++) {
        const float *s = src + r * lds;
        float *d = dst + (size_t)r * cpw;
        for (int k = 0; k < c; k += 32) {
            __m512 lo = _mm512_maskz_loadu_ps(tail16(c - k), s + k);
            __m512 hi =
                c - k > 16 ? _mm512_maskz_loadu_ps(tail16(c - k - 16), s + k + 16) : _mm512_setzero_ps();
            __m512 w = (__m512)_mm512_cvtne2ps_pbh(hi, lo);
            _mm512_mask_storeu_ps(d + k / 2, tail16((c - k + 1) / 2), w);
        }
    }
}

/* cols layout of n rows x c columns into dst[(c+1)/2][n], through the
 * rows layout in tmp */
static void pack_cols(float *dst, float *tmp, const float *src, ptrdiff_t lds, int n, int c) {
    const int cp = (c + 1) / 2;
    pack_rows(tmp, cp, src, lds, n, c);
    transpose_f32(dst, n, tmp, cp, n, cp);
}

/* ipair layout of n rows x c columns into dst[(n+1)/2][c] (row stride
 * ldd >= c) */
static void pack_ipair(float *dst, ptrdiff_t ldd, const float *src, ptrdiff_t lds, int n, int c) {
    for (int rp = 0; rp < (n + 1) / 2; rp++) {
        const float *s0 = src + 2 * rp * lds;
        const int two = 2 * rp + 1 < n;
        float *d = dst + rp * ldd;
        for (int k = 0; k < c; k += 16) {
            __mmask16 m = tail16(c - k);
            __m512i a = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, s0 + k)));
            __m512i b = two ? _mm512_cvtepu16_epi32(
                                  (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, s0 + lds + k)))
                            : _mm512_setzero_si512();
            _mm512_mask_storeu_ps(d + k, m,
                                  _mm512_castsi512_ps(_mm512_or_si512(a, _mm512_slli_epi32(b, 16))));
        }
    }
}

/* The C tile of `rows` (1..8, a compile-time constant after inlining) x
 * up to 32 columns: accumulators stay in registers only when the row loop
 * is fully unrolled, hence one instance per row count. `acc` adds to C,
 * else C is overwritten (scores need no zeroing pass first). */
static inline __attribute__((always_inline)) void tile16(const int rows, const int acc, int Kp,
                                                         const float *a, ptrdiff_t sam, ptrdiff_t sak,
                                                         const float *B, ptrdiff_t ldb, float *C,
                                                         ptrdiff_t ldc, __mmask16 k0, __mmask16 k1) {
    __m512 c0[8], c1[8];
    for (int r = 0; r < rows; r++) c0[r] = c1[r] = _mm512_setzero_ps();
    for (int kp = 0; kp < Kp; kp++) {
        const float *b = B + kp * ldb;
        __m512bh b0 = (__m512bh)_mm512_maskz_loadu_ps(k0, b);
        __m512bh b1 = (__m512bh)_mm512_maskz_loadu_ps(k1, b + 16);
        const float *ak = a + kp * sak;
        for (int r = 0; r < rows; r++) {
            __m512bh x = (__m512bh)_mm512_set1_ps(ak[r * sam]);
            c0[r] = _mm512_dpbf16_ps(c0[r], x, b0);
            c1[r] = _mm512_dpbf16_ps(c1[r], x, b1);
        }
    }
    for (int r = 0; r < rows; r++) {
        float *cp = C + r * ldc;
        if (acc) {
            c0[r] = _mm512_add_ps(_mm512_maskz_loadu_ps(k0, cp), c0[r]);
            c1[r] = _mm512_add_ps(_mm512_maskz_loadu_ps(k1, cp + 16), c1[r]);
        }
        _mm512_mask_storeu_ps(cp, k0, c0[r]);
        if (k1) _mm512_mask_storeu_ps(cp + 16, k1, c1[r]);
    }
}

/* C[M,N] (+)= A . B over Kp pairs (added when acc, else stored). A word
 * (m, kp) = A[m*sam + kp*sak]; B word (kp, n) = B[kp*ldb + n]. 8 x 32
 * register tiles, edges masked. */
static inline __attribute__((always_inline)) void mm16_body(const int acc, int M, int N, int Kp,
                                                            const float *A, ptrdiff_t sam, ptrdiff_t sak,
                                                            const float *B, ptrdiff_t ldb, float *C,
                                                            ptrdiff_t ldc) {
    for (int n0 = 0; n0 < N; n0 += 32) {
        int nn = N - n0;
        __mmask16 k0 = tail16(nn), k1 = nn > 16 ? tail16(nn - 16) : 0;
        int m0 = 0;
        for (; m0 + 8 <= M; m0 += 8)
            tile16(8, acc, Kp, A + m0 * sam, sam, sak, B + n0, ldb, C + m0 * ldc + n0, ldc, k0, k1);
        for (; m0 < M; m0++)
            tile16(1, acc, Kp, A + m0 * sam, sam, sak, B + n0, ldb, C + m0 * ldc + n0, ldc, k0, k1);
    }
}

static void mm16(int M, int N, int Kp, const float *A, ptrdiff_t sam, ptrdiff_t sak, const float *B,
                 ptrdiff_t ldb, float *C, ptrdiff_t ldc) {
    mm16_body(1, M, N, Kp, A, sam, sak, B, ldb, C, ldc);
}

static void mm16_store(int M, int N, int Kp, const float *A, ptrdiff_t sam, ptrdiff_t sak, const float *B,
                       ptrdiff_t ldb, float *C, ptrdiff_t ldc) {
    mm16_body(0, M, N, Kp, A, sam, sak, B, ldb, C, ldc);
}

/* Causal strips, as in attention.c: 8 query rows (or keys) at a time, each
 * over the keys (or query rows) it can see, from the strip's first start
 * (st, attn_rows.h) rounded down to a key pair; skipped terms are zeros.
 * The tiles mask their ragged edges, so no start costs more than whole
 * tiles would. */
#define STRIP 8

/* S[R, nk] = Q[R] . Kcol for the keys each strip of rows sees (pairs
 * along the head dimension, hp of them); columns a strip does not reach
 * are left as they are: the row softmax zeroes them */
static void causal_scores16(const int32_t *st, int pre, int i0, int R, int nk, int hp, const float *Q,
                            ptrdiff_t ldq, const float *Kcol, ptrdiff_t ldk, float *S, ptrdiff_t lds) {
    for (int r0 = 0; r0 < R; r0 += STRIP) {
        int rr = R - r0 < STRIP ? R - r0 : STRIP, ks = attn_first_key(st, pre, i0 + r0, rr, 2);
        int n = (i0 + r0 + rr + 31) & ~31;
        mm16_store(rr, (n < nk ? n : nk) - ks, hp, Q + r0 * ldq, ldq, 1, Kcol + ks, ldk, S + r0 * lds + ks,
                   lds);
    }
}

/* O[R, hs] = P[R] . V over the key pairs each strip of rows sees (a
 * query block's output rows get no other contribution: stored) */
static void causal_rows16(const int32_t *st, int pre, int i0, int R, int nk, int hs, const float *P,
                          ptrdiff_t ldp, const float *Vip, float *O, ptrdiff_t ldo) {
    for (int r0 = 0; r0 < R; r0 += STRIP) {
        int rr = R - r0 < STRIP ? R - r0 : STRIP, kp = attn_first_key(st, pre, i0 + r0, rr, 2) / 2;
        int n = i0 + r0 + rr < nk ? i0 + r0 + rr : nk;
        mm16_store(rr, hs, (n + 1) / 2 - kp, P + r0 * ldp + kp, ldp, 1, Vip + (size_t)kp * hs, hs,
                   O + r0 * ldo, ldo);
    }
}

/* G[nk, hs] (+)= P^T . X, P in row pairs (word (rp, j) at rp * nk + j,
 * filled from column k0, the block's first key), X in row pairs [rp][hs]:
 * diagonal keys only from the row pair that sees them. With segments,
 * each strip of keys stops at the pair of the last row that may see it
 * (attn_rows_seeing; the row after it, sharing that pair, sees none of
 * the strip: zeros) and keys before the block run in 32-key strips from
 * k0. Keys before the block add to what earlier blocks wrote; the block's
 * own keys get their first contribution here, so they are stored (zeros
 * when no row sees them) and G needs no zeroing beforehand. */
static void causal_keys16(const int32_t *st, int pre, int k0, int i0, int R, int nk, int hs, const float *Pip,
                          const float *Xip, float *G, ptrdiff_t ldg) {
    int rp = (R + 1) / 2;
    if (!st) {
        if (i0 > 0) mm16(i0, hs, rp, Pip, 1, nk, Xip, hs, G, ldg);
    } else {
        for (int j0 = k0; j0 < i0; j0 += 32) {
            int jj = i0 - j0 < 32 ? i0 - j0 : 32,
                np = (attn_rows_seeing(st, pre, i0, R, j0, j0 + jj - 1) + 1) / 2;
            if (np > 0) mm16(jj, hs, np, Pip + j0, 1, nk, Xip, hs, G + j0 * ldg, ldg);
        }
    }
    for (int j0 = i0; j0 < nk; j0 += STRIP) {
        int jj = nk - j0 < STRIP ? nk - j0 : STRIP, rs = (j0 - i0) / 2;
        int np = (attn_rows_seeing(st, pre, i0, R, j0, j0 + jj - 1) + 1) / 2;
        mm16_store(jj, hs, np > rs ? np - rs : 0, Pip + (size_t)rs * nk + j0, 1, nk, Xip + (size_t)rs * hs,
                   hs, G + j0 * ldg, ldg);
    }
}

int cpu_attn_fwd_bf16(cpu_state *ctx, float *out, float *lse, const float *qkv, const int32_t *start,
                      const int32_t *prefix, int B, int T, int C, int H) {
    const int hs = C / H, hp = (hs + 1) / 2, tp = (T + 1) / 2;
    const float scale = 1.0f / sqrtf((float)hs);
    const ptrdiff_t ld = (ptrdiff_t)3 * C;
    /* q rows [T][hp], k rows then cols [hp][T], v ipair [tp][hs],
     * scores [QB][T], p rows [QB][tp] */
    const size_t per = (size_t)T * hp * 3 + (size_t)tp * hs + (size_t)QB * T + (size_t)QB * tp;
    float *ws = cpu_scratch(ctx, per, NT(ctx));
    if (!ws) {
        cpu_error(ctx, "attention: out of memory");
        return -1;
    }
#pragma omp parallel num_threads(NT(ctx))
    {
        float *q16 = ws + (size_t)omp_get_thread_num() * cpu_scratch_stride(per);
        float *tmp = q16 + (size_t)T * hp;
        float *kcol = tmp + (size_t)T * hp;
        float *vip = kcol + (size_t)T * hp;
        float *S = vip + (size_t)tp * hs;
        float *p16 = S + (size_t)QB * T;
#pragma omp for schedule(static)
        for (int bh = 0; bh < B * H; bh++) {
            int b = bh / H, h = bh % H;
            const float *base = qkv + (size_t)b * T * ld;
            const int32_t *st = start ? start + (size_t)b * T : NULL;
            const int pre = st && prefix ? prefix[b] : 0;
            pack_rows(q16, hp, base + h * hs, ld, T, hs);
            pack_cols(kcol, tmp, base + C + h * hs, ld, T, hs);
            pack_ipair(vip, hs, base + 2 * C + h * hs, ld, T, hs);
            for (int i0 = 0; i0 < T; i0 += QB) {
                int R = T - i0 < QB ? T - i0 : QB, nk = i0 + R, k0 = attn_first_key(st, pre, i0, R, 2);
                causal_scores16(st, pre, i0, R, nk, hp, q16 + (size_t)i0 * hp, hp, kcol, T, S, T);
                for (int r = 0; r < R; r++)
                    lse[(size_t)bh * T + i0 + r] = attn_softmax_seg(
                        S + (size_t)r * T, k0, pre, st ? st[i0 + r] : 0, i0 + r + 1, nk, scale);
                pack_rows(p16 + k0 / 2, tp, S + k0, T, R, nk - k0);
                causal_rows16(st, pre, i0, R, nk, hs, p16, tp, vip, out + ((size_t)b * T + i0) * C + h * hs,
                              C);
            }
        }
    }
    return 0;
}

int cpu_attn_bwd_bf16(cpu_state *ctx, float *dqkv, const float *dout, const float *qkv, const float *out,
                      const float *lse, const int32_t *start, const int32_t *prefix, int B, int T, int C,
                      int H) {
    const int hs = C / H, hp = (hs + 1) / 2, tp = (T + 1) / 2, qp = QB / 2;
    const float scale = 1.0f / sqrtf((float)hs);
    const ptrdiff_t ld = (ptrdiff_t)3 * C;
    /* q rows, dO rows, scratch rows, k cols, v cols [T x hp each];
     * k ipair [tp][hs]; block: q ipair, dO ipair [qp][hs]; P, dP [QB][T];
     * dS rows [QB][tp]; dS ipair, P ipair [qp][T]; D [QB] */
    const size_t per = (size_t)T * hp * 5 + (size_t)tp * hs + (size_t)2 * qp * hs + (size_t)2 * QB * T +
                       (size_t)QB * tp + (size_t)2 * qp * T + QB;
    float *ws = cpu_scratch(ctx, per, NT(ctx));
    if (!ws) {
        cpu_error(ctx, "attention backward: out of memory");
        return -1;
    }
#pragma omp parallel num_threads(NT(ctx))
    {
        float *q16 = ws + (size_t)omp_get_thread_num() * cpu_scratch_stride(per);
        float *g16 = q16 + (size_t)T * hp;
        float *tmp = g16 + (size_t)T * hp;
        float *kcol = tmp + (size_t)T * hp;
        float *vcol = kcol + (size_t)T * hp;
        float *kip = vcol + (size_t)T * hp;
        float *qip = kip + (size_t)tp * hs;
        float *gip = qip + (size_t)qp * hs;
        float *P = gip + (size_t)qp * hs;
        float *dP = P + (size_t)QB * T;
        float *ds16 = dP + (size_t)QB * T;
        float *dsip = ds16 + (size_t)QB * tp;
        float *pip = dsip + (size_t)qp * T;
        float *Dr = pip + (size_t)qp * T;
#pragma omp for schedule(static)
        for (int bh = 0; bh < B * H; bh++) {
            int b = bh / H, h = bh % H;
            const float *base = qkv + (size_t)b * T * ld;
            float *dbase = dqkv + (size_t)b * T * ld;
            const float *gob = dout + (size_t)b * T * C + h * hs;
            const float *ob = out + (size_t)b * T * C + h * hs;
            const int32_t *st = start ? start + (size_t)b * T : NULL;
            const int pre = st && prefix ? prefix[b] : 0;
            pack_rows(q16, hp, base + h * hs, ld, T, hs);
            pack_rows(g16, hp, gob, C, T, hs);
            pack_cols(kcol, tmp, base + C + h * hs, ld, T, hs);
            pack_cols(vcol, tmp, base + 2 * C + h * hs, ld, T, hs);
            pack_ipair(kip, hs, base + C + h * hs, ld, T, hs);
            for (int i0 = 0; i0 < T; i0 += QB) {
                int R = T - i0 < QB ? T - i0 : QB, nk = i0 + R, k0 = attn_first_key(st, pre, i0, R, 2);
                attn_block_prep(NULL, NULL, T, k0, R, nk, gob + (size_t)i0 * C, ob + (size_t)i0 * C, C, hs,
                                Dr);
                causal_scores16(st, pre, i0, R, nk, hp, q16 + (size_t)i0 * hp, hp, kcol, T, P, T);
                causal_scores16(st, pre, i0, R, nk, hp, g16 + (size_t)i0 * hp, hp, vcol, T, dP, T);
                for (int r = 0; r < R; r++)
                    attn_dscore_seg(P + (size_t)r * T, dP + (size_t)r * T, k0, pre, st ? st[i0 + r] : 0,
                                    i0 + r + 1, nk, scale, lse[(size_t)bh * T + i0 + r], Dr[r]);
                /* the block's columns from k0; word (rp, j) of the pair
                 * layouts at rp * nk + j */
                pack_rows(ds16 + k0 / 2, tp, dP + k0, T, R, nk - k0);
                pack_ipair(dsip + k0, nk, dP + k0, T, R, nk - k0);
                pack_ipair(pip + k0, nk, P + k0, T, R, nk - k0);
                pack_ipair(qip, hs, base + i0 * ld + h * hs, ld, R, hs);
                pack_ipair(gip, hs, gob + (size_t)i0 * C, C, R, hs);
                /* dQ = dS K ; dK += dS^T Q ; dV += P^T dO */
                causal_rows16(st, pre, i0, R, nk, hs, ds16, tp, kip, dbase + i0 * ld + h * hs, ld);
                causal_keys16(st, pre, k0, i0, R, nk, hs, dsip, qip, dbase + C + h * hs, ld);
                causal_keys16(st, pre, k0, i0, R, nk, hs, pip, gip, dbase + 2 * C + h * hs, ld);
            }
        }
    }
    return 0;
}

int cpu_attn_bf16_available(void) { return 1; }

#else

int cpu_attn_fwd_bf16(cpu_state *ctx, float *out, float *lse, const float *qkv, const int32_t *start,
                      const int32_t *prefix, int B, int T, int C, int H) {
    (void)out, (void)lse, (void)qkv, (void)start, (void)prefix, (void)B, (void)T, (void)C, (void)H;
    cpu_error(ctx, "attention: built without AVX512-BF16");
    return -1;
}
int cpu_attn_bwd_bf16(cpu_state *ctx, float *dqkv, const float *dout, const float *qkv, const float *out,
                      const float *lse, const int32_t *start, const int32_t *prefix, int B, int T, int C,
                      int H) {
    (void)dqkv, (void)dout, (void)qkv, (void)out, (void)lse, (void)start, (void)prefix, (void)B, (void)T,
        (void)C, (void)H;
    cpu_error(ctx, "attention: built without AVX512-BF16");
    return -1;
}
int cpu_attn_bf16_available(void) { return 0; }

#endif
