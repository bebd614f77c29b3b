/* What the live view prints. The tty block is redrawn in place (cursor up,
 * clear line); events and log text are printed above it so they stay in
 * the terminal's scrollback. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "live_view_internal.h"

/* Metrics shown first when a stage has them (then the rest, in order). */
static const char *const main_metrics[] = {"loss",     "reward", "accuracy",     "kl", "score",
                                           "val_loss", "lr",     "tokens_per_s", NULL};
enum { MAX_SHOWN = 5 };

void lv_sparkline(const double *v, int n, char *out, size_t out_size) {
    static const char *const ticks[8] = {"\u2581", "\u2582", "\u2583", "\u2584",
                                         "\u2585", "\u2586", "\u2587", "\u2588"};
    out[0] = '\0';
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < n; i++)
        if (isfinite(v[i])) {
            if (v[i] < lo) lo = v[i];
            if (v[i] > hi) hi = v[i];
        }
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        const char *t = " ";
        if (isfinite(v[i])) {
            int k = hi > lo ? (int)((v[i] - lo) / (hi - lo) * 7.0 + 0.5) : 3;
            t = ticks[k < 0 ? 0 : k > 7 ? 7 : k];
        }
        size_t tl = strlen(t);
        if (len + tl + 1 > out_size) break;
        memcpy(out + len, t, tl);
        len += tl;
        out[len] = '\0';
    }
}

void lv_bar(int64_t done, int64_t total, int width, char *out, size_t out_size) {
    double f = total > 0 ? (double)done / (double)total : 0.0;
    if (f < 0) f = 0;
    if (f > 1) f = 1;
    int full = (int)(f * width + 0.5);
    size_t len = 0;
    out[0] = '\0';
    for (int i = 0; i < width; i++) {
        const char *c = i < full ? "\u2588" : "\u2591";
        size_t cl = strlen(c);
        if (len + cl + 1 > out_size) break;
        memcpy(out + len, c, cl);
        len += cl;
        out[len] = '\0';
    }
}

