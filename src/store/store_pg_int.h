/*
 * store_pg_int.h - what the PostgreSQL driver's files share: store_pg.c (the
 * pool, transactions, statements, migrations, dumps) and store_pg_log.c (the
 * continuous change log, migration 0014). Never included outside src/store.
 */
#ifndef BW_STORE_PG_INT_H
#define BW_STORE_PG_INT_H

#include "store/store_int.h"

#include <libpq-fe.h>

struct pg_store;
struct pg_log;

/* A new connection to the store's database with the driver's session set-up. */
BW_MUST_CHECK enum bw_rc bw_pg_connect(const struct pg_store *st, PGconn **out, char *why,
                                       size_t whylen);
/* Trusted SQL text without parameters; failures logged redacted at debug. */
BW_MUST_CHECK enum bw_rc bw_pg_exec(PGconn *conn, const char *sql, const char *what);
/* One value (empty when NULL or no row) of trusted text with optional text
 * parameters. */
BW_MUST_CHECK enum bw_rc bw_pg_query_value(PGconn *conn, const char *sql, int n,
                                           const char *const *vals, char *out, size_t cap);
/* Maps a failed result to a bw_rc (logged redacted at debug level). */
enum bw_rc bw_pg_map_error(const PGresult *res, const char *what);

/* ---- store_pg_log.c -------------------------------------------------------------- */

/* Starts the change log: takes the database's change-log lock on a
 * connection of its own (BW_ERR_BUSY: another process ships this database's
 * log), installs the capture triggers, forgets what was captured before and
 * starts the poller thread that hands each committed transaction to fn.
 * `why` names the tables that cannot be logged (no primary key). */
BW_MUST_CHECK enum bw_rc bw_pg_log_start(const struct pg_store *st, bw_store_change_fn fn,
                                         void *arg, struct pg_log **out, char *why,
                                         size_t whylen);
/* Drops the triggers, delivers what was captured, stops the thread. */
void bw_pg_log_stop(struct pg_log *l);
/* Delivers every transaction committed so far, now. */
BW_MUST_CHECK enum bw_rc bw_pg_log_sync(struct pg_log *l);
/* Opens a REPEATABLE READ transaction on `conn`, exports its snapshot id
 * into snap (for pg_dump --snapshot), delivers exactly the transactions that
 * snapshot sees and sets *log_seq to the last stream sequence handed out.
 * Holds the log's lock meanwhile, so no later commit is delivered first. The
 * caller ends the transaction after the dump. */
BW_MUST_CHECK enum bw_rc bw_pg_log_pin(struct pg_log *l, PGconn *conn, char *snap, size_t cap,
                                       uint64_t *log_seq);
/* Applies one delivered transaction on conn (inside the caller's
 * transaction); restore only. */
BW_MUST_CHECK enum bw_rc bw_pg_log_apply(PGconn *conn, const void *data, size_t len);

#endif
