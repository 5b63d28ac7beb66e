/*
 * cmd_serve.c - `bulwark serve`, `bulwark migrate` and `bulwark config`.
 *
 * serve: checks the data directory, loads configuration, TLS certificate and
 * keys (refusing key files readable by group/other), binds the port, opens
 * the store and checks its schema; then drops root for --user, sets
 * no-new-privs and non-dumpable, starts the HTTPS workers and waits for
 * SIGTERM/SIGINT to stop gracefully. Every refusal is one clear line.
 */
#include "cli/cli_int.h"
#include "compliance/compliance.h"
#include "audit/audit.h"
#include "auth/auth.h"
#include "backup/backup.h"
#include "crypto/crypto.h"
#include "data/data.h"
#include "http/http.h"
#include "incident/incident.h"
#include "store/store.h"
#include "sys/sys.h"

#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { PEM_MAX = 64 * 1024 };

struct serve_state {
    struct bw_config cfg;
    bool cfg_loaded;
    struct bw_keyring *keyring;
    struct bw_store *store;
    char *cert_pem;
    char *key_pem; /* sodium_malloc */
    int fd;
};

static enum bw_rc load_pem(const char *data_dir, const char *rel, bool secret, char **out)
{
    char path[4096], why[512] = "";
    size_t len = 0;
    enum bw_rc rc = rel[0] == '/' ? (snprintf(path, sizeof(path), "%s", rel) < (int)sizeof(path)
                                         ? BW_OK
                                         : BW_ERR_TOOBIG)
                                  : bw_sys_path(path, sizeof(path), data_dir, rel);
    char *buf = secret ? sodium_malloc(PEM_MAX + 1) : bw_malloc(PEM_MAX + 1);
    if (buf == NULL)
        return BW_ERR_NOMEM;
    if (rc == BW_OK)
        rc = bw_sys_read_file(path, buf, PEM_MAX, &len, secret, why, sizeof(why));
    if (rc != BW_OK) {
        bw_cli_error("%s", why[0] ? why : bw_rc_str(rc));
        if (secret)
            sodium_free(buf);
        else
            bw_free(buf);
        return rc;
    }
    buf[len] = '\0';
    *out = buf;
    return BW_OK;
}

static void state_cleanup(struct serve_state *s)
{
    bw_store_close(s->store);
    bw_keyring_free(s->keyring);
    sodium_free(s->key_pem);
    bw_free(s->cert_pem);
    if (s->fd >= 0)
        close(s->fd);
    if (s->cfg_loaded)
        bw_config_cleanup(&s->cfg);
}

/* Root: optionally drop to --user; everybody: no-new-privs, non-dumpable. */
static enum bw_rc reduce_privileges(struct bw_cli *cli, const char *user)
{
    char why[512] = "";
    uid_t uid;
    gid_t gid;
    struct stat st;
    if (user != NULL && geteuid() != 0) {
        bw_cli_error("--user needs the server to be started as root");
        return BW_ERR_PERM;
    }
    if (user != NULL) {
        enum bw_rc rc = bw_sys_lookup_user(user, &uid, &gid, why, sizeof(why));
        if (rc == BW_OK && (stat(cli->data_dir, &st) != 0 || st.st_uid != uid)) {
            bw_why(why, sizeof(why), "data directory %s must be owned by %s: chown -R %s %s",
                   cli->data_dir, user, user, cli->data_dir);
            rc = BW_ERR_PERM;
        }
        if (rc == BW_OK)
            rc = bw_sys_drop_privileges(uid, gid, why, sizeof(why));
        if (rc != BW_OK) {
            bw_cli_error("%s", why);
            return rc;
        }
    } else if (geteuid() == 0) {
        bw_log(BW_LOG_WARN, "server.root", "running as root; use --user to drop privileges");
    }
    enum bw_rc rc = bw_sys_harden(why, sizeof(why));
    if (rc != BW_OK)
        bw_cli_error("%s", why);
    return rc;
}

static enum bw_rc parse_serve_opts(struct bw_cli *cli, int argc, char **argv, const char **listen,
                                   const char **user)
{
    for (int i = 1; i < argc; i++) {
        int r;
        if ((r = bw_cli_take(argc, argv, &i, "--listen", listen)) != 0 ||
            (r = bw_cli_take(argc, argv, &i, "--user", user)) != 0) {
            if (r < 0)
                return bw_cli_usage(cli, "option %s needs a value", argv[i]);
            continue;
        }
        return bw_cli_usage(cli, "unknown option '%s'", argv[i]);
    }
    return BW_OK;
}

