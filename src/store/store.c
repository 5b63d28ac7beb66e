/*
 * store.c - the dispatcher: picks a driver from the target (a path means
 * SQLite, postgresql:// means PostgreSQL) and forwards every call through
 * the driver's ops table. It holds no SQL and no dialect knowledge.
 */
#include "store/store_int.h"

struct bw_store {
    const struct bw_store_ops *ops;
    void *impl;
};

int bw_migrations_latest(const struct bw_migration *m, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (m[i].version > v)
            v = m[i].version;
    }
    return v;
}

static bool is_pg_url(const char *t)
{
    return strncmp(t, "postgresql://", 13) == 0 || strncmp(t, "postgres://", 11) == 0;
}

enum bw_rc bw_store_open(const char *target, const struct bw_store_opts *opts,
                         struct bw_store **out, char *why, size_t whylen)
{
    const struct bw_store_ops *ops = is_pg_url(target) ? &bw_store_pg_ops : &bw_store_sqlite_ops;
    struct bw_store *st = bw_calloc(1, sizeof(*st));
    if (st == NULL)
        return BW_ERR_NOMEM;
    if (why != NULL && whylen > 0)
        why[0] = '\0';
    enum bw_rc rc = ops->open(target, opts, &st->impl, why, whylen);
    if (rc != BW_OK) {
        bw_free(st);
        return rc;
    }
    st->ops = ops;
    *out = st;
    return BW_OK;
}

void bw_store_close(struct bw_store *st)
{
    if (st == NULL)
        return;
    st->ops->close(st->impl);
    bw_free(st);
}

enum bw_rc bw_store_write(struct bw_store *st, bw_tx_fn fn, void *arg)
{
    return st->ops->write(st->impl, fn, arg);
}

enum bw_rc bw_store_read(struct bw_store *st, bw_tx_fn fn, void *arg)
{
    return st->ops->read(st->impl, fn, arg);
}

enum bw_rc bw_tx_exec(struct bw_tx *tx, enum bw_stmt stmt, const struct bw_val *params,
                      size_t nparams, uint64_t *changes)
{
    if ((unsigned)stmt >= BW_STMT__COUNT)
        return BW_ERR_INTERNAL;
    return tx->ops->exec(tx, stmt, params, nparams, changes);
}

enum bw_rc bw_tx_query(struct bw_tx *tx, enum bw_stmt stmt, const struct bw_val *params,
                       size_t nparams, bw_row_fn fn, void *arg)
{
    if ((unsigned)stmt >= BW_STMT__COUNT)
        return BW_ERR_INTERNAL;
    return tx->ops->query(tx, stmt, params, nparams, fn, arg);
}

size_t bw_row_count(const struct bw_row *row)
{
    return row->ops->row_count(row);
}

bool bw_row_is_null(const struct bw_row *row, size_t col)
{
    return row->ops->row_is_null(row, col);
}

int64_t bw_row_int(const struct bw_row *row, size_t col)
{
    return row->ops->row_int(row, col);
}

const char *bw_row_text(const struct bw_row *row, size_t col, size_t *len)
{
    return row->ops->row_text(row, col, len);
}

const void *bw_row_blob(const struct bw_row *row, size_t col, size_t *len)
{
    return row->ops->row_blob(row, col, len);
}

enum bw_rc bw_store_migrate(struct bw_store *st, int *version)
{
    return st->ops->migrate(st->impl, version);
}

enum bw_rc bw_store_schema_version(struct bw_store *st, int *have, int *want)
{
    int h;
    enum bw_rc rc = st->ops->schema_version(st->impl, &h);
    if (rc != BW_OK)
        return rc;
    *have = h;
    *want = st->ops == &bw_store_pg_ops
                ? bw_migrations_latest(bw_migrations_pg, bw_migrations_pg_count)
                : bw_migrations_latest(bw_migrations_sqlite, bw_migrations_sqlite_count);
    return BW_OK;
}

enum bw_rc bw_store_check(struct bw_store *st, char *why, size_t whylen)
{
    return st->ops->check(st->impl, why, whylen);
}

void bw_store_stats(struct bw_store *st, struct bw_store_stats *out)
{
    memset(out, 0, sizeof(*out));
    st->ops->stats(st->impl, out);
    out->driver = st->ops->name;
}

const char *bw_store_driver(const struct bw_store *st)
{
    return st->ops->name;
}

/* ---- meta convenience ------------------------------------------------------ */

enum bw_rc bw_store_meta_put(struct bw_tx *tx, const char *key, const char *value)
{
    struct bw_val p[] = {BW_VTEXT(key), BW_VTEXT(value)};
    return bw_tx_exec(tx, BW_STMT_META_PUT, p, 2, NULL);
}

