/*
 * retention.c - the end of the deletion lifecycle (CONTROL: DATA-05,
 * decision C6). A record soft-deleted longer than retention.deleted_records
 * ago is purged: its row is removed and its data key destroyed in the same
 * transaction, audited data.purged. Copies of its ciphertext elsewhere (an
 * older backup, a WAL page) can no longer be opened, because the key that
 * decided whether it could be read is gone from the key store. An
 * organisation deleted that long ago loses its organisation key, data keys,
 * collections and records the same way. After a pass that purged
 * anything, the SQLite write-ahead logs of BOTH files (the data and the key
 * store, db/keys.db) are checkpointed and truncated, so no destroyed key
 * stays behind in keys.db-wal.
 *
 * The key store is apart from the data (decision C6): on SQLite the record
 * row and its key are committed file by file. A purge that a crash cuts in
 * two leaves either a key without its record or a deleted record without
 * its key (purged again next pass); neither can be read. Keys left without
 * a sealed record - by a crash, by a create that never committed, by a
 * class lowered to public/internal - are orphans: destroyed here once older
 * than ORPHAN_GRACE (a younger one may belong to a record being written,
 * whose key commits first), audited key.orphans_destroyed.
 *
 * Runs inside `bulwark serve` on a thread of its own (bw_retention_start);
 * never touches a live record: only rows with deleted_at set and older than
 * the cut-off match the purge statements (CONTROL: DATA-04).
 */
#include "audit/audit.h"
#include "data/data.h"
#include "store/store.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#define PURGE_BATCH 100
#define ORPHAN_GRACE 3600 /* seconds a key may wait for the record it was made for */
#define ORPHAN_BATCH 500

struct due {
    char org[BW_ID_LEN + 1];
    char coll[BW_NAME_MAX + 1];
    char id[BW_ID_LEN + 1];
};

struct purge_job {
    int64_t cutoff;
    struct due d[PURGE_BATCH];
    size_t n;
    unsigned purged;
};

static void copy_col(const struct bw_row *row, size_t col, char *out, size_t cap)
{
    size_t len = 0;
    const char *s = bw_row_text(row, col, &len);
    if (s == NULL || len >= cap)
        len = 0;
    memcpy(out, s != NULL ? s : "", len);
    out[len] = '\0';
}

static enum bw_rc due_row(void *arg, const struct bw_row *row)
{
    struct purge_job *j = arg;
    if (j->n == PURGE_BATCH)
        return BW_OK;
    struct due *d = &j->d[j->n++];
    copy_col(row, 0, d->org, sizeof(d->org));
    copy_col(row, 1, d->coll, sizeof(d->coll));
    copy_col(row, 2, d->id, sizeof(d->id));
    return BW_OK;
}

static const struct bw_audit_ctx system_ctx = {.remote = "-", .request_id = "-"};

/* One transaction: the due records' rows and data keys, audited. */
static enum bw_rc purge_records_fn(struct bw_tx *tx, void *arg)
{
    struct purge_job *j = arg;
    struct bw_val q[] = {BW_VINT(j->cutoff), BW_VINT(PURGE_BATCH)};
    j->n = 0;
    j->purged = 0;
    enum bw_rc rc = bw_tx_query(tx, BW_STMT_REC_PURGE_DUE, q, 2, due_row, j);
    for (size_t i = 0; rc == BW_OK && i < j->n; i++) {
        uint64_t changed = 0;
        struct bw_val r[] = {BW_VTEXT(j->d[i].org), BW_VTEXT(j->d[i].id), BW_VINT(j->cutoff)};
        struct bw_val k[] = {BW_VTEXT(j->d[i].org), BW_VTEXT(j->d[i].id)};
        rc = bw_tx_exec(tx, BW_STMT_REC_PURGE, r, BW_ARRAY_LEN(r), &changed);
        if (rc == BW_OK && changed == 1)
            rc = bw_tx_exec(tx, BW_STMT_DATAKEY_DELETE, k, BW_ARRAY_LEN(k), NULL); /* shred */
        if (rc == BW_OK && changed == 1) {
            j->purged++;
            rc = bw_audit_append(tx, &system_ctx, "system", "data.purged", j->d[i].id,
                                 BW_AUDIT_SUCCESS,
                                 json_pack("{s:s, s:s, s:s, s:b}", "kind", "record", "org",
                                           j->d[i].org, "collection", j->d[i].coll,
                                           "key_destroyed", 1));
        }
    }
    return rc;
}

