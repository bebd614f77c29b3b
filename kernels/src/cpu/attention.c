/* Causal self-attention in blocks of QB query rows (the flash-attention
 * idea): a block's scores live in a QB x T tile per thread, the forward
 * keeps only each row's log-sum-exp, and the backward recomputes the
 * probabilities from it. K and V are laid out by columns per (batch, head)
 * with 16 x 16 register transposes (the element-wise copy took 15 % of
 * the attention time). Memory is O(B*H*T + threads*QB*T) instead of
 * O(B*H*T*T). The tile products run through smallmm (register-tiled).
 * Work is split over (batch, head) pairs: each pair's dK/dV sums stay in one
 * thread, so results do not depend on scheduling. Packed sequences give
 * each query a first key (start[b*T + t], the first token of its segment):
 * strips and blocks skip whatever lies before their rows' starts, so
 * packed attention does less work than full causal (attn_rows.h). */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "attn_rows.h"
#include "internal.h"
#include "smallmm.h"
#include "tile16.h"
#include "vmath.h"

/* Query rows per block: the score tile is QB x T per thread. */
#define QB 64

/* bf16 precision runs the products in bf16 where the CPU can, as PyTorch's
 * autocast does. With masked row softmax and stored (not added) score
 * tiles it pays at every length measured (2 threads, fwd + bwd per layer):
 * T = 256, 8 x 6 heads of 64: 7.2 ms against 10.2 fp32; 32 x 4 heads:
 * 22.6 against 30.4; T = 64, 4 x 12: 0.73 against 0.92; T = 1024,
 * 12 heads: 23 against 35. */
static int use_bf16(cpu_state *ctx) {
    return ctx->precision == LPK_PREC_BF16 && ctx->native_bf16 && cpu_attn_bf16_available();
}

/* The causal products of a query block [i0, i0 + R) run in strips of 8
 * rows (or 8 keys), each covering only the keys its rows can see: the
 * upper triangle of the diagonal block is skipped (a quarter of the work at
 * T = 256, half at T = 64), and with segments (st != NULL, see attn_rows.h)
 * so are the keys before a strip's first start. Skipped terms are exact
 * zeros, so results are unchanged. */
#define STRIP 8

/* Where the score products start: AVX-512 smallmm runs 32-wide tiles from
 * its first column and finishes the rest in scalar code, so a start on a
 * tile edge (the end is one too) keeps whole tiles; the vectorised generic
 * loop needs only whole 8-float vectors (AVX2 build, B=8, T=256, C=192,
 * H=4, segments of 120, fwd + bwd: 32 would run 10 % more instructions,
 * callgrind). The products that run over keys as their sum (P . V)
 * start at the exact first key. */
#ifdef __AVX512F__
#define KEY_ALIGN 32
#else
#define KEY_ALIGN 8
#endif

/* keys a strip of query rows needs, rounded up to whole 32-wide tiles */
static inline int strip_keys(int i0, int r0, int rr, int nk) {
    int n = (i0 + r0 + rr + 31) & ~31;
    return n < nk ? n : nk;
}

/* With a shared prefix (pre > 0) a strip's rows that start past it need
 * two key ranges, the prefix [0, pre) and [ks, end): the gap between holds
 * the row's earlier examples, which its rows never see. A range pair that
 * touches (ks <= the prefix rounded up) runs as one from key 0. */
static inline int round_up(int x, int align) { return (x + align - 1) & -align; }

/* S[R, nk] += A[R, hs] . Bt[hs, nk] for the keys each row sees */
static void causal_scores(const int32_t *st, int pre, int i0, int R, int nk, int hs, const float *A,
                          ptrdiff_t lda, const float *Bt, ptrdiff_t ldb, float *S, ptrdiff_t lds) {
    for (int r0 = 0; r0 < R; r0 += STRIP) {
        int rr = R - r0 < STRIP ? R - r0 : STRIP, ks = attn_first_key(st, 0, i0 + r0, rr, KEY_ALIGN);
        int end = strip_keys(i0, r0, rr, nk);
        if (pre > 0 && ks > 0) {
            int pe = round_up(pre, KEY_ALIGN) < end ? round_up(pre, KEY_ALIGN) : end;
            if (pe >= ks)
                ks = 0;
            else
                smallmm(rr, pe, hs, A + r0 * lda, lda, 1, Bt, ldb, S + r0 * lds, lds);
        }
        smallmm(rr, end - ks, hs, A + r0 * lda, lda, 1, Bt + ks, ldb, S + r0 * lds + ks, lds);
    }
}

