/*
 * cmd_backup.c - `bulwark backup run|list|verify|restore|drill|prune`
 * (SPEC 4). Opens the configured target ([backup] target, or --target) and
 * the live store, hands the work to src/backup/ and prints the result (one
 * JSON document with --json). Progress goes to stderr, only on a terminal.
 * Every operation is audited by the backup module with actor "cli".
 */
#include "backup/backup.h"
#include "cli/cli_int.h"
#include "crypto/crypto.h"
#include "store/store.h"
#include "sys/sys.h"

#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct bctx {
    struct bw_config cfg;
    bool cfg_loaded;
    struct bw_store *st;
    struct bw_keyring *kr;
    struct bw_backup_target *t, *copy;
    struct bw_backup_env env;
};

static void progress(void *arg, const char *what, uint64_t done, uint64_t total)
{
    (void)arg;
    fprintf(stderr, "\r%s: %llu / %llu MiB (%d%%)   ", what,
            (unsigned long long)(done >> 20), (unsigned long long)(total >> 20),
            total ? (int)(done * 100 / total) : 100);
    if (done >= total)
        fputc('\n', stderr);
}

static void bctx_close(struct bctx *b)
{
    bw_backup_target_close(b->t);
    bw_backup_target_close(b->copy);
    bw_store_close(b->st);
    bw_keyring_free(b->kr);
    if (b->cfg_loaded)
        bw_config_cleanup(&b->cfg);
}

static enum bw_rc bctx_open(struct bw_cli *cli, struct bctx *b, const char *target,
                            const char *copy, bool want_copy)
{
    char keys[4096], why[512] = "";
    enum bw_rc rc = bw_cli_load_config(cli, &b->cfg);
    if (rc != BW_OK)
        return rc;
    b->cfg_loaded = true;
    rc = bw_sys_path(keys, sizeof(keys), cli->data_dir, "keys");
    if (rc == BW_OK && (rc = bw_keyring_load(keys, &b->kr, why, sizeof(why))) != BW_OK)
        bw_cli_error("%s", why);
    if (rc == BW_OK)
        rc = bw_cli_open_store(cli, &b->cfg, 2, true, &b->st);
    const char *spec = target != NULL ? target : b->cfg.backup_target;
    if (rc == BW_OK && (spec == NULL || spec[0] == '\0')) {
        bw_cli_error("no backup target: set [backup] target or give --target");
        rc = BW_ERR_INVALID;
    }
    if (rc == BW_OK &&
        (rc = bw_backup_target_open(spec, cli->data_dir, &b->t, why, sizeof(why))) != BW_OK)
        bw_cli_error("%s", why);
    if (!want_copy)
        copy = NULL;
    else if (copy == NULL && b->cfg.backup_copy_target != NULL &&
             b->cfg.backup_copy_target[0] != '\0')
        copy = b->cfg.backup_copy_target; /* BCK-02: [backup] copy_target */
    if (rc == BW_OK && copy != NULL &&
        (rc = bw_backup_target_open(copy, cli->data_dir, &b->copy, why, sizeof(why))) != BW_OK)
        bw_cli_error("%s", why);
    b->env = (struct bw_backup_env){.cfg = &b->cfg,
                                    .store = b->st,
                                    .kr = b->kr,
                                    .data_dir = cli->data_dir,
                                    .actor = "cli",
                                    .progress = !cli->json && isatty(2) ? progress : NULL};
    return rc;
}

static void print_json(json_t *o, bool compact)
{
    char *s = json_dumps(o, compact ? JSON_COMPACT : JSON_INDENT(2));
    if (s != NULL)
        printf("%s\n", s);
    bw_free(s);
}

static void print_result(struct bw_cli *cli, const char *verb, json_t *o)
{
    if (cli->json) {
        print_json(o, true);
        return;
    }
    if (strcmp(verb, "list") == 0) {
        size_t i;
        json_t *v;
        json_array_foreach(o, i, v)
        {
            if (json_object_get(v, "error") != NULL) {
                printf("%s  DAMAGED: %s\n", json_string_value(json_object_get(v, "name")),
                       json_string_value(json_object_get(v, "error")));
                continue;
            }
            char size[32];
            bw_format_size((uint64_t)json_integer_value(json_object_get(v, "size")), size,
                           sizeof(size));
            printf("%s  %-11s %s  %s  %s\n", json_string_value(json_object_get(v, "name")),
                   json_string_value(json_object_get(v, "kind")),
                   json_string_value(json_object_get(v, "created_at")),
                   json_string_value(json_object_get(v, "store")), size);
        }
        return;
    }
    print_json(o, false);
}

/* Options shared by the subcommands. */
struct bopts {
    const char *target, *copy, *to, *at, *name, *database, *kit, *pfile;
    bool full, incremental;
};

