#include "sketch.h"

#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The first byte of every encoded sketch. A blob with another first byte was written by
 * another version of this code and is refused rather than guessed at. */
#define SKETCH_VERSION 1
/* A count in a blob is at most this in absolute value: counts are page views, and every
 * count up to 2^53 is exact in the doubles the comparator computes with. */
#define SKETCH_COUNT_MAX (1LL << 53)
/* A varint of a 64-bit number takes at most 10 bytes. */
#define VARINT_MAX 10

static double gamma_(void)
{
    return (1 + SKETCH_ACCURACY) / (1 - SKETCH_ACCURACY);
}

/*
 * The edges are computed by pow() alone, and the lower edge of bucket i is by definition
 * the upper edge of bucket i - 1, so the buckets tile the line without gaps or overlaps
 * whatever pow's rounding. sketch_index starts from the logarithm and then moves to the
 * bucket whose edges, as computed here, hold v: lower(i) < v <= upper(i) always.
 */
double sketch_upper(int index)
{
    return pow(gamma_(), index);
}

double sketch_lower(int index)
{
    return sketch_upper(index - 1);
}

/* 2 gamma^i / (gamma + 1): (1 + a) times the lower edge and (1 - a) times the upper one,
 * so within a of every value of the bucket. */
double sketch_value(int index)
{
    return 2 * sketch_upper(index) / (gamma_() + 1);
}

int sketch_index(double v)
{
    assert(v > 0 && isfinite(v));
    int i = (int)ceil(log(v) / log(gamma_()));
    while (v > sketch_upper(i))
        i++;
    while (v <= sketch_lower(i))
        i--;
    return i;
}

/* The buckets a valid sketch can use: those of SKETCH_MIN_VALUE to SKETCH_MAX_VALUE
 * (constants, because every blob read checks against them; test_sketch checks them). */
static int index_min(void)
{
    return SKETCH_INDEX_MIN;
}

static int index_max(void)
{
    return SKETCH_INDEX_MAX;
}

void sketch_init(struct sketch *s)
{
    memset(s, 0, sizeof *s);
}

void sketch_fini(struct sketch *s)
{
    if (!s)
        return;
    free(s->counts);
    sketch_init(s);
}

void sketch_clear(struct sketch *s)
{
    if (s->len)
        memset(s->counts, 0, s->len * sizeof *s->counts);
    s->zeros = 0;
    s->n = 0;
}

/* Makes counts cover the buckets lo..hi as well as those it covers already; new buckets
 * are zero. Returns 0, or -1 when memory ran out, with s unchanged. */
static int cover(struct sketch *s, int lo, int hi)
{
    assert(lo <= hi);
    if (s->len == 0) {
        s->first = lo;
    } else {
        int last = s->first + (int)s->len - 1;
        if (lo >= s->first && hi <= last)
            return 0;
        lo = lo < s->first ? lo : s->first;
        hi = hi > last ? hi : last;
    }
    size_t len = (size_t)((long)hi - lo + 1);
    if (len > s->cap) {
        size_t cap = s->cap * 2 > len ? s->cap * 2 : len;
        long long *c = realloc(s->counts, cap * sizeof *c);
        if (!c)
            return -1;
        s->counts = c;
        s->cap = cap;
    }
    size_t shift = s->len ? (size_t)(s->first - lo) : 0;
    if (s->len)
        memmove(s->counts + shift, s->counts, s->len * sizeof *s->counts);
    memset(s->counts, 0, shift * sizeof *s->counts);
    memset(s->counts + shift + s->len, 0, (len - shift - s->len) * sizeof *s->counts);
    s->first = lo;
    s->len = len;
    return 0;
}

int sketch_bucket(double v)
{
    if (!(v >= 0) || !isfinite(v) || v > SKETCH_MAX_VALUE)
        return SKETCH_BAD_BUCKET;
    return v < SKETCH_MIN_VALUE ? SKETCH_ZERO_BUCKET : sketch_index(v);
}

int sketch_add_bucket(struct sketch *s, int bucket, long long count)
{
    assert(bucket == SKETCH_ZERO_BUCKET
           || (bucket >= SKETCH_INDEX_MIN && bucket <= SKETCH_INDEX_MAX));
    if (count == 0)
        return 0;
    if (bucket == SKETCH_ZERO_BUCKET) {
        s->zeros += count;
    } else {
        if (cover(s, bucket, bucket) < 0)
            return -1;
        s->counts[bucket - s->first] += count;
    }
    s->n += count;
    return 0;
}

int sketch_add(struct sketch *s, double v, long long count)
{
    int bucket = sketch_bucket(v);
    return bucket == SKETCH_BAD_BUCKET ? -1 : sketch_add_bucket(s, bucket, count);
}

int sketch_merge(struct sketch *into, const struct sketch *from)
{
    size_t a = 0, b = from->len;
    while (a < b && from->counts[a] == 0)
        a++;
    while (b > a && from->counts[b - 1] == 0)
        b--;
    if (a < b && cover(into, from->first + (int)a, from->first + (int)b - 1) < 0)
        return -1;
    for (size_t k = a; k < b; k++)
        into->counts[from->first + (int)k - into->first] += from->counts[k];
    into->zeros += from->zeros;
    into->n += from->n;
    return 0;
}

