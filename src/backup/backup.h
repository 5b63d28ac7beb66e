/*
 * backup.h - encrypted backups and point-in-time restore (issue 6; CONTROLS
 * BCK-01..08, CRY-03, DATA-07, G-10).
 *
 * A backup set lives on a target ("dir:/path" or "sftp://user@host[:port]/path")
 * as content-addressed chunks, sealed manifests and sealed change-log
 * segments (docs/BACKUP-FORMAT.md). Everything written there is AES-256-GCM
 * under keys that only the keyring holds; names are keyed hashes or random.
 * A manifest is written last and atomically: a backup that is not listed
 * does not exist, whatever chunks an interrupted run left behind.
 *
 * Ownership: functions borrow their arguments; *out objects belong to the
 * caller (free with the matching _free / json_decref).
 */
#ifndef BW_BACKUP_H
#define BW_BACKUP_H

#include "core/core.h"

struct bw_store;
struct bw_keyring;
struct bw_backup_target;
struct bw_log_shipper;
struct json_t;

enum bw_backup_kind { BW_BACKUP_FULL, BW_BACKUP_INCREMENTAL };

/* Progress of long work (bytes done of total); may be NULL. */
typedef void (*bw_backup_progress_fn)(void *arg, const char *what, uint64_t done,
                                      uint64_t total);

struct bw_backup_env {
    const struct bw_config *cfg;
    struct bw_store *store;        /* the live store */
    const struct bw_keyring *kr;
    const char *data_dir;
    const char *actor;             /* audit actor: "cli" or "system" */
    bw_backup_progress_fn progress;
    void *progress_arg;
    const char *log_stream;        /* the running change log's stream id, or NULL */
    /* the running change log (inside serve, on its scheduler thread), or
     * NULL: with it an incremental backup is built from the changes since
     * its parent instead of a new snapshot (docs/BACKUP-FORMAT.md) */
    struct bw_log_shipper *log;
};

/* Opens a target from its configuration string. Pinned SFTP host keys come
 * from data_dir/backup/known_hosts. */
BW_MUST_CHECK enum bw_rc bw_backup_target_open(const char *spec, const char *data_dir,
                                               struct bw_backup_target **out, char *why,
                                               size_t whylen);
void bw_backup_target_close(struct bw_backup_target *t); /* accepts NULL */
/* The local directory of a dir: target (NULL for remote targets). */
const char *bw_backup_target_local(const struct bw_backup_target *t);

/* Takes a backup of the whole store; *out describes it (a JSON object). A
 * second target (BCK-02) receives a copy when `copy` is not NULL: every new
 * object is written to both and read back from the copy. */
BW_MUST_CHECK enum bw_rc bw_backup_run(const struct bw_backup_env *env,
                                       struct bw_backup_target *t, struct bw_backup_target *copy,
                                       enum bw_backup_kind kind, struct json_t **out, char *why,
                                       size_t whylen);
/* Lists complete backups, oldest first (array of objects). */
BW_MUST_CHECK enum bw_rc bw_backup_list(const struct bw_keyring *kr, struct bw_backup_target *t,
                                        struct json_t **out, char *why, size_t whylen);
/* Re-reads every object of one backup (name) or of all backups and log
 * segments (name NULL): authentication, structure, content addresses.
 * BW_ERR_CRYPTO/BW_ERR_INVALID name the damaged object in why. */
BW_MUST_CHECK enum bw_rc bw_backup_verify(const struct bw_backup_env *env,
                                          struct bw_backup_target *t, const char *name,
                                          struct json_t **out, char *why, size_t whylen);

struct bw_restore_opts {
    const char *to;       /* new data directory; must not exist */
    const char *name;     /* a backup name, or NULL */
    int64_t at_ms;        /* point in time, or -1 for the latest restorable point */
    const char *database; /* PostgreSQL: an EMPTY database URL to restore into */
};
/* Builds a new data directory from a backup (never touches the live one):
 * keys and TLS files are copied from env->data_dir, configuration and data
 * come from the backup. Refuses corrupted input naming the object. */
BW_MUST_CHECK enum bw_rc bw_backup_restore(const struct bw_backup_env *env,
                                           struct bw_backup_target *t,
                                           const struct bw_restore_opts *o, struct json_t **out,
                                           char *why, size_t whylen);
/* Applies [retention]: removes backups past their age that no retained
 * backup needs, chunks nothing references, and log segments past backup_log;
 * each removal audited. */
BW_MUST_CHECK enum bw_rc bw_backup_prune(const struct bw_backup_env *env,
                                         struct bw_backup_target *t, struct json_t **out,
                                         char *why, size_t whylen);
/* Restore drill (BCK-06..08): restores the latest point into a scratch
 * directory inside data_dir, opens it, checks integrity and row counts,
 * records RPO and RTO in the live store (audited), removes the scratch.
 * PostgreSQL: `database` is the URL of an EMPTY scratch database (refused
 * otherwise), emptied again after the drill. */
BW_MUST_CHECK enum bw_rc bw_backup_drill(const struct bw_backup_env *env,
                                         struct bw_backup_target *t, const char *database,
                                         struct json_t **out, char *why, size_t whylen);

/* ---- inside `bulwark serve`: change log and schedule -------------------- */
struct bw_backup_sched;
/* Starts the change-log shipper (SQLite) and the scheduler thread per
 * [backup] and [retention]. The store, keyring and config must outlive it. */
BW_MUST_CHECK enum bw_rc bw_backup_sched_start(const struct bw_config *cfg,
                                               struct bw_store *store,
                                               const struct bw_keyring *kr,
                                               const char *data_dir,
                                               struct bw_backup_sched **out, char *why,
                                               size_t whylen);
void bw_backup_sched_stop(struct bw_backup_sched *s); /* ships what is left; accepts NULL */

/* Parses a schedule value: "weekly", "daily", "hourly", a duration ("6h"),
 * or "off"; *seconds = 0 for off. */
BW_MUST_CHECK enum bw_rc bw_backup_parse_every(const char *s, int64_t *seconds);

/* Manifest text parser (exposed for the fuzzer and unit tests): validates a
 * decrypted manifest's JSON; *out receives the parsed object. */
struct bw_manifest;
BW_MUST_CHECK enum bw_rc bw_manifest_parse(const char *text, size_t len,
                                           struct bw_manifest **out);
void bw_manifest_free(struct bw_manifest *m);
/* Renders a parsed manifest back to JSON text (caller frees with bw_free). */
BW_MUST_CHECK enum bw_rc bw_manifest_render(const struct bw_manifest *m, char **out,
                                            size_t *len);

#endif
