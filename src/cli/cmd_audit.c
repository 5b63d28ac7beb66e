/*
 * cmd_audit.c - `bulwark audit verify|search|export|checkpoint|retention|
 * clock` (SPEC 4; issue 5). verify exits 1 when the trail was tampered with,
 * naming the first bad event, and records its outcome as an event; with
 * --archive FILE --pubkey KEY it checks one archive on any machine with only
 * the public key. No subcommand edits or deletes an event; `retention` only
 * moves events past retention.audit into signed archives.
 */
#include "audit/audit.h"
#include "cli/cli_int.h"
#include "crypto/crypto.h"
#include "store/store.h"
#include "sys/sys.h"

#include <jansson.h>
#include <string.h>
#include <unistd.h>

void bw_cli_audit_settings(const struct bw_cli *cli, const struct bw_config *cfg,
                           struct bw_audit_settings *s)
{
    s->data_dir = cli->data_dir;
    s->checkpoint_interval = cfg->audit_checkpoint_interval;
    s->checkpoint_events = cfg->audit_checkpoint_events;
    s->retention = cfg->retention_audit;
    s->syslog = cfg->audit_syslog;
}

static void print_report(const struct bw_cli *cli, const struct bw_audit_report *r)
{
    double mb = (double)r->bytes / 1e6;
    double secs = r->seconds > 0 ? r->seconds : 1e-9;
    double cpu = r->cpu_seconds > 0 ? r->cpu_seconds : 1e-9;
    if (cli->json) {
        json_t *o = json_pack(
            "{s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:I, s:I, s:I, s:s, s:f, s:f, s:f, s:f, "
            "s:f, s:f}", "ok",
            r->ok, "events", (json_int_t)r->events, "archives", (json_int_t)r->archives,
            "checkpoints", (json_int_t)r->checkpoints, "first_seq", (json_int_t)r->first_seq,
            "last_seq", (json_int_t)r->last_seq, "first_bad", (json_int_t)r->first_bad,
            "reason", r->reason, "newest_checkpoint_seq", (json_int_t)r->newest_checkpoint_seq,
            "newest_checkpoint_age", (json_int_t)r->newest_checkpoint_age, "unanchored",
            (json_int_t)r->unanchored, "warning", r->warning, "seconds", r->seconds,
            "events_per_second", (double)r->events / secs, "mb_per_second", mb / secs,
            "cpu_seconds", r->cpu_seconds, "events_per_cpu_second", (double)r->events / cpu,
            "mb_per_cpu_second", mb / cpu);
        char *t = o != NULL ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        if (t != NULL)
            printf("%s\n", t);
        bw_free(t);
        json_decref(o);
        return;
    }
    if (r->ok)
        printf("audit trail intact: %llu events (seq %lld..%lld), %llu archives, %llu signed "
               "checkpoints\n",
               (unsigned long long)r->events, (long long)r->first_seq, (long long)r->last_seq,
               (unsigned long long)r->archives, (unsigned long long)r->checkpoints);
    else
        printf("AUDIT TRAIL BROKEN at event %lld: %s\n", (long long)r->first_bad, r->reason);
    if (r->newest_checkpoint_age >= 0)
        printf("newest checkpoint: seq %lld, %lld s old; %llu events after it\n",
               (long long)r->newest_checkpoint_seq, (long long)r->newest_checkpoint_age,
               (unsigned long long)r->unanchored);
    else
        printf("no signed checkpoint yet; %llu events unanchored\n",
               (unsigned long long)r->unanchored);
    if (r->warning[0] != '\0')
        printf("warning: %s\n", r->warning);
    printf("verified %.0f events/s, %.1f MB/s (%.1f MB per CPU second)\n",
           (double)r->events / secs, mb / secs, mb / cpu);
}

/* verify --archive FILE --pubkey KEY: no data directory, no secret. */
static enum bw_rc verify_archive(struct bw_cli *cli, const char *file, const char *pubkey)
{
    uint8_t pk[BW_SIGN_PUBLIC_BYTES];
    char why[512] = "";
    struct bw_audit_report r;
    enum bw_rc rc = bw_sign_load_public(pubkey, pk, why, sizeof(why));
    if (rc != BW_OK) {
        bw_cli_error("%s", why[0] ? why : bw_rc_str(rc));
        return rc;
    }
    rc = bw_audit_verify_archive(file, pk, NULL, &r);
    if (rc != BW_OK) {
        bw_cli_error("cannot read %s: %s", file, bw_rc_str(rc));
        return rc;
    }
    print_report(cli, &r);
    return r.ok ? BW_OK : BW_ERR_CONFLICT;
}

