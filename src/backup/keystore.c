/*
 * keystore.c - backups of the key store (decision C6; CONTROL: DATA-05,
 * BCK-06, CRY-03).
 *
 * Data backups never hold a key: the SQLite snapshot copies db/bulwark.db
 * alone and the PostgreSQL dump excludes the schema bulwark_keys. The key
 * store (wrapped organisation keys, per-record data keys, inventory) is
 * backed up here as objects of its own, "keys/<ms>-<id>.keys" on the
 * target: "BWK1" || AES-256-GCM(zstd("bwkeys1\n<driver>\n" || copy)) under
 * the backup subkey of the master key, the object name as associated data
 * (a renamed or swapped object fails to open). They are removed once older
 * than [retention] key_backups, so that key_backups after a purge no copy
 * of the destroyed data key is left anywhere, while data backups (kept far
 * longer) hold ciphertext nobody can open any more.
 *
 * A restore takes the data backup plus a key store: the live one when the
 * store the command runs with is of the same kind and holds organisation
 * keys (the same installation: it knows every key not destroyed since),
 * else the newest key-store backup on the target; with neither it refuses,
 * naming what is missing. Sealed records whose keys are gone from that key
 * store (purged after the backup was taken) are then removed from the
 * restored store, each audited data.purged (reason key_destroyed): a purged
 * record answers 404 after a restore, like before it.
 *
 * Trusts the keyring and the store; never writes a key store in plaintext
 * outside the data directory (the copies it makes are 0600 files inside it,
 * removed on every path).
 */
#include "backup/backup_int.h"
#include "data/data.h"
#include "store/store.h"
#include "sys/sys.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KS_DIR "keys"
#define KS_MAGIC "BWK1"
#define KS_HEADER "bwkeys1\n"
#define KS_MAX (256u << 20)

/* Reads a whole private file (a store copy) into b. */
static enum bw_rc slurp(const char *path, struct bw_buf *b, char *why, size_t whylen)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    enum bw_rc rc = BW_OK;
    if (fd < 0) {
        bw_why(why, whylen, "cannot read %s: %s", path, strerror(errno));
        return BW_ERR_IO;
    }
    for (;;) {
        char chunk[65536];
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? BW_ERR_IO : BW_OK;
            break;
        }
        if ((rc = bw_buf_append(b, chunk, (size_t)n)) != BW_OK)
            break;
    }
    close(fd);
    return rc;
}

/* A private scratch path inside the data directory's db/ (same file system
 * as the store, so a rename can install it). */
static enum bw_rc scratch(const char *dir, const char *what, char *out, size_t cap)
{
    char id[BW_ID_LEN + 1], name[96];
    bw_id_new(id);
    snprintf(name, sizeof(name), "db/%s-%s.tmp", what, id);
    return bw_sys_path(out, cap, dir, name);
}

/* ---- taking one --------------------------------------------------------------- */

static enum bw_rc put_both(struct bw_backup_target *t, struct bw_backup_target *copy,
                           const char *name, const struct bw_buf *obj, char *why, size_t whylen)
{
    enum bw_rc rc = bw_target_put(t, name, obj->data, obj->len, true, why, whylen);
    if (rc == BW_OK && copy != NULL)
        rc = bw_target_put(copy, name, obj->data, obj->len, true, why, whylen);
    return rc;
}

enum bw_rc bw_keystore_backup(const struct bw_backup_env *env, struct bw_backup_target *t,
                              struct bw_backup_target *copy, json_t *res, char *why,
                              size_t whylen)
{
    char tmp[4096], name[BW_BK_NAME_MAX], id[BW_ID_LEN + 1];
    struct bw_buf plain, obj;
    const char *driver = bw_store_driver(env->store);
    int64_t now = bw_time_now_ms();
    bw_buf_init(&plain, KS_MAX);
    bw_buf_init(&obj, KS_MAX + 4096);
    bw_id_new(id);
    snprintf(name, sizeof(name), KS_DIR "/%013lld-%s.keys", (long long)now, id);
    enum bw_rc rc = scratch(env->data_dir, "keys-backup", tmp, sizeof(tmp));
    if (rc == BW_OK)
        rc = bw_store_keys_snapshot(env->store, tmp, why, whylen);
    if (rc == BW_OK)
        rc = bw_buf_appendf(&plain, KS_HEADER "%s\n", driver);
    if (rc == BW_OK)
        rc = slurp(tmp, &plain, why, whylen);
    (void)unlink(tmp);
    if (rc == BW_OK)
        rc = bw_blob_seal(env->kr, KS_MAGIC, name, plain.data, plain.len, &obj);
    if (rc == BW_OK)
        rc = put_both(t, copy, name, &obj, why, whylen);
    if (rc == BW_OK && res != NULL)
        json_object_set_new(res, "key_backup", json_string(name));
    if (rc != BW_OK && why[0] == '\0')
        bw_why(why, whylen, "key-store backup failed: %s", bw_rc_str(rc));
    (void)bw_backup_audit(env, "backup.keys_saved", name, rc == BW_OK,
                          json_pack("{s:s, s:I, s:s}", "store", driver, "bytes",
                                    (json_int_t)obj.len, "result",
                                    rc == BW_OK ? "ok" : why));
    bw_buf_free(&plain, true);
    bw_buf_free(&obj, false);
    return rc;
}

