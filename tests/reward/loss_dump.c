/* Prints the pairwise and K-wise losses and their gradients for seeded
 * random scores as JSON lines, for rank_loss_ref.py to recompute with
 * PyTorch autograd. */
#include <stdio.h>

#include "llmpipe/reward.h"
#include "llmpipe/sampler.h"

int main(void) {
    lp_rng r;
    lp_rng_seed(&r, 42);
    for (int c = 0; c < 40; c++) {
        int k = 2 + c % 7;
        float s[16], g[16];
        /* large spreads too: the stable form must not overflow */
        double spread = c % 5 == 4 ? 60.0 : 2.0;
        for (int i = 0; i < k; i++) s[i] = (float)(spread * lp_rng_normal(&r));
        double l = lp_kwise_loss(s, k, g);
        printf("{\"kind\": \"kwise\", \"scores\": [");
        for (int i = 0; i < k; i++) printf("%s%.9g", i ? ", " : "", s[i]);
        printf("], \"loss\": %.17g, \"grad\": [", l);
        for (int i = 0; i < k; i++) printf("%s%.9g", i ? ", " : "", g[i]);
        printf("]}\n");
        float margin = (float)lp_rng_uniform(&r), dc, dr;
        l = lp_pair_loss(s[0], s[1], margin, &dc, &dr);
        printf(
            "{\"kind\": \"pair\", \"scores\": [%.9g, %.9g], \"margin\": %.9g, \"loss\": %.17g, \"grad\": "
            "[%.9g, "
            "%.9g]}\n",
            s[0], s[1], margin, l, dc, dr);
    }
    return 0;
}