struct ctx {
    struct bw_config cfg;
    bool cfg_loaded;
    struct bw_store *st;
    struct bw_keyring *kr;
    uint8_t pk[BW_SIGN_PUBLIC_BYTES];
    struct bw_audit_settings s;
};

static void ctx_cleanup(struct ctx *c)
{
    bw_store_close(c->st);
    bw_keyring_free(c->kr);
    if (c->cfg_loaded)
        bw_config_cleanup(&c->cfg);
}

/* Loads configuration and store; the keyring when `keys` (required) or for
 * verify (optional: archives are then checked with the public key only). */
static enum bw_rc ctx_open(struct bw_cli *cli, struct ctx *c, int keys)
{
    char dir[4096], path[4096], why[512] = "";
    enum bw_rc rc = bw_cli_load_config(cli, &c->cfg);
    if (rc != BW_OK)
        return rc;
    c->cfg_loaded = true;
    bw_cli_audit_settings(cli, &c->cfg, &c->s);
    rc = bw_sys_path(dir, sizeof(dir), cli->data_dir, "keys");
    if (rc == BW_OK)
        rc = bw_sys_path(path, sizeof(path), dir, "audit-signing.pub");
    if (rc == BW_OK && keys > 0 && (rc = bw_keyring_load(dir, &c->kr, why, sizeof(why))) != BW_OK)
        bw_cli_error("%s", why);
    if (rc == BW_OK && keys < 0 && bw_keyring_load(dir, &c->kr, why, sizeof(why)) != BW_OK)
        c->kr = NULL;
    if (rc == BW_OK && c->kr != NULL)
        bw_keyring_public(c->kr, c->pk);
    else if (rc == BW_OK && (rc = bw_sign_load_public(path, c->pk, why, sizeof(why))) != BW_OK)
        bw_cli_error("%s", why);
    if (rc == BW_OK)
        rc = bw_cli_open_store(cli, &c->cfg, 2, true, &c->st);
    return rc;
}

static enum bw_rc cmd_verify(struct bw_cli *cli, int argc, char **argv)
{
    const char *archive = NULL, *pubkey = NULL;
    for (int i = 2; i < argc; i++) {
        int r;
        if ((r = bw_cli_take(argc, argv, &i, "--archive", &archive)) != 0 ||
            (r = bw_cli_take(argc, argv, &i, "--pubkey", &pubkey)) != 0) {
            if (r < 0)
                return bw_cli_usage(cli, "option %s needs a value", argv[i]);
            continue;
        }
        return bw_cli_usage(cli, "unknown option '%s'", argv[i]);
    }
    if ((archive == NULL) != (pubkey == NULL))
        return bw_cli_usage(cli, "--archive and --pubkey go together");
    if (archive != NULL)
        return verify_archive(cli, archive, pubkey);
    struct ctx c = {0};
    struct bw_audit_report r;
    struct bw_audit_ctx actx = {.remote = "-", .request_id = "-"};
    enum bw_rc rc = ctx_open(cli, &c, -1);
    if (rc == BW_OK && (rc = bw_audit_adopt_legacy(c.st, NULL)) != BW_OK)
        bw_cli_error("cannot chain the events of an older schema: %s", bw_rc_str(rc));
    if (rc == BW_OK && (rc = bw_audit_verify(c.st, c.kr, c.pk, &c.s, &r)) != BW_OK)
        bw_cli_error("verification could not run: %s", bw_rc_str(rc));
    if (rc == BW_OK) {
        print_report(cli, &r);
        /* a failed verify is itself an event (the incident issue makes it a P1) */
        if (bw_audit_record_verify(c.st, &actx, "cli", &r) != BW_OK)
            bw_cli_error("the verification result could not be recorded as an event");
        rc = r.ok ? BW_OK : BW_ERR_CONFLICT;
    }
    ctx_cleanup(&c);
    return rc;
}

struct printer {
    struct bw_cli *cli;
    enum bw_audit_format fmt;
    char host[256];
    struct bw_buf line;
    int64_t last_seq;
    uint64_t n;
};

