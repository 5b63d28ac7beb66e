/*
 * cmd_incident.c - `bulwark incident open|list|show|transition|assess|
 * submit|contain|report|overdue|detect|sweep|notifications|deliver|review|
 * reviews`: the
 * incident register from the command line, with actor "cli", and the
 * worker's rounds on demand (detection, clocks, delivery) for operators and
 * tests. Output is JSON (compact with --json, indented otherwise).
 */
#include "audit/audit.h"
#include "cli/cli_int.h"
#include "incident/incident.h"
#include "store/store.h"

#include <jansson.h>
#include <string.h>

enum bw_rc bw_cli_open(struct bw_cli *cli, struct bw_config *cfg, struct bw_store **st)
{
    enum bw_rc rc = bw_cli_load_config(cli, cfg);
    if (rc != BW_OK)
        return rc;
    rc = bw_cli_open_store(cli, cfg, 1, true, st);
    if (rc != BW_OK)
        bw_config_cleanup(cfg);
    return rc;
}

void bw_cli_print_json(const struct bw_cli *cli, json_t *o)
{
    char *s = json_dumps(o, JSON_ENCODE_ANY | (cli->json ? JSON_COMPACT : JSON_INDENT(2)));
    if (s != NULL)
        printf("%s\n", s);
    bw_free(s);
    json_decref(o);
}

enum bw_rc bw_cli_reg_error(const char *what, enum bw_rc rc, const struct bw_reg_err *err)
{
    if (err->field[0] != '\0')
        bw_cli_error("%s: %s: %s", what, err->field, err->msg);
    else if (rc == BW_ERR_NOTFOUND)
        bw_cli_error("%s: not found", what);
    else
        bw_cli_error("%s: %s", what, bw_rc_str(rc));
    return rc;
}

enum bw_rc bw_cli_opts(struct bw_cli *cli, int argc, char **argv, const char *const *names,
                       size_t nnames, struct bw_cli_opts *o)
{
    memset(o, 0, sizeof(*o));
    for (int i = 1; i < argc; i++) {
        bool matched = false;
        for (size_t k = 0; k < nnames && !matched; k++) {
            const char *v = NULL;
            int r = bw_cli_take(argc, argv, &i, names[k], &v);
            if (r < 0)
                return bw_cli_usage(cli, "option %s needs a value", names[k]);
            if (r > 0) {
                o->v[k] = v;
                matched = true;
            }
        }
        if (matched)
            continue;
        if (argv[i][0] == '-' || o->npos == BW_ARRAY_LEN(o->pos))
            return bw_cli_usage(cli, "unexpected argument '%s'", argv[i]);
        o->pos[o->npos++] = argv[i];
    }
    return BW_OK;
}

static int tri_opt(const char *v)
{
    bool b;
    return v == NULL ? -1 : bw_parse_bool(v, &b) == BW_OK ? (b ? 1 : 0) : -2;
}

static enum bw_rc inc_open(struct bw_cli *cli, struct bw_config *cfg, struct bw_store *st,
                           const struct bw_cli_opts *o)
{
    /* --title --severity --aware-at --significant --personal-data --note */
    struct bw_audit_ctx ctx = {.remote = "-", .request_id = "-"};
    struct bw_reg_err err = {"", ""};
    char id[BW_ID_LEN + 1];
    int64_t aware = 0;
    if (o->v[2] != NULL && bw_time_parse(o->v[2], &aware) != BW_OK)
        return bw_cli_usage(cli, "--aware-at: expected an RFC 3339 UTC time");
    int sig = tri_opt(o->v[3]), pd = tri_opt(o->v[4]);
    if (sig == -2 || pd == -2)
        return bw_cli_usage(cli, "--significant/--personal-data: expected yes or no");
    struct bw_incident_new in = {o->v[0], o->v[1], aware, sig, pd, o->v[5], NULL};
    enum bw_rc rc = bw_incident_open(st, cfg, &ctx, "cli", &in, id, &err);
    if (rc != BW_OK)
        return bw_cli_reg_error("incident open", rc, &err);
    json_t *j = NULL;
    rc = bw_incident_get(st, cfg, id, &j);
    if (rc == BW_OK)
        bw_cli_print_json(cli, j);
    return rc;
}

