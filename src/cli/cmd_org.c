/*
 * cmd_org.c - `bulwark org create|list|show` (organisations, SPEC 5) and
 * the organisation half of `bulwark user set-role` (memberships). The
 * operator is trusted with every organisation (actor "cli"), not with the
 * invariants: an organisation keeps one owner, platform administrators are
 * never members (CONTROL: G-06). Every change is audited.
 */
#include "audit/audit.h"
#include "cli/cli_int.h"
#include "store/store.h"
#include "tenant/tenant.h"

#include <jansson.h>
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

static void print_json(const json_t *o)
{
    char *t = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (t != NULL)
        printf("%s\n", t);
    bw_free(t);
}

static enum bw_rc org_create(struct bw_cli *cli, int argc, char **argv)
{
    const char *name = NULL, *owner = NULL;
    for (int i = 1; i < argc; i++) {
        int r;
        if ((r = bw_cli_take(argc, argv, &i, "--name", &name)) != 0 ||
            (r = bw_cli_take(argc, argv, &i, "--owner", &owner)) != 0) {
            if (r < 0)
                return bw_cli_usage(cli, "option %s needs a value", argv[i]);
            continue;
        }
        return bw_cli_usage(cli, "unknown option '%s'", argv[i]);
    }
    if (name == NULL || owner == NULL)
        return bw_cli_usage(cli, "org create needs --name and --owner");
    struct bw_config cfg;
    struct bw_store *st = NULL;
    struct bw_audit_ctx ctx = {.remote = "-", .request_id = "-"};
    struct bw_tenant_result res;
    struct bw_org org;
    enum bw_rc rc = open_store(cli, &cfg, &st);
    if (rc != BW_OK)
        return rc;
    rc = bw_org_create(st, &ctx, NULL, name, owner, &org, &res);
    if (rc == BW_OK)
        printf(cli->json ? "{\"id\":\"%s\"}\n" : "created organisation %s\n", org.id);
    else if (rc == BW_ERR_INVALID)
        bw_cli_error("--name must be 1 to %d bytes of text without control characters",
                     BW_ORG_NAME_MAX);
    else if (rc == BW_ERR_NOTFOUND)
        bw_cli_error("no user with e-mail %s", owner);
    else if (rc == BW_ERR_CONFLICT)
        bw_cli_error("%s is a platform administrator: administrators cannot own organisations "
                     "(use a separate account)",
                     owner);
    else
        bw_cli_error("cannot create organisation: %s", bw_rc_str(rc));
    bw_store_close(st);
    bw_config_cleanup(&cfg);
    return rc;
}

struct read_job {
    const char *org_id;
    struct bw_org org;
    json_t *items;
};

static enum bw_rc list_fn(struct bw_tx *tx, void *arg)
{
    struct read_job *j = arg;
    return bw_org_list_all(tx, &j->items);
}

static enum bw_rc show_fn(struct bw_tx *tx, void *arg)
{
    struct read_job *j = arg;
    enum bw_rc rc = bw_org_get(tx, j->org_id, &j->org);
    return rc == BW_OK ? bw_member_list(tx, j->org_id, &j->items) : rc;
}

static enum bw_rc org_read(struct bw_cli *cli, int argc, char **argv, bool show)
{
    struct bw_config cfg;
    struct bw_store *st = NULL;
    struct read_job j;
    memset(&j, 0, sizeof(j));
    if (argc != (show ? 2 : 1))
        return bw_cli_usage(cli, show ? "org show needs exactly one organisation id"
                                      : "unexpected argument '%s'",
                            argv[argc - 1]);
    j.org_id = show ? argv[1] : NULL;
    enum bw_rc rc = open_store(cli, &cfg, &st);
    if (rc != BW_OK)
        return rc;
    rc = bw_store_read(st, show ? show_fn : list_fn, &j);
    size_t i;
    json_t *o;
    if (rc == BW_OK && cli->json && show)
        print_json(json_pack("{s:s, s:s, s:O}", "id", j.org.id, "name", j.org.name, "members",
                             j.items));
    else if (rc == BW_OK && cli->json)
        print_json(j.items);
    else if (rc == BW_OK && show)
        printf("%s  %s\n", j.org.id, j.org.name);
    if (rc == BW_OK && !cli->json) {
        json_array_foreach(j.items, i, o)
        {
            const char *a = json_string_value(json_object_get(o, show ? "user_id" : "id"));
            const char *b = json_string_value(json_object_get(o, show ? "email" : "name"));
            const char *c = show ? json_string_value(json_object_get(o, "role")) : "";
            printf("%s%s  %s %s\n", show ? "  " : "", a, b, c);
        }
    } else if (rc == BW_ERR_NOTFOUND) {
        bw_cli_error("no organisation with id %s", argv[1]);
    } else if (rc != BW_OK) {
        bw_cli_error("cannot read organisations: %s", bw_rc_str(rc));
    }
    json_decref(j.items);
    bw_store_close(st);
    bw_config_cleanup(&cfg);
    return rc;
}

enum bw_rc bw_cmd_org(struct bw_cli *cli, int argc, char **argv)
{
    if (argc < 2)
        return bw_cli_usage(cli, "org needs a subcommand: create, list, show");
    if (strcmp(argv[1], "create") == 0)
        return org_create(cli, argc - 1, argv + 1);
    if (strcmp(argv[1], "list") == 0)
        return org_read(cli, argc - 1, argv + 1, false);
    if (strcmp(argv[1], "show") == 0)
        return org_read(cli, argc - 1, argv + 1, true);
    return bw_cli_usage(cli, "unknown org subcommand '%s'", argv[1]);
}

