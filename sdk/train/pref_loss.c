/* DPO, cDPO and IPO losses on sequence log-probabilities, and their stats. */
#include "llmpipe/pref_loss.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "llmpipe/error.h"

static const char *const names[] = {"dpo", "cdpo", "ipo"};

int lp_pref_loss_parse(const char *name, lp_pref_loss_kind *kind) {
    for (int i = 0; i < 3; i++)
        if (name && !strcmp(name, names[i])) {
            *kind = (lp_pref_loss_kind)i;
            return 0;
        }
    return -1;
}

const char *lp_pref_loss_name(lp_pref_loss_kind kind) { return (unsigned)kind < 3 ? names[kind] : "?"; }

int lp_pref_loss_check(const lp_pref_loss_cfg *c, char *err, size_t errsz) {
    if ((unsigned)c->kind >= 3) return lp_errf(err, errsz, "preference loss: unknown kind %d", (int)c->kind);
    if (!(c->beta > 0) || !isfinite(c->beta))
        return lp_errf(err, errsz, "preference loss: beta %g: expected a finite value > 0", c->beta);
    if (c->kind == LP_PREF_CDPO && !(c->label_smoothing >= 0 && c->label_smoothing < 0.5))
        return lp_errf(err, errsz, "preference loss: label_smoothing %g: expected 0 <= eps < 0.5",
                       c->label_smoothing);
    return 0;
}

/* log sigmoid(x) without overflow on either side. */
static double log_sigmoid(double x) { return x >= 0 ? -log1p(exp(-x)) : x - log1p(exp(x)); }

static double sigmoid(double x) {
    if (x >= 0) return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

double lp_pref_loss_pair(const lp_pref_loss_cfg *c, double pc, double pr, double rc, double rr, double *dpc,
                         double *dpr) {
    const double h = (pc - rc) - (pr - rr), b = c->beta;
    double loss, dh;
    switch (c->kind) {
        case LP_PREF_IPO: {
            /* IPO regresses h onto 1/(2 beta) instead of pushing it to infinity */
            double d = h - 1.0 / (2.0 * b);
            loss = d * d;
            dh = 2.0 * d;
            break;
        }
        case LP_PREF_CDPO: {
            double e = c->label_smoothing;
            loss = -(1.0 - e) * log_sigmoid(b * h) - e * log_sigmoid(-b * h);
            /* d/dx -log sigmoid(x) = -sigmoid(-x) */
            dh = -(1.0 - e) * b * sigmoid(-b * h) + e * b * sigmoid(b * h);
            break;
        }
        default:
            loss = -log_sigmoid(b * h);
            dh = -b * sigmoid(-b * h);
            break;
    }
    if (dpc) *dpc = dh;
    if (dpr) *dpr = -dh;
    return loss;
}

void lp_pref_stats_add(lp_pref_stats *s, const lp_pref_loss_cfg *c, double pc, double pr, double rc,
                       double rr) {
    double wc = c->beta * (pc - rc), wr = c->beta * (pr - rr);
    s->n += 1;
    s->loss += lp_pref_loss_pair(c, pc, pr, rc, rr, NULL, NULL);
    s->accuracy += wc > wr;
    s->margin += wc - wr;
    s->chosen_reward += wc;
    s->rejected_reward += wr;
    s->chosen_logp += pc;
    s->rejected_logp += pr;
    s->logp_accuracy += pc > pr;
}

lp_pref_stats lp_pref_stats_mean(const lp_pref_stats *sum) {
    lp_pref_stats m = *sum;
    double n = sum->n > 0 ? sum->n : NAN;
    m.loss /= n;
    m.accuracy /= n;
    m.margin /= n;
    m.chosen_reward /= n;
    m.rejected_reward /= n;
    m.chosen_logp /= n;
    m.rejected_logp /= n;
    m.logp_accuracy /= n;
    return m;
}