/* O[R, hs] += P[R, nk] . V[nk, hs], each row over the keys it sees */
static void causal_rows(const int32_t *st, int pre, int i0, int R, int nk, int hs, const float *P,
                        ptrdiff_t ldp, const float *V, ptrdiff_t ldv, float *O, ptrdiff_t ldo) {
    for (int r0 = 0; r0 < R; r0 += STRIP) {
        int rr = R - r0 < STRIP ? R - r0 : STRIP, ks = attn_first_key(st, 0, i0 + r0, rr, 1);
        int kmax = i0 + r0 + rr < nk ? i0 + r0 + rr : nk;
        if (pre > 0 && ks > 0) {
            if (pre >= ks)
                ks = 0;
            else
                smallmm(rr, hs, pre, P + r0 * ldp, ldp, 1, V, ldv, O + r0 * ldo, ldo);
        }
        smallmm(rr, hs, kmax - ks, P + r0 * ldp + ks, ldp, 1, V + ks * ldv, ldv, O + r0 * ldo, ldo);
    }
}

/* G[nk, hs] += P^T[nk, R] . X[R, hs]: keys before the block see every row
 * (with segments: the prefix's keys every row, then keys from k0, the
 * block's first, in 32-key strips, each over the rows up to the last that
 * may see it), a key in the diagonal block only the rows at or after it
 * (and up to that last row) */
static void causal_keys(const int32_t *st, int pre, int k0, int i0, int R, int nk, int hs, const float *P,
                        ptrdiff_t ldp, const float *X, ptrdiff_t ldx, float *G, ptrdiff_t ldg) {
    if (!st) {
        if (i0 > 0) smallmm(i0, hs, R, P, 1, ldp, X, ldx, G, ldg);
    } else {
        int np = pre < i0 ? pre : i0;
        if (np > 0) smallmm(np, hs, R, P, 1, ldp, X, ldx, G, ldg);
        for (int j0 = k0 > np ? k0 : np; j0 < i0; j0 += 32) {
            int jj = i0 - j0 < 32 ? i0 - j0 : 32, nr = attn_rows_seeing(st, pre, i0, R, j0, j0 + jj - 1);
            if (nr > 0) smallmm(jj, hs, nr, P + j0, 1, ldp, X, ldx, G + j0 * ldg, ldg);
        }
    }
    for (int j0 = i0; j0 < nk; j0 += STRIP) {
        int jj = nk - j0 < STRIP ? nk - j0 : STRIP, rs = j0 - i0;
        int nr = attn_rows_seeing(st, pre, i0, R, j0, j0 + jj - 1);
        if (nr > rs)
            smallmm(jj, hs, nr - rs, P + rs * ldp + j0, 1, ldp, X + rs * ldx, ldx, G + j0 * ldg, ldg);
    }
}

/* The columns a query block's products read: [0, *kp) (the prefix's, 0
 * when none apart) and [*k0, nk), k0 the first start of the block's rows
 * rounded down (0 when the two ranges touch) */
static void block_keys(const int32_t *st, int pre, int i0, int R, int *kp, int *k0) {
    *k0 = attn_first_key(st, 0, i0, R, KEY_ALIGN);
    *kp = 0;
    if (pre > 0 && *k0 > 0) {
        if (round_up(pre, KEY_ALIGN) >= *k0)
            *k0 = 0;
        else
            *kp = round_up(pre, KEY_ALIGN);
    }
}

int cpu_attn_check_start(cpu_state *ctx, const char *what, const int32_t *start, const int32_t *prefix, int B,
                         int T) {
    for (int b = 0; b < B; b++) {
        if (prefix && (prefix[b] < 0 || prefix[b] > T)) {
            cpu_error(ctx, "%s: prefix[%d] = %d, expected 0..%d", what, b, prefix[b], T);
            return -1;
        }
        for (int t = 0; t < T; t++) {
            int s = start[(size_t)b * T + t];
            if (s < 0 || s > t) {
                cpu_error(ctx, "%s: start[%d] = %d for query %d of row %d, expected 0..%d", what, b * T + t,
                          s, t, b, t);
                return -1;
            }
        }
    }
    return 0;
}

