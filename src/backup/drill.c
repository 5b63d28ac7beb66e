/*
 * drill.c - the restore drill (BCK-06..08): restores the latest point into
 * a scratch directory inside the data directory, opens it, checks store
 * integrity, schema and row counts, verifies the restored audit chain
 * (`bulwark audit verify` on the restored directory), then starts
 * `bulwark serve` on it on a free loopback port and waits for the first
 * successful HTTPS GET /healthz, verified against the restored TLS
 * certificate. The time from the start of the drill to that answer is the
 * RTO (BCK-08). The result is recorded as the meta key backup.last_drill and
 * the audit event backup.drill in one transaction; then the instance is
 * stopped and the scratch directory removed.
 *
 * Trusts: the restored directory only as far as restore checked it. The
 * scratch instance runs with backups switched off (it must never write to
 * the real target) and listens on 127.0.0.1 only. Never: leaves the scratch
 * instance running or the scratch directory behind.
 */
#include "backup/backup_int.h"
#include "audit/audit.h"
#include "store/store.h"
#include "sys/sys.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define SERVE_WAIT_MS 60000 /* the scratch instance must answer within a minute */
#define STOP_WAIT_MS 10000

struct counts {
    int64_t users, meta;
};

static enum bw_rc count_row(void *arg, const struct bw_row *row)
{
    (void)row;
    ((struct counts *)arg)->users++;
    return BW_OK;
}

static enum bw_rc meta_row(void *arg, const struct bw_row *row)
{
    ((struct counts *)arg)->meta = bw_row_int(row, 0);
    return BW_OK;
}

static enum bw_rc count_fn(struct bw_tx *tx, void *arg)
{
    struct bw_val lim[] = {BW_VINT(INT32_MAX)}, pre[] = {BW_VTEXT("")};
    enum bw_rc rc = bw_tx_query(tx, BW_STMT_USER_LIST, lim, 1, count_row, arg);
    if (rc == BW_OK)
        rc = bw_tx_query(tx, BW_STMT_META_COUNT_LIKE, pre, 1, meta_row, arg);
    return rc;
}

struct drill_rec {
    const struct bw_backup_env *env;
    json_t *result;
};

static enum bw_rc record_fn(struct bw_tx *tx, void *arg)
{
    struct drill_rec *d = arg;
    struct bw_audit_ctx ctx = {.remote = "-", .request_id = "-"};
    char *text = json_dumps(d->result, JSON_COMPACT);
    enum bw_rc rc = text != NULL ? bw_store_meta_put(tx, "backup.last_drill", text)
                                 : BW_ERR_NOMEM;
    bw_free(text);
    if (rc == BW_OK) {
        json_incref(d->result);
        rc = bw_audit_append(tx, &ctx, d->env->actor, "backup.drill", "drill",
                             BW_AUDIT_SUCCESS, d->result);
    }
    return rc;
}

/* Store integrity, schema, row counts and the audit chain of the restored
 * directory (the same check as `bulwark --data-dir DIR audit verify`). */
static enum bw_rc check_restored(const struct bw_backup_env *env, const char *dir,
                                 const char *database, struct counts *c, int *schema, struct bw_audit_report *rep,
                                 char *why, size_t whylen)
{
    char db[4096], pub[4096];
    struct bw_store *st = NULL;
    struct bw_store_opts so = {.pool_size = 1};
    struct bw_audit_settings s = {.data_dir = dir,
                                  .checkpoint_interval = env->cfg->audit_checkpoint_interval,
                                  .checkpoint_events = env->cfg->audit_checkpoint_events,
                                  .retention = env->cfg->retention_audit,
                                  .syslog = ""};
    uint8_t pk[BW_SIGN_PUBLIC_BYTES];
    int want = 0;
    enum bw_rc rc = database != NULL
                        ? (snprintf(db, sizeof(db), "%s", database) < (int)sizeof(db) ? BW_OK
                                                                                       : BW_ERR_TOOBIG)
                        : bw_sys_path(db, sizeof(db), dir, "db/bulwark.db");
    if (rc == BW_OK)
        rc = bw_sys_path(pub, sizeof(pub), dir, "keys/audit-signing.pub");
    if (rc == BW_OK)
        rc = bw_sign_load_public(pub, pk, why, whylen);
    if (rc == BW_OK)
        rc = bw_store_open(db, &so, &st, why, whylen);
    if (rc == BW_OK)
        rc = bw_store_check(st, why, whylen);
    if (rc == BW_OK)
        rc = bw_store_schema_version(st, schema, &want);
    if (rc == BW_OK && *schema != want) {
        bw_why(why, whylen, "restored schema version %d, this binary needs %d", *schema, want);
        rc = BW_ERR_SCHEMA;
    }
    if (rc == BW_OK)
        rc = bw_store_read(st, count_fn, c);
    if (rc == BW_OK)
        rc = bw_audit_verify(st, env->kr, pk, &s, rep);
    if (rc == BW_OK && !rep->ok) {
        bw_why(why, whylen, "the restored audit trail does not verify: event %lld: %s",
               (long long)rep->first_bad, rep->reason);
        rc = BW_ERR_CONFLICT;
    }
    bw_store_close(st);
    return rc;
}

