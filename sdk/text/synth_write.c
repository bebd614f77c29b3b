/* `data synth` splits (disjoint by family + input), written atomically. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmpipe/synth.h"
#include "text_internal.h"

enum { S_EVAL, S_PPO, S_PREF, S_RANKED, S_SFT, NSPLITS };
static const char *SPLIT_FILE[NSPLITS] = {"eval.jsonl", "ppo.jsonl", "pref.jsonl", "ranked.jsonl",
                                          "sft.jsonl"};
static const char *FLAWS[] = {"swap", "off_by_one", "truncated", "chatter"};

typedef struct {
    const lp_synth_opts *o;
    lpt_strmap *owner; /* family + input -> split that took it */
    lp_atomic_file *f;
    const char *path;
    char *err;
    size_t errsz;
} writer;

static int emit(writer *w, json_t *obj) {
    if (!obj) return lp_errf(w->err, w->errsz, "%s: out of memory", w->path);
    char *s = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    if (!s) return lp_errf(w->err, w->errsz, "%s: out of memory", w->path);
    int bad = lp_atomic_write(w->f, s, strlen(s)) || lp_atomic_write(w->f, "\n", 1);
    free(s);
    if (bad) return lp_errf(w->err, w->errsz, "%s: write failed", w->path);
    return 0;
}

/* Draws a task not taken by another split (sft may repeat its own). */
static int draw(writer *w, int split, int family, uint64_t *rng, lp_synth_item *it) {
    for (int tries = 0; tries < 2000; tries++) {
        if (lp_synth_generate(family, &w->o->level, rng, it))
            return lp_errf(w->err, w->errsz, "synth: out of memory");
        size_t fl = strlen(lp_synth_family_name(family)), il = strlen(it->input);
        char *key = malloc(fl + il + 2);
        if (!key) break;
        memcpy(key, lp_synth_family_name(family), fl);
        key[fl] = '\n';
        memcpy(key + fl + 1, it->input, il + 1);
        int ins;
        int32_t *owner = lpt_strmap_upsert(w->owner, key, fl + il + 1, split, &ins);
        free(key);
        if (!owner) break;
        if (ins || (split == S_SFT && *owner == S_SFT)) return 0;
        lp_synth_item_free(it);
    }
    return lp_errf(
        w->err, w->errsz,
        "synth: family %s has too few distinct tasks at this level for %s (splits never share a task; "
        "raise --max-value, --items or --pool, or ask for fewer)",
        lp_synth_family_name(family), SPLIT_FILE[split]);
}

static json_t *prompt_json(const lp_synth_opts *o, const lp_synth_item *it) {
    char *p = lp_render_prompt(o->tpl ? o->tpl : lp_alpaca_template(), it->instruction, it->input);
    json_t *j = p ? json_string(p) : NULL;
    free(p);
    return j;
}

static int write_one(writer *w, int split, const lp_synth_item *it, uint64_t *rng, size_t index) {
    const char *fam = lp_synth_family_name(it->family);
    switch (split) {
        case S_SFT:
            return emit(w, json_pack("{s:s, s:s, s:s, s:s}", "instruction", it->instruction, "input",
                                     it->input, "output", it->output, "family", fam));
        case S_EVAL:
        case S_PPO:
            return emit(w, json_pack("{s:o, s:s, s:s}", "prompt", prompt_json(w->o, it), "reference",
                                     it->output, "family", fam));
        case S_PREF: {
            /* flaws rotate so each family gets each flaw that applies to it */
            char *bad = NULL;
            const char *flaw = NULL;
            for (int k = 0; k < 4 && !bad; k++) {
                flaw = FLAWS[(index + (size_t)k) % 4];
                bad = lp_synth_corrupt(it, flaw, rng);
            }
            if (!bad) return lp_errf(w->err, w->errsz, "synth: out of memory");
            int rc = emit(w, json_pack("{s:o, s:s, s:s, s:s, s:s}", "prompt", prompt_json(w->o, it), "chosen",
                                       it->output, "rejected", bad, "family", fam, "flaw", flaw));
            free(bad);
            return rc;
        }
        default: {
            /* best first: right; right but chatty; one flaw; cut short (or, when
         * nothing can be cut, another flaw) */
            char *r[3] = {lp_synth_corrupt(it, "chatter", rng), NULL, NULL};
            const char *near[2] = {"swap", "off_by_one"};
            int first = (int)(lp_splitmix64(rng) & 1);
            for (int k = 0; k < 2 && !r[1]; k++) r[1] = lp_synth_corrupt(it, near[(first + k) % 2], rng);
            r[2] = lp_synth_corrupt(it, "truncated", rng);
            if (!r[2]) r[2] = lp_synth_corrupt(it, near[(first + 1) % 2], rng);
            json_t *resp = json_array();
            json_array_append_new(resp, json_string(it->output));
            for (int k = 0; k < 3; k++) {
                int dup = !r[k];
                for (int j = 0; j < k && !dup; j++) dup = r[j] && !strcmp(r[j], r[k]);
                if (!dup) json_array_append_new(resp, json_string(r[k]));
            }
            for (int k = 0; k < 3; k++) free(r[k]);
            return emit(w, json_pack("{s:o, s:o, s:s}", "prompt", prompt_json(w->o, it), "responses", resp,
                                     "family", fam));
        }
    }
}

int lp_synth_write(const char *out_dir, const lp_synth_opts *o, char *err, size_t errsz) {
    int all[LP_SYNTH_FAMILIES];
    const int *fams = o->families;
    int nf = o->nfamilies;
    if (!fams || nf <= 0) {
        for (int i = 0; i < LP_SYNTH_FAMILIES; i++) all[i] = i;
        fams = all;
        nf = LP_SYNTH_FAMILIES;
    }
    for (int i = 0; i < nf; i++) {
        if (!lp_synth_family_name(fams[i]))
            return lp_errf(err, errsz, "synth: unknown family index %d", fams[i]);
    }
    if (o->tpl && lp_template_check(o->tpl, err, errsz)) return -1;
    size_t counts[NSPLITS] = {o->n_eval, o->n_ppo, o->n_pref, o->n_ranked, o->n_sft};
    writer w = {.o = o, .err = err, .errsz = errsz};
    w.owner = lpt_strmap_create(1024);
    if (!w.owner) return lp_errf(err, errsz, "synth: out of memory");
    size_t pl = strlen(out_dir) + 32;
    char *path = malloc(pl);
    int rc = path ? 0 : -1;
    if (rc) lp_errf(err, errsz, "synth: out of memory");
    /* the held-out sets are drawn first, from their own streams, so they stay
     * the same whatever the training split sizes */
    for (int s = 0; s < NSPLITS && rc == 0; s++) {
        snprintf(path, pl, "%s/%s", out_dir, SPLIT_FILE[s]);
        w.path = path;
        w.f = lp_atomic_open(path, err, errsz);
        if (!w.f) {
            rc = -1;
            break;
        }
        uint64_t rng = lp_mix64(o->seed ^ lp_mix64(0x5157ull + (uint64_t)s));
        for (size_t i = 0; i < counts[s] && rc == 0; i++) {
            lp_synth_item it;
            rc = draw(&w, s, fams[i % (size_t)nf], &rng, &it);
            if (rc == 0) {
                rc = write_one(&w, s, &it, &rng, i / (size_t)nf);
                lp_synth_item_free(&it);
            }
        }
        if (rc == 0)
            rc = lp_atomic_commit(w.f, err, errsz);
        else
            lp_atomic_abort(w.f);
    }
    free(path);
    lpt_strmap_destroy(w.owner);
    return rc;
}
