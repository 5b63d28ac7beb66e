/*
 * store_int.h - internal interface between store.c (the dispatcher) and the
 * two drivers. Only files in src/store/ include it. A driver is a table of
 * function pointers (like sqlite3_vfs); store.c owns the bw_store object and
 * forwards to it. Dialect differences never leave the driver files.
 */
#ifndef BW_STORE_INT_H
#define BW_STORE_INT_H

#include "store/store.h"

#include <string.h>

struct bw_migration {
    int version;
    const char *name;
    const char *sql;
};

extern const struct bw_migration bw_migrations_sqlite[];
extern const size_t bw_migrations_sqlite_count;
extern const struct bw_migration bw_migrations_pg[];
extern const size_t bw_migrations_pg_count;
/* the SQLite key store's own migrations (db/keys.db, schema `keys`) */
extern const struct bw_migration bw_migrations_sqlite_keys[];
extern const size_t bw_migrations_sqlite_keys_count;

/* Per-driver SQL text for every enum bw_stmt, indexed by it. */
extern const char *const bw_sql_sqlite[BW_STMT__COUNT];
extern const char *const bw_sql_pg[BW_STMT__COUNT];

struct bw_store_ops {
    const char *name;
    enum bw_rc (*open)(const char *target, const struct bw_store_opts *opts, void **impl,
                       char *why, size_t whylen);
    void (*close)(void *impl);
    enum bw_rc (*write)(void *impl, bw_tx_fn fn, void *arg);
    enum bw_rc (*read)(void *impl, bw_tx_fn fn, void *arg);
    enum bw_rc (*exec)(struct bw_tx *tx, enum bw_stmt stmt, const struct bw_val *params,
                       size_t nparams, uint64_t *changes);
    enum bw_rc (*query)(struct bw_tx *tx, enum bw_stmt stmt, const struct bw_val *params,
                        size_t nparams, bw_row_fn fn, void *arg);
    enum bw_rc (*migrate)(void *impl, int *version);
    enum bw_rc (*schema_version)(void *impl, int *have);
    enum bw_rc (*check)(void *impl, char *why, size_t whylen);
    void (*stats)(void *impl, struct bw_store_stats *out);
    /* row accessors */
    size_t (*row_count)(const struct bw_row *row);
    bool (*row_is_null)(const struct bw_row *row, size_t col);
    int64_t (*row_int)(const struct bw_row *row, size_t col);
    const char *(*row_text)(const struct bw_row *row, size_t col, size_t *len);
    const void *(*row_blob)(const struct bw_row *row, size_t col, size_t *len);
    /* backup support (issue 6); NULL when the driver lacks it */
    enum bw_rc (*snapshot)(void *impl, const char *dest, uint64_t *log_seq, char *why,
                           size_t whylen);
    enum bw_rc (*changelog)(void *impl, bw_store_change_fn fn, void *arg, char *why,
                            size_t whylen);
    enum bw_rc (*apply_changes)(void *impl, const void *data, size_t len);
    enum bw_rc (*load_snapshot)(const char *target, const char *snapshot, char *why,
                                size_t whylen);
    /* records feature: bw_store_checkpoint (NULL: unsupported) */
    enum bw_rc (*checkpoint)(void *impl);
    /* backup incrementals from the change log (issue 6, backup2) */
    enum bw_rc (*changelog_sync)(void *impl);
    /* key store (decision C6) */
    enum bw_rc (*keys_snapshot)(void *impl, const char *dest, char *why, size_t whylen);
    enum bw_rc (*keys_load)(const char *target, const char *snapshot, char *why, size_t whylen);
    /* bw_store_snapshot_pin (NULL: never in place) and its release */
    enum bw_rc (*pin)(void *impl, const uint8_t **data, size_t *len, uint64_t *log_seq,
                      void **handle, char *why, size_t whylen);
    void (*unpin)(void *handle);
};

/* A transaction handle as seen by store.c; drivers embed it first in theirs. */
struct bw_tx {
    const struct bw_store_ops *ops;
};

/* A row handle; drivers embed it first in theirs. */
struct bw_row {
    const struct bw_store_ops *ops;
};

extern const struct bw_store_ops bw_store_sqlite_ops;
extern const struct bw_store_ops bw_store_pg_ops;

/* Latest migration version of a driver's table (0 when empty). */
int bw_migrations_latest(const struct bw_migration *m, size_t n);

#endif