void lv_duration(double s, char *out, size_t out_size) {
    if (!isfinite(s) || s < 0) {
        snprintf(out, out_size, "--:--");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(out, out_size, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(out, out_size, "%ld:%02ld", t / 60, t % 60);
}

static lv_stage *stage_for(lv_state *s, const char *key) {
    for (int i = 0; i < s->nstages; i++)
        if (!strcmp(s->stages[i].key, key)) return &s->stages[i];
    if (s->nstages == LV_MAX_STAGES) return NULL;
    lv_stage *st = &s->stages[s->nstages++];
    memset(st, 0, sizeof *st);
    snprintf(st->key, sizeof st->key, "%s", key);
    return st;
}

static void clock_str(double t, char *out, size_t out_size) {
    time_t tt = (time_t)t;
    struct tm tm;
    localtime_r(&tt, &tm);
    strftime(out, out_size, "%H:%M:%S", &tm);
}

/* "loss 2.345  lr 0.0003 ..." from a values object, main metrics first. */
static void values_str(json_t *values, char *out, size_t out_size, int eq) {
    size_t len = 0;
    int shown = 0;
    out[0] = '\0';
    const char *names[64];
    int nn = 0;
    for (int i = 0; main_metrics[i]; i++)
        if (json_object_get(values, main_metrics[i])) names[nn++] = main_metrics[i];
    const char *k;
    json_t *v;
    json_object_foreach(values, k, v) {
        int known = 0;
        for (int i = 0; main_metrics[i]; i++) known |= !strcmp(k, main_metrics[i]);
        if (!known && nn < 64) names[nn++] = k;
    }
    for (int i = 0; i < nn && (eq || shown < MAX_SHOWN); i++) {
        json_t *x = json_object_get(values, names[i]);
        char num[32];
        if (json_is_number(x))
            snprintf(num, sizeof num, "%.4g", json_number_value(x));
        else
            snprintf(num, sizeof num, "nan");
        int w =
            snprintf(out + len, out_size - len, "%s%s%s%s", len ? "  " : "", names[i], eq ? "=" : " ", num);
        if (w < 0 || (size_t)w >= out_size - len) break;
        len += (size_t)w;
        shown++;
    }
}

/* "12.3/s", "1234/s": no exponents for a person to decode. */
static void rate_str(double r, char *out, size_t out_size) {
    if (r >= 100)
        snprintf(out, out_size, "%.0f/s", r);
    else
        snprintf(out, out_size, "%.2g/s", r);
}

static double stage_rate(const lv_stage *st) {
    double dt = st->last_t - st->first_t;
    return dt > 0 ? (double)(st->done - st->first_done) / dt : 0.0;
}

static void print_progress_plain(lv_state *s, lv_stage *st, double t) {
    char clk[16], eta[32], rs[32];
    double rate = stage_rate(st);
    clock_str(t, clk, sizeof clk);
    rate_str(rate, rs, sizeof rs);
    lv_duration(rate > 0 ? (st->total - st->done) / rate : NAN, eta, sizeof eta);
    fprintf(s->out, "%s %s progress %lld/%lld (%.0f%%) %s ETA %s\n", clk, st->key, (long long)st->done,
            (long long)st->total, st->total > 0 ? 100.0 * st->done / st->total : 0.0, rs, eta);
}

/* Text for a scrolled line: one line, at most `max` bytes, no control
 * characters (a log line must not move our cursor). */
static void flatten(const char *in, char *out, size_t max) {
    size_t j = 0;
    for (size_t i = 0; in[i] && j + 1 < max; i++) {
        unsigned char c = (unsigned char)in[i];
        out[j++] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
    }
    out[j] = '\0';
}

int lv_handle(lv_state *s, const char *topic, size_t topic_len, const char *body, size_t body_len,
              double now) {
    char kind[16], key[160];
    const char *slash = memchr(topic, '/', topic_len);
    if (!slash || (size_t)(slash - topic) >= sizeof kind) return 0;
    snprintf(kind, sizeof kind, "%.*s", (int)(slash - topic), topic);
    snprintf(key, sizeof key, "%.*s", (int)(topic_len - (slash + 1 - topic)), slash + 1);
    json_t *o = json_loadb(body, body_len, 0, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return 0;
    }
    double t = json_number_value(json_object_get(o, "time"));
    if (t <= 0) t = now;
    char clk[16];
    clock_str(t, clk, sizeof clk);
    int redraw = 0;
    lv_stage *st = stage_for(s, key);
    if (!strcmp(kind, "metrics") && st) {
        json_t *vals = json_object_get(o, "values");
        st->step = json_integer_value(json_object_get(o, "step"));
        if (json_is_object(vals)) {
            json_decref(st->values);
            st->values = json_incref(vals);
            /* Sparkline of the reward when the stage has one (PPO), else loss. */
            const char *sn = json_object_get(vals, "reward") ? "reward" : "loss";
            json_t *x = json_object_get(vals, sn);
            if (json_is_number(x)) {
                if (strcmp(st->spark_name, sn)) {
                    snprintf(st->spark_name, sizeof st->spark_name, "%s", sn);
                    st->spark_n = 0;
                }
                if (st->spark_n == LV_SPARK) {
                    memmove(st->spark, st->spark + 1, (LV_SPARK - 1) * sizeof(double));
                    st->spark_n--;
                }
                st->spark[st->spark_n++] = json_number_value(x);
            }
            if (s->plain) {
                char vs[1024];
                values_str(vals, vs, sizeof vs, 1);
                fprintf(s->out, "%s %s step %lld %s\n", clk, key, (long long)st->step, vs);
            }
        }
        redraw = 1;
    } else if (!strcmp(kind, "progress") && st) {
        int64_t done = json_integer_value(json_object_get(o, "done"));
        int64_t total = json_integer_value(json_object_get(o, "total"));
        if (!st->has_progress || done < st->done) {
            st->first_done = st->mid_done = done;
            st->first_t = st->mid_t = t;
            st->has_progress = 1;
        } else if (t - st->first_t > 20.0) {
            /* Slide the window so the rate and ETA follow a stage that speeds up
       * or slows down. */
            st->first_t = st->mid_t;
            st->first_done = st->mid_done;
            st->mid_t = t;
            st->mid_done = done;
        } else if (st->mid_t == st->first_t && t - st->first_t > 10.0) {
            st->mid_t = t;
            st->mid_done = done;
        }
        st->done = done;
        st->total = total;
        st->last_t = t;
        if (s->plain && (now - st->last_plain_progress >= 1.0 || done >= total)) {
            st->last_plain_progress = now;
            print_progress_plain(s, st, t);
        }
        redraw = 1;
    } else if (!strcmp(kind, "event") || !strcmp(kind, "log")) {
        int ev = !strcmp(kind, "event");
        const char *a = json_string_value(json_object_get(o, ev ? "event" : "label"));
        const char *b = json_string_value(json_object_get(o, ev ? "message" : "text"));
        if (ev && st && a && (!strcmp(a, "started") || !strcmp(a, "finished") || !strcmp(a, "failed")))
            snprintf(st->status, sizeof st->status, "%s", a);
        char text[512];
        flatten(b ? b : "", text, sizeof text);
        if (!s->plain) lv_clear_block(s);
        int alarm = ev && a && (!strcmp(a, "alarm") || !strcmp(a, "failed"));
        fprintf(s->out, "%s%s %s %s %s%s%s%s\n", alarm && !s->plain ? "\x1b[1;31m" : "", clk, key,
                ev ? "EVENT" : "LOG", a ? a : "", *text ? ": " : "", text,
                alarm && !s->plain ? "\x1b[0m" : "");
        redraw = 1;
    }
    json_decref(o);
    return redraw && !s->plain;
}

/* Cuts a line to the terminal width (counting UTF-8 characters as one
 * column each) so it never wraps: a wrapped line would break the count of
 * lines the next redraw moves up over. */
static void fit(char *line, int width) {
    if (width <= 1) return;
    int cols = 0;
    for (size_t i = 0; line[i]; i++) {
        if (((unsigned char)line[i] & 0xC0) == 0x80) continue;
        if (++cols >= width) {
            line[i] = '\0';
            return;
        }
    }
}

void lv_clear_block(lv_state *s) {
    for (int i = 0; i < s->drawn_lines; i++) fputs("\x1b[1A\x1b[2K", s->out);
    if (s->drawn_lines) fputs("\r", s->out);
    s->drawn_lines = 0;
}

void lv_draw(lv_state *s) {
    lv_clear_block(s);
    for (int i = 0; i < s->nstages; i++) {
        lv_stage *st = &s->stages[i];
        /* The host's own events stream has no progress or metrics: no line. */
        if (!st->has_progress && !st->values) continue;
        char line[2048], bar[128], vs[512] = "", spark[LV_SPARK * 4 + 1] = "";
        size_t len = 0;
        len += (size_t)snprintf(line, sizeof line, "%-24.24s", st->key);
        if (st->has_progress) {
            char eta[32], rs[32];
            double rate = stage_rate(st);
            rate_str(rate, rs, sizeof rs);
            lv_bar(st->done, st->total, 20, bar, sizeof bar);
            lv_duration(rate > 0 ? (st->total - st->done) / rate : NAN, eta, sizeof eta);
            len += (size_t)snprintf(line + len, sizeof line - len, " %s %lld/%lld %s ETA %s", bar,
                                    (long long)st->done, (long long)st->total, rs, eta);
        } else {
            len += (size_t)snprintf(line + len, sizeof line - len, " step %lld", (long long)st->step);
        }
        if (st->values) values_str(st->values, vs, sizeof vs, 0);
        if (st->spark_n > 1) lv_sparkline(st->spark, st->spark_n, spark, sizeof spark);
        if (len < sizeof line)
            snprintf(line + len, sizeof line - len, "  %s%s%s%s%s", vs, *spark ? "  " : "",
                     *spark ? st->spark_name : "", *spark ? " " : "", spark);
        if (*st->status && strcmp(st->status, "started")) {
            /* The status goes first so that cutting to the width keeps it. */
            char tagged[2100];
            snprintf(tagged, sizeof tagged, "[%s] %s", st->status, line);
            fit(tagged, s->width);
            fprintf(s->out, "%s\n", tagged);
        } else {
            fit(line, s->width);
            fprintf(s->out, "%s\n", line);
        }
        s->drawn_lines++;
    }
    fflush(s->out);
}

void lv_free(lv_state *s) {
    for (int i = 0; i < s->nstages; i++) json_decref(s->stages[i].values);
    s->nstages = 0;
}
