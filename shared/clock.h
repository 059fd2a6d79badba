/*
 * clock: the two clocks, each behind one helper. Monotonic time for intervals and
 * deadlines (it never jumps); wall time only for what a person reads or a peer compares
 * (timestamps stored, sent or shown).
 */
#ifndef VIGIL_CLOCK_H
#define VIGIL_CLOCK_H

/* Milliseconds of CLOCK_MONOTONIC, with a fraction. */
double clock_mono_ms(void);

/* Unix time in whole milliseconds (CLOCK_REALTIME). */
long long clock_wall_ms(void);

/* Fills *ts with CLOCK_MONOTONIC now plus ms, for pthread_cond_timedwait on a condition
 * variable set to that clock (pthread_condattr_setclock), so that a wait is not stretched
 * or cut when NTP steps the wall clock. */
struct timespec;
void clock_mono_deadline(struct timespec *ts, double ms);

#endif