int cpu_attn_fwd_prefix(cpu_state *ctx, float *out, float *lse, const float *qkv, const int32_t *start,
                        const int32_t *prefix, int B, int T, int C, int H) {
    if (start && cpu_attn_check_start(ctx, "attention", start, prefix, B, T)) return -1;
    if (use_bf16(ctx)) return cpu_attn_fwd_bf16(ctx, out, lse, qkv, start, prefix, B, T, C, H);
    const int hs = C / H;
    const float scale = 1.0f / sqrtf((float)hs);
    const ptrdiff_t ld = (ptrdiff_t)3 * C;
    const size_t per = (size_t)hs * T + (size_t)QB * T;
    float *ws = cpu_scratch(ctx, per, NT(ctx));
    if (!ws) {
        cpu_error(ctx, "attention: out of memory");
        return -1;
    }
#pragma omp parallel num_threads(NT(ctx))
    {
        float *kt = ws + (size_t)omp_get_thread_num() * cpu_scratch_stride(per);
        float *S = kt + (size_t)hs * T;
#pragma omp for schedule(static)
        for (int bh = 0; bh < B * H; bh++) {
            int b = bh / H, h = bh % H;
            const float *base = qkv + (size_t)b * T * ld;
            const int32_t *st = start ? start + (size_t)b * T : NULL;
            const int pre = st && prefix ? prefix[b] : 0;
            transpose_f32(kt, T, base + C + h * hs, ld, T, hs);
            for (int i0 = 0; i0 < T; i0 += QB) {
                int R = T - i0 < QB ? T - i0 : QB, nk = i0 + R, kp, k0;
                block_keys(st, pre, i0, R, &kp, &k0);
                for (int r = 0; r < R; r++) {
                    memset(S + (size_t)r * T, 0, sizeof(float) * kp);
                    memset(S + (size_t)r * T + k0, 0, sizeof(float) * (nk - k0));
                }
                causal_scores(st, pre, i0, R, nk, hs, base + i0 * ld + h * hs, ld, kt, T, S, T);
                for (int r = 0; r < R; r++) {
                    lse[(size_t)bh * T + i0 + r] = attn_softmax_seg(
                        S + (size_t)r * T, kp ? 0 : k0, pre, st ? st[i0 + r] : 0, i0 + r + 1, nk, scale);
                    float *o = out + ((size_t)b * T + i0 + r) * C + h * hs;
                    memset(o, 0, sizeof(float) * hs);
                }
                causal_rows(st, pre, i0, R, nk, hs, S, T, base + 2 * C + h * hs, ld,
                            out + ((size_t)b * T + i0) * C + h * hs, C);
            }
        }
    }
    return 0;
}

int cpu_attn_fwd_seg(cpu_state *ctx, float *out, float *lse, const float *qkv, const int32_t *start, int B,
                     int T, int C, int H) {
    return cpu_attn_fwd_prefix(ctx, out, lse, qkv, start, NULL, B, T, C, H);
}

int cpu_attn_fwd(cpu_state *ctx, float *out, float *lse, const float *qkv, int B, int T, int C, int H) {
    return cpu_attn_fwd_prefix(ctx, out, lse, qkv, NULL, NULL, B, T, C, H);
}

/* Zeroes one head's dq, dk, dv (hs wide at offsets 0, C, 2C) in T rows of
 * the [T, 3C] gradient: the block products then accumulate into them. */
static inline void attn_zero_head_grads(float *d, int T, ptrdiff_t ld, int C, int hs) {
    for (int j = 0; j < T; j++) {
        float *dj = d + j * ld;
        memset(dj, 0, sizeof(float) * hs);
        memset(dj + C, 0, sizeof(float) * hs);
        memset(dj + 2 * C, 0, sizeof(float) * hs);
    }
}

