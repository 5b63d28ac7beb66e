/*
 * cmd_apikey.c - `bulwark apikey create|list|revoke` (SPEC 4, CONTROL:
 * AC-04). The operator at the command line is trusted with every
 * organisation (actor "cli"), but not with weakening a key: the role must
 * be one a key may hold, the allow-list is required and non-empty, an
 * expiry lies in the future. The new key is printed once and wiped; list
 * never prints a secret or hash. Every change is audited.
 */
#include "audit/audit.h"
#include "auth/auth.h"
#include "cli/cli_int.h"
#include "store/store.h"
#include "tenant/tenant.h"

#include <jansson.h>
#include <sodium.h>
#include <string.h>

static enum bw_rc open_store(struct bw_cli *cli, struct bw_config *cfg, struct bw_store **st)
{
    enum bw_rc rc = bw_cli_load_config(cli, cfg);
    if (rc != BW_OK)
        return rc;
    rc = bw_cli_open_store(cli, cfg, 1, true, st);
    if (rc != BW_OK)
        bw_config_cleanup(cfg);
    return rc;
}

/* --expires: RFC 3339 UTC, or a date YYYY-MM-DD meaning its start (00:00Z). */
static enum bw_rc parse_expiry(const char *s, int64_t *out)
{
    char full[32];
    if (strlen(s) == 10) {
        snprintf(full, sizeof(full), "%sT00:00:00Z", s);
        s = full;
    }
    return bw_time_parse(s, out);
}

struct create_job {
    const struct bw_audit_ctx *ctx;
    struct bw_apikey_new nk;
    struct bw_apikey_created out;
};

static enum bw_rc create_fn(struct bw_tx *tx, void *arg)
{
    struct create_job *j = arg;
    struct bw_org org;
    enum bw_rc rc = bw_org_get(tx, j->nk.org_id, &org);
    return rc == BW_OK ? bw_apikey_insert(tx, j->ctx, "cli", &j->nk, &j->out) : rc;
}

static enum bw_rc create_args(struct bw_cli *cli, int argc, char **argv, struct bw_apikey_new *nk,
                              const char **allow, const char **expires)
{
    for (int i = 1; i < argc; i++) {
        int r;
        if ((r = bw_cli_take(argc, argv, &i, "--org", &nk->org_id)) != 0 ||
            (r = bw_cli_take(argc, argv, &i, "--role", &nk->role)) != 0 ||
            (r = bw_cli_take(argc, argv, &i, "--allow", allow)) != 0 ||
            (r = bw_cli_take(argc, argv, &i, "--expires", expires)) != 0 ||
            (r = bw_cli_take(argc, argv, &i, "--name", &nk->name)) != 0) {
            if (r < 0)
                return bw_cli_usage(cli, "option %s needs a value", argv[i]);
            continue;
        }
        return bw_cli_usage(cli, "unknown option '%s'", argv[i]);
    }
    if (nk->org_id == NULL || nk->role == NULL || *allow == NULL)
        return bw_cli_usage(cli, "apikey create needs --org, --role and --allow");
    return BW_OK;
}

