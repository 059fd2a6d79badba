/*
 * promtext: the Prometheus text exposition format's pieces that /metrics writes in
 * more than one module (metrics.c, watch.c).
 */
#ifndef VIGIL_PROMTEXT_H
#define VIGIL_PROMTEXT_H

#include "buf.h"

/* The HELP and TYPE lines of one metric family. */
void promtext_family(struct buf *b, const char *name, const char *type, const char *help);

/* A label value: backslash, double quote and newline escaped (the quotes are the
 * caller's). */
void promtext_value(struct buf *b, const char *v);

#endif
