/*
 * cmd_init.c - `bulwark init`: creates the data directory of SPEC 2. Work
 * happens in a private temporary directory next to the target which is
 * renamed into place at the end, so a failed init leaves nothing behind and
 * an existing data directory is never touched. Keys come from the system
 * RNG; files are 0600 and directories 0700 (CONTROL: AC-02, G-09).
 */
#include "cli/cli_int.h"
#include "crypto/crypto.h"
#include "store/store.h"
#include "sys/sys.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct init_opts {
    const char *database;
    const char *hostname;
    const char *listen;
};

static enum bw_rc parse_opts(struct bw_cli *cli, int argc, char **argv, struct init_opts *o)
{
    for (int i = 1; i < argc; i++) {
        int r;
        if ((r = bw_cli_take(argc, argv, &i, "--database", &o->database)) != 0 ||
            (r = bw_cli_take(argc, argv, &i, "--hostname", &o->hostname)) != 0 ||
            (r = bw_cli_take(argc, argv, &i, "--listen", &o->listen)) != 0) {
            if (r < 0)
                return bw_cli_usage(cli, "option %s needs a value", argv[i]);
            continue;
        }
        return bw_cli_usage(cli, "unknown option '%s'", argv[i]);
    }
    for (const char *h = o->hostname; *h != '\0'; h++) {
        if (!((*h >= 'a' && *h <= 'z') || (*h >= 'A' && *h <= 'Z') || (*h >= '0' && *h <= '9') ||
              *h == '.' || *h == '-'))
            return bw_cli_usage(cli, "--hostname must be a DNS name");
    }
    return BW_OK;
}

/* Writes bulwark.conf: the full effective configuration, so every key and
 * its policy default is visible and editable. */
static enum bw_rc write_config(struct bw_cli *cli, const char *dir, struct bw_config *cfg,
                               const struct init_opts *o)
{
    struct bw_config_err err = {{0}};
    struct bw_buf text;
    char path[4096], assign[4200];
    enum bw_rc rc = BW_OK;
    bw_buf_init(&text, 1 << 20);
    if (o->database != NULL) {
        snprintf(assign, sizeof(assign), "database.url=%s", o->database);
        rc = bw_config_set_arg(cfg, assign, &err);
    }
    if (rc == BW_OK && o->listen != NULL) {
        snprintf(assign, sizeof(assign), "server.listen=%s", o->listen);
        rc = bw_config_set_arg(cfg, assign, &err);
    }
    for (size_t i = 0; rc == BW_OK && i < cli->noverrides; i++)
        rc = bw_config_set_arg(cfg, cli->overrides[i], &err);
    if (rc != BW_OK) {
        bw_cli_error("%s", err.msg);
        goto out;
    }
    rc = bw_buf_appends(&text, "# Bulwark configuration (SPEC 3). Every key can also be set\n"
                               "# as BULWARK_<SECTION>_<KEY> in the environment.\n"
                               "# Durations take units (90s, 15m, 12h, 30d, 2y); sizes too (1MiB).\n"
                               "# Defaults are the adopted security policy's values.\n\n");
    if (rc == BW_OK)
        rc = bw_config_render(cfg, false, &text);
    if (rc == BW_OK)
        rc = bw_sys_path(path, sizeof(path), dir, "bulwark.conf");
    char why[512] = "";
    if (rc == BW_OK)
        rc = bw_sys_write_private(path, text.data, text.len, false, why, sizeof(why));
    if (rc != BW_OK)
        bw_cli_error("cannot write configuration: %s", why[0] ? why : bw_rc_str(rc));
out:
    bw_buf_free(&text, true);
    return rc;
}

struct meta_init {
    char installation[BW_ID_LEN + 1];
    bool existing;
};

static enum bw_rc meta_init_fn(struct bw_tx *tx, void *arg)
{
    struct meta_init *m = arg;
    struct bw_buf cur;
    char now[21];
    bw_buf_init(&cur, 256);
    enum bw_rc rc = bw_store_meta_get(tx, "installation_id", &cur);
    bw_buf_free(&cur, false);
    if (rc == BW_OK) {
        m->existing = true;
        return BW_ERR_EXISTS;
    }
    if (rc != BW_ERR_NOTFOUND)
        return rc;
    bw_time_format(bw_time_now(), now);
    rc = bw_store_meta_put(tx, "installation_id", m->installation);
    if (rc == BW_OK)
        rc = bw_store_meta_put(tx, "created_at", now);
    if (rc == BW_OK)
        rc = bw_store_meta_put(tx, "created_by_version", BW_VERSION);
    return rc;
}

/* Creates the schema (SQLite file inside dir, or the PostgreSQL database). */
static enum bw_rc init_store(struct bw_cli *cli, const char *dir, const struct bw_config *cfg,
                             struct meta_init *meta, int *version)
{
    char target[4096], why[512] = "";
    struct bw_store *st = NULL;
    struct bw_store_opts opts = {.pool_size = 1, .busy_timeout_ms = 5000, .create = true};
    struct bw_cli sub = *cli;
    sub.data_dir = dir;
    enum bw_rc rc = bw_cli_db_target(&sub, cfg, target, sizeof(target));
    if (rc == BW_OK)
        rc = bw_store_open(target, &opts, &st, why, sizeof(why));
    if (rc != BW_OK) {
        bw_cli_error("cannot open the database: %s", why[0] ? why : bw_rc_str(rc));
        return rc;
    }
    rc = bw_store_migrate(st, version);
    if (rc != BW_OK)
        bw_cli_error("cannot create the database schema: %s", bw_rc_str(rc));
    if (rc == BW_OK)
        rc = bw_store_write(st, meta_init_fn, meta);
    if (rc != BW_OK && meta->existing)
        bw_cli_error("the database already belongs to another Bulwark installation; refusing "
                     "to take it over");
    else if (rc != BW_OK)
        bw_cli_error("cannot record installation metadata: %s", bw_rc_str(rc));
    bw_store_close(st);
    return rc;
}

