/* The malformed-safetensors set: each broken file is refused by lp_st_open
 * or the model loader with its own message (printed, so the test log is the
 * catalogue of refusals), and well-formed F32/F16/BF16 files read back. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "llmpipe/ckpt.h"
#include "tests/support/check.h"

static char dir[4096];

static void write_raw(const char *path, const char *hdr, uint64_t hlen_field, size_t data_len) {
    FILE *f = fopen(path, "wb");
    uint8_t b[8];
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(hlen_field >> (8 * i));
    fwrite(b, 1, 8, f);
    fwrite(hdr, 1, strlen(hdr), f);
    for (size_t i = 0; i < data_len; i++) fputc(0, f);
    fclose(f);
}

/* A file with this header (length field exact) and data_len zero bytes. */
static void refuse(const char *name, const char *hdr, size_t data_len, const char *want) {
    char path[4200], err[1024] = "";
    snprintf(path, sizeof path, "%s/%s.safetensors", dir, name);
    write_raw(path, hdr, strlen(hdr), data_len);
    lp_safetensors *st = NULL;
    int rc = lp_st_open(&st, path, err, sizeof err);
    CHECK(rc == -1 && st == NULL && strstr(err, want), "%s: rc %d, message \"%s\", expected \"%s\"", name, rc,
          err, want);
    fprintf(stderr, "refused %-18s %s\n", name, err);
    lp_st_close(st);
}

static lp_model *small_model(lpk_ctx *ctx) {
    lp_model_config c = {1, 2, 8, 11, 6, 0, 0};
    char err[256];
    lp_model *m = lp_model_create(&c, ctx, err, sizeof err);
    lp_model_init_gpt2(m, 3);
    return m;
}

/* Writes the model's tensors with one changed through `edit`. */
static void model_file(lp_model *m, const char *path, const char *drop, const char *extra, int bad_shape_of,
                       int head_differs) {
    int n = lp_model_num_params(m);
    lp_st_entry *e = calloc((size_t)n + 2, sizeof *e);
    float **host = calloc((size_t)n, sizeof *host); /* the weights are device memory */
    static float junk[4096];
    size_t k = 0;
    int wte_i = -1;
    for (int i = 0; i < n; i++) {
        const lp_param *p = lp_model_param(m, i);
        host[i] = malloc(p->numel * sizeof(float));
        CHECK(lp_model_param_read(m, i, host[i]) == 0, "%s", lp_model_error(m));
        if (!strcmp(p->name, "transformer.wte.weight")) wte_i = i;
        if (drop && !strcmp(drop, p->name)) continue;
        e[k] = (lp_st_entry){p->name, p->ndim, {p->shape[0], p->shape[1]}, host[i]};
        if (i == bad_shape_of) {
            e[k].shape[0] += 1;
            e[k].data = junk;
        }
        k++;
    }
    const lp_param *wte = lp_model_find_param(m, "transformer.wte.weight");
    e[k++] =
        (lp_st_entry){"lm_head.weight", 2, {wte->shape[0], wte->shape[1]}, head_differs ? junk : host[wte_i]};
    if (extra) e[k++] = (lp_st_entry){extra, 1, {3}, junk};
    char err[512];
    CHECK(lp_st_save(path, e, k, NULL, 0, NULL, err, sizeof err) == 0, "%s", err);
    for (int i = 0; i < n; i++) free(host[i]);
    free(host);
    free(e);
}

static void model_refuse(lp_model *m, const char *name, const char *drop, const char *extra, int bad_shape,
                         int head, const char *want) {
    char path[4200], err[1024] = "";
    snprintf(path, sizeof path, "%s/%s.safetensors", dir, name);
    model_file(m, path, drop, extra, bad_shape, head);
    int rc = lp_model_load_safetensors(m, path, err, sizeof err);
    CHECK(rc == -1 && strstr(err, want), "%s: message \"%s\", expected \"%s\"", name, err, want);
    fprintf(stderr, "refused %-18s %s\n", name, err);
}

