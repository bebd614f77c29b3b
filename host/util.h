/* Host-private helpers: suggestions for misspelt keys, paths of the running
 * executable, ISO time stamps. */
#ifndef LP_HOST_UTIL_H
#define LP_HOST_UTIL_H

#include <stddef.h>

/* The candidate closest to `word` by edit distance, or NULL when none is close
 * enough to be a plausible typo. */
const char *lp_did_you_mean(const char *word, const char *const *candidates, size_t count);

/* Folder holding the running executable (from /proc/self/exe). */
const char *lp_exe_dir(void);
const char *lp_exe_path(void);

/* Routes SIGINT and SIGTERM to `handler` (which only sets a flag: the
 * commands poll it and stop cleanly) and ignores SIGPIPE, so a vanished
 * terminal or peer never kills a process holding work. */
void lp_on_stop_signals(void (*handler)(int));

/* ISO-8601 UTC time for manifests. */
void lp_iso_time(double t, char *buf, size_t size);

#endif