static enum bw_rc parse_opts(struct bw_cli *cli, int argc, char **argv, struct bopts *o)
{
    for (int i = 2; i < argc; i++) {
        int r;
        if (strcmp(argv[i], "--full") == 0) {
            o->full = true;
            continue;
        }
        if (strcmp(argv[i], "--incremental") == 0) {
            o->incremental = true;
            continue;
        }
        if ((r = bw_cli_take(argc, argv, &i, "--target", &o->target)) != 0 ||
            (r = bw_cli_take(argc, argv, &i, "--copy-to", &o->copy)) != 0 ||
            (r = bw_cli_take(argc, argv, &i, "--to", &o->to)) != 0 ||
            (r = bw_cli_take(argc, argv, &i, "--at", &o->at)) != 0 ||
            (r = bw_cli_take(argc, argv, &i, "--backup", &o->name)) != 0 ||
            (r = bw_cli_take(argc, argv, &i, "--database", &o->database)) != 0 ||
            (r = bw_cli_take(argc, argv, &i, "--recovery-kit", &o->kit)) != 0 ||
            (r = bw_cli_take(argc, argv, &i, "--passphrase-file", &o->pfile)) != 0) {
            if (r < 0)
                return bw_cli_usage(cli, "option %s needs a value", argv[i]);
            continue;
        }
        if (argv[i][0] != '-' && o->name == NULL && strcmp(argv[1], "verify") == 0) {
            o->name = argv[i];
            continue;
        }
        return bw_cli_usage(cli, "unknown option '%s'", argv[i]);
    }
    if (o->full && o->incremental)
        return bw_cli_usage(cli, "--full and --incremental exclude each other");
    return BW_OK;
}

/* ---- restore on a new machine from a recovery kit (backup2) -------------------
 * No data directory is needed: the kit's keys go into a private key holder
 * next to the new directory (with a fresh self-signed certificate), the
 * restore copies them into the new directory, and the holder is removed.
 * There is no live store to audit into: the restore is logged instead. */

static void holder_remove(const char *dir)
{
    static const char *const files[] = {"keys/master.key", "keys/audit-signing.key",
                                        "keys/audit-signing.pub", "tls/cert.pem", "tls/key.pem",
                                        "keys", "tls"};
    char p[4096];
    for (size_t i = 0; i < BW_ARRAY_LEN(files); i++) {
        if (bw_sys_path(p, sizeof(p), dir, files[i]) == BW_OK && unlink(p) != 0)
            (void)rmdir(p);
    }
    (void)rmdir(dir);
}

static enum bw_rc holder_fill(struct bw_cli *cli, const struct bopts *o, const char *dir,
                              char *why, size_t whylen)
{
    char keys[4096], tls[4096], cert[4096], key[4096];
    char *kit = bw_malloc(65536), *pass = NULL;
    size_t klen = 0, plen = 0;
    enum bw_rc rc = kit != NULL ? BW_OK : BW_ERR_NOMEM;
    if (rc == BW_OK && (bw_sys_path(keys, sizeof(keys), dir, "keys") != BW_OK ||
                        bw_sys_path(tls, sizeof(tls), dir, "tls") != BW_OK ||
                        bw_sys_path(cert, sizeof(cert), tls, "cert.pem") != BW_OK ||
                        bw_sys_path(key, sizeof(key), tls, "key.pem") != BW_OK))
        rc = BW_ERR_TOOBIG;
    if (rc == BW_OK)
        rc = bw_sys_read_file(o->kit, kit, 65535, &klen, false, why, whylen);
    if (rc == BW_OK && (rc = bw_cli_read_passphrase(cli, o->pfile, false, &pass, &plen)) !=
                           BW_OK)
        bw_why(why, whylen, "no usable passphrase");
    if (rc == BW_OK)
        rc = bw_sys_mkdir_private(keys, why, whylen);
    if (rc == BW_OK)
        rc = bw_sys_mkdir_private(tls, why, whylen);
    if (rc == BW_OK)
        rc = bw_keyring_recovery_import(kit, klen, pass, plen, keys, why, whylen);
    if (rc == BW_OK)
        rc = bw_tls_generate_selfsigned(cert, key, "localhost", 397, why, whylen);
    if (pass != NULL)
        sodium_free(pass);
    if (kit != NULL) {
        sodium_memzero(kit, 65536);
        bw_free(kit);
    }
    return rc;
}