static enum bw_rc apikey_create(struct bw_cli *cli, int argc, char **argv)
{
    struct create_job j;
    struct bw_config cfg;
    struct bw_store *st = NULL;
    struct bw_audit_ctx ctx = {.remote = "-", .request_id = "-"};
    const char *allow = NULL, *expires = NULL;
    char ips[2048];
    enum bw_role role;
    memset(&j, 0, sizeof(j));
    j.ctx = &ctx;
    j.nk.name = "cli";
    enum bw_rc rc = create_args(cli, argc, argv, &j.nk, &allow, &expires);
    if (rc != BW_OK)
        return rc;
    if (bw_role_parse(j.nk.role, &role) != BW_OK || !bw_role_apikey_ok(role))
        return bw_cli_usage(cli, "--role must be editor, viewer or auditor (keys have no second "
                                 "factor, so no administrative role)");
    if (bw_apikey_cidrs(allow, ips, sizeof(ips)) != BW_OK)
        return bw_cli_usage(cli, "--allow needs one or more IPv4/IPv6 CIDRs separated by commas "
                                 "(at most %d)", BW_APIKEY_MAX_CIDRS);
    if (expires != NULL && (parse_expiry(expires, &j.nk.expires_at) != BW_OK ||
                            j.nk.expires_at <= bw_time_now()))
        return bw_cli_usage(cli, "--expires must be a future date (YYYY-MM-DD or RFC 3339 UTC)");
    if (strlen(j.nk.name) == 0 || strlen(j.nk.name) > BW_APIKEY_NAME_MAX)
        return bw_cli_usage(cli, "--name must be 1 to %d bytes", BW_APIKEY_NAME_MAX);
    j.nk.allowed_ips = ips;
    rc = open_store(cli, &cfg, &st);
    if (rc != BW_OK)
        return rc;
    rc = bw_store_write(st, create_fn, &j);
    if (rc == BW_OK)
        printf(cli->json ? "{\"id\":\"%s\",\"key\":\"%s\",\"org_id\":\"%s\",\"role\":\"%s\","
                           "\"allowed_ips\":\"%s\"}\n"
                         : "created API key %s\nkey (shown once): %s\norganisation %s, role %s, "
                           "allowed from %s\n",
               j.out.id, j.out.key, j.nk.org_id, j.nk.role, ips);
    else if (rc == BW_ERR_NOTFOUND)
        bw_cli_error("no organisation with id %s", j.nk.org_id);
    else
        bw_cli_error("cannot create API key: %s", bw_rc_str(rc));
    sodium_memzero(&j.out, sizeof(j.out));
    bw_store_close(st);
    bw_config_cleanup(&cfg);
    return rc;
}

struct list_job {
    const char *org_id; /* NULL: every organisation */
    json_t *items;
};

static enum bw_rc list_fn(struct bw_tx *tx, void *arg)
{
    struct list_job *j = arg;
    json_t *orgs = json_array();
    enum bw_rc rc = BW_OK;
    if (orgs == NULL)
        return BW_ERR_NOMEM;
    if (j->org_id != NULL) {
        json_array_append_new(orgs, json_pack("{s:s}", "id", j->org_id));
    } else {
        json_t *all = NULL;
        rc = bw_org_list_all(tx, &all);
        if (rc == BW_OK)
            json_array_extend(orgs, all);
        json_decref(all);
    }
    size_t i;
    json_t *org;
    json_array_foreach(orgs, i, org)
    {
        json_t *keys = NULL, *o = json_object_get(org, "id");
        if (rc == BW_OK)
            rc = bw_apikey_list(tx, json_string_value(o), &keys);
        size_t k;
        json_t *key;
        json_array_foreach(keys, k, key) json_object_set(key, "org_id", o);
        if (rc == BW_OK)
            json_array_extend(j->items, keys);
        json_decref(keys);
    }
    json_decref(orgs);
    return rc;
}