/* Data keys without a sealed record (decision C6), one batch. */
static enum bw_rc orphans_fn(struct bw_tx *tx, void *arg)
{
    struct purge_job *j = arg;
    uint64_t n = 0;
    struct bw_val q[] = {BW_VINT(bw_time_now() - ORPHAN_GRACE), BW_VINT(ORPHAN_BATCH)};
    enum bw_rc rc = bw_tx_exec(tx, BW_STMT_DATAKEY_ORPHANS, q, BW_ARRAY_LEN(q), &n);
    j->n = (size_t)n;
    if (rc == BW_OK && n > 0)
        rc = bw_audit_append(tx, &system_ctx, "system", "key.orphans_destroyed", "data-keys",
                             BW_AUDIT_SUCCESS, json_pack("{s:I}", "count", (json_int_t)n));
    return rc;
}

/* Sealed records whose key is gone (a restore of older data), one batch. */
static enum bw_rc keyless_fn(struct bw_tx *tx, void *arg)
{
    struct purge_job *j = arg;
    struct bw_val q[] = {BW_VINT(PURGE_BATCH)};
    j->n = 0;
    j->purged = 0;
    enum bw_rc rc = bw_tx_query(tx, BW_STMT_REC_KEYGONE, q, 1, due_row, j);
    for (size_t i = 0; rc == BW_OK && i < j->n; i++) {
        uint64_t changed = 0;
        struct bw_val r[] = {BW_VTEXT(j->d[i].org), BW_VTEXT(j->d[i].id)};
        rc = bw_tx_exec(tx, BW_STMT_REC_DELETE_KEYGONE, r, BW_ARRAY_LEN(r), &changed);
        if (rc == BW_OK && changed == 1) {
            j->purged++;
            rc = bw_audit_append(tx, &system_ctx, "system", "data.purged", j->d[i].id,
                                 BW_AUDIT_SUCCESS,
                                 json_pack("{s:s, s:s, s:s, s:s}", "kind", "record", "org",
                                           j->d[i].org, "collection", j->d[i].coll, "reason",
                                           "key_destroyed"));
        }
    }
    return rc;
}

enum bw_rc bw_retention_keyless(struct bw_store *st, unsigned *removed)
{
    struct purge_job *j = bw_calloc(1, sizeof(*j));
    unsigned total = 0;
    if (j == NULL)
        return BW_ERR_NOMEM;
    enum bw_rc rc;
    do {
        rc = bw_store_write(st, keyless_fn, j);
        total += rc == BW_OK ? j->purged : 0;
    } while (rc == BW_OK && j->n == PURGE_BATCH);
    bw_free(j);
    if (rc == BW_OK)
        *removed = total;
    return rc;
}

static enum bw_rc org_row(void *arg, const struct bw_row *row)
{
    struct purge_job *j = arg;
    if (j->n < PURGE_BATCH)
        copy_col(row, 0, j->d[j->n++].org, sizeof(j->d[0].org));
    return BW_OK;
}

/* Organisations deleted before the cut-off: key, data keys and data go. */
static enum bw_rc purge_orgs_fn(struct bw_tx *tx, void *arg)
{
    struct purge_job *j = arg;
    struct bw_val q[] = {BW_VINT(j->cutoff)};
    j->n = 0;
    enum bw_rc rc = bw_tx_query(tx, BW_STMT_ORG_PURGE_DUE, q, 1, org_row, j);
    for (size_t i = 0; rc == BW_OK && i < j->n; i++) {
        struct bw_val o[] = {BW_VTEXT(j->d[i].org)};
        struct bw_val inv[] = {BW_VTEXT("org"), BW_VTEXT(j->d[i].org), BW_VINT(bw_time_now())};
        rc = bw_tx_exec(tx, BW_STMT_ORGKEY_DELETE, o, 1, NULL);
        if (rc == BW_OK)
            rc = bw_tx_exec(tx, BW_STMT_DATAKEY_DELETE_ORG, o, 1, NULL);
        if (rc == BW_OK)
            rc = bw_tx_exec(tx, BW_STMT_COLL_DELETE_ORG, o, 1, NULL);
        if (rc == BW_OK)
            rc = bw_tx_exec(tx, BW_STMT_KEYINV_DESTROY, inv, BW_ARRAY_LEN(inv), NULL);
        if (rc == BW_OK)
            rc = bw_audit_append(tx, &system_ctx, "system", "data.purged", j->d[i].org,
                                 BW_AUDIT_SUCCESS,
                                 json_pack("{s:s, s:b}", "kind", "organisation",
                                           "key_destroyed", 1));
    }
    return rc;
}

