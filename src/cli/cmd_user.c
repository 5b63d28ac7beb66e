/*
 * cmd_user.c - `bulwark user add|list|show|lock|unlock|disable|enable|
 * reset-mfa`. Users created here get an administrator-issued initial
 * password: read from --password-file, or generated and printed once; either
 * way it expires in 24 hours and must be changed at first login (CONTROL:
 * G-08). reset-mfa clears a user's second factor and recovery codes and ends
 * their sessions (CONTROL: AUTH-02). Every change is audited with actor
 * "cli". Passwords are wiped after use; show never prints a secret or hash.
 */
#include "audit/audit.h"
#include "auth/auth.h"
#include "cli/cli_int.h"
#include "store/store.h"
#include "sys/sys.h"

#include <jansson.h>
#include <sodium.h>
#include <string.h>

/* Loads the configuration and opens the store at this binary's schema. */
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

static enum bw_rc user_add(struct bw_cli *cli, int argc, char **argv)
{
    const char *email = NULL, *pwfile = NULL;
    bool admin = false, generated = false;
    for (int i = 1; i < argc; i++) {
        int r;
        if (strcmp(argv[i], "--platform-admin") == 0) {
            admin = true;
            continue;
        }
        if ((r = bw_cli_take(argc, argv, &i, "--email", &email)) != 0 ||
            (r = bw_cli_take(argc, argv, &i, "--password-file", &pwfile)) != 0) {
            if (r < 0)
                return bw_cli_usage(cli, "option %s needs a value", argv[i]);
            continue;
        }
        return bw_cli_usage(cli, "unknown option '%s'", argv[i]);
    }
    if (email == NULL)
        return bw_cli_usage(cli, "user add needs --email");
    struct bw_config cfg;
    struct bw_store *st = NULL;
    char why[512] = "";
    size_t len = 0;
    char *pw = sodium_malloc(BW_PASSWORD_MAX_BYTES + 1);
    if (pw == NULL)
        return BW_ERR_NOMEM;
    enum bw_rc rc = BW_OK;
    if (pwfile != NULL) {
        rc = bw_sys_read_file(pwfile, pw, BW_PASSWORD_MAX_BYTES, &len, false, why, sizeof(why));
        while (rc == BW_OK && len > 0 && (pw[len - 1] == '\n' || pw[len - 1] == '\r'))
            len--;
        if (rc != BW_OK)
            bw_cli_error("%s", why);
    } else {
        bw_password_generate(pw);
        len = BW_PASSWORD_GEN_LEN;
        generated = true;
    }
    if (rc == BW_OK)
        rc = open_store(cli, &cfg, &st);
    if (rc != BW_OK) {
        sodium_free(pw);
        return rc;
    }
    bw_pwhash_init(0);
    struct bw_password_errors pe = {.n = 0};
    struct bw_user u;
    struct bw_audit_ctx ctx = {.remote = "-", .request_id = "-"};
    struct bw_user_new nu = {email, pw, len, admin, true};
    rc = bw_user_create(st, &cfg, &ctx, "cli", &nu, &pe, &u);
    if (rc == BW_OK) {
        printf(cli->json ? "{\"id\":\"%s\",\"email\":\"%s\"" : "created user %s <%s>", u.id,
               u.email);
        if (generated)
            printf(cli->json ? ",\"initial_password\":\"%s\"}\n"
                             : "\ninitial password (shown once; expires in 24 hours): %s\n",
                   pw);
        else
            printf(cli->json ? "}\n" : "\n");
    } else if (rc == BW_ERR_INVALID && pe.n == 0) {
        bw_cli_error("'%s' is not a valid e-mail address", email);
    } else if (rc == BW_ERR_INVALID) {
        bw_cli_error("password refused: %s", pe.msg[0]);
    } else if (rc == BW_ERR_EXISTS) {
        bw_cli_error("a user with e-mail %s already exists", email);
    } else {
        bw_cli_error("cannot create user: %s", bw_rc_str(rc));
    }
    sodium_free(pw);
    bw_store_close(st);
    bw_config_cleanup(&cfg);
    return rc;
}

