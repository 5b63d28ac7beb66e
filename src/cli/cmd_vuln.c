/*
 * cmd_vuln.c - `bulwark vuln add|list|show|rate|close|report|scan`: the
 * vulnerability register from the command line (actor "cli"), reading a
 * sealed researcher report, and the offline OSV feed scan against the SBOM
 * (CONTROL: SUP-02). Output is JSON (compact with --json, indented otherwise).
 */
#include "audit/audit.h"
#include "cli/cli_int.h"
#include "crypto/crypto.h"
#include "store/store.h"
#include "sys/sys.h"
#include "vuln/vuln.h"

#include <jansson.h>
#include <string.h>

static enum bw_rc report_open(struct bw_cli *cli, struct bw_store *st, const char *id,
                              json_t **out)
{
    char keys[4096], why[512] = "";
    struct bw_keyring *kr = NULL;
    enum bw_rc rc = bw_sys_path(keys, sizeof(keys), cli->data_dir, "keys");
    if (rc == BW_OK && (rc = bw_keyring_load(keys, &kr, why, sizeof(why))) != BW_OK)
        bw_cli_error("%s", why);
    if (rc == BW_OK)
        rc = bw_vuln_report_open(st, kr, id, out);
    bw_keyring_free(kr);
    return rc;
}

static enum bw_rc vuln_run(struct bw_cli *cli, const char *sub, struct bw_config *cfg,
                           struct bw_store *st, const struct bw_cli_opts *o)
{
    struct bw_audit_ctx ctx = {.remote = "-", .request_id = "-"};
    struct bw_reg_err err = {"", ""};
    json_t *j = NULL;
    char id[BW_ID_LEN + 1];
    enum bw_rc rc;
    bool one = strcmp(sub, "show") == 0 || strcmp(sub, "rate") == 0 ||
               strcmp(sub, "close") == 0 || strcmp(sub, "report") == 0;
    if (one && o->npos != 1)
        return bw_cli_usage(cli, "vuln %s needs exactly one id", sub);
    if (strcmp(sub, "add") == 0) {
        int64_t found = 0;
        if (o->v[6] != NULL && bw_time_parse(o->v[6], &found) != BW_OK)
            return bw_cli_usage(cli, "--found-at: expected an RFC 3339 UTC time");
        struct bw_vuln_new in = {o->v[0], o->v[1], o->v[2], o->v[3], o->v[4],
                                 o->v[5] ? o->v[5] : "product", found, "manual", NULL};
        if (in.title == NULL || in.component == NULL || in.severity == NULL)
            return bw_cli_usage(cli, "vuln add needs --title, --component and --severity");
        rc = bw_vuln_add(st, cfg, &ctx, "cli", &in, id, &err);
        if (rc == BW_OK)
            rc = bw_vuln_get(st, id, &j);
    } else if (strcmp(sub, "list") == 0) {
        rc = bw_vuln_list(st, &j);
    } else if (strcmp(sub, "show") == 0) {
        rc = bw_vuln_get(st, o->pos[0], &j);
    } else if (strcmp(sub, "rate") == 0) {
        rc = bw_vuln_rate(st, cfg, &ctx, "cli", o->pos[0], o->v[4], o->v[5] ? o->v[5] : "product",
                          &err);
        if (rc == BW_OK)
            rc = bw_vuln_get(st, o->pos[0], &j);
    } else if (strcmp(sub, "close") == 0) {
        rc = bw_vuln_close(st, &ctx, "cli", o->pos[0], o->v[7], o->v[8], &err);
        if (rc == BW_OK)
            rc = bw_vuln_get(st, o->pos[0], &j);
    } else if (strcmp(sub, "report") == 0) {
        rc = report_open(cli, st, o->pos[0], &j);
    } else if (strcmp(sub, "scan") == 0) {
        struct bw_scan_stats s;
        char why[512] = "";
        if (o->v[9] == NULL)
            return bw_cli_usage(cli, "vuln scan needs --feed FILE (OSV JSON)");
        rc = bw_vuln_scan(st, cfg, &ctx, "cli", o->v[9], &s, why, sizeof(why));
        if (rc != BW_OK && why[0] != '\0') {
            bw_cli_error("vuln scan: %s", why);
            return rc;
        }
        if (rc == BW_OK)
            j = json_pack("{s:I, s:I, s:I, s:I}", "components", (json_int_t)s.components,
                          "advisories", (json_int_t)s.advisories, "matches",
                          (json_int_t)s.matches, "opened", (json_int_t)s.opened);
    } else {
        return bw_cli_usage(cli, "unknown subcommand '%s'", sub);
    }
    if (rc != BW_OK)
        return bw_cli_reg_error(sub, rc, &err);
    bw_cli_print_json(cli, j);
    return BW_OK;
}

enum bw_rc bw_cmd_vuln(struct bw_cli *cli, int argc, char **argv)
{
    static const char *const names[] = {"--title",    "--component",     "--version",
                                        "--cve",      "--severity",      "--scope",
                                        "--found-at", "--fixed-release", "--exception",
                                        "--feed"};
    struct bw_cli_opts o;
    struct bw_config cfg;
    struct bw_store *st = NULL;
    if (argc < 2)
        return bw_cli_usage(cli, "vuln needs a subcommand");
    enum bw_rc rc = bw_cli_opts(cli, argc - 1, argv + 1, names, BW_ARRAY_LEN(names), &o);
    if (rc != BW_OK)
        return rc;
    rc = bw_cli_open(cli, &cfg, &st);
    if (rc != BW_OK)
        return rc;
    rc = vuln_run(cli, argv[1], &cfg, st, &o);
    bw_store_close(st);
    bw_config_cleanup(&cfg);
    return rc;
}