/* set when a checkpoint after a purge could not complete (busy readers) */
static _Atomic bool checkpoint_owed;

enum bw_rc bw_retention_purge(struct bw_store *st, const struct bw_config *cfg, unsigned *purged)
{
    struct purge_job *j = bw_calloc(1, sizeof(*j));
    unsigned total = 0;
    bool any = false;
    if (j == NULL)
        return BW_ERR_NOMEM;
    j->cutoff = bw_time_now() - cfg->retention_deleted_records;
    enum bw_rc rc;
    do {
        rc = bw_store_write(st, purge_records_fn, j);
        total += rc == BW_OK ? j->purged : 0;
        any |= rc == BW_OK && j->n > 0;
    } while (rc == BW_OK && j->n == PURGE_BATCH);
    if (rc == BW_OK) {
        rc = bw_store_write(st, purge_orgs_fn, j);
        any |= rc == BW_OK && j->n > 0;
    }
    while (rc == BW_OK) { /* CONTROL: C6 - keys no sealed record needs */
        rc = bw_store_write(st, orphans_fn, j);
        any |= rc == BW_OK && j->n > 0;
        if (j->n < ORPHAN_BATCH)
            break;
    }
    bw_free(j);
    if (rc == BW_OK && (any || atomic_load(&checkpoint_owed))) {
        /* CONTROL: DATA-05, C6 - no page of a purged row or key stays in either WAL;
         * a checkpoint that readers kept from completing is owed to the next pass */
        enum bw_rc crc = bw_store_checkpoint(st);
        atomic_store(&checkpoint_owed, crc != BW_OK && crc != BW_ERR_UNSUPPORTED);
        if (crc != BW_OK && crc != BW_ERR_UNSUPPORTED)
            bw_log(BW_LOG_WARN, "retention.checkpoint", "checkpoint after purge: %s (retried "
                   "on the next pass)", bw_rc_str(crc));
    }
    if (rc == BW_OK)
        *purged = total;
    return rc;
}

/* ---- the thread ------------------------------------------------------------------ */

struct bw_retention {
    struct bw_store *st;
    const struct bw_config *cfg;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
};

static void *run(void *arg)
{
    struct bw_retention *r = arg;
    pthread_mutex_lock(&r->mu);
    while (!r->stop) {
        pthread_mutex_unlock(&r->mu);
        unsigned n = 0;
        enum bw_rc rc = bw_retention_purge(r->st, r->cfg, &n);
        if (rc != BW_OK)
            bw_log(BW_LOG_ERROR, "retention.purge", "purge pass failed: %s", bw_rc_str(rc));
        else if (n > 0)
            bw_log(BW_LOG_INFO, "retention.purge", "purged %u records", n);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += r->cfg->retention_purge_interval;
        pthread_mutex_lock(&r->mu);
        while (!r->stop && pthread_cond_timedwait(&r->cv, &r->mu, &until) == 0)
            ;
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

enum bw_rc bw_retention_start(struct bw_store *st, const struct bw_config *cfg,
                              struct bw_retention **out)
{
    struct bw_retention *r = bw_calloc(1, sizeof(*r));
    if (r == NULL)
        return BW_ERR_NOMEM;
    r->st = st;
    r->cfg = cfg;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    if (pthread_create(&r->thread, NULL, run, r) != 0) {
        pthread_mutex_destroy(&r->mu);
        pthread_cond_destroy(&r->cv);
        bw_free(r);
        return BW_ERR_INTERNAL;
    }
    *out = r;
    return BW_OK;
}

void bw_retention_stop(struct bw_retention *r)
{
    if (r == NULL)
        return;
    pthread_mutex_lock(&r->mu);
    r->stop = true;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    bw_free(r);
}