static enum bw_rc apikey_list(struct bw_cli *cli, int argc, char **argv)
{
    struct bw_config cfg;
    struct bw_store *st = NULL;
    struct list_job j = {NULL, NULL};
    for (int i = 1; i < argc; i++) {
        int r = bw_cli_take(argc, argv, &i, "--org", &j.org_id);
        if (r < 0)
            return bw_cli_usage(cli, "option %s needs a value", argv[i]);
        if (r == 0)
            return bw_cli_usage(cli, "unknown option '%s'", argv[i]);
    }
    enum bw_rc rc = open_store(cli, &cfg, &st);
    if (rc != BW_OK)
        return rc;
    j.items = json_array();
    rc = j.items != NULL ? bw_store_read(st, list_fn, &j) : BW_ERR_NOMEM;
    size_t i;
    json_t *k;
    if (rc == BW_OK && cli->json) {
        char *t = json_dumps(j.items, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (t != NULL)
            printf("%s\n", t);
        bw_free(t);
    } else if (rc == BW_OK) {
        json_array_foreach(j.items, i, k)
        {
            const char *rev = json_string_value(json_object_get(k, "revoked_at"));
            printf("%s  org %s  %-8s %-20s%s%s\n", json_string_value(json_object_get(k, "id")),
                   json_string_value(json_object_get(k, "org_id")),
                   json_string_value(json_object_get(k, "role")),
                   json_string_value(json_object_get(k, "name")), rev ? " revoked " : "",
                   rev ? rev : "");
        }
    } else {
        bw_cli_error("cannot list API keys: %s", bw_rc_str(rc));
    }
    json_decref(j.items);
    bw_store_close(st);
    bw_config_cleanup(&cfg);
    return rc;
}

struct revoke_job {
    const struct bw_audit_ctx *ctx;
    const char *id;
    char org[BW_ID_LEN + 1];
};

static enum bw_rc org_row(void *arg, const struct bw_row *row)
{
    struct revoke_job *j = arg;
    size_t len = 0;
    const char *t = bw_row_text(row, 0, &len);
    if (t != NULL && len == BW_ID_LEN)
        memcpy(j->org, t, BW_ID_LEN + 1);
    return BW_OK;
}

static enum bw_rc revoke_fn(struct bw_tx *tx, void *arg)
{
    struct revoke_job *j = arg;
    struct bw_val p[] = {BW_VTEXT(j->id)};
    enum bw_rc rc = bw_tx_query(tx, BW_STMT_APIKEY_ORG_OF, p, 1, org_row, j);
    if (rc == BW_OK && j->org[0] == '\0')
        rc = BW_ERR_NOTFOUND;
    return rc == BW_OK ? bw_apikey_revoke(tx, j->ctx, "cli", j->org, j->id) : rc;
}

static enum bw_rc apikey_revoke(struct bw_cli *cli, int argc, char **argv)
{
    struct bw_config cfg;
    struct bw_store *st = NULL;
    struct bw_audit_ctx ctx = {.remote = "-", .request_id = "-"};
    if (argc != 2)
        return bw_cli_usage(cli, "apikey revoke needs exactly one key id");
    struct revoke_job j = {&ctx, argv[1], ""};
    if (!bw_id_valid(argv[1])) {
        bw_cli_error("no live API key with id %s", argv[1]);
        return BW_ERR_NOTFOUND;
    }
    enum bw_rc rc = open_store(cli, &cfg, &st);
    if (rc != BW_OK)
        return rc;
    rc = bw_store_write(st, revoke_fn, &j);
    if (rc == BW_OK)
        printf(cli->json ? "{\"id\":\"%s\",\"done\":\"revoke\"}\n" : "API key %s revoked\n",
               argv[1]);
    else if (rc == BW_ERR_NOTFOUND)
        bw_cli_error("no live API key with id %s", argv[1]);
    else
        bw_cli_error("cannot revoke API key: %s", bw_rc_str(rc));
    bw_store_close(st);
    bw_config_cleanup(&cfg);
    return rc;
}

enum bw_rc bw_cmd_apikey(struct bw_cli *cli, int argc, char **argv)
{
    if (argc < 2)
        return bw_cli_usage(cli, "apikey needs a subcommand: create, list, revoke");
    if (strcmp(argv[1], "create") == 0)
        return apikey_create(cli, argc - 1, argv + 1);
    if (strcmp(argv[1], "list") == 0)
        return apikey_list(cli, argc - 1, argv + 1);
    if (strcmp(argv[1], "revoke") == 0)
        return apikey_revoke(cli, argc - 1, argv + 1);
    return bw_cli_usage(cli, "unknown apikey subcommand '%s'", argv[1]);
}