/* ---- the scratch instance --------------------------------------------------------- */

static enum bw_rc free_port(uint16_t *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    enum bw_rc rc = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
                            getsockname(fd, (struct sockaddr *)&a, &al) == 0
                        ? BW_OK
                        : BW_ERR_IO;
    if (fd >= 0)
        close(fd);
    if (rc == BW_OK)
        *port = ntohs(a.sin_port);
    return rc;
}

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n;
}

/* One HTTPS GET /healthz, the restored certificate as the only trust anchor. */
static bool healthz_ok(const char *url, const char *ca)
{
    long status = 0;
    CURL *c = curl_easy_init();
    if (c == NULL)
        return false;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(c, CURLOPT_CAINFO, ca);
    curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_3);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 2000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    bool ok = curl_easy_perform(c) == CURLE_OK &&
              curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK &&
              status == 200;
    curl_easy_cleanup(c);
    return ok;
}

static void stop_child(pid_t pid)
{
    int st = 0;
    kill(pid, SIGTERM);
    for (int i = 0; i < STOP_WAIT_MS / 50; i++) {
        if (waitpid(pid, &st, WNOHANG) == pid)
            return;
        usleep(50000);
    }
    kill(pid, SIGKILL);
    (void)waitpid(pid, &st, 0);
}

/* why = prefix + the last line the scratch instance logged (it is removed). */
static void log_tail(const char *path, char *why, size_t whylen, const char *prefix)
{
    char buf[4096];
    size_t len = 0;
    char w[128];
    if (bw_sys_read_file(path, buf, sizeof(buf) - 1, &len, false, w, sizeof(w)) != BW_OK)
        len = 0;
    buf[len] = '\0';
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        buf[--len] = '\0';
    char *last = strrchr(buf, '\n');
    bw_why(why, whylen, "%s: %s", prefix, last != NULL ? last + 1 : buf);
}

/* Starts `bulwark serve` on dir (backups off, loopback, log to dir/drill-serve.log)
 * and waits for the first 200 from /healthz; stops it again. */
