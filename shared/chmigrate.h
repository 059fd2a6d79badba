/*
 * chmigrate: an existing SQLite database into ClickHouse (`collector migrate`;
 * collector/README.md "Moving a SQLite database into ClickHouse").
 *
 * The raw tables (store_export_rows: page views, metrics, errors, probe runs and
 * journeys, markers, verdicts) are copied in chunks of at most CHMIGRATE_ROWS rows and
 * CHMIGRATE_BYTES bytes, one INSERT (JSONEachRow) each; they are ReplacingMergeTree on
 * keys the export derives from the rows, so copying a row twice keeps one. The rollups
 * (store_export_rollups) are copied as they are, not rebuilt from raw rows (raw rows are
 * kept for days, rollups for months), as batches of shared/chstore.h, one per hour of
 * minutes (halved down to a minute while a batch is over chstore's bound), each with an
 * id made from its contents (SHA-256): a second run over the same, unchanged database
 * finds every batch's markers and adds nothing, so a migration that stopped half-way is
 * finished by running it again. A database that changed in between (a collector still
 * writing to it) gives new ids for the hours that changed: migrate a stopped collector's
 * file, or a copy.
 */
#ifndef VIGIL_CHMIGRATE_H
#define VIGIL_CHMIGRATE_H

#include <stddef.h>

#include "clickhouse.h"
#include "store.h"

#define CHMIGRATE_ROWS 50000                /* raw rows in one INSERT */
#define CHMIGRATE_BYTES (8u << 20)          /* bytes of one INSERT of raw rows, about */

struct chmigrate_counts {
    long long rows[STORE_EXPORT_N];         /* raw rows sent, per table */
    long long batches;                      /* rollup batches sent */
    long long batches_skipped;              /* rollup batches whose markers were there */
    long long rollup_rows;                  /* SQLite rollup rows read */
};

/* Copies everything from the SQLite store from into the ClickHouse database of to (whose
 * tables exist: chstore_init). progress (may be NULL) is called after each chunk. 0, or
 * -1 with err (what was sent before stays; run again to finish). */
int chmigrate_run(struct store *from, struct clickhouse *to,
                  void (*progress)(const struct chmigrate_counts *c, void *arg), void *arg,
                  struct chmigrate_counts *counts, char *err, size_t errlen);

#endif