/* ---- listing and pruning ------------------------------------------------------------ */

static enum bw_rc ks_add(void *arg, const char *file)
{
    size_t len = strlen(file);
    if (len < 20 || strcmp(file + len - 5, ".keys") != 0)
        return BW_OK;
    return bw_names_add(arg, file, len);
}

/* Key-store backups on t, oldest first (the names begin with the time). */
static enum bw_rc ks_list(struct bw_backup_target *t, struct bw_names *ns)
{
    enum bw_rc rc = bw_target_list(t, KS_DIR, ks_add, ns);
    if (rc == BW_OK)
        bw_names_sort(ns);
    return rc;
}

/* Milliseconds of a name "<ms>-<id>.keys"; -1 when it has none. */
static int64_t ks_time(const char *file)
{
    uint64_t ms = 0;
    char digits[16];
    const char *dash = strchr(file, '-');
    if (dash == NULL || dash - file != 13)
        return -1;
    memcpy(digits, file, 13);
    digits[13] = '\0';
    return bw_parse_u64(digits, UINT64_C(9999999999999), &ms) == BW_OK ? (int64_t)ms : -1;
}

enum bw_rc bw_keystore_prune(const struct bw_backup_env *env, struct bw_backup_target *t,
                             uint64_t *removed)
{
    struct bw_names ns = {0};
    int64_t now = bw_time_now_ms(), keep_ms = 1000 * env->cfg->retention_key_backups;
    uint64_t n = 0;
    enum bw_rc rc = ks_list(t, &ns);
    for (size_t i = 0; rc == BW_OK && i < ns.n; i++) {
        char path[BW_BK_NAME_MAX];
        int64_t at = ks_time(ns.v[i]);
        /* CONTROL: C6 - no copy of a destroyed key outlives key_backups */
        if (at < 0 || now - at <= keep_ms)
            continue;
        snprintf(path, sizeof(path), KS_DIR "/%s", ns.v[i]);
        rc = bw_target_remove(t, path);
        if (rc == BW_OK) {
            n++;
            (void)bw_backup_audit(env, "backup.keys_pruned", path, true,
                                  json_pack("{s:I}", "age_s", (json_int_t)((now - at) / 1000)));
        }
    }
    bw_names_free(ns.v, ns.n);
    if (rc == BW_OK)
        *removed = n;
    return rc;
}

enum bw_rc bw_keystore_verify(const struct bw_backup_env *env, struct bw_backup_target *t,
                              uint64_t *count, char *why, size_t whylen)
{
    struct bw_names ns = {0};
    struct bw_buf obj, plain;
    uint64_t n = 0;
    enum bw_rc rc = ks_list(t, &ns);
    bw_buf_init(&obj, KS_MAX + 4096);
    bw_buf_init(&plain, KS_MAX);
    for (size_t i = 0; rc == BW_OK && i < ns.n; i++) {
        char path[BW_BK_NAME_MAX];
        snprintf(path, sizeof(path), KS_DIR "/%s", ns.v[i]);
        rc = bw_target_get(t, path, &obj, why, whylen);
        if (rc == BW_OK && (bw_blob_open(env->kr, KS_MAGIC, path, obj.data, obj.len, &plain) !=
                                BW_OK ||
                            plain.len < sizeof(KS_HEADER) - 1 ||
                            memcmp(plain.data, KS_HEADER, sizeof(KS_HEADER) - 1) != 0)) {
            bw_why(why, whylen, "%s is damaged: authentication failed", path);
            rc = BW_ERR_CRYPTO;
        }
        n += rc == BW_OK;
    }
    bw_names_free(ns.v, ns.n);
    bw_buf_free(&obj, false);
    bw_buf_free(&plain, true);
    if (rc == BW_OK)
        *count = n;
    return rc;
}

