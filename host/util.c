#include "host/util.h"

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "llmpipe/fsutil.h"

static size_t edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64) return (size_t)-1;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++) row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t best = diag + cost;
            if (row[j] + 1 < best) best = row[j] + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

const char *lp_did_you_mean(const char *word, const char *const *candidates, size_t count) {
    const char *best = NULL;
    size_t best_d = (size_t)-1;
    for (size_t i = 0; i < count; i++) {
        size_t d = edit_distance(word, candidates[i]);
        if (d < best_d) {
            best_d = d;
            best = candidates[i];
        }
    }
    /* A third of the word's length, at least 2 edits: catches swaps and
   * dropped letters without suggesting unrelated keys. */
    size_t limit = strlen(word) / 3;
    if (limit < 2) limit = 2;
    return best_d <= limit ? best : NULL;
}

static char exe_path[PATH_MAX];
static char exe_dir[PATH_MAX];

static void resolve_exe(void) {
    if (exe_path[0]) return;
    ssize_t n = readlink("/proc/self/exe", exe_path, sizeof exe_path - 1);
    if (n <= 0) {
        snprintf(exe_path, sizeof exe_path, "llmpipe");
        snprintf(exe_dir, sizeof exe_dir, ".");
        return;
    }
    exe_path[n] = '\0';
    lp_parent_dir(exe_path, exe_dir, sizeof exe_dir);
}

const char *lp_exe_path(void) {
    resolve_exe();
    return exe_path;
}

const char *lp_exe_dir(void) {
    resolve_exe();
    return exe_dir;
}

void lp_iso_time(double t, char *buf, size_t size) {
    time_t secs = (time_t)t;
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void lp_on_stop_signals(void (*handler)(int)) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}