int sketch_empty(const struct sketch *s)
{
    if (s->zeros != 0)
        return 0;
    for (size_t k = 0; k < s->len; k++)
        if (s->counts[k] != 0)
            return 0;
    return 1;
}

/* --- the encoded form -------------------------------------------------------------
 *
 *   version      1 byte, SKETCH_VERSION
 *   zeros        zigzag varint
 *   buckets      varint: how many non-zero buckets follow
 *   per bucket   zigzag varint: its index less the previous bucket's (the first: less 0)
 *                zigzag varint: its count (never 0)
 *
 * Varints are LEB128 (7 bits a byte, low bits first, the high bit set on every byte but
 * the last); zigzag maps 0, -1, 1, -2, ... to 0, 1, 2, 3, ... so small negative numbers
 * stay short.
 */

static uint64_t zigzag(long long v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v < 0 ? -1 : 0);
}

static long long unzigzag(uint64_t u)
{
    return (long long)(u >> 1) ^ -(long long)(u & 1);
}

static size_t put_varint(unsigned char *p, uint64_t u)
{
    size_t n = 0;
    while (u >= 0x80) {
        p[n++] = (unsigned char)(u | 0x80);
        u >>= 7;
    }
    p[n++] = (unsigned char)u;
    return n;
}

int sketch_encode(const struct sketch *s, unsigned char **blob, size_t *len)
{
    size_t nz = 0, o = 0;
    for (size_t k = 0; k < s->len; k++)
        nz += s->counts[k] != 0;
    unsigned char *p = malloc(1 + VARINT_MAX * (2 + 2 * nz));
    if (!p)
        return -1;
    p[o++] = SKETCH_VERSION;
    o += put_varint(p + o, zigzag(s->zeros));
    o += put_varint(p + o, nz);
    long long prev = 0;
    for (size_t k = 0; k < s->len; k++) {
        if (s->counts[k] == 0)
            continue;
        long long index = (long long)s->first + (long long)k;
        o += put_varint(p + o, zigzag(index - prev));
        o += put_varint(p + o, zigzag(s->counts[k]));
        prev = index;
    }
    assert(o <= SKETCH_BLOB_MAX);
    *blob = p;
    *len = o;
    return 0;
}

/* A reader of a blob that refuses to run past its end. */
struct reader {
    const unsigned char *p;
    size_t len, at;
    char *err;
    size_t errlen;
};

static int get_varint(struct reader *r, const char *what, uint64_t *out)
{
    uint64_t u = 0;
    for (int shift = 0; shift < 7 * VARINT_MAX; shift += 7) {
        if (r->at >= r->len) {
            snprintf(r->err, r->errlen, "sketch blob truncated at byte %zu of %zu, in %s",
                     r->at, r->len, what);
            return -1;
        }
        unsigned char b = r->p[r->at++];
        if (shift == 63 && (b & 0x7f) > 1) {
            snprintf(r->err, r->errlen, "sketch blob: %s at byte %zu does not fit 64 bits",
                     what, r->at - 1);
            return -1;
        }
        u |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = u;
            return 0;
        }
    }
    snprintf(r->err, r->errlen, "sketch blob: %s at byte %zu is longer than %d bytes", what,
             r->at, VARINT_MAX);
    return -1;
}