static enum bw_rc serve_probe(const char *dir, char *why, size_t whylen)
{
    char exe[4096], ca[4096], logp[4096], listen[64], url[96];
    uint16_t port = 0;
    pid_t pid = -1;
    posix_spawn_file_actions_t fa;
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    enum bw_rc rc = n > 0 && (size_t)n < sizeof(exe) - 1 ? BW_OK : BW_ERR_IO;
    if (rc == BW_OK) {
        exe[n] = '\0';
        rc = bw_sys_path(ca, sizeof(ca), dir, "tls/cert.pem");
    }
    if (rc == BW_OK)
        rc = bw_sys_path(logp, sizeof(logp), dir, "drill-serve.log");
    if (rc == BW_OK)
        rc = free_port(&port);
    if (rc != BW_OK) {
        bw_why(why, whylen, "cannot prepare the scratch instance: %s", bw_rc_str(rc));
        return rc;
    }
    /* the scratch instance's change log goes to a target inside the scratch
     * directory: never to the real targets, and removed with it */
    char abs[PATH_MAX], tdir[4096], tgt[4200];
    if (realpath(dir, abs) == NULL || bw_sys_path(tdir, sizeof(tdir), abs, "drill-target") ||
        bw_sys_mkdir_private(tdir, why, whylen) != BW_OK)
        return BW_ERR_IO;
    snprintf(tgt, sizeof(tgt), "backup.target=dir:%s", tdir);
    snprintf(listen, sizeof(listen), "127.0.0.1:%u", (unsigned)port);
    snprintf(url, sizeof(url), "https://127.0.0.1:%u/healthz", (unsigned)port);
    char *argv[] = {exe,  "--data-dir", (char *)dir, "-o", tgt, "-o", "backup.full=off", "-o",
                    "backup.incremental=off", "-o", "backup.copy_target=", "serve",
                    "--listen", listen, NULL};
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, logp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    int e = posix_spawn(&pid, exe, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (e != 0) {
        bw_why(why, whylen, "cannot start the scratch instance: %s", strerror(e));
        return BW_ERR_IO;
    }
    rc = BW_ERR_BUSY;
    for (int i = 0; i < SERVE_WAIT_MS / 50 && rc == BW_ERR_BUSY; i++) {
        int st = 0;
        if (healthz_ok(url, ca)) {
            rc = BW_OK;
        } else if (waitpid(pid, &st, WNOHANG) == pid) {
            pid = -1;
            log_tail(logp, why, whylen, "the scratch instance exited before answering");
            rc = BW_ERR_IO;
        } else {
            usleep(50000);
        }
    }
    if (rc == BW_ERR_BUSY)
        bw_why(why, whylen, "the scratch instance did not answer GET /healthz within %d s",
               SERVE_WAIT_MS / 1000);
    if (pid > 0)
        stop_child(pid);
    return rc;
}

/* The scratch directory and whatever the scratch instance wrote into it. */
static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *f)
{
    (void)sb;
    (void)f;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static void remove_scratch(const char *dir)
{
    if (nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
        bw_log(BW_LOG_WARN, "backup.drill", "cannot remove the scratch directory %s", dir);
}

/* ---- the drill -------------------------------------------------------------------- */

/* PostgreSQL drills restore into a scratch database given with --database.
 * The restore itself refuses one that is not empty (so never the live one)
 * and empties it again when it refuses. */
static enum bw_rc scratch_database(const struct bw_backup_env *env, const char *database,
                                   char *why, size_t whylen)
{
    if (strcmp(bw_store_driver(env->store), "sqlite") == 0) {
        if (database == NULL)
            return BW_OK;
        bw_why(why, whylen, "--database belongs to drills of PostgreSQL stores");
        return BW_ERR_INVALID;
    }
    if (database == NULL) {
        bw_why(why, whylen, "a drill of a PostgreSQL store restores into a scratch database: "
               "give --database with the URL of an empty database (docs/RESTORE.md)");
        return BW_ERR_INVALID;
    }
    return BW_OK;
}

enum bw_rc bw_backup_drill(const struct bw_backup_env *env, struct bw_backup_target *t,
                           const char *database, json_t **out, char *why, size_t whylen)
{
    char scratch[4096], name[64], id[BW_ID_LEN + 1];
    json_t *restored = NULL;
    struct counts c = {0};
    struct bw_audit_report rep = {0};
    int schema = 0;
    uint64_t t0 = bw_time_mono_ns(), t_restored = 0, t_checked = 0;
    enum bw_rc rc = scratch_database(env, database, why, whylen);
    if (rc != BW_OK) {
        (void)bw_backup_audit(env, "backup.failed", "drill", false,
                              json_pack("{s:s}", "reason", why));
        return rc;
    }
    bw_id_new(id);
    snprintf(name, sizeof(name), "backup/drill-%s", id);
    rc = bw_sys_path(scratch, sizeof(scratch), env->data_dir, name);
    struct bw_restore_opts o = {.to = scratch, .at_ms = -1, .database = database};
    bool made = false;
    if (rc == BW_OK) {
        rc = bw_backup_restore(env, t, &o, &restored, why, whylen);
        made = rc == BW_OK;
        t_restored = bw_time_mono_ns();
    }
    if (rc == BW_OK) {
        rc = check_restored(env, scratch, database, &c, &schema, &rep, why, whylen);
        t_checked = bw_time_mono_ns();
    }
    if (rc == BW_OK)
        rc = serve_probe(scratch, why, whylen); /* CONTROL: BCK-08 */
    int64_t rto_ms = (int64_t)((bw_time_mono_ns() - t0) / 1000000);
    char wipe_why[512] = "";
    if (made)
        remove_scratch(scratch);
    if (made && database != NULL &&
        bw_store_scratch_wipe(database, wipe_why, sizeof(wipe_why)) != BW_OK) {
        bw_log(BW_LOG_ERROR, "backup.drill", "cannot empty the scratch database: %s", wipe_why);
        if (rc == BW_OK) {
            bw_why(why, whylen, "cannot empty the scratch database: %s", wipe_why);
            rc = BW_ERR_STORE;
        }
    }
    if (rc == BW_OK) {
        int64_t point = json_integer_value(json_object_get(restored, "point_ms"));
        char now[21];
        bw_time_format(bw_time_now(), now);
        json_t *r = json_pack(
            "{s:s, s:s, s:O, s:O, s:I, s:I, s:I, s:I, s:i, s:I, s:I, s:s, s:{s:b, s:I, s:I}, "
            "s:s}",
            "result", "ok", "at", now, "backup", json_object_get(restored, "backup"), "point",
            json_object_get(restored, "point"), "rpo_s",
            (json_int_t)((bw_time_now_ms() - point) / 1000), "rto_ms", (json_int_t)rto_ms,
            "restore_ms", (json_int_t)((t_restored - t0) / 1000000), "check_ms",
            (json_int_t)((t_checked - t_restored) / 1000000), "schema_version", schema, "users",
            (json_int_t)c.users, "meta_rows", (json_int_t)c.meta, "integrity", "ok",
            "audit_verify", "ok", rep.ok, "events", (json_int_t)rep.events, "last_seq",
            (json_int_t)rep.last_seq, "first_request", "GET /healthz 200 over TLS 1.3");
        struct drill_rec d = {env, r};
        rc = r != NULL ? bw_store_write(env->store, record_fn, &d) : BW_ERR_NOMEM;
        if (rc == BW_OK)
            *out = r;
        else
            json_decref(r);
    } else {
        (void)bw_backup_audit(env, "backup.failed", "drill", false,
                              json_pack("{s:s}", "reason", why));
    }
    json_decref(restored);
    return rc;
}
