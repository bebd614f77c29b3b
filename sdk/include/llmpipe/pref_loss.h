/* Preference losses on sequence log-probabilities, without a reward model:
 * DPO (Rafailov et al. 2023), conservative DPO (label smoothing: the
 * preference label is taken to be wrong with probability eps) and IPO
 * (Azar et al. 2023). Per pair, with policy log-probabilities pc, pr of the
 * chosen and rejected responses and the reference model's rc, rr (sums
 * over response tokens):
 *     h = (pc - rc) - (pr - rr)
 *     DPO:  -log sigmoid(beta h)
 *     cDPO: -(1 - eps) log sigmoid(beta h) - eps log sigmoid(-beta h)
 *     IPO:  (h - 1 / (2 beta))^2
 * The implicit rewards are beta (pc - rc) and beta (pr - rr). */
#ifndef LLMPIPE_PREF_LOSS_H
#define LLMPIPE_PREF_LOSS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum lp_pref_loss_kind {
    LP_PREF_DPO = 0,
    LP_PREF_CDPO = 1,
    LP_PREF_IPO = 2,
} lp_pref_loss_kind;

typedef struct lp_pref_loss_cfg {
    lp_pref_loss_kind kind;
    double beta;            /* > 0 */
    double label_smoothing; /* cDPO's eps, in [0, 0.5); ignored by the others */
} lp_pref_loss_cfg;

/* "dpo", "cdpo", "ipo": 0, or -1 for another name. */
int lp_pref_loss_parse(const char *name, lp_pref_loss_kind *kind);
const char *lp_pref_loss_name(lp_pref_loss_kind kind);
/* 0 when cfg is usable, else -1 with a one-line message naming the value. */
int lp_pref_loss_check(const lp_pref_loss_cfg *cfg, char *err, size_t errsz);

/* The loss of one pair; *dpc and *dpr (either may be NULL) get its
 * derivatives with respect to pc and pr (the reference values are
 * constants). Stable for any finite h. */
double lp_pref_loss_pair(const lp_pref_loss_cfg *cfg, double pc, double pr, double rc, double rr, double *dpc,
                         double *dpr);

/* What a batch of pairs shows: mean loss, the share of pairs whose chosen
 * implicit reward is above the rejected one, the mean reward margin, mean
 * chosen and rejected rewards and policy log-probabilities, and the share
 * of pairs whose policy log-probability of chosen is above rejected's. */
typedef struct lp_pref_stats {
    double n, loss, accuracy, margin, chosen_reward, rejected_reward, chosen_logp, rejected_logp,
        logp_accuracy;
} lp_pref_stats;

/* Adds one pair to a running sum (zero-initialised); lp_pref_stats_mean
 * divides by the count. */
void lp_pref_stats_add(lp_pref_stats *s, const lp_pref_loss_cfg *cfg, double pc, double pr, double rc,
                       double rr);
lp_pref_stats lp_pref_stats_mean(const lp_pref_stats *sum);

#ifdef __cplusplus
}
#endif
#endif