int cpu_attn_bwd_prefix(cpu_state *ctx, float *dqkv, const float *dout, const float *qkv, const float *out,
                        const float *lse, const int32_t *start, const int32_t *prefix, int B, int T, int C,
                        int H) {
    if (start && cpu_attn_check_start(ctx, "attention backward", start, prefix, B, T)) return -1;
    if (use_bf16(ctx)) return cpu_attn_bwd_bf16(ctx, dqkv, dout, qkv, out, lse, start, prefix, B, T, C, H);
    const int hs = C / H;
    const float scale = 1.0f / sqrtf((float)hs);
    const ptrdiff_t ld = (ptrdiff_t)3 * C;
    const size_t per = (size_t)2 * hs * T + (size_t)2 * QB * T + QB;
    float *ws = cpu_scratch(ctx, per, NT(ctx));
    if (!ws) {
        cpu_error(ctx, "attention backward: out of memory");
        return -1;
    }
#pragma omp parallel num_threads(NT(ctx))
    {
        float *kt = ws + (size_t)omp_get_thread_num() * cpu_scratch_stride(per);
        float *vt = kt + (size_t)hs * T;
        float *P = vt + (size_t)hs * T;
        float *dP = P + (size_t)QB * T;
        float *Dr = dP + (size_t)QB * T;
#pragma omp for schedule(static)
        for (int bh = 0; bh < B * H; bh++) {
            int b = bh / H, h = bh % H;
            const float *base = qkv + (size_t)b * T * ld;
            float *dbase = dqkv + (size_t)b * T * ld;
            const float *gob = dout + (size_t)b * T * C + h * hs;
            const float *ob = out + (size_t)b * T * C + h * hs;
            const int32_t *st = start ? start + (size_t)b * T : NULL;
            const int pre = st && prefix ? prefix[b] : 0;
            transpose_f32(kt, T, base + C + h * hs, ld, T, hs);
            transpose_f32(vt, T, base + 2 * C + h * hs, ld, T, hs);
            attn_zero_head_grads(dbase + h * hs, T, ld, C, hs);
            for (int i0 = 0; i0 < T; i0 += QB) {
                int R = T - i0 < QB ? T - i0 : QB, nk = i0 + R, kp, k0;
                block_keys(st, pre, i0, R, &kp, &k0);
                attn_block_prep(P, dP, T, k0, R, nk, gob + (size_t)i0 * C, ob + (size_t)i0 * C, C, hs, Dr);
                for (int r = 0; r < R; r++) {
                    memset(P + (size_t)r * T, 0, sizeof(float) * kp);
                    memset(dP + (size_t)r * T, 0, sizeof(float) * kp);
                }
                causal_scores(st, pre, i0, R, nk, hs, base + i0 * ld + h * hs, ld, kt, T, P, T);
                causal_scores(st, pre, i0, R, nk, hs, gob + (size_t)i0 * C, C, vt, T, dP, T);
                for (int r = 0; r < R; r++)
                    attn_dscore_seg(P + (size_t)r * T, dP + (size_t)r * T, kp ? 0 : k0, pre,
                                    st ? st[i0 + r] : 0, i0 + r + 1, nk, scale, lse[(size_t)bh * T + i0 + r],
                                    Dr[r]);
                /* dQ = dS K ; dK += dS^T Q ; dV += P^T dO */
                causal_rows(st, pre, i0, R, nk, hs, dP, T, base + C + h * hs, ld, dbase + i0 * ld + h * hs,
                            ld);
                causal_keys(st, pre, k0, i0, R, nk, hs, dP, T, base + i0 * ld + h * hs, ld,
                            dbase + C + h * hs, ld);
                causal_keys(st, pre, k0, i0, R, nk, hs, P, T, gob + (size_t)i0 * C, C, dbase + 2 * C + h * hs,
                            ld);
            }
        }
    }
    return 0;
}

int cpu_attn_bwd_seg(cpu_state *ctx, float *dqkv, const float *dout, const float *qkv, const float *out,
                     const float *lse, const int32_t *start, int B, int T, int C, int H) {
    return cpu_attn_bwd_prefix(ctx, dqkv, dout, qkv, out, lse, start, NULL, B, T, C, H);
}

int cpu_attn_bwd(cpu_state *ctx, float *dqkv, const float *dout, const float *qkv, const float *out,
                 const float *lse, int B, int T, int C, int H) {
    return cpu_attn_bwd_prefix(ctx, dqkv, dout, qkv, out, lse, NULL, NULL, B, T, C, H);
}

int cpu_attn_decode(cpu_state *ctx, float *out, const float *q, int ldq, const float *kcache,
                    const float *vcache, const int32_t *len, int B, int maxT, int C, int H) {
    const int hs = C / H;
    const float scale = 1.0f / sqrtf((float)hs);
    int fail = 0;
#pragma omp parallel num_threads(NTW(ctx, (size_t)B *maxT *C)) reduction(| : fail)
    {
        float *s = malloc(sizeof(float) * (size_t)maxT);
        if (!s) fail = 1;
#pragma omp for schedule(static)
        for (int bh = 0; bh < B * H; bh++) {
            if (!s) continue;
            int b = bh / H, h = bh % H, n = len[b];
            const float *qr = q + (size_t)b * ldq + h * hs;
            const float *K = kcache + (size_t)b * maxT * C + h * hs;
            const float *Vc = vcache + (size_t)b * maxT * C + h * hs;
            float mx = -INFINITY;
            for (int j = 0; j < n; j++) {
                float a = 0.0f;
#pragma omp simd reduction(+ : a)
                for (int d = 0; d < hs; d++) a += qr[d] * scale * K[(size_t)j * C + d];
                s[j] = a;
                mx = a > mx ? a : mx;
            }
            float sum = 0.0f;
            for (int j = 0; j < n; j++) {
                s[j] = lpk_expf(s[j] - mx);
                sum += s[j];
            }
            float inv = 1.0f / sum;
            float *o = out + (size_t)b * C + h * hs;
            for (int d = 0; d < hs; d++) o[d] = 0.0f;
            for (int j = 0; j < n; j++) {
                float pj = s[j] * inv;
#pragma omp simd
                for (int d = 0; d < hs; d++) o[d] += pj * Vc[(size_t)j * C + d];
            }
        }
        free(s);
    }
    if (fail) {
        cpu_error(ctx, "attention decode: out of memory");
        return -1;
    }
    return 0;
}
