/* The tokenize stage in this process through the fake host (so ASan sees
 * its leaks): parameters checked by the host's schema code, the output
 * folder published with a tokenizer and shards that open, the metrics
 * reported, and a missing corpus refused with the file named. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmpipe/data.h"
#include "llmpipe/fsutil.h"
#include "llmpipe/tokenizer.h"
#include "tests/support/check.h"
#include "tests/support/fake_host.h"

const lp_stage_desc *lp_plugin_entry(void);

int main(void) {
    char tmp[4096], corpus[4200], work[4200], cap[4200], params[8600], path[4400], err[1024];
    snprintf(tmp, sizeof tmp, "%s/tokXXXXXX", getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp");
    REQUIRE(mkdtemp(tmp), "mkdtemp %s", tmp);
    snprintf(corpus, sizeof corpus, "%s/corpus.txt", tmp);
    FILE *f = fopen(corpus, "w");
    REQUIRE(f, "cannot write %s", corpus);
    for (int i = 0; i < 300; i++)
        fprintf(f, "The cat %d sat on the mat.\n小猫 %d 坐在垫子上。\n%%\n", i, i * 7 % 23);
    fclose(f);
    snprintf(work, sizeof work, "%s/work", tmp);
    snprintf(cap, sizeof cap, "%s/out", tmp);

    lp_fake_host *h = lp_fake_host_create(lp_plugin_entry(), work, "vocab_size = 300;", err, sizeof err);
    CHECK(!h && strstr(err, "missing required parameter 'files'"), "%s", err);
    snprintf(params, sizeof params, "files = [\"%s\"]; vocab_size = 300; val_fraction = 0.1;", corpus);
    h = lp_fake_host_create(lp_plugin_entry(), work, params, err, sizeof err);
    REQUIRE(h, "%s", err);
    lp_fake_host_quiet(h, 1);
    lp_fake_host_output(h, "tokens", cap);
    CHECK(lp_fake_host_run(h, err, sizeof err) == 0, "%s", err);
    CHECK(lp_fake_host_put_count(h) == 1, "%d puts", lp_fake_host_put_count(h));
    const lp_fake_entry *e = lp_fake_host_last(h, LP_FAKE_METRIC, "vocab_size");
    CHECK(e && e->value == 300, "vocab_size metric %g", e ? e->value : -1.0);
    e = lp_fake_host_last(h, LP_FAKE_METRIC, "train_tokens");
    const lp_fake_entry *v = lp_fake_host_last(h, LP_FAKE_METRIC, "val_tokens");
    CHECK(e && v && e->value > 0 && v->value > 0, "train %g, val %g tokens", e ? e->value : -1.0,
          v ? v->value : -1.0);

    lp_tokenizer *t = NULL;
    snprintf(path, sizeof path, "%s/tokenizer.json", cap);
    CHECK(lp_tokenizer_open(&t, path, err, sizeof err) == 0 && lp_tokenizer_vocab_size(t) == 300, "%s", err);
    lp_tokenizer_destroy(t);
    lp_shard *s = NULL;
    snprintf(path, sizeof path, "%s/train.bin", cap);
    CHECK(lp_shard_open(&s, path, err, sizeof err) == 0 && e && (double)lp_shard_count(s) == e->value, "%s",
          err);
    lp_shard_close(s);

    /* A corpus that is not there: refused at create, naming the file. */
    CHECK(lp_fake_host_set(h, "files", "[\"/nonexistent/corpus.txt\"]", err, sizeof err) == 0, "%s", err);
    CHECK(lp_fake_host_run(h, err, sizeof err) != 0 && strstr(err, "/nonexistent/corpus.txt") &&
              strstr(err, "cannot open"),
          "%s", err);
    lp_fake_host_destroy(h);
    if (lp_remove_tree(tmp)) fprintf(stderr, "cleanup failed\n");
    DONE();
}
