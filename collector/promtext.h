/*
 * promtext: the Prometheus text exposition format's pieces that /metrics writes in
 * more than one module (metrics.c, watch.c).
 */
#ifndef VIGIL_PROMTEXT_H
#define VIGIL_PROMTEXT_H

#include "buf.h"

/* The HELP and TYPE lines of one metric family. */
void promtext_family(struct buf *b, const char *name, const char *type, const char *help);

/* A family of one sample without labels: its HELP and TYPE lines and "name v". */
void promtext_scalar(struct buf *b, const char *name, const char *type, const char *help,
                     long long v);

/* A label value: backslash, double quote and newline escaped (the quotes are the
 * caller's). */
void promtext_value(struct buf *b, const char *v);

#endif
