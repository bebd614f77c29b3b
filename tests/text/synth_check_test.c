/* Checkers of every synthetic family: right answers pass (rendered prompt or
 * bare input, surrounding white space ignored), every flawed answer fails,
 * foreign prompts are refused; generation is deterministic. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmpipe/synth.h"

#include "tests/support/check.h"

static const char *FLAWS[] = {"swap", "off_by_one", "truncated", "chatter"};

static void test_family(int f) {
    const char *name = lp_synth_family_name(f);
    int flaws_seen[4] = {0};
    for (int level = 1; level <= 3; level++) {
        lp_synth_level lv = lp_synth_preset(level);
        uint64_t rng = 1000 + (uint64_t)f, again = rng, flaw_rng = 5;
        for (int i = 0; i < 300; i++) {
            lp_synth_item it, same;
            CHECK(lp_synth_generate(f, &lv, &rng, &it) == 0, "generate %s", name);
            CHECK(lp_synth_generate(f, &lv, &again, &same) == 0 && !strcmp(it.input, same.input),
                  "not deterministic");
            lp_synth_item_free(&same);
            char *prompt = lp_render_prompt(lp_alpaca_template(), it.instruction, it.input);
            CHECK(lp_synth_check(name, prompt, it.output) == 1, "%s: '%s' -> '%s' rejected", name, it.input,
                  it.output);
            CHECK(lp_synth_check(name, it.input, it.output) == 1, "%s: bare input", name);
            char padded[512];
            snprintf(padded, sizeof padded, "  %s\n", it.output);
            CHECK(lp_synth_check(name, prompt, padded) == 1, "%s: white space not ignored", name);
            for (int k = 0; k < 4; k++) {
                char *bad = lp_synth_corrupt(&it, FLAWS[k], &flaw_rng);
                if (!bad) continue;
                flaws_seen[k]++;
                CHECK(lp_synth_check(name, prompt, bad) == 0, "%s: %s answer '%s' to '%s' accepted", name,
                      FLAWS[k], bad, it.input);
                free(bad);
            }
            CHECK(lp_synth_check(name, prompt, "") == 0, "empty answer accepted");
            free(prompt);
            lp_synth_item_free(&it);
        }
    }
    CHECK(flaws_seen[3] > 0 && flaws_seen[0] + flaws_seen[1] > 0, "%s: no near-miss flaws", name);
}

int main(void) {
    CHECK(lp_synth_family_count() == 10, "families");
    for (int f = 0; f < lp_synth_family_count(); f++) test_family(f);
    /* known answers, written out by hand */
    CHECK(lp_synth_check("sort_en", "20, 19, 33, 1", "1, 19, 20, 33") == 1, "sort example");
    CHECK(lp_synth_check("sort_en", "20, 19, 33, 1", "1, 20, 19, 33") == 0, "sort swapped");
    CHECK(lp_synth_check("sort_zh", "20，19，33，1", "1，19，20，33") == 1, "sort zh");
    CHECK(lp_synth_check("reverse_zh", "苹果 月亮 音乐", "音乐 月亮 苹果") == 1, "reverse zh");
    CHECK(lp_synth_check("add_en", "23 + 58", "81") == 1, "add");
    CHECK(lp_synth_check("add_zh", "23 加 58", "81") == 1, "add zh");
    CHECK(lp_synth_check("count_en", "cat dog cat bird", "4") == 1, "count");
    CHECK(lp_synth_check("upper_en", "hello", "HELLO") == 1, "upper");
    CHECK(lp_synth_check("upper_zh", "三五七零", "叁伍柒零") == 1, "upper zh");
    CHECK(lp_synth_check("upper_zh", "三五七零", "三伍柒零") == 0, "upper zh one left");
    /* refusals */
    CHECK(lp_synth_check("nope", "1, 2", "1, 2") == -1, "unknown family");
    CHECK(lp_synth_check("sort_en", "a, b", "a, b") == -1, "sort of words");
    CHECK(lp_synth_check("sort_en", "3，1", "1，3") == -1, "zh separator in en family");
    CHECK(lp_synth_check("add_en", "1 + 2 + 3", "6") == -1, "three terms");
    CHECK(lp_synth_check("upper_zh", "abc", "ABC") == -1, "latin in upper_zh");
    CHECK(lp_synth_check("add_en", "### Input:\n2 + 2\n\n### Response:\n", "4") == 1, "input section");
    DONE();
}