static enum bw_rc prepare(struct bw_cli *cli, struct serve_state *s, const char *listen)
{
    char why[512] = "", keys[4096];
    enum bw_rc rc = bw_sys_check_private_dir(cli->data_dir, why, sizeof(why));
    if (rc != BW_OK) {
        bw_cli_error("%s", why);
        return rc;
    }
    rc = bw_cli_load_config(cli, &s->cfg);
    if (rc != BW_OK)
        return rc;
    s->cfg_loaded = true;
    if (listen != NULL) {
        struct bw_config_err err = {{0}};
        char assign[512];
        snprintf(assign, sizeof(assign), "server.listen=%s", listen);
        rc = bw_config_set_arg(&s->cfg, assign, &err);
        if (rc != BW_OK)
            return bw_cli_usage(cli, "--listen: expected ADDRESS:PORT");
    }
    rc = load_pem(cli->data_dir, s->cfg.tls_cert, false, &s->cert_pem);
    if (rc == BW_OK)
        rc = load_pem(cli->data_dir, s->cfg.tls_key, true, &s->key_pem);
    if (rc == BW_OK)
        rc = bw_sys_path(keys, sizeof(keys), cli->data_dir, "keys");
    if (rc == BW_OK && (rc = bw_keyring_load(keys, &s->keyring, why, sizeof(why))) != BW_OK)
        bw_cli_error("%s", why);
    if (rc == BW_OK &&
        (rc = bw_http_bind(s->cfg.listen_host, s->cfg.listen_port, &s->fd, why, sizeof(why))) !=
            BW_OK)
        bw_cli_error("%s", why);
    if (rc == BW_OK)
        rc = bw_cli_open_store(cli, &s->cfg, (unsigned)s->cfg.pool_size, true, &s->store);
    return rc;
}

static int wait_for_signal(void)
{
    sigset_t set;
    int sig = 0;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    do {
        if (sigwait(&set, &sig) != 0)
            return SIGTERM;
        if (sig == SIGHUP)
            bw_log(BW_LOG_INFO, "server.sighup", "configuration reload is not supported; "
                                                 "restart to apply changes");
    } while (sig == SIGHUP);
    return sig;
}

