/* References the functions pref_loss_test.py calls, so the linker keeps
 * them in libpref_loss.so (a static archive gives only what is used). */
#include "llmpipe/pref_loss.h"

typedef struct pref_loss_fns {
    double (*pair)(const lp_pref_loss_cfg *, double, double, double, double, double *, double *);
    int (*check)(const lp_pref_loss_cfg *, char *, size_t);
} pref_loss_fns;

const pref_loss_fns lp_test_pref_loss_fns = {lp_pref_loss_pair, lp_pref_loss_check};
