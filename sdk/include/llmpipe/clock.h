/* Clocks: wall time for what is published or logged (seconds since the
 * epoch), monotonic time for durations and deadlines. */
#ifndef LLMPIPE_CLOCK_H
#define LLMPIPE_CLOCK_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

double lp_wall_s(void);   /* unix seconds, sub-second precision */
double lp_mono_s(void);   /* monotonic seconds */
int64_t lp_mono_ms(void); /* monotonic milliseconds */

#ifdef __cplusplus
}
#endif
#endif