static enum bw_rc inc_rest(struct bw_cli *cli, const char *sub, struct bw_config *cfg,
                           struct bw_store *st, const struct bw_cli_opts *o)
{
    struct bw_audit_ctx ctx = {.remote = "-", .request_id = "-"};
    struct bw_reg_err err = {"", ""};
    json_t *j = NULL;
    enum bw_rc rc = BW_OK;
    const char *id = o->pos[0];
    bool needs_id = strcmp(sub, "show") == 0 || strcmp(sub, "transition") == 0 ||
                    strcmp(sub, "assess") == 0 || strcmp(sub, "submit") == 0 ||
                    strcmp(sub, "contain") == 0 || strcmp(sub, "report") == 0;
    if (needs_id && (o->npos != 1 || id == NULL))
        return bw_cli_usage(cli, "incident %s needs exactly one incident id", sub);
    if (strcmp(sub, "list") == 0) {
        rc = bw_incident_list(st, cfg, &j);
    } else if (strcmp(sub, "show") == 0) {
        rc = bw_incident_get(st, cfg, id, &j);
    } else if (strcmp(sub, "overdue") == 0) {
        rc = bw_incident_overdue(st, &j);
    } else if (strcmp(sub, "notifications") == 0) {
        rc = bw_notify_list(st, &j);
    } else if (strcmp(sub, "reviews") == 0) {
        rc = bw_incident_reviews(st, &j);
    } else if (strcmp(sub, "review") == 0) {
        /* CONTROL: G-16 - the quarterly review on demand (null: already done) */
        rc = bw_incident_review_if_due(st, cfg, "cli", &j);
    } else if (strcmp(sub, "transition") == 0) {
        /* --to --note --root-cause --lessons */
        rc = bw_incident_transition(st, cfg, &ctx, "cli", id, o->v[6], o->v[5], o->v[7], o->v[8],
                                    &err);
        if (rc == BW_OK)
            rc = bw_incident_get(st, cfg, id, &j);
    } else if (strcmp(sub, "assess") == 0) {
        json_error_t je;
        json_t *body = o->v[9] != NULL ? json_loads(o->v[9], JSON_REJECT_DUPLICATES, &je)
                                       : json_object();
        if (body == NULL)
            return bw_cli_usage(cli, "--body: not a JSON object");
        rc = bw_incident_assess(st, cfg, &ctx, "cli", id, body, &err);
        json_decref(body);
        if (rc == BW_OK)
            rc = bw_incident_get(st, cfg, id, &j);
    } else if (strcmp(sub, "submit") == 0) {
        char sid[BW_ID_LEN + 1];
        rc = bw_incident_submit(st, cfg, &ctx, "cli", id, o->v[10], o->v[11], o->v[12], sid, &err);
        if (rc == BW_OK)
            rc = bw_incident_get(st, cfg, id, &j);
    } else if (strcmp(sub, "contain") == 0) {
        int en = tri_opt(o->v[14]);
        rc = bw_incident_contain(st, cfg, &ctx, "cli", id, o->v[13], o->v[15], o->v[16],
                                 en != 0, &j, &err);
    } else if (strcmp(sub, "report") == 0) {
        rc = bw_incident_report(st, cfg, id, o->v[10], &j, &err);
        if (rc == BW_OK && !cli->json) {
            printf("%s", json_string_value(json_object_get(j, "markdown")));
            json_decref(j);
            return BW_OK;
        }
    } else {
        return bw_cli_usage(cli, "unknown subcommand '%s'", sub);
    }
    if (rc != BW_OK)
        return bw_cli_reg_error(sub, rc, &err);
    bw_cli_print_json(cli, j);
    return BW_OK;
}

static enum bw_rc inc_rounds(struct bw_cli *cli, const char *sub, struct bw_config *cfg,
                             struct bw_store *st)
{
    enum bw_rc rc;
    json_t *j = NULL;
    if (strcmp(sub, "detect") == 0) {
        struct bw_detect_stats s;
        rc = bw_detect_run(st, cfg, &s);
        if (rc == BW_OK)
            j = json_pack("{s:i, s:i, s:i}", "events", s.events, "opened", s.opened, "updated",
                          s.updated);
    } else if (strcmp(sub, "sweep") == 0) {
        struct bw_sweep_stats s;
        rc = bw_incident_sweep(st, cfg, &s);
        if (rc == BW_OK)
            j = json_pack("{s:i, s:i, s:i}", "warned", s.warned, "escalated", s.escalated,
                          "vulns_escalated", s.vulns_escalated);
    } else {
        struct bw_deliver_stats s;
        rc = bw_notify_global_init();
        if (rc == BW_OK)
            rc = bw_notify_deliver(st, cfg, &s);
        if (rc == BW_OK)
            j = json_pack("{s:i, s:i, s:i}", "sent", s.sent, "retried", s.retried, "failed",
                          s.failed);
    }
    if (rc != BW_OK) {
        bw_cli_error("incident %s: %s", sub, bw_rc_str(rc));
        return rc;
    }
    bw_cli_print_json(cli, j);
    return BW_OK;
}

enum bw_rc bw_cmd_incident(struct bw_cli *cli, int argc, char **argv)
{
    static const char *const names[] = {
        "--title", "--severity", "--aware-at", "--significant", "--personal-data", "--note",
        "--to",    "--root-cause", "--lessons", "--body", "--kind", "--content", "--delay-reason",
        "--action", "--enabled", "--user", "--org"};
    struct bw_cli_opts o;
    struct bw_config cfg;
    struct bw_store *st = NULL;
    if (argc < 2)
        return bw_cli_usage(cli, "incident needs a subcommand");
    const char *sub = argv[1];
    enum bw_rc rc = bw_cli_opts(cli, argc - 1, argv + 1, names, BW_ARRAY_LEN(names), &o);
    if (rc != BW_OK)
        return rc;
    if (strcmp(sub, "open") == 0 && (o.v[0] == NULL || o.v[1] == NULL))
        return bw_cli_usage(cli, "incident open needs --title and --severity");
    rc = bw_cli_open(cli, &cfg, &st);
    if (rc != BW_OK)
        return rc;
    if (strcmp(sub, "open") == 0)
        rc = inc_open(cli, &cfg, st, &o);
    else if (strcmp(sub, "detect") == 0 || strcmp(sub, "sweep") == 0 ||
             strcmp(sub, "deliver") == 0)
        rc = inc_rounds(cli, sub, &cfg, st);
    else
        rc = inc_rest(cli, sub, &cfg, st, &o);
    bw_store_close(st);
    bw_config_cleanup(&cfg);
    return rc;
}