static enum bw_rc restore_with_kit(struct bw_cli *cli, const struct bopts *o, int64_t at)
{
    char holder[4096], keys[4096], why[1024] = "";
    struct bw_config cfg;
    struct bw_keyring *kr = NULL;
    struct bw_backup_target *t = NULL;
    json_t *res = NULL;
    bool made = false;
    if (o->target == NULL)
        return bw_cli_usage(cli, "--recovery-kit needs --target SPEC (the backup target)");
    if (snprintf(holder, sizeof(holder), "%s.keys-XXXXXX", o->to) >= (int)sizeof(holder))
        return BW_ERR_TOOBIG;
    enum bw_rc rc = bw_config_init(&cfg);
    if (rc != BW_OK)
        return rc;
    if (mkdtemp(holder) == NULL) {
        bw_why(why, sizeof(why), "cannot create %s: %s", holder, strerror(errno));
        rc = BW_ERR_IO;
    } else {
        made = true;
    }
    if (rc == BW_OK)
        rc = holder_fill(cli, o, holder, why, sizeof(why));
    if (rc == BW_OK && (rc = bw_sys_path(keys, sizeof(keys), holder, "keys")) == BW_OK)
        rc = bw_keyring_load(keys, &kr, why, sizeof(why));
    if (rc == BW_OK)
        rc = bw_backup_target_open(o->target, holder, &t, why, sizeof(why));
    struct bw_backup_env env = {.cfg = &cfg, .store = NULL, .kr = kr, .data_dir = holder,
                                .actor = "cli",
                                .progress = !cli->json && isatty(2) ? progress : NULL};
    struct bw_restore_opts ro = {.to = o->to, .name = o->name, .at_ms = at,
                                 .database = o->database};
    if (rc == BW_OK)
        rc = bw_backup_restore(&env, t, &ro, &res, why, sizeof(why));
    if (rc == BW_OK) {
        json_object_set_new(res, "keys", json_string("recovery kit"));
        print_result(cli, "restore", res);
    } else {
        bw_cli_error("backup restore failed: %s", why[0] ? why : bw_rc_str(rc));
    }
    json_decref(res);
    bw_backup_target_close(t);
    bw_keyring_free(kr);
    if (made)
        holder_remove(holder);
    bw_config_cleanup(&cfg);
    return rc;
}

enum bw_rc bw_cmd_backup(struct bw_cli *cli, int argc, char **argv)
{
    static const char *const verbs[] = {"run", "list", "verify", "restore", "drill", "prune"};
    struct bopts o = {0};
    struct bctx b = {0};
    char why[1024] = "";
    json_t *res = NULL;
    int64_t at = -1;
    size_t v = BW_ARRAY_LEN(verbs);
    if (argc < 2)
        return bw_cli_usage(cli, "backup needs a subcommand (run, list, verify, restore, "
                                 "drill, prune)");
    for (size_t i = 0; i < BW_ARRAY_LEN(verbs); i++) {
        if (strcmp(argv[1], verbs[i]) == 0)
            v = i;
    }
    if (v == BW_ARRAY_LEN(verbs))
        return bw_cli_usage(cli, "unknown subcommand '%s'", argv[1]);
    enum bw_rc rc = parse_opts(cli, argc, argv, &o);
    if (rc != BW_OK)
        return rc;
    if (v == 3 && o.to == NULL)
        return bw_cli_usage(cli, "backup restore needs --to DIR");
    if (o.at != NULL && bw_time_parse(o.at, &at) != BW_OK)
        return bw_cli_usage(cli, "--at: expected an RFC 3339 time such as 2026-01-02T03:04:05Z");
    if (o.at != NULL)
        at = at * 1000 + 999; /* "to the second": everything committed in that second */
    if ((o.kit != NULL || o.pfile != NULL) && v != 3)
        return bw_cli_usage(cli, "--recovery-kit and --passphrase-file belong to backup restore");
    if (o.kit == NULL && o.pfile != NULL)
        return bw_cli_usage(cli, "--passphrase-file goes with --recovery-kit");
    if (o.kit != NULL)
        return restore_with_kit(cli, &o, at);
    rc = bctx_open(cli, &b, o.target, o.copy, v == 0);
    if (rc != BW_OK) {
        bctx_close(&b);
        return rc;
    }
    struct bw_restore_opts ro = {.to = o.to, .name = o.name, .at_ms = at,
                                 .database = o.database};
    switch (v) {
    case 0:
        rc = bw_backup_run(&b.env, b.t, b.copy, o.full ? BW_BACKUP_FULL : BW_BACKUP_INCREMENTAL,
                           &res, why, sizeof(why));
        break;
    case 1:
        rc = bw_backup_list(b.kr, b.t, &res, why, sizeof(why));
        break;
    case 2:
        rc = bw_backup_verify(&b.env, b.t, o.name, &res, why, sizeof(why));
        break;
    case 3:
        rc = bw_backup_restore(&b.env, b.t, &ro, &res, why, sizeof(why));
        break;
    case 4:
        rc = bw_backup_drill(&b.env, b.t, o.database, &res, why, sizeof(why));
        break;
    default:
        rc = bw_backup_prune(&b.env, b.t, &res, why, sizeof(why));
        break;
    }
    if (rc == BW_OK)
        print_result(cli, verbs[v], res);
    else
        bw_cli_error("backup %s failed: %s", verbs[v], why[0] ? why : bw_rc_str(rc));
    json_decref(res);
    bctx_close(&b);
    return rc;
}
