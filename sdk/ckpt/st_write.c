/* safetensors writer: fp32 tensors in the caller's order, header padded with
 * spaces to a multiple of 8 so the data section stays aligned. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt_internal.h"

int lp_st_save(const char *path, const lp_st_entry *entries, size_t n, const char *const *meta, size_t n_meta,
               char *sha256_hex, char *err, size_t errsz) {
    json_t *root = json_object();
    if (n_meta > 0) {
        json_t *m = json_object();
        for (size_t i = 0; i < n_meta; i++) json_object_set_new(m, meta[2 * i], json_string(meta[2 * i + 1]));
        json_object_set_new(root, "__metadata__", m);
    }
    uint64_t off = 0;
    for (size_t i = 0; i < n; i++) {
        const lp_st_entry *e = &entries[i];
        if (e->ndim < 0 || e->ndim > LP_ST_MAX_DIMS || json_object_get(root, e->name)) {
            lp_errf(err, errsz, "%s: tensor '%s': bad rank or duplicate name", path, e->name);
            json_decref(root);
            return -1;
        }
        json_t *shape = json_array();
        uint64_t numel = 1;
        for (int d = 0; d < e->ndim; d++) {
            json_array_append_new(shape, json_integer(e->shape[d]));
            numel *= (uint64_t)e->shape[d];
        }
        json_object_set_new(root, e->name,
                            json_pack("{s:s, s:o, s:[I, I]}", "dtype", "F32", "shape", shape, "data_offsets",
                                      (json_int_t)off, (json_int_t)(off + numel * 4)));
        off += numel * 4;
    }
    /* JSON_PRESERVE_ORDER keeps the tensors in the order given */
    char *hdr = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!hdr) return lp_errf(err, errsz, "%s: out of memory", path);
    size_t hlen = strlen(hdr), padded = (hlen + 7) & ~(size_t)7;
    lp_afile f;
    if (lp_afile_open(&f, path, err, errsz)) {
        free(hdr);
        return -1;
    }
    uint8_t lenb[8];
    for (int i = 0; i < 8; i++) lenb[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    lp_afile_write(&f, lenb, 8);
    lp_afile_write(&f, hdr, hlen);
    lp_afile_write(&f, "        ", padded - hlen);
    free(hdr);
    for (size_t i = 0; i < n; i++) {
        uint64_t numel = 1;
        for (int d = 0; d < entries[i].ndim; d++) numel *= (uint64_t)entries[i].shape[d];
        lp_afile_write(&f, entries[i].data, numel * 4);
    }
    return lp_afile_commit(&f, sha256_hex, err, errsz);
}