/* ---- restoring ------------------------------------------------------------------------ */

static enum bw_rc count_row(void *arg, const struct bw_row *row)
{
    *(int64_t *)arg = bw_row_int(row, 0);
    return BW_OK;
}

static enum bw_rc count_fn(struct bw_tx *tx, void *arg)
{
    return bw_tx_query(tx, BW_STMT_ORGKEY_COUNT, NULL, 0, count_row, arg);
}

/* The newest key-store backup of this store kind into the file tmp. */
static enum bw_rc from_backup(const struct bw_backup_env *env, struct bw_backup_target *t,
                              const char *kind, const char *tmp, char *from, size_t fromcap,
                              char *why, size_t whylen)
{
    struct bw_names ns = {0};
    struct bw_buf obj, plain;
    char head[64];
    enum bw_rc rc = ks_list(t, &ns);
    bw_buf_init(&obj, KS_MAX + 4096);
    bw_buf_init(&plain, KS_MAX);
    int hl = snprintf(head, sizeof(head), KS_HEADER "%s\n", kind);
    bool found = false;
    for (size_t i = ns.n; rc == BW_OK && !found && i-- > 0;) {
        char path[BW_BK_NAME_MAX];
        snprintf(path, sizeof(path), KS_DIR "/%s", ns.v[i]);
        rc = bw_target_get(t, path, &obj, why, whylen);
        if (rc == BW_OK && bw_blob_open(env->kr, KS_MAGIC, path, obj.data, obj.len, &plain) !=
                               BW_OK) {
            bw_why(why, whylen, "%s is damaged: authentication failed", path);
            rc = BW_ERR_CRYPTO;
        }
        if (rc == BW_OK && plain.len >= (size_t)hl && memcmp(plain.data, head, (size_t)hl) == 0) {
            found = true;
            snprintf(from, fromcap, "%s", path);
            rc = bw_sys_write_private(tmp, plain.data + hl, plain.len - (size_t)hl, false, why,
                                      whylen);
        }
    }
    if (rc == BW_OK && !found) {
        bw_why(why, whylen, "no key-store backup of a %s store on the target and no live key "
               "store to use: sealed records cannot be restored (docs/RESTORE.md)", kind);
        rc = BW_ERR_NOTFOUND;
    }
    bw_names_free(ns.v, ns.n);
    bw_buf_free(&obj, false);
    bw_buf_free(&plain, true);
    return rc;
}

enum bw_rc bw_keystore_restore(const struct bw_backup_env *env, struct bw_backup_target *t,
                               const char *kind, const char *target, const char *dir,
                               char *from, size_t fromcap, char *why, size_t whylen)
{
    char tmp[4096];
    int64_t live_keys = 0;
    enum bw_rc rc = scratch(dir, "keys-restore", tmp, sizeof(tmp));
    bool live = rc == BW_OK && env->store != NULL &&
                strcmp(bw_store_driver(env->store), kind) == 0 &&
                bw_store_read(env->store, count_fn, &live_keys) == BW_OK && live_keys > 0;
    if (rc == BW_OK && live) {
        rc = bw_store_keys_snapshot(env->store, tmp, why, whylen);
        snprintf(from, fromcap, "live");
    } else if (rc == BW_OK) {
        rc = from_backup(env, t, kind, tmp, from, fromcap, why, whylen);
    }
    if (rc == BW_OK)
        rc = bw_store_keys_load(target, tmp, why, whylen);
    (void)unlink(tmp); /* gone after a rename; a leftover copy never stays */
    return rc;
}

enum bw_rc bw_keystore_sweep(const char *target, unsigned *removed, char *why, size_t whylen)
{
    struct bw_store *st = NULL;
    struct bw_store_opts so = {.pool_size = 1};
    enum bw_rc rc = bw_store_open(target, &so, &st, why, whylen);
    if (rc == BW_OK)
        rc = bw_retention_keyless(st, removed); /* CONTROL: C6 - purged stays purged */
    if (rc == BW_OK)
        rc = bw_store_checkpoint(st) == BW_ERR_BUSY ? BW_ERR_BUSY : BW_OK;
    if (rc != BW_OK && why[0] == '\0')
        bw_why(why, whylen, "removing records whose keys are destroyed: %s", bw_rc_str(rc));
    bw_store_close(st);
    return rc;
}
