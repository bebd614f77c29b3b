/* The view's state and its pure rendering helpers (live_view_render.c),
 * kept apart from the socket thread (live_view.c) so they can be tested. */
#ifndef LLMPIPE_HOST_LIVE_VIEW_INTERNAL_H
#define LLMPIPE_HOST_LIVE_VIEW_INTERNAL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define LV_SPARK      40
#define LV_MAX_STAGES 32

typedef struct lv_stage {
    char key[160]; /* "run/stage" */
    int64_t step, done, total;
    /* Rate over a sliding window of 10-20 s: (first_t, first_done) is the
   * older anchor, (mid_t, mid_done) the one that replaces it. */
    double first_t, last_t, mid_t; /* publisher wall times */
    int64_t first_done, mid_done;
    int has_progress;
    json_t *values; /* latest metrics values (owned) */
    double spark[LV_SPARK];
    int spark_n;
    char spark_name[32];
    char status[16];            /* "", "started", "finished", "failed" */
    double last_plain_progress; /* plain mode throttle (wall seconds) */
} lv_stage;

typedef struct lv_state {
    lv_stage stages[LV_MAX_STAGES];
    int nstages;
    int plain;
    int width;
    int drawn_lines; /* lines of the block drawn last (tty mode) */
    FILE *out;
} lv_state;

/* Updates the state with one message; prints the plain line or the scrolled
 * event/log line. Returns 1 when the block needs a redraw. */
int lv_handle(lv_state *s, const char *topic, size_t topic_len, const char *body, size_t body_len,
              double now);
/* Redraws the block of stage lines (tty mode). */
void lv_draw(lv_state *s);
void lv_clear_block(lv_state *s);
void lv_free(lv_state *s);

/* Pure helpers. */
void lv_sparkline(const double *v, int n, char *out, size_t out_size);
void lv_bar(int64_t done, int64_t total, int width, char *out, size_t out_size);
void lv_duration(double seconds, char *out, size_t out_size);

#endif
