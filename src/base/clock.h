/*
 * clock.h - the two clocks the service reads. Monotonic time for deadlines, timeouts and cache
 * expiry (never jumps); wall time (UTC) for timestamps that are stored or shown.
 * domain/ never includes this file (it takes time as input).
 */
#ifndef MX_BASE_CLOCK_H
#define MX_BASE_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t clock_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline int64_t clock_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline int64_t clock_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The absolute time wait_ms after now on clock clk (a negative wait counts as 0): the deadline
 * argument of pthread_cond_timedwait for a condition variable using that clock. */
static inline struct timespec clock_after_ms(clockid_t clk, int64_t wait_ms)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    if (wait_ms < 0)
        wait_ms = 0;
    ts.tv_sec += (time_t)(wait_ms / 1000);
    ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

#endif
