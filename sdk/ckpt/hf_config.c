/* Hugging Face GPT-2 config.json: written with the keys transformers'
 * GPT2Config uses, read back with checks for every setting the llmpipe model
 * cannot reproduce (so an unusual checkpoint is refused, not mis-run). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ckpt_internal.h"
#include "llmpipe/fsutil.h"

int lp_hf_config_save(const char *path, const lp_model_config *c, int eot, char *err, size_t errsz) {
    json_t *o = json_object();
    json_object_set_new(
        o, "architectures",
        json_pack("[s]", c->scalar_head ? "GPT2ForSequenceClassification" : "GPT2LMHeadModel"));
    json_object_set_new(o, "model_type", json_string("gpt2"));
    json_object_set_new(o, "vocab_size", json_integer(c->vocab_size));
    json_object_set_new(o, "n_positions", json_integer(c->n_ctx));
    json_object_set_new(o, "n_ctx", json_integer(c->n_ctx));
    json_object_set_new(o, "n_embd", json_integer(c->n_embd));
    json_object_set_new(o, "n_layer", json_integer(c->n_layer));
    json_object_set_new(o, "n_head", json_integer(c->n_head));
    json_object_set_new(o, "n_inner", json_null());
    json_object_set_new(o, "activation_function", json_string("gelu_new"));
    json_object_set_new(o, "resid_pdrop", json_real(0.0));
    json_object_set_new(o, "embd_pdrop", json_real(0.0));
    json_object_set_new(o, "attn_pdrop", json_real(0.0));
    json_object_set_new(o, "layer_norm_epsilon", json_real(c->ln_eps > 0 ? c->ln_eps : 1e-5));
    json_object_set_new(o, "initializer_range", json_real(0.02));
    json_object_set_new(o, "scale_attn_weights", json_true());
    json_object_set_new(o, "scale_attn_by_inverse_layer_idx", json_false());
    json_object_set_new(o, "reorder_and_upcast_attn", json_false());
    json_object_set_new(o, "tie_word_embeddings", json_true());
    json_object_set_new(o, "use_cache", json_true());
    json_object_set_new(o, "torch_dtype", json_string("float32"));
    if (eot >= 0) {
        json_object_set_new(o, "bos_token_id", json_integer(eot));
        json_object_set_new(o, "eos_token_id", json_integer(eot));
    }
    if (c->scalar_head) {
        json_object_set_new(o, "num_labels", json_integer(1));
        json_object_set_new(o, "id2label", json_pack("{s:s}", "0", "LABEL_0"));
        json_object_set_new(o, "label2id", json_pack("{s:i}", "LABEL_0", 0));
        if (eot >= 0) json_object_set_new(o, "pad_token_id", json_integer(eot));
    }
    char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!text) {
        snprintf(err, errsz, "%s: out of memory", path);
        return -1;
    }
    size_t len = strlen(text);
    text[len] = '\n'; /* overwrites the NUL; length below excludes nothing */
    int rc = lp_write_file_atomic(path, text, len + 1, err, errsz);
    free(text);
    return rc;
}

static int get_int(const char *path, json_t *o, const char *key, const char *alt, int required, int *out,
                   char *err, size_t errsz) {
    json_t *v = json_object_get(o, key);
    if (!v && alt) v = json_object_get(o, alt);
    if (!v || json_is_null(v)) {
        if (!required) return 0;
        snprintf(err, errsz, "%s: missing \"%s\" (an integer)", path, key);
        return -1;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > (1 << 30)) {
        snprintf(err, errsz, "%s: \"%s\" must be a positive integer", path, key);
        return -1;
    }
    *out = (int)json_integer_value(v);
    return 0;
}

int lp_hf_config_load(const char *path, lp_model_config *c, char *err, size_t errsz) {
    json_error_t je;
    json_t *o = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!o) {
        snprintf(err, errsz, "%s:%d: not valid JSON: %s", path, je.line, je.text);
        return -1;
    }
    int rc = -1;
    memset(c, 0, sizeof *c);
    if (!json_is_object(o)) {
        snprintf(err, errsz, "%s: not a JSON object", path);
        goto out;
    }
    json_t *mt = json_object_get(o, "model_type");
    if (mt && (!json_is_string(mt) || strcmp(json_string_value(mt), "gpt2"))) {
        snprintf(err, errsz, "%s: model_type \"%s\" is not supported (expected \"gpt2\")", path,
                 json_is_string(mt) ? json_string_value(mt) : "?");
        goto out;
    }
    if (get_int(path, o, "n_layer", NULL, 1, &c->n_layer, err, errsz) ||
        get_int(path, o, "n_head", NULL, 1, &c->n_head, err, errsz) ||
        get_int(path, o, "n_embd", NULL, 1, &c->n_embd, err, errsz) ||
        get_int(path, o, "vocab_size", NULL, 1, &c->vocab_size, err, errsz) ||
        get_int(path, o, "n_positions", "n_ctx", 1, &c->n_ctx, err, errsz))
        goto out;
    if (c->n_embd % c->n_head) {
        snprintf(err, errsz, "%s: n_embd %d is not a multiple of n_head %d", path, c->n_embd, c->n_head);
        goto out;
    }
    int inner = 4 * c->n_embd;
    if (get_int(path, o, "n_inner", NULL, 0, &inner, err, errsz)) goto out;
    if (inner != 4 * c->n_embd) {
        snprintf(err, errsz, "%s: n_inner %d is not supported (only 4 * n_embd = %d)", path, inner,
                 4 * c->n_embd);
        goto out;
    }
    json_t *act = json_object_get(o, "activation_function");
    if (act && (!json_is_string(act) || (strcmp(json_string_value(act), "gelu_new") &&
                                         strcmp(json_string_value(act), "gelu_pytorch_tanh")))) {
        snprintf(err, errsz, "%s: activation_function \"%s\" is not supported (expected \"gelu_new\")", path,
                 json_is_string(act) ? json_string_value(act) : "?");
        goto out;
    }
    static const struct {
        const char *key;
        int want;
    } flags[] = {{"tie_word_embeddings", 1},
                 {"scale_attn_weights", 1},
                 {"scale_attn_by_inverse_layer_idx", 0},
                 {"add_cross_attention", 0}};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        json_t *v = json_object_get(o, flags[i].key);
        if (v && (!json_is_boolean(v) || json_is_true(v) != flags[i].want)) {
            snprintf(err, errsz, "%s: \"%s\" must be %s for this model", path, flags[i].key,
                     flags[i].want ? "true" : "false");
            goto out;
        }
    }
    json_t *eps = json_object_get(o, "layer_norm_epsilon");
    if (eps) {
        if (!json_is_number(eps) || !(json_number_value(eps) > 0) || json_number_value(eps) > 1) {
            snprintf(err, errsz, "%s: layer_norm_epsilon must be a number in (0, 1]", path);
            goto out;
        }
        c->ln_eps = (float)json_number_value(eps);
    } else {
        c->ln_eps = 1e-5f;
    }
    json_t *arch = json_array_get(json_object_get(o, "architectures"), 0);
    c->scalar_head =
        json_is_string(arch) && !strcmp(json_string_value(arch), "GPT2ForSequenceClassification");
    rc = 0;
out:
    json_decref(o);
    return rc;
}
