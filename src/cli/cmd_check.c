/*
 * cmd_check.c - `bulwark check [--control ID[,ID…]]` (SPEC 4): runs every
 * control check of the catalogue against the live data directory, store
 * and configuration, prints one line per control (or the whole result with
 * --json) and exits 1 when any control fails or its check could not run;
 * warnings never fail. A full run is stored as a dated assessment and
 * audited (CONTROL: G-11).
 */
#include "audit/audit.h"
#include "cli/cli_int.h"
#include "compliance/compliance.h"
#include "crypto/crypto.h"
#include "store/store.h"
#include "sys/sys.h"

#include <jansson.h>
#include <string.h>
#include <unistd.h>

enum { MAX_ONLY = 128 };

/* Splits "A,B,C" in place into only[]; usage error on an empty id. */
static enum bw_rc split_ids(struct bw_cli *cli, char *list, const char **only, size_t *n)
{
    *n = 0;
    for (char *p = list; p != NULL;) {
        char *comma = strchr(p, ',');
        if (comma != NULL)
            *comma = '\0';
        if (*p == '\0' || *n == MAX_ONLY)
            return bw_cli_usage(cli, "--control: expected ID[,ID...]");
        only[(*n)++] = p;
        p = comma != NULL ? comma + 1 : NULL;
    }
    return BW_OK;
}

static void print_text(json_t *run, bool tty)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(run, "items"), i, v)
    {
        const char *st = json_string_value(json_object_get(v, "status"));
        const char *detail = json_string_value(json_object_get(v, "detail"));
        const char *color = !tty                                                  ? ""
                            : strcmp(st, "pass") == 0                             ? "\033[32m"
                            : strcmp(st, "fail") == 0 || strcmp(st, "error") == 0 ? "\033[31m"
                            : strcmp(st, "warning") == 0                          ? "\033[33m"
                                                                                  : "";
        printf("%s%-14s%s %-8s %s%s%s\n", color, st, tty ? "\033[0m" : "",
               json_string_value(json_object_get(v, "id")),
               json_string_value(json_object_get(v, "title")), detail[0] ? ": " : "", detail);
    }
    json_t *s = json_object_get(run, "summary");
    printf("%lld pass, %lld fail, %lld warning, %lld not applicable, %lld error, %lld not "
           "checked\n",
           (long long)json_integer_value(json_object_get(s, "pass")),
           (long long)json_integer_value(json_object_get(s, "fail")),
           (long long)json_integer_value(json_object_get(s, "warning")),
           (long long)json_integer_value(json_object_get(s, "not_applicable")),
           (long long)json_integer_value(json_object_get(s, "error")),
           (long long)json_integer_value(json_object_get(s, "not_checked")));
}

static enum bw_rc parse(struct bw_cli *cli, int argc, char **argv, char **ids)
{
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int r = bw_cli_take(argc, argv, &i, "--control", &v);
        if (r < 0)
            return bw_cli_usage(cli, "option --control needs a value");
        if (r == 0 && strcmp(argv[i], "--json") == 0) {
            cli->json = true;
            continue;
        }
        if (r == 0)
            return bw_cli_usage(cli, "unknown option '%s'", argv[i]);
        bw_free(*ids);
        if ((*ids = bw_strdup(v)) == NULL)
            return BW_ERR_NOMEM;
    }
    return BW_OK;
}

enum bw_rc bw_cmd_check(struct bw_cli *cli, int argc, char **argv)
{
    struct bw_config cfg;
    struct bw_store *st = NULL;
    struct bw_keyring *kr = NULL;
    char *ids = NULL, keys[4096], why[512] = "", id[BW_ID_LEN + 1] = "";
    const char *only[MAX_ONLY];
    size_t nonly = 0;
    json_t *run = NULL;
    bool cfg_loaded = false;
    enum bw_rc rc = parse(cli, argc, argv, &ids);
    if (rc == BW_OK && ids != NULL)
        rc = split_ids(cli, ids, only, &nonly);
    for (size_t i = 0; rc == BW_OK && i < nonly; i++) {
        if (bw_compliance_find(only[i]) == NULL)
            rc = bw_cli_usage(cli, "unknown control '%s'", only[i]);
    }
    if (rc == BW_OK && (rc = bw_cli_load_config(cli, &cfg)) == BW_OK)
        cfg_loaded = true;
    if (rc == BW_OK)
        rc = bw_cli_open_store(cli, &cfg, 2, true, &st);
    if (rc == BW_OK && bw_sys_path(keys, sizeof(keys), cli->data_dir, "keys") == BW_OK &&
        bw_keyring_load(keys, &kr, why, sizeof(why)) != BW_OK)
        bw_cli_error("check: the keys are not loaded (%s): checks that need them report "
                     "error",
                     why);
    struct bw_compliance_env env = {.cfg = &cfg, .store = st, .kr = kr, .data_dir = cli->data_dir};
    if (rc == BW_OK && (rc = bw_compliance_run(&env, only, nonly, &run)) != BW_OK)
        bw_cli_error("check: cannot run the checks: %s", bw_rc_str(rc));
    if (rc == BW_OK && nonly == 0) {
        const struct bw_audit_ctx ctx = {.remote = "-", .request_id = "-"};
        if ((rc = bw_compliance_record(st, &ctx, "cli", "cli", run, id)) != BW_OK)
            bw_cli_error("check: cannot store the assessment: %s", bw_rc_str(rc));
        else if (json_object_set_new(run, "assessment", json_string(id)) != 0)
            rc = BW_ERR_NOMEM;
    }
    if (rc == BW_OK) {
        bool failed = json_is_true(json_object_get(run, "failed"));
        if (cli->json) {
            json_incref(run);
            bw_cli_print_json(cli, run);
        } else {
            print_text(run, isatty(STDOUT_FILENO) != 0);
        }
        if (failed) {
            bw_cli_error("check: %lld control(s) failing",
                         (long long)(json_integer_value(
                                         json_object_get(json_object_get(run, "summary"), "fail")) +
                                     json_integer_value(json_object_get(
                                         json_object_get(run, "summary"), "error"))));
            rc = BW_ERR_CONFLICT;
        }
    }
    json_decref(run);
    bw_keyring_free(kr);
    bw_store_close(st);
    if (cfg_loaded)
        bw_config_cleanup(&cfg);
    bw_free(ids);
    return rc;
}
