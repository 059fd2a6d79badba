/*
 * Unit tests for shared/sketch.c. The references come from outside the code under test:
 * bucket edges from pow() and the DDSketch formulas written out again here, quantiles from
 * stats_quantile on the sorted raw values (tests/unit/test_stats.c checks it against
 * numpy), and sketches of a union built value by value.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "sketch.h"
#include "stats.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* gamma and the index range, from the definitions in sketch.h rather than from sketch.c:
 * log_gamma(1e-6) = -690.8 and log_gamma(1e12) = 1381.6, so buckets -690..1382. */
static const double a = SKETCH_ACCURACY;
#define GAMMA ((1 + SKETCH_ACCURACY) / (1 - SKETCH_ACCURACY))
#define INDEX_MIN (-690)
#define INDEX_MAX 1382

static uint64_t rng_state = 0x2545F4914F6CDD1DULL;

/* xorshift64* (Vigna 2016) with a fixed seed, so that every run sees the same data. */
static uint64_t rng_next(void)
{
    uint64_t x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static double rng_unit(void)
{
    return ((double)(rng_next() >> 11) + 0.5) * 0x1.0p-53;
}

static double rng_normal(void)
{
    double u = rng_unit(), v = rng_unit();
    return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

/* n log-normal values with the given median and sigma, sorted. */
static double *lognormal(size_t n, double median, double sigma)
{
    double *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = median * exp(sigma * rng_normal());
    stats_sort(v, n);
    return v;
}

/* The count of bucket i in s, 0 outside the buckets it holds. */
static long long count_at(const struct sketch *s, int i)
{
    if (s->len == 0 || i < s->first || i >= s->first + (int)s->len)
        return 0;
    return s->counts[i - s->first];
}

/* 1 when a and b hold the same counts (whatever their allocated ranges). */
static int same_counts(const struct sketch *x, const struct sketch *y)
{
    if (x->zeros != y->zeros || x->n != y->n)
        return 0;
    for (int i = INDEX_MIN - 1; i <= INDEX_MAX + 1; i++)
        if (count_at(x, i) != count_at(y, i))
            return 0;
    return 1;
}

static void test_edges(void)
{
    int bad = 0, bad_value = 0;
    for (int i = INDEX_MIN; i <= INDEX_MAX; i++) {
        bad += sketch_upper(i) != pow(GAMMA, i) || sketch_lower(i) != pow(GAMMA, i - 1);
        double rep = sketch_value(i);
        bad_value += fabs(rep - 2 * pow(GAMMA, i) / (GAMMA + 1)) > 1e-15 * rep;
    }
    CHECK(bad == 0, "bucket i covers (gamma^(i-1), gamma^i] for i in %d..%d (%d differ)",
          INDEX_MIN, INDEX_MAX, bad);
    CHECK(bad_value == 0, "the representative of bucket i is 2 gamma^i / (gamma + 1)");
    CHECK(sketch_index(SKETCH_MIN_VALUE) == INDEX_MIN && sketch_index(SKETCH_MAX_VALUE) == INDEX_MAX,
          "1e-6 is in bucket %d and 1e12 in bucket %d (got %d and %d)", INDEX_MIN, INDEX_MAX,
          sketch_index(SKETCH_MIN_VALUE), sketch_index(SKETCH_MAX_VALUE));
    CHECK(sketch_index(1) == 0 && sketch_index(GAMMA) == 1 && sketch_index(1.0000001) == 1
          && sketch_index(0.9999999) == 0, "1 is the top of bucket 0; just above it is bucket 1");

    /* Every power of gamma is the upper edge of its bucket, and the doubles either side of
     * it are in the bucket above and in the same one. */
    int off = 0;
    for (int i = INDEX_MIN + 1; i <= INDEX_MAX - 1; i++) {
        double e = pow(GAMMA, i);
        off += sketch_index(e) != i || sketch_index(nextafter(e, INFINITY)) != i + 1
               || sketch_index(nextafter(e, 0)) != i;
    }
    CHECK(off == 0, "gamma^i is in bucket i, its next double up in i + 1, down in i"
          " (%d of %d powers wrong)", off, INDEX_MAX - INDEX_MIN - 1);

    /* Log-uniform values over the whole range: the edges hold them, the index is
     * ceil(log_gamma v) in long double away from the edges, and the representative is
     * within the accuracy. */
    int outside = 0, wrong_index = 0, far = 0;
    for (int k = 0; k < 200000; k++) {
        double v = exp(log(SKETCH_MIN_VALUE)
                       + rng_unit() * (log(SKETCH_MAX_VALUE) - log(SKETCH_MIN_VALUE)));
        int i = sketch_index(v);
        outside += !(sketch_lower(i) < v && v <= sketch_upper(i));
        long double li = logl(v) / logl((1 + 0.01L) / (1 - 0.01L));
        if (fabsl(li - roundl(li)) > 1e-9L)
            wrong_index += i != (int)ceill(li);
        far += fabs(sketch_value(i) - v) > a * v * (1 + 1e-12);
    }
    CHECK(outside == 0, "lower(i) < v <= upper(i) for 200,000 values (%d not)", outside);
    CHECK(wrong_index == 0, "and i = ceil(log_gamma v) computed in long double (%d differ)",
          wrong_index);
    CHECK(far == 0, "every value is within %g of its representative (%d not)", a, far);
}

static void test_add(void)
{
    struct sketch s;
    sketch_init(&s);
    CHECK(sketch_empty(&s) && s.n == 0, "a new sketch is empty");
    CHECK(sketch_add(&s, 0, 3) == 0 && sketch_add(&s, 1e-7, 1) == 0 && s.zeros == 4
          && s.len == 0, "0 and values below 1e-6 count as zeros");
    CHECK(sketch_add(&s, SKETCH_MIN_VALUE, 1) == 0 && count_at(&s, INDEX_MIN) == 1,
          "1e-6 has a bucket");
    CHECK(sketch_add(&s, SKETCH_MAX_VALUE, 2) == 0 && count_at(&s, INDEX_MAX) == 2,
          "1e12 has a bucket");
    CHECK(s.n == 7 && s.len == (size_t)(INDEX_MAX - INDEX_MIN + 1),
          "the counts grew to cover both ends (n %lld, %zu buckets)", s.n, s.len);
    CHECK(sketch_add(&s, -1, 1) < 0 && sketch_add(&s, NAN, 1) < 0
          && sketch_add(&s, INFINITY, 1) < 0 && sketch_add(&s, 1.000001e12, 1) < 0 && s.n == 7,
          "negative, NaN, infinite and over-1e12 values are refused, s unchanged");
    sketch_fini(&s);

    /* Growth downwards after upwards, and in the middle. */
    double vals[] = {2300, 10, 1e6, 0.001, 150, 2300, 0.5};
    sketch_init(&s);
    for (size_t i = 0; i < NELEM(vals); i++)
        sketch_add(&s, vals[i], 1);
    int ok = s.n == 7;
    for (size_t i = 0; i < NELEM(vals); i++)
        ok &= count_at(&s, sketch_index(vals[i])) == (vals[i] == 2300 ? 2 : 1);
    CHECK(ok, "buckets added in any order hold their counts");

    /* A delta removes what it added. */
    for (size_t i = 0; i < NELEM(vals); i++)
        sketch_add(&s, vals[i], -1);
    CHECK(sketch_empty(&s) && s.n == 0, "negative counts cancel the values added");
    sketch_add(&s, 5, 1);
    sketch_add(&s, 7, -1);
    CHECK(!sketch_empty(&s) && s.n == 0, "+1 and -1 in different buckets is not empty");
    sketch_fini(&s);
    sketch_fini(&s);
    sketch_fini(NULL);
}

static void test_bins(void)
{
    /* Exact bins: the order statistics and stats_quantile to the last bit. */
    static const double ties[] = {1, 2, 2, 3, 5, 5, 5, 8};
    struct sketch_bins b;
    CHECK(sketch_bins_exact(ties, NELEM(ties), &b) == 0 && b.n == 5 && b.total == 8
          && b.bin[2].value == 3 && b.bin[3].count == 3, "exact bins: one per distinct value");
    int rank_ok = 1;
    for (long long k = 1; k <= b.total; k++)
        rank_ok &= sketch_bins_rank(&b, k)->value == ties[k - 1];
    CHECK(rank_ok, "the k-th value lies in the bin sketch_bins_rank returns");
    sketch_bins_fini(&b);
    CHECK(sketch_bins_exact(NULL, 0, &b) == 0 && b.n == 0 && b.total == 0,
          "no values, no bins");
    sketch_bins_fini(&b);

    size_t sizes[] = {1, 2, 7, 1000, 6001};
    int differ = 0;
    for (size_t s = 0; s < NELEM(sizes); s++) {
        double *v = lognormal(sizes[s], 2300, 0.5);
        /* Rounded to 10 ms, so that there are ties. */
        for (size_t i = 0; i < sizes[s] && s % 2; i++)
            v[i] = round(v[i] / 10) * 10;
        sketch_bins_exact(v, sizes[s], &b);
        for (int k = 0; k <= 100; k++) {
            double p = k / 100.0;
            differ += sketch_bins_quantile(&b, p) != stats_quantile(v, sizes[s], p);
        }
        differ += sketch_bins_quantile(&b, 0.999) != stats_quantile(v, sizes[s], 0.999);
        sketch_bins_fini(&b);
        free(v);
    }
    CHECK(differ == 0, "quantiles of exact bins equal stats_quantile exactly (%d differ)", differ);

    /* Sketch bins: ascending, non-overlapping, each holding its values; quantiles within
     * the relative accuracy of the exact ones. */
    double sigmas[] = {0.3, 0.5, 1.5};
    for (size_t s = 0; s < NELEM(sigmas); s++) {
        size_t n = 5000;
        double *v = lognormal(n, 2300, sigmas[s]);
        struct sketch sk;
        sketch_init(&sk);
        for (size_t i = 0; i < n; i++)
            sketch_add(&sk, v[i], 1);
        CHECK(sketch_bins_of(&sk, &b) == 0 && b.total == (long long)n, "bins of a sketch of"
              " %zu values", n);
        int order = 1, holds = 1;
        long long sum = 0;
        for (size_t i = 0; i < b.n; i++) {
            order &= b.bin[i].lo < b.bin[i].value && b.bin[i].value < b.bin[i].hi
                     && (i == 0 || b.bin[i - 1].hi <= b.bin[i].lo) && b.bin[i].count > 0;
            sum += b.bin[i].count;
        }
        for (long long k = 1; k <= b.total; k++) {
            const struct sketch_bin *x = sketch_bins_rank(&b, k);
            holds &= x->lo < v[k - 1] && v[k - 1] <= x->hi;
        }
        CHECK(order && sum == b.total, "they ascend without overlapping and add up to n");
        CHECK(holds, "the k-th value lies in the k-th value's bin, for every k");
        double worst = 0;
        for (int k = 0; k <= 1000; k++) {
            double p = k / 1000.0, e = stats_quantile(v, n, p);
            worst = fmax(worst, fabs(sketch_bins_quantile(&b, p) - e) / e);
        }
        CHECK(worst <= a * (1 + 1e-9), "log-normal sigma %g: every quantile within %g of the"
              " exact one (worst %.5f)", sigmas[s], a, worst);
        sketch_bins_fini(&b);
        sketch_fini(&sk);
        free(v);
    }

    /* CLS: mostly zeros. */
    struct sketch sk;
    sketch_init(&sk);
    sketch_add(&sk, 0, 75);
    sketch_add(&sk, 0.05, 20);
    sketch_add(&sk, 0.3, 5);
    CHECK(sketch_bins_of(&sk, &b) == 0 && b.n == 3 && b.bin[0].value == 0 && b.bin[0].lo == 0
          && b.bin[0].hi == 0 && b.bin[0].count == 75, "zeros make a bin of their own at 0");
    CHECK(sketch_bins_quantile(&b, 0.5) == 0 && sketch_bins_quantile(&b, 0.74) == 0
          && fabs(sketch_bins_quantile(&b, 0.9) - 0.05) <= 0.05 * a,
          "p50 of 75%% zeros is 0; p90 is 0.05 within the accuracy");
    sketch_bins_fini(&b);
    sketch_add(&sk, 0.3, -6);
    CHECK(sketch_bins_of(&sk, &b) < 0 && b.n == 0 && !b.bin, "a negative count has no bins");
    sketch_fini(&sk);
}

/* A sketch of n log-normal values and the values themselves. */
static void fill(struct sketch *s, size_t n, double median, double sigma)
{
    double *v = lognormal(n, median, sigma);
    sketch_init(s);
    for (size_t i = 0; i < n; i++)
        sketch_add(s, i % 4 == 0 ? 0 : v[i], 1);
    free(v);
}

static void test_merge_encode(void)
{
    struct sketch x, y, u, m;
    /* x and y, and their union value by value from the same generator state. */
    rng_state = 0x1234;
    fill(&x, 3000, 2300, 0.5);
    fill(&y, 2000, 40, 2.0);
    rng_state = 0x1234;
    {
        double *v1 = lognormal(3000, 2300, 0.5), *v2 = lognormal(2000, 40, 2.0);
        sketch_init(&u);
        for (size_t i = 0; i < 3000; i++)
            sketch_add(&u, i % 4 == 0 ? 0 : v1[i], 1);
        for (size_t i = 0; i < 2000; i++)
            sketch_add(&u, i % 4 == 0 ? 0 : v2[i], 1);
        free(v1);
        free(v2);
    }
    sketch_init(&m);
    CHECK(sketch_merge(&m, &x) == 0 && sketch_merge(&m, &y) == 0 && same_counts(&m, &u),
          "merging two sketches gives the sketch of the union");

    unsigned char *blob;
    size_t len;
    struct sketch d;
    char err[256];
    CHECK(sketch_encode(&m, &blob, &len) == 0 && len > 0 && len < SKETCH_BLOB_MAX,
          "a sketch of 5,000 values encodes (%zu bytes)", len);
    sketch_init(&d);
    err[0] = 0;
    CHECK(sketch_merge_blob(&d, blob, len, err, sizeof err) == 0 && same_counts(&d, &m),
          "and decodes to the same counts (%s)", err);
    free(blob);

    /* merge_blob of x's and y's blobs is the union too. */
    sketch_fini(&d);
    sketch_init(&d);
    sketch_encode(&x, &blob, &len);
    int rc = sketch_merge_blob(&d, blob, len, err, sizeof err);
    free(blob);
    sketch_encode(&y, &blob, &len);
    rc |= sketch_merge_blob(&d, blob, len, err, sizeof err);
    free(blob);
    CHECK(rc == 0 && same_counts(&d, &u), "merging their blobs gives the union as well");

    /* A delta's blob: negative counts travel, and cancel. */
    struct sketch neg;
    sketch_init(&neg);
    for (size_t k = 0; k < u.len; k++)
        if (u.counts[k])
            sketch_add(&neg, sketch_value(u.first + (int)k), -u.counts[k]);
    sketch_add(&neg, 0, -u.zeros);
    sketch_encode(&neg, &blob, &len);
    rc = sketch_merge_blob(&d, blob, len, err, sizeof err);
    free(blob);
    CHECK(rc == 0 && sketch_empty(&d) && d.n == 0, "a blob of negative counts cancels them");

    /* Every extreme encodes and decodes: both ends of the range, huge counts. */
    struct sketch e, e2;
    sketch_init(&e);
    sketch_add(&e, SKETCH_MIN_VALUE, 1LL << 50);
    sketch_add(&e, SKETCH_MAX_VALUE, -(1LL << 50));
    sketch_add(&e, 0, -3);
    sketch_encode(&e, &blob, &len);
    sketch_init(&e2);
    CHECK(sketch_merge_blob(&e2, blob, len, err, sizeof err) == 0 && same_counts(&e, &e2),
          "the first and last buckets and counts of 2^50 round-trip (%s)", err);
    free(blob);
    sketch_fini(&e2);
    sketch_init(&e2);
    CHECK(sketch_encode(&e2, &blob, &len) == 0 && len == 3 && blob[0] == 1 && blob[1] == 0
          && blob[2] == 0, "an empty sketch is 3 bytes: version 1, no zeros, no buckets");
    CHECK(sketch_merge_blob(&e, blob, len, err, sizeof err) == 0, "and merges as nothing");
    free(blob);

    sketch_fini(&e);
    sketch_fini(&e2);
    sketch_fini(&neg);
    sketch_fini(&d);
    sketch_fini(&x);
    sketch_fini(&y);
    sketch_fini(&u);
    sketch_fini(&m);
}

/* Checks that a blob is refused with a message containing want and leaves into as it was. */
static void refused(const unsigned char *blob, size_t len, const char *want, const char *what)
{
    struct sketch into, before;
    char err[256] = "";
    sketch_init(&into);
    sketch_init(&before);
    sketch_add(&into, 42, 3);
    sketch_add(&into, 0, 1);
    sketch_merge(&before, &into);
    int rc = sketch_merge_blob(&into, blob, len, err, sizeof err);
    CHECK(rc < 0 && strstr(err, want) && same_counts(&into, &before),
          "%s is refused, into unchanged: \"%s\"", what, err);
    sketch_fini(&into);
    sketch_fini(&before);
}

static void test_malformed(void)
{
    struct sketch s;
    unsigned char *blob, bad[64];
    size_t len;
    char err[256];

    fill(&s, 500, 300, 1.0);
    sketch_encode(&s, &blob, &len);

    /* Every proper prefix is refused, with a message, and into unchanged. */
    struct sketch into, before;
    sketch_init(&into);
    sketch_init(&before);
    sketch_add(&into, 7, 2);
    sketch_merge(&before, &into);
    int all = 1;
    for (size_t cut = 0; cut < len; cut++) {
        err[0] = 0;
        all &= sketch_merge_blob(&into, blob, cut, err, sizeof err) < 0 && err[0]
               && same_counts(&into, &before);
    }
    CHECK(all, "the blob (%zu bytes) cut at every byte is refused with a message", len);
    sketch_merge_blob(&into, blob, len - 1, err, sizeof err);
    CHECK(strstr(err, "truncated at byte") != NULL, "e.g. \"%s\"", err);
    sketch_fini(&into);
    sketch_fini(&before);

    memcpy(bad, blob, 8);
    bad[0] = 2;
    refused(bad, 8, "version 2, not 1", "a blob of version 2");
    unsigned char *big = calloc(SKETCH_BLOB_MAX + 1, 1);
    memcpy(big, blob, len);
    refused(big, SKETCH_BLOB_MAX + 1, "larger than", "a blob over SKETCH_BLOB_MAX");
    free(big);
    unsigned char *longer = malloc(len + 1);
    memcpy(longer, blob, len);
    longer[len] = 0;
    refused(longer, len + 1, "1 byte after its last bucket", "a byte after the last bucket");
    free(longer);
    free(blob);
    sketch_fini(&s);

    /* Hand-made blobs: version, zeros, buckets, then (index step, count) pairs. */
    static const unsigned char far_index[] = {1, 0, 1, 0xb0, 0x16, 2};         /* index 1432 */
    static const unsigned char low_index[] = {1, 0, 1, 0xe7, 0x0a, 2};         /* index -692 */
    static const unsigned char zero_count[] = {1, 0, 2, 2, 2, 2, 0};
    static const unsigned char backwards[] = {1, 0, 2, 10, 2, 0, 2};           /* step 0 */
    static const unsigned char many[] = {1, 0, 0xff, 0xff, 0x03};              /* 65535 */
    static const unsigned char huge_count[] = {1, 0, 1, 2, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                                               0x80, 0x80, 0x02};              /* 2^56 */
    static const unsigned char varint11[] = {1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                                             0x80, 0x80, 0x01};
    static const unsigned char over64[] = {1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                                           0x80, 0x02};
    refused(far_index, sizeof far_index, "bucket index step 1432 at byte 3 is outside",
            "a bucket index above 1e12's");
    refused(low_index, sizeof low_index, "bucket index step -692", "a bucket index below 1e-6's");
    refused(zero_count, sizeof zero_count, "has a count of 0", "a bucket with a count of 0");
    refused(backwards, sizeof backwards, "bucket index step 0", "indexes that do not ascend");
    refused(many, sizeof many, "claims 65535 buckets", "an absurd number of buckets");
    refused(huge_count, sizeof huge_count, "bucket count", "a count over 2^53");
    refused(varint11, sizeof varint11, "longer than 10 bytes", "a varint of 11 bytes");
    refused(over64, sizeof over64, "does not fit 64 bits", "a varint over 64 bits");
    refused(bad, 0, "empty", "an empty blob");
}

/* The index range blobs are checked against is the mapping's own for the value range. */
static void test_index_range(void)
{
    CHECK(sketch_index(SKETCH_MIN_VALUE) == SKETCH_INDEX_MIN,
          "SKETCH_INDEX_MIN is the bucket of SKETCH_MIN_VALUE (%d)", sketch_index(SKETCH_MIN_VALUE));
    CHECK(sketch_index(SKETCH_MAX_VALUE) == SKETCH_INDEX_MAX,
          "SKETCH_INDEX_MAX is the bucket of SKETCH_MAX_VALUE (%d)", sketch_index(SKETCH_MAX_VALUE));
}

int main(void)
{
    test_index_range();
    test_edges();
    test_add();
    test_bins();
    test_merge_encode();
    test_malformed();
    return check_done();
}
