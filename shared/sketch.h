/*
 * sketch: a mergeable log-bucketed histogram of non-negative values, the storage form of
 * every per-minute rollup (collector/README.md "Rollups") and the comparator's input.
 *
 * The mapping is DDSketch's (Masson, Rim & Lee, "DDSketch: a fast and fully-mergeable
 * quantile sketch with relative-error guarantees", VLDB 2019): with
 * gamma = (1 + a) / (1 - a), a positive value v falls in bucket i = ceil(log_gamma(v)),
 * which covers (gamma^(i-1), gamma^i]. Every value of a bucket lies within the relative
 * accuracy a of the bucket's representative 2 gamma^i / (gamma + 1). Exact zeros (CLS has
 * them in abundance) have a bucket of their own, and so do positive values below
 * SKETCH_MIN_VALUE, which are counted as zeros (an absolute error under 1e-6).
 *
 * Counts are signed so that a sketch can also be a delta (a metric replaced by a later
 * beacon removes its old value); a stored sketch never has a negative count.
 */
#ifndef VIGIL_SKETCH_H
#define VIGIL_SKETCH_H

#include <stddef.h>

#define SKETCH_ACCURACY 0.01        /* relative accuracy a */
#define SKETCH_MIN_VALUE 1e-6       /* smaller positive values count as zeros */
#define SKETCH_MAX_VALUE 1e12       /* larger values are refused */
#define SKETCH_BLOB_MAX (64 * 1024) /* bytes of one encoded sketch */
#define SKETCH_INDEX_MIN (-690)     /* sketch_index(SKETCH_MIN_VALUE) */
#define SKETCH_INDEX_MAX 1382       /* sketch_index(SKETCH_MAX_VALUE) */

struct sketch {
    long long zeros;            /* values 0 (and below SKETCH_MIN_VALUE) */
    long long n;                /* every value, zeros included */
    int first;                  /* the bucket index of counts[0] */
    size_t len, cap;            /* buckets in use / allocated */
    long long *counts;          /* counts[k] is bucket first + k */
};

/* An empty sketch; sketch_fini() frees what sketch_add/merge allocated. */
void sketch_init(struct sketch *s);
void sketch_fini(struct sketch *s);

/* Sets every count to zero, keeping the memory for the next values. */
void sketch_clear(struct sketch *s);

/* The bucket of a value > 0 (>= SKETCH_MIN_VALUE), and a bucket's edges and its
 * representative value. */
int sketch_index(double v);
double sketch_lower(int index);
double sketch_upper(int index);
double sketch_value(int index);

/* Adds count (negative to remove) of value v. Returns 0, or -1 when v is negative, not
 * finite or above SKETCH_MAX_VALUE, or memory ran out (s is then unchanged). */
int sketch_add(struct sketch *s, double v, long long count);

/* The same in two steps, for a value added to several sketches: sketch_bucket gives v's
 * bucket (SKETCH_ZERO_BUCKET for the zero bucket), or SKETCH_BAD_BUCKET for a value
 * sketch_add refuses; sketch_add_bucket adds count to it (0, or -1 out of memory). */
#define SKETCH_ZERO_BUCKET (SKETCH_INDEX_MIN - 1)
#define SKETCH_BAD_BUCKET (SKETCH_INDEX_MIN - 2)
int sketch_bucket(double v);
int sketch_add_bucket(struct sketch *s, int bucket, long long count);

/* Adds every count of from into into. 0 or -1 (out of memory; into unchanged). */
int sketch_merge(struct sketch *into, const struct sketch *from);

/* 1 when every count is zero (a delta that cancelled out). */
int sketch_empty(const struct sketch *s);

/* Encodes s into a new buffer *blob of *len bytes (the caller frees it): a versioned,
 * sparse form of only the non-zero buckets. Returns 0 or -1 (out of memory). */
int sketch_encode(const struct sketch *s, unsigned char **blob, size_t *len);

/* Adds the counts of an encoded sketch to into. Returns 0, or -1 with a message in err
 * when the blob is not a sketch this version wrote (into is then unchanged). */
int sketch_merge_blob(struct sketch *into, const void *blob, size_t len, char *err,
                      size_t errlen);

/*
 * A sorted weighted sample: what the comparator, the series and the breakdown read.
 * Each bin holds count values that all lie in [lo, hi] and are represented by value;
 * bins are in ascending order and do not overlap. From a sketch: one bin per non-empty
 * bucket (zeros as lo = hi = value = 0); from raw values: one bin per distinct value
 * (lo = hi = value), so that every computation on bins equals the exact one.
 */
struct sketch_bin {
    double lo, hi, value;
    long long count;
    long long below;            /* values in the bins before this one */
};

struct sketch_bins {
    struct sketch_bin *bin;
    size_t n;                   /* bins */
    long long total;            /* values: the sum of the counts */
};

/* Fills out from a sketch (counts must not be negative) or from n values sorted
 * ascending. Returns 0, or -1 when memory ran out or (from a sketch) a count is negative,
 * with out then empty. Free with sketch_bins_fini(). */
int sketch_bins_of(const struct sketch *s, struct sketch_bins *out);
int sketch_bins_exact(const double *sorted, size_t n, struct sketch_bins *out);
void sketch_bins_fini(struct sketch_bins *b);

/* The k-th smallest value (1 <= k <= total) lies in the returned bin (a binary search). */
const struct sketch_bin *sketch_bins_rank(const struct sketch_bins *b, long long k);

/* The p-quantile by Hyndman & Fan type 7 over the bins' representative values (for exact
 * bins, stats_quantile of the raw values). total must be > 0. */
double sketch_bins_quantile(const struct sketch_bins *b, double p);

#endif
