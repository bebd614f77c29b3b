/* Synthetic instruction tasks with programmatic checkers, in English and
 * Chinese: sort numbers, reverse words, add integers, count items, upper-case
 * (in Chinese: write digits as financial numerals, 三五 -> 叁伍).
 * Families are named TASK_LANG: sort_en, sort_zh, reverse_en, ... upper_zh. */
#ifndef LLMPIPE_SYNTH_H
#define LLMPIPE_SYNTH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "llmpipe/data.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LP_SYNTH_FAMILIES 10

int lp_synth_family_count(void);
const char *lp_synth_family_name(int i);
/* Index of a family name, -1 when unknown. */
int lp_synth_family_find(const char *name);

/* Difficulty knobs; a field <= 0 takes the value of the preset level. */
typedef struct lp_synth_level {
    int min_items,
        max_items; /* list length (sort, reverse, count), digits (upper_zh), syllables (upper_en) */
    int max_value; /* numbers in [0, max_value] (sort, add) */
    int pool;      /* words drawn from the first `pool` (<= 64) of the word list (reverse, count) */
} lp_synth_level;

/* Preset levels: 1 (easy: 2-3 items, numbers to 20, 12 words), 2 (3-5, 99, 24),
 * 3 (4-8, 999, 64). */
lp_synth_level lp_synth_preset(int level);

typedef struct lp_synth_item {
    int family;
    char *instruction, *input, *output; /* malloc'ed */
} lp_synth_item;

/* Draws one task; *rng is a state advanced by the call. */
int lp_synth_generate(int family, const lp_synth_level *lv, uint64_t *rng, lp_synth_item *out);
void lp_synth_item_free(lp_synth_item *it);

/* Expected answer for a prompt of a family (malloc'ed), NULL when the family
 * is unknown or the prompt is not one of its tasks. The prompt may be a
 * rendered Alpaca prompt (its "### Input:" section is used) or the bare input. */
char *lp_synth_answer(const char *family, const char *prompt);
/* 1 when answer (surrounding white space ignored) is exactly right, 0 when
 * wrong, -1 when the family is unknown or the prompt cannot be parsed. */
int lp_synth_check(const char *family, const char *prompt, const char *answer);

typedef struct lp_synth_opts {
    uint64_t seed;
    const int *families; /* NULL: all */
    int nfamilies;
    lp_synth_level level;
    size_t n_sft, n_pref, n_ranked, n_ppo, n_eval;
    const lp_prompt_template *tpl; /* NULL: Alpaca */
} lp_synth_opts;

/* Writes out_dir/{sft,pref,ranked,ppo,eval}.jsonl with no task (family +
 * input) in two files. sft: instruction/input/output/family. pref:
 * prompt/chosen/rejected/family/flaw, rejected being a plausible wrong answer
 * (flaw: swap, off_by_one, truncated, chatter). ranked: prompt, responses
 * best first (correct, correct with chatter, one flaw, truncated). ppo and
 * eval: prompt/reference/family. */
int lp_synth_write(const char *out_dir, const lp_synth_opts *o, char *err, size_t errsz);

/* A plausible wrong answer to item (flaw: "swap", "off_by_one", "truncated",
 * "chatter"); NULL when that flaw does not apply to the item. */
char *lp_synth_corrupt(const lp_synth_item *it, const char *flaw, uint64_t *rng);

#ifdef __cplusplus
}
#endif
#endif