static enum bw_rc user_admin(struct bw_cli *cli, const char *op, int argc, char **argv)
{
    if (argc != 2)
        return bw_cli_usage(cli, "user %s needs exactly one e-mail address", op);
    struct bw_config cfg;
    struct bw_store *st = NULL;
    enum bw_rc rc = open_store(cli, &cfg, &st);
    if (rc != BW_OK)
        return rc;
    struct bw_audit_ctx ctx = {.remote = "-", .request_id = "-"};
    rc = bw_user_admin(st, &cfg, &ctx, "cli", argv[1], op);
    if (rc == BW_OK)
        printf(cli->json ? "{\"email\":\"%s\",\"done\":\"%s\"}\n" : "%s: %s done\n", argv[1], op);
    else if (rc == BW_ERR_NOTFOUND || rc == BW_ERR_INVALID)
        bw_cli_error("no user with e-mail %s", argv[1]);
    else
        bw_cli_error("cannot %s user: %s", op, bw_rc_str(rc));
    bw_store_close(st);
    bw_config_cleanup(&cfg);
    return rc;
}

static enum bw_rc list_row(void *arg, const struct bw_row *row)
{
    json_t *items = arg;
    int64_t locked = bw_row_int(row, BW_UCOL_LOCKED_UNTIL);
    json_t *o = json_pack("{s:s?, s:s?, s:s?, s:b, s:b}", "id", bw_row_text(row, BW_UCOL_ID, NULL),
                          "email", bw_row_text(row, BW_UCOL_EMAIL, NULL), "status",
                          bw_row_text(row, BW_UCOL_STATUS, NULL), "platform_admin",
                          (int)bw_row_int(row, BW_UCOL_PLATFORM_ADMIN), "locked",
                          locked > bw_time_now() || bw_row_int(row, BW_UCOL_ADMIN_LOCKED) != 0);
    return o != NULL && json_array_append_new(items, o) == 0 ? BW_OK : BW_ERR_NOMEM;
}

static enum bw_rc list_fn(struct bw_tx *tx, void *arg)
{
    struct bw_val p[] = {BW_VINT(100000)};
    return bw_tx_query(tx, BW_STMT_USER_LIST, p, 1, list_row, arg);
}

static enum bw_rc user_list(struct bw_cli *cli, int argc, char **argv)
{
    struct bw_config cfg;
    struct bw_store *st = NULL;
    if (argc != 1)
        return bw_cli_usage(cli, "unexpected argument '%s'", argv[1]);
    enum bw_rc rc = open_store(cli, &cfg, &st);
    if (rc != BW_OK)
        return rc;
    json_t *items = json_array();
    rc = items != NULL ? bw_store_read(st, list_fn, items) : BW_ERR_NOMEM;
    size_t i;
    json_t *u;
    if (rc == BW_OK && cli->json) {
        char *t = json_dumps(items, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (t != NULL)
            printf("%s\n", t);
        bw_free(t);
    } else if (rc == BW_OK) {
        json_array_foreach(items, i, u)
        {
            printf("%s  %-40s %-9s%s%s\n", json_string_value(json_object_get(u, "id")),
                   json_string_value(json_object_get(u, "email")),
                   json_string_value(json_object_get(u, "status")),
                   json_is_true(json_object_get(u, "platform_admin")) ? " platform-admin" : "",
                   json_is_true(json_object_get(u, "locked")) ? " locked" : "");
        }
    } else {
        bw_cli_error("cannot list users: %s", bw_rc_str(rc));
    }
    json_decref(items);
    bw_store_close(st);
    bw_config_cleanup(&cfg);
    return rc;
}

static enum bw_rc user_reset_mfa(struct bw_cli *cli, int argc, char **argv)
{
    if (argc != 2)
        return bw_cli_usage(cli, "user reset-mfa needs exactly one e-mail address");
    struct bw_config cfg;
    struct bw_store *st = NULL;
    enum bw_rc rc = open_store(cli, &cfg, &st);
    if (rc != BW_OK)
        return rc;
    struct bw_audit_ctx ctx = {.remote = "-", .request_id = "-"};
    rc = bw_mfa_reset(st, &ctx, "cli", argv[1]);
    if (rc == BW_OK)
        printf(cli->json ? "{\"email\":\"%s\",\"done\":\"reset-mfa\"}\n"
                         : "%s: MFA and recovery codes cleared, sessions ended\n",
               argv[1]);
    else if (rc == BW_ERR_NOTFOUND || rc == BW_ERR_INVALID)
        bw_cli_error("no user with e-mail %s", argv[1]);
    else
        bw_cli_error("cannot reset MFA: %s", bw_rc_str(rc));
    bw_store_close(st);
    bw_config_cleanup(&cfg);
    return rc;
}

struct show {
    const char *email;
    struct bw_user u;
    int64_t recovery_left;
};

static enum bw_rc show_fn(struct bw_tx *tx, void *arg)
{
    struct show *s = arg;
    enum bw_rc rc = bw_user_by_email(tx, s->email, &s->u);
    if (rc == BW_OK)
        rc = bw_mfa_recovery_left(tx, s->u.id, &s->recovery_left);
    return rc;
}

/* A user as JSON: state only, never a hash, seed or code. */
static json_t *show_json(const struct show *s)
{
    const struct bw_user *u = &s->u;
    int64_t now = bw_time_now();
    char created[21], last[21], expires[21];
    bw_time_format(u->created_at, created);
    bw_time_format(u->last_login_at, last);
    bw_time_format(u->password_expires_at, expires);
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:b, s:b, s:b, s:b, s:b, s:b, s:I, s:s}", "id", u->id, "email",
                  u->email, "status", u->status, "platform_admin", u->platform_admin, "locked",
                  u->locked_until > now || u->admin_locked, "must_change_password", u->must_change,
                  "mfa_enabled", u->mfa_enabled, "mfa_enrolment_pending", u->mfa_pending,
                  "otp_locked", u->otp_locked_until > now, "recovery_codes_left",
                  (json_int_t)s->recovery_left, "created_at", created);
    if (o == NULL)
        return NULL;
    json_object_set_new(o, "last_login_at", u->last_login_at ? json_string(last) : json_null());
    json_object_set_new(o, "password_expires_at",
                        u->password_expires_at ? json_string(expires) : json_null());
    return o;
}

