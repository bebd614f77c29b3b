/* Pairwise accuracy and mean margin per group (flaw, family). */
#include <math.h>
#include <string.h>

#include "llmpipe/reward.h"

void lp_pref_tally_add(lp_pref_tally *t, const char *group, double margin) {
    if (!group || !group[0]) group = "other";
    int g = 0;
    while (g < t->groups && strcmp(t->name[g], group)) g++;
    if (g == t->groups) {
        if (t->groups == LP_TALLY_MAX)
            g = LP_TALLY_MAX - 1;
        else {
            t->groups++;
            snprintf(t->name[g], sizeof t->name[g], "%s", group);
            t->n[g] = t->right[g] = 0;
            t->margin[g] = 0;
        }
    }
    t->n[g]++;
    t->right[g] += margin > 0;
    t->margin[g] += margin;
}

long lp_pref_tally_count(const lp_pref_tally *t, int g) {
    if (g >= 0) return g < t->groups ? t->n[g] : 0;
    long n = 0;
    for (int i = 0; i < t->groups; i++) n += t->n[i];
    return n;
}

double lp_pref_tally_accuracy(const lp_pref_tally *t, int g) {
    long n = lp_pref_tally_count(t, g), r = 0;
    if (!n) return NAN;
    if (g >= 0) return (double)t->right[g] / (double)n;
    for (int i = 0; i < t->groups; i++) r += t->right[i];
    return (double)r / (double)n;
}

double lp_pref_tally_margin(const lp_pref_tally *t, int g) {
    long n = lp_pref_tally_count(t, g);
    if (!n) return NAN;
    if (g >= 0) return t->margin[g] / (double)n;
    double s = 0;
    for (int i = 0; i < t->groups; i++) s += t->margin[i];
    return s / (double)n;
}

void lp_pref_tally_print(const lp_pref_tally *t, const char *title, int all_row, FILE *f) {
    fprintf(f, "%-16s %7s %7s %9s %12s\n", title, "n", "right", "accuracy", "mean margin");
    for (int g = -all_row; g < t->groups; g++) {
        long n = lp_pref_tally_count(t, g);
        long r = (long)llround(lp_pref_tally_accuracy(t, g) * (double)n);
        fprintf(f, "%-16s %7ld %7ld %8.1f%% %12.3f\n", g < 0 ? "all" : t->name[g], n, n ? r : 0,
                n ? 100.0 * lp_pref_tally_accuracy(t, g) : 0.0, n ? lp_pref_tally_margin(t, g) : 0.0);
    }
}