static enum bw_rc make_tree(const char *tmp, const char *hostname)
{
    static const char *const dirs[] = {"keys", "tls", "db"};
    char path[4096], cert[4096], key[4096], why[512] = "";
    enum bw_rc rc = BW_OK;
    for (size_t i = 0; rc == BW_OK && i < BW_ARRAY_LEN(dirs); i++) {
        rc = bw_sys_path(path, sizeof(path), tmp, dirs[i]);
        if (rc == BW_OK)
            rc = bw_sys_mkdir_private(path, why, sizeof(why));
    }
    if (rc == BW_OK)
        rc = bw_sys_path(path, sizeof(path), tmp, "keys");
    if (rc == BW_OK)
        rc = bw_keyring_generate(path, why, sizeof(why));
    if (rc == BW_OK && (bw_sys_path(cert, sizeof(cert), tmp, "tls/cert.pem") != BW_OK ||
                        bw_sys_path(key, sizeof(key), tmp, "tls/key.pem") != BW_OK))
        rc = BW_ERR_TOOBIG;
    if (rc == BW_OK)
        rc = bw_tls_generate_selfsigned(cert, key, hostname, 397, why, sizeof(why));
    if (rc != BW_OK)
        bw_cli_error("%s", why[0] ? why : bw_rc_str(rc));
    return rc;
}

/* Removes the temporary tree after a failed init (only files init made). */
static void remove_tree(const char *tmp)
{
    static const char *const files[] = {
        "keys/master.key", "keys/audit-signing.key", "keys/audit-signing.pub",
        "tls/cert.pem",    "tls/key.pem",            "db/bulwark.db",
        "db/bulwark.db-wal", "db/bulwark.db-shm",    "bulwark.conf",
        "keys",            "tls",                    "db"};
    char path[4096];
    for (size_t i = 0; i < BW_ARRAY_LEN(files); i++) {
        if (bw_sys_path(path, sizeof(path), tmp, files[i]) == BW_OK && unlink(path) != 0)
            (void)rmdir(path);
    }
    (void)rmdir(tmp);
}

static void report(const struct bw_cli *cli, const struct bw_config *cfg,
                   const struct meta_init *meta, int version)
{
    const char *driver = cfg->database_url[0] != '\0' ? "postgresql" : "sqlite";
    if (cli->json) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:s}", "data_dir", cli->data_dir,
                              "installation_id", meta->installation, "store", driver,
                              "schema_version", version, "listen", cfg->listen_host);
        char *t = o != NULL ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        if (t != NULL)
            printf("%s\n", t);
        bw_free(t);
        json_decref(o);
        return;
    }
    printf("initialised %s (installation %s, %s store, schema %d)\n", cli->data_dir,
           meta->installation, driver, version);
    printf("start it with: bulwark --data-dir %s serve\n", cli->data_dir);
}

enum bw_rc bw_cmd_init(struct bw_cli *cli, int argc, char **argv)
{
    struct init_opts o = {.hostname = "localhost"};
    struct bw_config cfg;
    struct meta_init meta = {.existing = false};
    struct stat st;
    char tmp[4096];
    int version = 0;
    enum bw_rc rc = parse_opts(cli, argc, argv, &o);
    if (rc != BW_OK)
        return rc;
    if (lstat(cli->data_dir, &st) == 0) {
        bw_cli_error("%s already exists; refusing to overwrite an existing data directory",
                     cli->data_dir);
        return BW_ERR_EXISTS;
    }
    if (snprintf(tmp, sizeof(tmp), "%s.init-XXXXXX", cli->data_dir) >= (int)sizeof(tmp) ||
        mkdtemp(tmp) == NULL) {
        bw_cli_error("cannot create %s: %s", cli->data_dir, strerror(errno));
        return BW_ERR_IO;
    }
    rc = bw_config_init(&cfg);
    if (rc != BW_OK) {
        (void)rmdir(tmp);
        return rc;
    }
    bw_id_new(meta.installation);
    rc = make_tree(tmp, o.hostname);
    if (rc == BW_OK)
        rc = write_config(cli, tmp, &cfg, &o);
    if (rc == BW_OK)
        rc = init_store(cli, tmp, &cfg, &meta, &version);
    if (rc == BW_OK && rename(tmp, cli->data_dir) != 0) {
        bw_cli_error("cannot move the new data directory into place at %s: %s", cli->data_dir,
                     strerror(errno));
        rc = BW_ERR_IO;
    }
    if (rc != BW_OK)
        remove_tree(tmp);
    else
        report(cli, &cfg, &meta, version);
    bw_config_cleanup(&cfg);
    return rc;
}
