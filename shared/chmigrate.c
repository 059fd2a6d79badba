#include "chmigrate.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "chstore.h"
#include "rollup.h"

#define HOUR_MINUTES 60

static int copy_table(struct store *from, struct clickhouse *to, enum store_export_table t,
                      struct chmigrate_counts *counts,
                      void (*progress)(const struct chmigrate_counts *c, void *arg), void *arg,
                      char *err, size_t errlen)
{
    struct buf rows;
    long long after = 0;
    size_t n;
    int rc = 0;
    char why[512];

    buf_init(&rows, 0);
    do {
        rows.len = 0;
        if (store_export_rows(from, t, &after, CHMIGRATE_ROWS, CHMIGRATE_BYTES, &rows, &n, err,
                              errlen) < 0) {
            rc = -1;
            break;
        }
        if (n && clickhouse_insert(to, store_export_names[t], "JSONEachRow", rows.data,
                                   rows.len, why, sizeof why) < 0) {
            snprintf(err, errlen, "copying %s: %s", store_export_names[t], why);
            rc = -1;
            break;
        }
        counts->rows[t] += (long long)n;
        if (n && progress)
            progress(counts, arg);
    } while (n);
    buf_fini(&rows);
    return rc;
}

/* What store_export_rollups' calls add to. */
struct gather {
    struct rollup *r;
    struct chmigrate_counts *counts;
};

static int add_row(const struct rollup_row *row, void *arg)
{
    struct gather *g = arg;
    g->counts->rollup_rows++;
    return rollup_add_row(g->r, row) < 0 ? 1 : 0;
}

/* The batch id of a batch built with a placeholder id: the first CHSTORE_BATCH_LEN hex
 * digits of the SHA-256 of its parts. */
static int content_id(const struct chstore_batch *b, char id[CHSTORE_BATCH_LEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1
             && EVP_DigestUpdate(ctx, "vigil-migrate 1", 15) == 1;
    for (size_t i = 0; ok && i < b->nparts; i++)
        ok = EVP_DigestUpdate(ctx, b->part[i].table, strlen(b->part[i].table)) == 1
             && EVP_DigestUpdate(ctx, &b->part[i].day, sizeof b->part[i].day) == 1
             && EVP_DigestUpdate(ctx, b->part[i].rows.data, b->part[i].rows.len) == 1;
    ok = ok && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen * 2 >= CHSTORE_BATCH_LEN;
    EVP_MD_CTX_free(ctx);
    for (size_t i = 0; ok && i < CHSTORE_BATCH_LEN / 2; i++)
        snprintf(id + 2 * i, 3, "%02x", md[i]);
    return ok ? 0 : -1;
}

/* The rollups of minutes [from, to) as one batch, or as two halves when the batch is over
 * chstore's bound. */
static int copy_minutes(struct store *from, struct clickhouse *to, long long first,
                        long long end, struct chmigrate_counts *counts, char *err,
                        size_t errlen)
{
    static const char placeholder[] = "00000000000000000000000000000000";
    struct rollup *r = rollup_new();
    struct chstore_batch b;
    char id[CHSTORE_BATCH_LEN + 1], why[512];
    struct gather ctx = {r, counts};
    size_t sent = 0;
    int rc = -1;

    _Static_assert(sizeof placeholder == CHSTORE_BATCH_LEN + 1, "a batch id's length");
    memset(&b, 0, sizeof b);
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    long long before = counts->rollup_rows;
    int x = store_export_rollups(from, first, end, add_row, &ctx, err, errlen);
    if (x != 0) {
        if (x > 0)
            snprintf(err, errlen, "copying rollups: out of memory");
        goto out;
    }
    if (rollup_pending(r) == 0) {
        rc = 0;
        goto out;
    }
    if (chstore_batch_build(&b, placeholder, r, why, sizeof why) < 0) {
        chstore_batch_fini(&b);
        rollup_free(r);
        r = NULL;
        if (end - first <= 1) {
            snprintf(err, errlen, "copying the rollups of minute %lld: %s", first, why);
            return -1;
        }
        counts->rollup_rows = before;
        long long mid = first + (end - first) / 2;
        return copy_minutes(from, to, first, mid, counts, err, errlen) < 0
               || copy_minutes(from, to, mid, end, counts, err, errlen) < 0 ? -1 : 0;
    }
    if (content_id(&b, id) < 0) {
        snprintf(err, errlen, "no SHA-256 for a batch id (OpenSSL)");
        goto out;
    }
    chstore_batch_fini(&b);
    if (chstore_batch_build(&b, id, r, err, errlen) < 0)
        goto out;
    if (chstore_batch_send(to, &b, 1, &sent, why, sizeof why) < 0) {
        snprintf(err, errlen, "copying rollups: %s", why);
        goto out;
    }
    if (sent)
        counts->batches++;
    else
        counts->batches_skipped++;
    rc = 0;
out:
    chstore_batch_fini(&b);
    rollup_free(r);
    return rc;
}

int chmigrate_run(struct store *from, struct clickhouse *to,
                  void (*progress)(const struct chmigrate_counts *c, void *arg), void *arg,
                  struct chmigrate_counts *counts, char *err, size_t errlen)
{
    long long first, last;

    memset(counts, 0, sizeof *counts);
    for (int t = 0; t < STORE_EXPORT_N; t++)
        if (copy_table(from, to, (enum store_export_table)t, counts, progress, arg, err,
                       errlen) < 0)
            return -1;
    if (store_rollup_span(from, &first, &last, err, errlen) < 0)
        return -1;
    if (first < 0)
        return 0;
    for (long long h = first - first % HOUR_MINUTES; h <= last; h += HOUR_MINUTES) {
        if (copy_minutes(from, to, h, h + HOUR_MINUTES, counts, err, errlen) < 0)
            return -1;
        if (progress)
            progress(counts, arg);
    }
    return 0;
}