struct meta_get {
    struct bw_buf *out;
    bool found;
};

static enum bw_rc meta_row(void *arg, const struct bw_row *row)
{
    struct meta_get *g = arg;
    size_t len;
    const char *v = bw_row_text(row, 0, &len);
    g->found = true;
    bw_buf_reset(g->out);
    return bw_buf_append(g->out, v != NULL ? v : "", v != NULL ? len : 0);
}

enum bw_rc bw_store_meta_get(struct bw_tx *tx, const char *key, struct bw_buf *out)
{
    struct meta_get g = {.out = out};
    struct bw_val p[] = {BW_VTEXT(key)};
    enum bw_rc rc = bw_tx_query(tx, BW_STMT_META_GET, p, 1, meta_row, &g);
    if (rc != BW_OK)
        return rc;
    return g.found ? BW_OK : BW_ERR_NOTFOUND;
}

/* ---- backup support (issue 6) ------------------------------------------------ */

enum bw_rc bw_store_snapshot(struct bw_store *st, const char *dest, uint64_t *log_seq, char *why,
                             size_t whylen)
{
    if (st->ops->snapshot == NULL)
        return BW_ERR_UNSUPPORTED;
    return st->ops->snapshot(st->impl, dest, log_seq, why, whylen);
}

struct bw_store_pin {
    void (*unpin)(void *handle);
    void *handle;
};

enum bw_rc bw_store_snapshot_pin(struct bw_store *st, const uint8_t **data, size_t *len,
                                 uint64_t *log_seq, struct bw_store_pin **pin, char *why,
                                 size_t whylen)
{
    *pin = NULL;
    if (st->ops->pin == NULL)
        return BW_ERR_UNSUPPORTED;
    struct bw_store_pin *p = bw_calloc(1, sizeof(*p));
    if (p == NULL)
        return BW_ERR_NOMEM;
    enum bw_rc rc = st->ops->pin(st->impl, data, len, log_seq, &p->handle, why, whylen);
    if (rc != BW_OK) {
        bw_free(p);
        return rc;
    }
    p->unpin = st->ops->unpin;
    *pin = p;
    return BW_OK;
}

void bw_store_pin_release(struct bw_store_pin *pin)
{
    if (pin == NULL)
        return;
    pin->unpin(pin->handle);
    bw_free(pin);
}

enum bw_rc bw_store_changelog(struct bw_store *st, bw_store_change_fn fn, void *arg, char *why,
                              size_t whylen)
{
    if (st->ops->changelog == NULL)
        return BW_ERR_UNSUPPORTED;
    return st->ops->changelog(st->impl, fn, arg, why, whylen);
}

enum bw_rc bw_store_apply_changes(struct bw_store *st, const void *data, size_t len)
{
    if (st->ops->apply_changes == NULL)
        return BW_ERR_UNSUPPORTED;
    return st->ops->apply_changes(st->impl, data, len);
}

enum bw_rc bw_store_load_snapshot(const char *target, const char *snapshot, char *why,
                                  size_t whylen)
{
    const struct bw_store_ops *ops = is_pg_url(target) ? &bw_store_pg_ops : &bw_store_sqlite_ops;
    if (ops->load_snapshot == NULL)
        return BW_ERR_UNSUPPORTED;
    return ops->load_snapshot(target, snapshot, why, whylen);
}

/* records feature */
enum bw_rc bw_store_checkpoint(struct bw_store *st)
{
    return st->ops->checkpoint != NULL ? st->ops->checkpoint(st->impl) : BW_ERR_UNSUPPORTED;
}

/* ---- backup incrementals from the change log (issue 6, backup2) ------------- */

enum bw_rc bw_store_changelog_sync(struct bw_store *st)
{
    if (st->ops->changelog_sync == NULL)
        return BW_ERR_UNSUPPORTED;
    return st->ops->changelog_sync(st->impl);
}

/* key store (decision C6) */
enum bw_rc bw_store_keys_snapshot(struct bw_store *st, const char *dest, char *why,
                                  size_t whylen)
{
    if (st->ops->keys_snapshot == NULL)
        return BW_ERR_UNSUPPORTED;
    return st->ops->keys_snapshot(st->impl, dest, why, whylen);
}

enum bw_rc bw_store_keys_load(const char *target, const char *snapshot, char *why,
                              size_t whylen)
{
    const struct bw_store_ops *ops = is_pg_url(target) ? &bw_store_pg_ops : &bw_store_sqlite_ops;
    if (ops->keys_load == NULL)
        return BW_ERR_UNSUPPORTED;
    return ops->keys_load(target, snapshot, why, whylen);
}