enum bw_rc bw_cmd_serve(struct bw_cli *cli, int argc, char **argv)
{
    struct serve_state s = {.fd = -1};
    const char *listen = NULL, *user = NULL;
    struct bw_http_server *srv = NULL;
    char why[512] = "";
    enum bw_rc rc = parse_serve_opts(cli, argc, argv, &listen, &user);
    if (rc != BW_OK)
        return rc;
    /* block the stop signals in every thread; main collects them with sigwait */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    bw_pwhash_init(0); /* CONTROL: AUTH-05 - hashing bounded to one slot per core */
    rc = prepare(cli, &s, listen);
    if (rc == BW_OK)
        rc = reduce_privileges(cli, user);
    struct bw_http_deps deps = {
        .cfg = &s.cfg, .store = s.store, .keyring = s.keyring, .data_dir = cli->data_dir};
    if (rc == BW_OK) {
        rc = bw_http_start(&deps, s.fd, s.cert_pem, s.key_pem, &srv, why, sizeof(why));
        if (rc == BW_OK)
            s.fd = -1; /* the server owns the socket now */
        else
            bw_cli_error("%s", why);
    }
    if (rc != BW_OK) {
        state_cleanup(&s);
        return rc;
    }
    /* audit trail (issue 5): chain pre-0004 events, then checkpoints, syslog and retention */
    struct bw_audit_settings aset;
    struct bw_audit_timer *atimer = NULL;
    bw_cli_audit_settings(cli, &s.cfg, &aset);
    if (bw_audit_adopt_legacy(s.store, NULL) != BW_OK ||
        bw_audit_timer_start(s.store, s.keyring, &aset, &atimer) != BW_OK)
        bw_log(BW_LOG_ERROR, "audit.timer_failed", "audit checkpoints are not being signed");
    /* CONTROL: LOG-04 - a configuration change since the last start is an event */
    if (bw_cli_audit_config(s.store, s.keyring, &s.cfg) != BW_OK)
        bw_log(BW_LOG_ERROR, "config.audit_failed", "cannot record the effective configuration");
    /* issue 7: detection, clocks, feed scan and notification delivery, off the request threads */
    struct bw_incident_worker *worker = NULL;
    if ((rc = bw_incident_worker_start(s.store, &s.cfg, cli->data_dir, &worker)) != BW_OK) {
        bw_cli_error("cannot start the incident worker: %s", bw_rc_str(rc));
        bw_http_stop(srv, 0);
        bw_audit_timer_stop(atimer);
        state_cleanup(&s);
        return rc;
    }
    sodium_free(s.key_pem); /* GnuTLS holds its own copy now */
    s.key_pem = NULL;
    /* backups (issue 6): change log + schedule; a backup problem never stops serving */
    struct bw_backup_sched *bsched = NULL;
    if (bw_backup_sched_start(&s.cfg, s.store, s.keyring, cli->data_dir, &bsched, why,
                              sizeof(why)) != BW_OK)
        bw_log(BW_LOG_ERROR, "backup.failed", "scheduled backups are not running: %s", why);
    /* compliance (check): every control once a day, stored as an assessment (G-11) */
    struct bw_compliance_timer *ctimer = NULL;
    struct bw_compliance_env cenv = {
        .cfg = &s.cfg, .store = s.store, .kr = s.keyring, .data_dir = cli->data_dir};
    if (bw_compliance_timer_start(&cenv, s.cfg.compliance_interval, s.cfg.compliance_first_delay,
                                  &ctimer) != BW_OK)
        bw_log(BW_LOG_ERROR, "compliance.failed", "scheduled compliance checks are not running");
    bw_log(BW_LOG_INFO, "server.started",
           "listening on https://%s%s%s:%u (store %s, pid %ld)",
           strchr(s.cfg.listen_host, ':') ? "[" : "", s.cfg.listen_host,
           strchr(s.cfg.listen_host, ':') ? "]" : "", s.cfg.listen_port,
           bw_store_driver(s.store), (long)getpid());
    struct bw_retention *purge = NULL; /* records: the deletion lifecycle's purge job */
    if (bw_retention_start(s.store, &s.cfg, &purge) != BW_OK)
        bw_log(BW_LOG_ERROR, "retention.start", "cannot start the purge job");
    int sig = wait_for_signal();
    bw_log(BW_LOG_INFO, "server.stopping", "signal %d: finishing requests in flight", sig);
    bw_retention_stop(purge);
    bw_http_stop(srv, 10000);
    bw_audit_timer_stop(atimer); /* after the last request: the final checkpoint covers it */
    bw_incident_worker_stop(worker);
    bw_backup_sched_stop(bsched);
    bw_compliance_timer_stop(ctimer);
    state_cleanup(&s);
    bw_log(BW_LOG_INFO, "server.stopped", "clean shutdown");
    return BW_OK;
}

enum bw_rc bw_cmd_migrate(struct bw_cli *cli, int argc, char **argv)
{
    struct bw_config cfg;
    struct bw_store *st = NULL;
    int version = 0;
    if (argc > 1)
        return bw_cli_usage(cli, "unexpected argument '%s'", argv[1]);
    enum bw_rc rc = bw_cli_load_config(cli, &cfg);
    if (rc != BW_OK)
        return rc;
    rc = bw_cli_open_store(cli, &cfg, 1, false, &st);
    if (rc == BW_OK && (rc = bw_store_migrate(st, &version)) != BW_OK)
        bw_cli_error("migration failed: %s", bw_rc_str(rc));
    if (rc == BW_OK)
        printf(cli->json ? "{\"schema_version\":%d}\n" : "schema version %d\n", version);
    bw_store_close(st);
    bw_config_cleanup(&cfg);
    return rc;
}

enum bw_rc bw_cmd_config(struct bw_cli *cli, int argc, char **argv)
{
    struct bw_config cfg;
    struct bw_buf out;
    if (argc > 1)
        return bw_cli_usage(cli, "unexpected argument '%s'", argv[1]);
    enum bw_rc rc = bw_cli_load_config(cli, &cfg);
    if (rc != BW_OK)
        return rc;
    bw_buf_init(&out, 1 << 20);
    rc = bw_config_render(&cfg, true, &out);
    if (rc == BW_OK)
        fwrite(out.data, 1, out.len, stdout);
    bw_buf_free(&out, false);
    bw_config_cleanup(&cfg);
    return rc;
}