static enum bw_rc print_event(void *arg, const struct bw_audit_event *ev)
{
    struct printer *p = arg;
    bw_buf_reset(&p->line);
    enum bw_rc rc = bw_audit_format_event(ev, p->fmt, p->host, &p->line);
    if (rc == BW_OK) {
        fwrite(p->line.data, 1, p->line.len, stdout);
        fputc('\n', stdout);
        p->last_seq = ev->seq;
        p->n++;
    } else if (rc == BW_ERR_INVALID) {
        bw_cli_error("event %lld holds bytes that are not UTF-8: run 'bulwark audit verify'",
                     (long long)ev->seq);
    }
    return rc;
}

static enum bw_rc parse_time_opt(struct bw_cli *cli, const char *name, const char *v,
                                 int64_t *out)
{
    if (v == NULL)
        return BW_OK;
    if (bw_time_parse(v, out) != BW_OK)
        return bw_cli_usage(cli, "%s: expected an RFC 3339 time (2026-01-31T12:00:00Z)", name);
    return BW_OK;
}

static enum bw_rc cmd_search(struct bw_cli *cli, int argc, char **argv)
{
    struct bw_audit_filter f = {.limit = 100};
    const char *since = NULL, *until = NULL, *limit = NULL, *cursor = NULL;
    uint64_t n = 0;
    for (int i = 2; i < argc; i++) {
        int r;
        if ((r = bw_cli_take(argc, argv, &i, "--actor", &f.actor)) != 0 ||
            (r = bw_cli_take(argc, argv, &i, "--action", &f.action)) != 0 ||
            (r = bw_cli_take(argc, argv, &i, "--target", &f.target)) != 0 ||
            (r = bw_cli_take(argc, argv, &i, "--since", &since)) != 0 ||
            (r = bw_cli_take(argc, argv, &i, "--until", &until)) != 0 ||
            (r = bw_cli_take(argc, argv, &i, "--limit", &limit)) != 0 ||
            (r = bw_cli_take(argc, argv, &i, "--cursor", &cursor)) != 0) {
            if (r < 0)
                return bw_cli_usage(cli, "option %s needs a value", argv[i]);
            continue;
        }
        return bw_cli_usage(cli, "unknown option '%s'", argv[i]);
    }
    enum bw_rc rc = parse_time_opt(cli, "--since", since, &f.since);
    if (rc == BW_OK)
        rc = parse_time_opt(cli, "--until", until, &f.until);
    if (rc == BW_OK && limit != NULL) {
        if (bw_parse_u64(limit, 1000, &n) != BW_OK || n == 0)
            return bw_cli_usage(cli, "--limit: expected 1..1000");
        f.limit = (unsigned)n;
    }
    if (rc == BW_OK && cursor != NULL) {
        if (bw_parse_u64(cursor, INT64_MAX, &n) != BW_OK)
            return bw_cli_usage(cli, "--cursor: expected the seq printed as next_cursor");
        f.before_seq = (int64_t)n;
    }
    if (rc != BW_OK)
        return rc;
    struct ctx c = {0};
    struct printer p = {.cli = cli, .fmt = BW_AUDIT_JSONL};
    bw_buf_init(&p.line, 1 << 24);
    rc = ctx_open(cli, &c, 0);
    if (rc == BW_OK && (rc = bw_audit_search(c.st, &f, print_event, &p)) != BW_OK)
        bw_cli_error("search failed: %s", bw_rc_str(rc));
    if (rc == BW_OK && p.n == f.limit)
        fprintf(stderr, "more: --cursor %lld\n", (long long)p.last_seq);
    bw_buf_free(&p.line, false);
    ctx_cleanup(&c);
    return rc;
}

