/* Reader for tests/reference/gpt_fixture.bin (format in gen_gpt_fixture.py)
 * and comparison helpers shared by the model tests. */
#ifndef LP_TEST_FIXTURE_H
#define LP_TEST_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include <llmpipe/model.h>

#include "tests/support/check.h"

typedef struct fx_tensor {
    char name[96];
    int dtype; /* 0 f32, 1 i32 */
    int ndim;
    int64_t dims[4];
    size_t n;
    void *data;
} fx_tensor;

typedef struct fx_file {
    int count;
    fx_tensor *t;
} fx_file;

int fx_load(fx_file *f, const char *path);
void fx_free(fx_file *f);
/* Aborts the test (exit 1) with a message if missing. */
const fx_tensor *fx_get(const fx_file *f, const char *name);
const float *fx_f32(const fx_file *f, const char *name);
const int32_t *fx_i32(const fx_file *f, const char *name);

/* max|a-b| / max|b| */
double fx_relerr(const float *a, const float *b, size_t n);
/* Copies prefix+name tensors into the model's parameters. */
void fx_load_params(const fx_file *f, lp_model *m, const char *prefix);
/* Worst relative error over all parameters with the given prefix; prints
 * tensors above tol; stores the name of the worst. */
double fx_compare_params(const fx_file *f, lp_model *m, const char *prefix, int use_grad, double tol,
                         const char **worst, int *failures);

/* Host copies of device memory (malloc'ed; the test frees them): parameter
 * i's weights or gradient, the logits of the last forward [B*T*V]. Exit
 * the test on failure. */
float *fx_param_host(lp_model *m, int i);
float *fx_grad_host(lp_model *m, int i);
float *fx_logits_host(lp_model *m, size_t n);
/* Applies x = x * scale + shift(k) to every element of parameter i through
 * a host copy (shift may be NULL). */
void fx_param_map(lp_model *m, int i, float scale, float (*shift)(const lp_param *p, size_t k));

#endif