int main(void) {
    snprintf(dir, sizeof dir, "%s/stXXXXXX", getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) return 2;
    char path[4200], err[1024];

    /* length field and header framing */
    snprintf(path, sizeof path, "%s/short.safetensors", dir);
    FILE *f = fopen(path, "wb");
    fwrite("\x05\0\0", 1, 3, f);
    fclose(f);
    lp_safetensors *st = NULL;
    CHECK(
        lp_st_open(&st, path, err, sizeof err) == -1 && strstr(err, "shorter than the 8-byte header length"),
        "%s", err);
    fprintf(stderr, "refused %-18s %s\n", "short", err);
    snprintf(path, sizeof path, "%s/hlen.safetensors", dir);
    write_raw(path, "{}", 1000, 0);
    CHECK(lp_st_open(&st, path, err, sizeof err) == -1 && strstr(err, "exceeds the file"), "%s", err);
    fprintf(stderr, "refused %-18s %s\n", "hlen-beyond-file", err);
    /* a huge (sparse) file whose header length passes the size check */
    snprintf(path, sizeof path, "%s/huge.safetensors", dir);
    write_raw(path, "{}", 200u << 20, 0);
    CHECK(truncate(path, (200 << 20) + 8) == 0, "truncate");
    CHECK(lp_st_open(&st, path, err, sizeof err) == -1 && strstr(err, "above the 100 MB limit"), "%s", err);
    fprintf(stderr, "refused %-18s %s\n", "huge-header", err);
    unlink(path);

    refuse("not-json", "{\"a\": {", 0, "header is not valid JSON");
    refuse("not-object", "[1, 2]", 0, "header is not a JSON object");
    refuse("duplicate-key", "{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},\"a\":{}}", 4,
           "duplicate");
    refuse("entry-not-object", "{\"a\": 3}", 0, "header entry is not an object");
    refuse("no-dtype", "{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
           "missing or non-string \"dtype\"");
    refuse("unknown-dtype", "{\"a\":{\"dtype\":\"F8\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
           "unknown dtype");
    refuse("no-shape", "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4,
           "missing or non-array \"shape\"");
    refuse("negative-dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4,
           "shape[0] is not a non-negative integer");
    refuse("shape-overflow",
           "{\"a\":{\"dtype\":\"F32\",\"shape\":[1099511627776,1099511627776],\"data_offsets\":[0,4]}}", 4,
           "shape overflows");
    refuse("too-many-dims",
           "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
           "9 dimensions, at most 8");
    refuse("bad-offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4,
           "\"data_offsets\" must be [begin, end]");
    refuse("end-before-begin", "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,0]}}", 4,
           "end before begin");
    refuse("beyond-data", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 12,
           "beyond the data section");
    refuse("size-mismatch", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "need 12");
    refuse("overlap",
           "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
           "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
           12, "overlap in the data section");
    refuse("overlap-third",
           "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
           "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]},"
           "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
           16, "overlap in the data section");
    refuse("metadata-type", "{\"__metadata__\":{\"format\":1}}", 0,
           "__metadata__ value of 'format' is not a string");
    refuse("empty-name", "{\"\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "empty name");

    /* a truncated real file */
    lpk_ctx_opts ko = {.backend = "cpu", .num_threads = 1, .precision = LPK_PREC_FP32};
    lpk_ctx *ctx = lpk_ctx_create(&ko, err, sizeof err);
    lp_model *m = small_model(ctx);
    snprintf(path, sizeof path, "%s/good.safetensors", dir);
    model_file(m, path, NULL, NULL, -1, 0);
    CHECK(lp_model_load_safetensors(m, path, err, sizeof err) == 0, "good file: %s", err);
    f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fclose(f);
    CHECK(truncate(path, sz - 5) == 0, "truncate");
    CHECK(lp_model_load_safetensors(m, path, err, sizeof err) == -1 && strstr(err, "beyond the data section"),
          "%s", err);
    fprintf(stderr, "refused %-18s %s\n", "truncated", err);

    /* against the model's config */
    model_refuse(m, "missing-tensor", "transformer.h.0.mlp.c_fc.bias", NULL, -1, 0,
                 "missing tensor 'transformer.h.0.mlp.c_fc.bias'");
    model_refuse(m, "unexpected-tensor", NULL, "transformer.h.7.ln_1.weight", -1, 0,
                 "unexpected tensor 'transformer.h.7.ln_1.weight'");
    model_refuse(m, "wrong-shape", NULL, NULL, 4, 0, "the config expects [8, 24]");
    model_refuse(m, "untied-head", NULL, NULL, -1, 1, "lm_head.weight differs from transformer.wte.weight");
    /* an I32 tensor is a valid file, but not a float tensor */
    snprintf(path, sizeof path, "%s/int-dtype.safetensors", dir);
    write_raw(path, "{\"a\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 54, 4);
    CHECK(lp_st_open(&st, path, err, sizeof err) == 0, "%s", err);
    if (st) {
        float v;
        CHECK(
            lp_st_read_f32(st, lp_st_find(st, "a"), &v, 1, err, sizeof err) == -1 && strstr(err, "dtype I32"),
            "%s", err);
        fprintf(stderr, "refused %-18s %s\n", "int-dtype", err);
        lp_st_close(st);
    }

    /* an empty tensor inside another's range owns no bytes: accepted */
    snprintf(path, sizeof path, "%s/empty-inside.safetensors", dir);
    write_raw(path,
              "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
              "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]}}",
              107, 8);
    CHECK(lp_st_open(&st, path, err, sizeof err) == 0, "empty tensor: %s", err);
    lp_st_close(st);
    st = NULL;

    /* half types convert exactly */
    snprintf(path, sizeof path, "%s/half.safetensors", dir);
    const char *hdr =
        "{\"h\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,8]},"
        "\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[8,12]}}";
    f = fopen(path, "wb");
    uint64_t hl = strlen(hdr);
    fwrite(&hl, 8, 1, f);
    fwrite(hdr, 1, hl, f);
    const uint16_t hv[6] = {0x3C00, 0xC000, 0x3800, 0x0001, 0x3F80, 0xC0A0};
    fwrite(hv, 2, 6, f);
    fclose(f);
    CHECK(lp_st_open(&st, path, err, sizeof err) == 0, "%s", err);
    if (st) {
        float h[4], b[2];
        CHECK(lp_st_read_f32(st, lp_st_find(st, "h"), h, 4, err, sizeof err) == 0, "%s", err);
        CHECK(h[0] == 1.0f && h[1] == -2.0f && h[2] == 0.5f && h[3] == 5.9604645e-08f, "f16 %g %g %g %g",
              h[0], h[1], h[2], h[3]);
        CHECK(lp_st_read_f32(st, lp_st_find(st, "b"), b, 2, err, sizeof err) == 0, "%s", err);
        CHECK(b[0] == 1.0f && b[1] == -5.0f, "bf16 %g %g", b[0], b[1]);
        lp_st_close(st);
    }
    lp_model_destroy(m);
    lpk_ctx_destroy(ctx);
    DONE();
}