static enum bw_rc cmd_export(struct bw_cli *cli, int argc, char **argv)
{
    const char *format = "jsonl", *since = NULL;
    int64_t t = INT64_MIN;
    for (int i = 2; i < argc; i++) {
        int r;
        if ((r = bw_cli_take(argc, argv, &i, "--format", &format)) != 0 ||
            (r = bw_cli_take(argc, argv, &i, "--since", &since)) != 0) {
            if (r < 0)
                return bw_cli_usage(cli, "option %s needs a value", argv[i]);
            continue;
        }
        return bw_cli_usage(cli, "unknown option '%s'", argv[i]);
    }
    struct printer p = {.cli = cli};
    if (strcmp(format, "jsonl") == 0)
        p.fmt = BW_AUDIT_JSONL;
    else if (strcmp(format, "syslog") == 0)
        p.fmt = BW_AUDIT_SYSLOG;
    else
        return bw_cli_usage(cli, "--format: expected jsonl or syslog");
    enum bw_rc rc = parse_time_opt(cli, "--since", since, &t);
    if (rc != BW_OK)
        return rc;
    struct ctx c = {0};
    gethostname(p.host, sizeof(p.host) - 1);
    bw_buf_init(&p.line, 1 << 24);
    rc = ctx_open(cli, &c, 0);
    if (rc == BW_OK && (rc = bw_audit_scan(c.st, t, print_event, &p)) != BW_OK)
        bw_cli_error("export failed: %s", bw_rc_str(rc));
    bw_buf_free(&p.line, false);
    ctx_cleanup(&c);
    return rc;
}

static enum bw_rc cmd_checkpoint(struct bw_cli *cli, int argc, char **argv)
{
    struct ctx c = {0};
    bool made = false;
    if (argc > 2)
        return bw_cli_usage(cli, "unexpected argument '%s'", argv[2]);
    enum bw_rc rc = ctx_open(cli, &c, 1);
    if (rc == BW_OK && (rc = bw_audit_checkpoint(c.st, c.kr, &c.s, true, &made)) != BW_OK)
        bw_cli_error("checkpoint failed: %s", bw_rc_str(rc));
    if (rc == BW_OK)
        printf(made ? "checkpoint signed\n" : "the newest checkpoint already covers the head\n");
    ctx_cleanup(&c);
    return rc;
}

static enum bw_rc cmd_retention(struct bw_cli *cli, int argc, char **argv)
{
    struct ctx c = {0};
    uint64_t n = 0, max = 0;
    const char *maxs = NULL;
    for (int i = 2; i < argc; i++) {
        int r = bw_cli_take(argc, argv, &i, "--max-events", &maxs);
        if (r < 0)
            return bw_cli_usage(cli, "option %s needs a value", argv[i]);
        if (r == 0)
            return bw_cli_usage(cli, "unknown option '%s'", argv[i]);
    }
    if (maxs != NULL && (bw_parse_u64(maxs, 100000, &max) != BW_OK || max == 0))
        return bw_cli_usage(cli, "--max-events: expected 1..100000");
    enum bw_rc rc = ctx_open(cli, &c, 1);
    if (rc == BW_OK &&
        (rc = bw_audit_retention(c.st, c.kr, &c.s, bw_time_now(), max, &n)) != BW_OK)
        bw_cli_error("retention failed: %s", bw_rc_str(rc));
    if (rc == BW_OK)
        printf(cli->json ? "{\"archived\":%llu}\n" : "%llu events archived\n",
               (unsigned long long)n);
    ctx_cleanup(&c);
    return rc;
}

static enum bw_rc cmd_clock(struct bw_cli *cli)
{
    char why[256] = "";
    bool ok = bw_audit_clock_synced(why, sizeof(why));
    if (cli->json)
        printf("{\"synchronised\":%s}\n", ok ? "true" : "false");
    else
        printf("%s\n", why);
    return ok ? BW_OK : BW_ERR_CONFLICT;
}

enum bw_rc bw_cmd_audit(struct bw_cli *cli, int argc, char **argv)
{
    if (argc < 2)
        return bw_cli_usage(cli, "missing subcommand");
    const char *sub = argv[1];
    if (strcmp(sub, "verify") == 0)
        return cmd_verify(cli, argc, argv);
    if (strcmp(sub, "search") == 0)
        return cmd_search(cli, argc, argv);
    if (strcmp(sub, "export") == 0)
        return cmd_export(cli, argc, argv);
    if (strcmp(sub, "checkpoint") == 0)
        return cmd_checkpoint(cli, argc, argv);
    if (strcmp(sub, "retention") == 0)
        return cmd_retention(cli, argc, argv);
    if (strcmp(sub, "clock") == 0)
        return argc == 2 ? cmd_clock(cli) : bw_cli_usage(cli, "unexpected argument");
    return bw_cli_usage(cli, "unknown subcommand '%s'", sub);
}
