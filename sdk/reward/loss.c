/* Pairwise and K-wise ranking losses of a reward model. */
#include <math.h>

#include "llmpipe/reward.h"

/* -log sigmoid(d) = softplus(-d), and its derivative -sigmoid(-d), written
 * so that neither overflows for large |d|. */
static double neg_log_sigmoid(double d, double *dd) {
    if (d >= 0) {
        double e = exp(-d);
        *dd = -e / (1.0 + e);
        return log1p(e);
    }
    double e = exp(d);
    *dd = -1.0 / (1.0 + e);
    return -d + log1p(e);
}

double lp_pair_loss(float chosen, float rejected, float margin, float *d_chosen, float *d_rejected) {
    double g;
    double l = neg_log_sigmoid((double)chosen - (double)rejected - (double)margin, &g);
    if (d_chosen) *d_chosen = (float)g;
    if (d_rejected) *d_rejected = (float)-g;
    return l;
}

double lp_kwise_loss(const float *scores, int k, float *grad) {
    if (k < 2) return NAN;
    double pairs = 0.5 * k * (k - 1), sum = 0;
    if (grad)
        for (int i = 0; i < k; i++) grad[i] = 0;
    for (int i = 0; i < k; i++)
        for (int j = i + 1; j < k; j++) {
            double g;
            sum += neg_log_sigmoid((double)scores[i] - (double)scores[j], &g);
            if (grad) {
                grad[i] += (float)(g / pairs);
                grad[j] -= (float)(g / pairs);
            }
        }
    return sum / pairs;
}
