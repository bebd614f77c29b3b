/* The live view's rendering: sparkline, bar, durations, and the plain
 * one-line-per-update output for each message kind. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/live_view_internal.h"
#include "tests/support/check.h"

static void feed(lv_state *s, const char *topic, const char *body) {
    lv_handle(s, topic, strlen(topic), body, strlen(body), 1000.0);
}

int main(void) {
    char buf[512];
    double up[4] = {1, 2, 3, 4};
    lv_sparkline(up, 4, buf, sizeof buf);
    CHECK(!strcmp(buf, "\u2581\u2583\u2586\u2588"), "got '%s'", buf);
    double flat[3] = {5, 5, 5};
    lv_sparkline(flat, 3, buf, sizeof buf);
    CHECK(!strcmp(buf, "\u2584\u2584\u2584"), "got '%s'", buf);
    lv_bar(5, 10, 4, buf, sizeof buf);
    CHECK(!strcmp(buf, "\u2588\u2588\u2591\u2591"), "got '%s'", buf);
    lv_bar(20, 10, 2, buf, sizeof buf); /* clamped */
    CHECK(!strcmp(buf, "\u2588\u2588"), "got '%s'", buf);
    lv_duration(75, buf, sizeof buf);
    CHECK(!strcmp(buf, "1:15"), "got '%s'", buf);
    lv_duration(3725, buf, sizeof buf);
    CHECK(!strcmp(buf, "1:02:05"), "got '%s'", buf);
    lv_duration(-1, buf, sizeof buf);
    CHECK(!strcmp(buf, "--:--"), "got '%s'", buf);

    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    lv_state s = {.plain = 1, .out = out, .width = 80};
    feed(&s, "metrics/r/pretrain",
         "{\"run\":\"r\",\"stage\":\"pretrain\",\"step\":7,\"seq\":0,\"time\":100,"
         "\"values\":{\"lr\":0.001,\"loss\":2.5}}");
    feed(&s, "progress/r/pretrain", "{\"step\":7,\"time\":100,\"done\":10,\"total\":100}");
    feed(&s, "progress/r/pretrain", "{\"step\":7,\"time\":110,\"done\":60,\"total\":100}");
    feed(&s, "event/r/pretrain", "{\"time\":111,\"event\":\"alarm\",\"message\":\"loss\\nspike\"}");
    feed(&s, "log/r/pretrain", "{\"time\":112,\"label\":\"sample\",\"text\":\"hi\"}");
    feed(&s, "metrics/r/pretrain", "not json");
    fclose(out);
    printf("%s", text);
    /* Main metrics first (loss before lr), name=value. */
    CHECK(strstr(text, "r/pretrain step 7 loss=2.5  lr=0.001\n"), "output:\n%s", text);
    /* First progress line printed; the 110 s one is throttled (same wall
   * second); the rate comes from publisher times. */
    CHECK(strstr(text, "r/pretrain progress 10/100 (10%)"), "output:\n%s", text);
    CHECK(!strstr(text, "60/100"), "output:\n%s", text);
    /* Control characters never reach the terminal. */
    CHECK(strstr(text, "EVENT alarm: loss spike\n"), "output:\n%s", text);
    CHECK(strstr(text, "LOG sample: hi\n"), "output:\n%s", text);
    CHECK(s.nstages == 1, "%d stages", s.nstages);
    CHECK(s.stages[0].done == 60 && s.stages[0].total == 100, "done %lld of %lld",
          (long long)s.stages[0].done, (long long)s.stages[0].total);
    CHECK(s.stages[0].spark_n == 1 && !strcmp(s.stages[0].spark_name, "loss"), "%d sparkline points of '%s'",
          s.stages[0].spark_n, s.stages[0].spark_name);
    free(text);

    /* The tty block: one line per stage with bar, rate 5/s, ETA 0:08. */
    text = NULL;
    out = open_memstream(&text, &len);
    s.plain = 0;
    s.out = out;
    lv_draw(&s);
    fclose(out);
    printf("%s", text);
    CHECK(strstr(text, "60/100 5/s ETA 0:08"), "output:\n%s", text);
    CHECK(strstr(text, "loss 2.5"), "output:\n%s", text);
    CHECK(s.drawn_lines == 1, "%d lines drawn", s.drawn_lines);
    free(text);

    /* The rate follows a stage that slows down: 10 steps/s for 30 s, then
   * 1 step/s; after 25 s of the slow pace the rate reflects it. */
    lv_state r = {.plain = 1, .out = fopen("/dev/null", "w"), .width = 80};
    char body[200];
    double t = 0;
    int64_t d = 0;
    for (; t <= 30; t += 1, d += 10) {
        snprintf(body, sizeof body, "{\"time\":%g,\"done\":%lld,\"total\":100000}", t, (long long)d);
        feed(&r, "progress/r/slow", body);
    }
    for (int i = 0; i < 25; i++, t += 1, d += 1) {
        snprintf(body, sizeof body, "{\"time\":%g,\"done\":%lld,\"total\":100000}", t, (long long)d);
        feed(&r, "progress/r/slow", body);
    }
    lv_stage *sl = &r.stages[0];
    double rate = (double)(sl->done - sl->first_done) / (sl->last_t - sl->first_t);
    CHECK(rate < 3.0, "rate %g", rate); /* the whole-run average would still be about 6 */
    fclose(r.out);
    lv_free(&r);
    lv_free(&s);
    DONE();
}