/* ---- user set-role ------------------------------------------------------------- */

struct uid_job {
    const char *email;
    struct bw_user u;
};

static enum bw_rc uid_fn(struct bw_tx *tx, void *arg)
{
    struct uid_job *j = arg;
    return bw_user_by_email(tx, j->email, &j->u);
}

/* `--org O --role R`: R a member role, or "none" to remove the membership. */
static enum bw_rc org_role(struct bw_cli *cli, struct bw_store *st, const struct bw_config *cfg,
                           const char *email, const char *org, const char *rname)
{
    struct bw_audit_ctx ctx = {.remote = "-", .request_id = "-"};
    struct bw_tenant_result res;
    enum bw_role role = BW_ROLE_NONE;
    bool created = false;
    enum bw_rc rc;
    memset(&res, 0, sizeof(res));
    if (strcmp(rname, "none") == 0) {
        char norm[BW_EMAIL_MAX + 1];
        struct uid_job j;
        memset(&j, 0, sizeof(j));
        j.email = norm;
        rc = bw_email_normalize(email, norm) == BW_OK ? bw_store_read(st, uid_fn, &j)
                                                      : BW_ERR_NOTFOUND;
        if (rc == BW_OK)
            rc = bw_member_remove(st, cfg, &ctx, NULL, org, j.u.id, &res);
        else
            res.no_user = true;
    } else if (bw_role_parse(rname, &role) != BW_OK) {
        return bw_cli_usage(cli, "--role must be owner, admin, editor, viewer, auditor or none");
    } else {
        rc = bw_member_set(st, cfg, &ctx, NULL, org, email, role, &created, &res);
    }
    if (rc == BW_OK)
        printf(cli->json ? "{\"email\":\"%s\",\"org\":\"%s\",\"role\":\"%s\"}\n"
                         : "%s: role in organisation %s is now %s\n",
               email, org, rname);
    else if (rc == BW_ERR_NOTFOUND && res.no_user)
        bw_cli_error("no user with e-mail %s in that organisation", email);
    else if (rc == BW_ERR_NOTFOUND)
        bw_cli_error("no organisation with id %s", org);
    else if (rc == BW_ERR_CONFLICT && res.last_owner)
        bw_cli_error("%s is the last owner of %s: make another member owner first", email, org);
    else if (rc == BW_ERR_CONFLICT)
        bw_cli_error("%s is a platform administrator: administrators cannot be members", email);
    else
        bw_cli_error("cannot change the role: %s", bw_rc_str(rc));
    return rc;
}

enum bw_rc bw_cli_set_role(struct bw_cli *cli, int argc, char **argv)
{
    const char *padmin = NULL, *org = NULL, *role = NULL, *email = NULL;
    for (int i = 1; i < argc; i++) {
        int r;
        if ((r = bw_cli_take(argc, argv, &i, "--platform-admin", &padmin)) != 0 ||
            (r = bw_cli_take(argc, argv, &i, "--org", &org)) != 0 ||
            (r = bw_cli_take(argc, argv, &i, "--role", &role)) != 0) {
            if (r < 0)
                return bw_cli_usage(cli, "option %s needs a value", argv[i]);
            continue;
        }
        if (argv[i][0] == '-' || email != NULL)
            return bw_cli_usage(cli, "unexpected argument '%s'", argv[i]);
        email = argv[i];
    }
    bool on = false;
    bool by_org = org != NULL || role != NULL;
    if (email == NULL || (padmin == NULL) == !by_org || (by_org && (org == NULL || role == NULL)))
        return bw_cli_usage(cli, "user set-role needs an e-mail and either --platform-admin "
                                 "yes|no or --org ORG --role ROLE");
    if (padmin != NULL && bw_parse_bool(padmin, &on) != BW_OK)
        return bw_cli_usage(cli, "--platform-admin takes yes or no");
    struct bw_config cfg;
    struct bw_store *st = NULL;
    struct bw_audit_ctx ctx = {.remote = "-", .request_id = "-"};
    enum bw_rc rc = open_store(cli, &cfg, &st);
    if (rc != BW_OK)
        return rc;
    if (by_org) {
        rc = org_role(cli, st, &cfg, email, org, role);
    } else {
        rc = bw_user_set_platform_admin(st, &ctx, "cli", email, on);
        if (rc == BW_OK)
            printf(cli->json ? "{\"email\":\"%s\",\"platform_admin\":%s}\n"
                             : "%s: platform admin %s\n",
                   email, on ? (cli->json ? "true" : "yes") : (cli->json ? "false" : "no"));
        else if (rc == BW_ERR_NOTFOUND)
            bw_cli_error("no user with e-mail %s", email);
        else if (rc == BW_ERR_CONFLICT)
            bw_cli_error("%s belongs to an organisation: a standard account is never promoted "
                         "to platform administrator (use a separate account)",
                         email);
        else
            bw_cli_error("cannot change the role: %s", bw_rc_str(rc));
    }
    bw_store_close(st);
    bw_config_cleanup(&cfg);
    return rc;
}