static void show_text(const json_t *o)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)o, k, v)
    {
        if (json_is_string(v))
            printf("%-22s %s\n", k, json_string_value(v));
        else if (json_is_integer(v))
            printf("%-22s %lld\n", k, (long long)json_integer_value(v));
        else
            printf("%-22s %s\n", k, json_is_true(v) ? "yes" : json_is_null(v) ? "-" : "no");
    }
}

static enum bw_rc user_show(struct bw_cli *cli, int argc, char **argv)
{
    char norm[BW_EMAIL_MAX + 1];
    struct bw_config cfg;
    struct bw_store *st = NULL;
    if (argc != 2)
        return bw_cli_usage(cli, "user show needs exactly one e-mail address");
    if (bw_email_normalize(argv[1], norm) != BW_OK) {
        bw_cli_error("'%s' is not a valid e-mail address", argv[1]);
        return BW_ERR_INVALID;
    }
    enum bw_rc rc = open_store(cli, &cfg, &st);
    if (rc != BW_OK)
        return rc;
    struct show s = {.email = norm};
    rc = bw_store_read(st, show_fn, &s);
    json_t *o = rc == BW_OK ? show_json(&s) : NULL;
    if (rc == BW_OK && o == NULL)
        rc = BW_ERR_NOMEM;
    char *t = o != NULL && cli->json ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (t != NULL)
        printf("%s\n", t);
    else if (o != NULL)
        show_text(o);
    else if (rc == BW_ERR_NOTFOUND)
        bw_cli_error("no user with e-mail %s", argv[1]);
    else
        bw_cli_error("cannot show user: %s", bw_rc_str(rc));
    bw_free(t);
    json_decref(o);
    bw_store_close(st);
    bw_config_cleanup(&cfg);
    return rc;
}

enum bw_rc bw_cmd_user(struct bw_cli *cli, int argc, char **argv)
{
    static const char *const admin_ops[] = {"lock", "unlock", "disable", "enable"};
    if (argc < 2)
        return bw_cli_usage(cli, "user needs a subcommand: add, list, show, lock, unlock, "
                                 "disable, enable, reset-mfa, set-role");
    if (strcmp(argv[1], "add") == 0)
        return user_add(cli, argc - 1, argv + 1);
    if (strcmp(argv[1], "list") == 0)
        return user_list(cli, argc - 1, argv + 1);
    if (strcmp(argv[1], "show") == 0)
        return user_show(cli, argc - 1, argv + 1);
    if (strcmp(argv[1], "reset-mfa") == 0)
        return user_reset_mfa(cli, argc - 1, argv + 1);
    if (strcmp(argv[1], "set-role") == 0)
        return bw_cli_set_role(cli, argc - 1, argv + 1);
    for (size_t i = 0; i < BW_ARRAY_LEN(admin_ops); i++) {
        if (strcmp(argv[1], admin_ops[i]) == 0)
            return user_admin(cli, admin_ops[i], argc - 1, argv + 1);
    }
    return bw_cli_usage(cli, "unknown user subcommand '%s'", argv[1]);
}
