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

#endif