/* Reads a signed number and checks that it lies in [lo, hi]. */
static int get_signed(struct reader *r, const char *what, long long lo, long long hi,
                      long long *out)
{
    uint64_t u;
    size_t at = r->at;
    if (get_varint(r, what, &u) < 0)
        return -1;
    long long v = unzigzag(u);
    if (v < lo || v > hi) {
        snprintf(r->err, r->errlen, "sketch blob: %s %lld at byte %zu is outside [%lld, %lld]",
                 what, v, at, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

/* Walks a blob. With into == NULL it only checks it and reports the range of bucket
 * indexes it uses (*lo > *hi when none); otherwise it adds the counts, which must then
 * have been checked and covered. */
static int walk_blob(struct reader *r, struct sketch *into, int *lo, int *hi)
{
    long long zeros, index = 0, count, dmin = index_min(), dmax = index_max();
    uint64_t nb;

    r->at = 0;
    if (r->len == 0) {
        snprintf(r->err, r->errlen, "sketch blob is empty");
        return -1;
    }
    if (r->len > SKETCH_BLOB_MAX) {
        snprintf(r->err, r->errlen, "sketch blob of %zu bytes is larger than the %d a sketch"
                 " takes at most", r->len, SKETCH_BLOB_MAX);
        return -1;
    }
    if (r->p[r->at++] != SKETCH_VERSION) {
        snprintf(r->err, r->errlen, "sketch blob of version %u, not %d: written by another"
                 " version of vigil", r->p[0], SKETCH_VERSION);
        return -1;
    }
    if (get_signed(r, "zero count", -SKETCH_COUNT_MAX, SKETCH_COUNT_MAX, &zeros) < 0
        || get_varint(r, "number of buckets", &nb) < 0)
        return -1;
    if (nb > (uint64_t)(dmax - dmin + 1)) {
        snprintf(r->err, r->errlen, "sketch blob claims %llu buckets; a sketch has at most %lld",
                 (unsigned long long)nb, dmax - dmin + 1);
        return -1;
    }
    *lo = 1;
    *hi = 0;
    for (uint64_t k = 0; k < nb; k++) {
        /* Indexes ascend strictly, so every delta after the first is at least 1. */
        long long dlo = k == 0 ? dmin : 1, dhi = dmax - (k == 0 ? 0 : index);
        long long delta;
        if (get_signed(r, "bucket index step", dlo, dhi, &delta) < 0)
            return -1;
        index = k == 0 ? delta : index + delta;
        if (get_signed(r, "bucket count", -SKETCH_COUNT_MAX, SKETCH_COUNT_MAX, &count) < 0)
            return -1;
        if (count == 0) {
            snprintf(r->err, r->errlen, "sketch blob: bucket %lld has a count of 0 (byte %zu);"
                     " only non-zero buckets are written", index, r->at - 1);
            return -1;
        }
        if (into) {
            into->counts[index - into->first] += count;
            into->n += count;
        }
        if (k == 0)
            *lo = (int)index;
        *hi = (int)index;
    }
    if (r->at != r->len) {
        snprintf(r->err, r->errlen, "sketch blob has %zu byte%s after its last bucket",
                 r->len - r->at, r->len - r->at == 1 ? "" : "s");
        return -1;
    }
    if (into) {
        into->zeros += zeros;
        into->n += zeros;
    }
    return 0;
}

int sketch_merge_blob(struct sketch *into, const void *blob, size_t len, char *err,
                      size_t errlen)
{
    struct reader r = {blob, len, 0, err, errlen};
    int lo, hi;

    if (walk_blob(&r, NULL, &lo, &hi) < 0)
        return -1;
    if (lo <= hi && cover(into, lo, hi) < 0) {
        snprintf(err, errlen, "out of memory merging a sketch of %zu bytes", len);
        return -1;
    }
    int rc = walk_blob(&r, into, &lo, &hi);
    assert(rc == 0);
    return rc;
}

/* --- sorted weighted bins ------------------------------------------------------------ */

int sketch_bins_of(const struct sketch *s, struct sketch_bins *out)
{
    size_t n = s->zeros > 0;

    memset(out, 0, sizeof *out);
    if (s->zeros < 0)
        return -1;
    for (size_t k = 0; k < s->len; k++) {
        if (s->counts[k] < 0)
            return -1;
        n += s->counts[k] > 0;
    }
    if (n && !(out->bin = malloc(n * sizeof *out->bin)))
        return -1;
    if (s->zeros > 0) {
        out->bin[out->n++] = (struct sketch_bin){0, 0, 0, s->zeros, 0};
        out->total += s->zeros;
    }
    for (size_t k = 0; k < s->len; k++) {
        if (s->counts[k] == 0)
            continue;
        int i = s->first + (int)k;
        out->bin[out->n++] = (struct sketch_bin){sketch_lower(i), sketch_upper(i),
                                                 sketch_value(i), s->counts[k], out->total};
        out->total += s->counts[k];
    }
    return 0;
}

int sketch_bins_exact(const double *sorted, size_t n, struct sketch_bins *out)
{
    size_t distinct = 0;

    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < n; i++) {
        assert(i == 0 || sorted[i - 1] <= sorted[i]);
        distinct += i == 0 || sorted[i] != sorted[i - 1];
    }
    if (distinct && !(out->bin = malloc(distinct * sizeof *out->bin)))
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || sorted[i] != sorted[i - 1])
            out->bin[out->n++] = (struct sketch_bin){sorted[i], sorted[i], sorted[i], 0,
                                                     (long long)i};
        out->bin[out->n - 1].count++;
    }
    out->total = (long long)n;
    return 0;
}

void sketch_bins_fini(struct sketch_bins *b)
{
    if (!b)
        return;
    free(b->bin);
    memset(b, 0, sizeof *b);
}

const struct sketch_bin *sketch_bins_rank(const struct sketch_bins *b, long long k)
{
    size_t lo = 0, hi = b->n;
    assert(k >= 1 && k <= b->total && b->n > 0);
    /* The last bin with fewer than k values before it holds the k-th. */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (b->bin[mid].below < k)
            lo = mid;
        else
            hi = mid;
    }
    return &b->bin[lo];
}

/* The same arithmetic as stats_quantile, with the order statistics looked up in the
 * bins, so that exact bins give the same double to the last bit. */
double sketch_bins_quantile(const struct sketch_bins *b, double p)
{
    assert(b->total > 0 && p >= 0 && p <= 1);
    double h = (double)(b->total - 1) * p;
    long long lo = (long long)floor(h);
    long long hi = lo + 1 < b->total ? lo + 1 : lo;
    double xlo = sketch_bins_rank(b, lo + 1)->value, xhi = sketch_bins_rank(b, hi + 1)->value;
    return xlo + (h - (double)lo) * (xhi - xlo);
}
