/*
 * check_store.c - controls decided by what the store holds: accounts
 * (password hashes, MFA of administrators, inactive and initial
 * credentials), API keys, the audit chain and its checkpoints, incidents
 * and vulnerabilities past their clocks, open review tasks, feed scans,
 * backup verification events and earlier assessments. (CONTROL: AUTH-01,
 * AUTH-02, AUTH-08, AC-04, AC-05, LOG-06, VUL-01..05, INC-01, INC-03,
 * INC-04, G-01, G-02, G-06..08, G-10, G-11, SUP-01, SUP-02.)
 *
 * Trusts: the store. Reads only (bw_store_read; the audit verification
 * writes nothing). Password hashes are parsed for their parameters and
 * never copied into evidence; only counts and ids leave this file.
 */
#include "audit/audit.h"
#include "auth/auth.h"
#include "compliance/compliance_int.h"
#include "crypto/crypto.h"
#include "store/store.h"
#include "sys/sys.h"
#include "vuln/vuln.h"

#include <sys/stat.h>

#include <string.h>

/* ---- accounts ------------------------------------------------------------------ */

struct users {
    int64_t now;
    int64_t total, active, admins, admins_no_mfa, bad_hash, weak_params, inactive, long_initial;
};

/* Reads "<key>=<digits>" from an argon2 parameter string; 0 when absent. */
static uint64_t hash_param(const char *h, const char *key)
{
    const char *p = strstr(h, key);
    uint64_t v = 0;
    if (p == NULL)
        return 0;
    for (p += strlen(key); *p >= '0' && *p <= '9' && v < (1ULL << 40); p++)
        v = v * 10 + (uint64_t)(*p - '0');
    return v;
}

static enum bw_rc user_row(void *arg, const struct bw_row *row)
{
    struct users *u = arg;
    const char *status = bw_row_text(row, BW_UCOL_STATUS, NULL);
    const char *hash = bw_row_text(row, BW_UCOL_PASSWORD_HASH, NULL);
    bool active = status != NULL && strcmp(status, "active") == 0;
    u->total++;
    u->active += active;
    /* CONTROL: AUTH-08 - Argon2id at or above the built-in minimum */
    if (hash == NULL || strncmp(hash, "$argon2id$v=19$", 15) != 0)
        u->bad_hash++;
    else if (hash_param(hash, "$m=") < BW_PWHASH_MEMLIMIT / 1024 ||
             hash_param(hash, ",t=") < BW_PWHASH_OPSLIMIT)
        u->weak_params++;
    if (active && bw_row_int(row, BW_UCOL_PLATFORM_ADMIN) != 0) {
        u->admins++;
        u->admins_no_mfa += bw_row_int(row, BW_UCOL_MFA_ENABLED) == 0;
    }
    int64_t last = bw_row_is_null(row, BW_UCOL_LAST_LOGIN_AT)
                       ? bw_row_int(row, BW_UCOL_CREATED_AT)
                       : bw_row_int(row, BW_UCOL_LAST_LOGIN_AT);
    if (active && u->now - last > 90 * BW_POL_DAY) /* CONTROL: G-07 (default 90 d) */
        u->inactive++;
    if (active && bw_row_int(row, BW_UCOL_MUST_CHANGE) != 0 &&
        !bw_row_is_null(row, BW_UCOL_PASSWORD_EXPIRES_AT) &&
        bw_row_int(row, BW_UCOL_PASSWORD_EXPIRES_AT) -
                bw_row_int(row, BW_UCOL_PASSWORD_CHANGED_AT) >
            BW_POL_DAY)
        u->long_initial++;
    return BW_OK;
}

static enum bw_rc users_fn(struct bw_tx *tx, void *arg)
{
    struct bw_val p[] = {BW_VINT(INT32_MAX)};
    return bw_tx_query(tx, BW_STMT_USER_LIST, p, 1, user_row, arg);
}

static bool read_users(const struct bw_compliance_env *env, struct bw_ctl_out *o, struct users *u)
{
    *u = (struct users){.now = bw_time_now()};
    enum bw_rc rc = bw_store_read(env->store, users_fn, u);
    if (rc != BW_OK)
        bw_detail_add(o, "cannot read the accounts: %s", bw_rc_str(rc));
    return rc == BW_OK;
}

BW_CHECK(bw_chk_auth01)
{
    (void)ctl;
    struct users u;
    if (!read_users(env, o, &u))
        return BW_CTL_ERROR;
    bw_ev_int(o, "users", u.total);
    bw_ev_int(o, "without_argon2id", u.bad_hash);
    bw_ev_str(o, "login", "e-mail + password (POST /api/v1/auth/login)");
    if (u.bad_hash > 0) {
        bw_detail_add(o, "%lld account(s) without an Argon2id password", (long long)u.bad_hash);
        return BW_CTL_FAIL;
    }
    return BW_CTL_PASS;
}

/* Administrators without an enrolled second factor (AUTH-02, AC-05). */
static enum bw_ctl_status admins_mfa(const struct bw_compliance_env *env, struct bw_ctl_out *o,
                                     const char *key, bool required)
{
    struct users u;
    struct bw_rules r = {o, false};
    bw_rule_yes(&r, key, required);
    if (!read_users(env, o, &u))
        return BW_CTL_ERROR;
    bw_ev_int(o, "platform_admins", u.admins);
    bw_ev_int(o, "admins_without_mfa", u.admins_no_mfa);
    if (u.admins_no_mfa > 0) {
        bw_detail_add(o, "%lld of %lld platform administrator(s) have no second factor",
                      (long long)u.admins_no_mfa, (long long)u.admins);
        return BW_CTL_FAIL;
    }
    return bw_rules_status(&r);
}

BW_CHECK(bw_chk_auth02)
{
    (void)ctl;
    return admins_mfa(env, o, "mfa.required_for_admins", env->cfg->mfa_required_for_admins);
}

/* CONTROL: AC-05; decision C3: MFA for everyone is recommended (a warning). */
BW_CHECK(bw_chk_ac05)
{
    (void)ctl;
    enum bw_ctl_status st =
        admins_mfa(env, o, "mfa.required_for_restricted", env->cfg->mfa_required_for_restricted);
    if (st == BW_CTL_PASS && env->cfg->mfa_required_for_admins == false) {
        bw_detail_add(o, "mfa.required_for_admins = no is weaker than the policy (yes)");
        st = BW_CTL_FAIL;
    }
    bw_ev_bool(o, "mfa.required_for_all", env->cfg->mfa_required_for_all);
    if (st == BW_CTL_PASS && !env->cfg->mfa_required_for_all) {
        bw_ev_str(o, "decision", "C3");
        bw_detail_add(o, "mfa.required_for_all = no: MFA for every user is recommended "
                         "(decision C3)");
        st = BW_CTL_WARNING;
    }
    return st;
}

BW_CHECK(bw_chk_auth08)
{
    (void)ctl;
    struct users u;
    if (!read_users(env, o, &u))
        return BW_CTL_ERROR;
    bw_ev_str(o, "algorithm", "argon2id");
    bw_ev_int(o, "min_memory_kib", BW_PWHASH_MEMLIMIT / 1024);
    bw_ev_int(o, "min_iterations", BW_PWHASH_OPSLIMIT);
    bw_ev_int(o, "users", u.total);
    bw_ev_int(o, "not_argon2id", u.bad_hash);
    bw_ev_int(o, "below_minimum", u.weak_params);
    if (u.bad_hash + u.weak_params > 0) {
        bw_detail_add(o,
                      "%lld stored password(s) not Argon2id, %lld below the minimum "
                      "parameters (re-hashed at the next login)",
                      (long long)u.bad_hash, (long long)u.weak_params);
        return BW_CTL_FAIL;
    }
    return BW_CTL_PASS;
}

BW_CHECK(bw_chk_g07)
{
    (void)ctl;
    struct users u;
    if (!read_users(env, o, &u))
        return BW_CTL_ERROR;
    bw_ev_int(o, "active_users", u.active);
    bw_ev_int(o, "inactive_over_90d", u.inactive);
    if (u.inactive > 0) {
        bw_detail_add(o,
                      "%lld active account(s) unused for more than 90 days: disable them "
                      "('bulwark user disable')",
                      (long long)u.inactive);
        return BW_CTL_FAIL;
    }
    return BW_CTL_PASS;
}

BW_CHECK(bw_chk_g08)
{
    (void)ctl;
    struct users u;
    if (!read_users(env, o, &u))
        return BW_CTL_ERROR;
    bw_ev_int(o, "initial_longer_than_24h", u.long_initial);
    bw_ev_str(o, "rule", "initial passwords expire in 24 h and must be changed at first use");
    if (u.long_initial > 0) {
        bw_detail_add(o, "%lld initial password(s) valid for more than 24 hours",
                      (long long)u.long_initial);
        return BW_CTL_FAIL;
    }
    return BW_CTL_PASS;
}

/* ---- single-row counts ------------------------------------------------------------ */

struct counts {
    enum bw_stmt stmt;
    struct bw_val p[2];
    size_t np;
    bool found;
    int64_t v[3];
    char text[64];
};

static enum bw_rc count_row(void *arg, const struct bw_row *row)
{
    struct counts *c = arg;
    c->found = true;
    for (size_t i = 0; i < 3 && i < bw_row_count(row); i++) {
        const char *t;
        if (bw_row_is_null(row, i))
            continue;
        if (i == 1 && (t = bw_row_text(row, i, NULL)) != NULL && (t[0] < '0' || t[0] > '9'))
            snprintf(c->text, sizeof(c->text), "%s", t); /* an outcome column */
        else
            c->v[i] = bw_row_int(row, i);
    }
    return BW_OK;
}

static enum bw_rc count_fn(struct bw_tx *tx, void *arg)
{
    struct counts *c = arg;
    return bw_tx_query(tx, c->stmt, c->p, c->np, count_row, c);
}

static bool query(const struct bw_compliance_env *env, struct bw_ctl_out *o, struct counts *c)
{
    enum bw_rc rc = bw_store_read(env->store, count_fn, c);
    if (rc != BW_OK)
        bw_detail_add(o, "cannot read the store: %s", bw_rc_str(rc));
    return rc == BW_OK;
}

/* CONTROL: AC-04, decision C4 */
BW_CHECK(bw_chk_ac04)
{
    (void)ctl;
    struct counts c = {.stmt = BW_STMT_COMPL_APIKEYS, .p = {BW_VINT(bw_time_now())}, .np = 1};
    if (!query(env, o, &c))
        return BW_CTL_ERROR;
    bw_ev_int(o, "usable_keys", c.v[0]);
    bw_ev_int(o, "without_allow_list", c.v[1]);
    bw_ev_int(o, "without_expiry", c.v[2]);
    bw_ev_str(o, "schema",
              "allowed_ips NOT NULL CHECK (allowed_ips <> ''); keys stored as "
              "SHA-256 only");
    if (c.v[1] > 0) {
        bw_detail_add(o, "%lld API key(s) without an IP allow-list", (long long)c.v[1]);
        return BW_CTL_FAIL;
    }
    return BW_CTL_PASS;
}

BW_CHECK(bw_chk_g06)
{
    (void)ctl;
    struct counts c = {.stmt = BW_STMT_COMPL_ADMIN_MEMBERS};
    if (!query(env, o, &c))
        return BW_CTL_ERROR;
    bw_ev_int(o, "platform_admins_with_org_roles", c.v[0]);
    if (c.v[0] > 0) {
        bw_detail_add(o, "%lld platform administrator(s) also hold an organisation role",
                      (long long)c.v[0]);
        return BW_CTL_FAIL;
    }
    return BW_CTL_PASS;
}

BW_CHECK(bw_chk_inc04)
{
    (void)ctl;
    struct counts c = {.stmt = BW_STMT_COMPL_TASKS_OVERDUE, .p = {BW_VINT(bw_time_now())}, .np = 1};
    if (!query(env, o, &c))
        return BW_CTL_ERROR;
    bw_ev_int(o, "review_tasks_overdue", c.v[0]);
    if (c.v[0] > 0) {
        bw_detail_add(o, "%lld post-incident review task(s) past due", (long long)c.v[0]);
        return BW_CTL_FAIL;
    }
    return BW_CTL_PASS;
}

BW_CHECK(bw_chk_g02)
{
    (void)ctl;
    int64_t bound = bw_time_now() - env->cfg->incident_nis2_early_warning;
    struct counts c = {.stmt = BW_STMT_COMPL_INC_UNASSESSED, .p = {BW_VINT(bound)}, .np = 1};
    if (!query(env, o, &c))
        return BW_CTL_ERROR;
    bw_ev_int(o, "open_unassessed", c.v[0]);
    bw_ev_dur(o, "within", env->cfg->incident_nis2_early_warning);
    if (c.v[0] > 0) {
        bw_detail_add(o,
                      "%lld open incident(s) without a significance assessment after the "
                      "early-warning window",
                      (long long)c.v[0]);
        return BW_CTL_FAIL;
    }
    return BW_CTL_PASS;
}

/* The newest event of one action: *ts (0 when none) and its outcome. */
static bool last_event(const struct bw_compliance_env *env, struct bw_ctl_out *o,
                       const char *action, int64_t *ts, char outcome[64])
{
    struct counts c = {.stmt = BW_STMT_COMPL_AUDIT_LAST, .p = {BW_VTEXT(action)}, .np = 1};
    if (!query(env, o, &c))
        return false;
    *ts = c.found ? c.v[0] : 0;
    snprintf(outcome, 64, "%s", c.text);
    return true;
}

/* CONTROL: G-10 - backup integrity is re-checked weekly (backup verify). */
BW_CHECK(bw_chk_g10)
{
    (void)ctl;
    int64_t ts = 0;
    char outcome[64] = "";
    if (!last_event(env, o, "backup.verified", &ts, outcome))
        return BW_CTL_ERROR;
    if (ts == 0) {
        bw_detail_add(o, "no backup verification recorded ('bulwark backup verify')");
        return BW_CTL_FAIL;
    }
    bw_ev_time(o, "last_verify", ts);
    bw_ev_str(o, "outcome", outcome);
    if (strcmp(outcome, "success") != 0) {
        bw_detail_add(o, "the last backup verification failed");
        return BW_CTL_FAIL;
    }
    if (bw_time_now() - ts > 7 * BW_POL_DAY) {
        bw_detail_add(o, "the last backup verification is older than 7 days");
        return BW_CTL_FAIL;
    }
    return BW_CTL_PASS;
}

/* CONTROL: G-11 - the assessment before this one. */
BW_CHECK(bw_chk_g11)
{
    (void)ctl;
    struct counts c = {.stmt = BW_STMT_COMPL_LAST};
    if (!query(env, o, &c))
        return BW_CTL_ERROR;
    bw_ev_dur(o, "compliance.interval", env->cfg->compliance_interval);
    if (!c.found) {
        bw_detail_add(o, "no earlier assessment is stored: this is the first");
        return BW_CTL_WARNING;
    }
    int64_t age = bw_time_now() - c.v[0];
    bw_ev_time(o, "previous_assessment", c.v[0]);
    if (age > 2 * env->cfg->compliance_interval) {
        bw_detail_add(o, "the previous assessment is older than twice compliance.interval: "
                         "the scheduled run is not happening");
        return BW_CTL_FAIL;
    }
    return BW_CTL_PASS;
}

/* ---- SBOM and feed scans -------------------------------------------------------- */

BW_CHECK(bw_chk_sup01)
{
    (void)ctl;
    (void)env;
    size_t n = 0, unpinned = 0;
    const struct bw_sbom_component *c = bw_sbom_components(&n);
    for (size_t i = 0; i < n; i++)
        unpinned += c[i].version == NULL || c[i].version[0] == '\0';
    bw_ev_int(o, "components", (int64_t)n);
    bw_ev_int(o, "without_version", (int64_t)unpinned);
    bw_ev_str(o, "manifest", "cmake/deps.lock (the build fails on a mismatch)");
    if (n == 0 || unpinned > 0) {
        bw_detail_add(o, "%zu of %zu components have no exact version", unpinned, n);
        return BW_CTL_FAIL;
    }
    return BW_CTL_PASS;
}

BW_CHECK(bw_chk_sup02)
{
    (void)ctl;
    struct counts c = {.stmt = BW_STMT_SCAN_RUN_LAST};
    bw_ev_str(o, "vuln.feed", env->cfg->vuln_feed);
    bw_ev_dur(o, "vuln.scan_interval", env->cfg->vuln_scan_interval);
    if (env->cfg->vuln_feed[0] == '\0') {
        bw_detail_add(o, "vuln.feed is empty: no advisory feed is scanned");
        return BW_CTL_FAIL;
    }
    if (!query(env, o, &c))
        return BW_CTL_ERROR;
    if (!c.found) {
        bw_detail_add(o, "no feed scan has run yet");
        return BW_CTL_FAIL;
    }
    bw_ev_time(o, "last_scan", c.v[0]);
    if (bw_time_now() - c.v[0] > 2 * env->cfg->vuln_scan_interval) {
        bw_detail_add(o, "the last feed scan is older than twice vuln.scan_interval");
        return BW_CTL_FAIL;
    }
    return BW_CTL_PASS;
}

/* ---- clocks past due: incidents and vulnerabilities ------------------------------ */

struct overdue {
    const char *kind_prefix; /* incident deadline kinds, or NULL */
    const char *severity;    /* vulnerabilities, or NULL */
    const char *scope;
    int64_t n;
    json_t *ids;
};

static enum bw_rc inc_row(void *arg, const struct bw_row *row)
{
    struct overdue *d = arg;
    const char *kind = bw_row_text(row, 1, NULL);
    if (kind == NULL || strncmp(kind, d->kind_prefix, strlen(d->kind_prefix)) != 0)
        return BW_OK;
    if (d->n++ < 10)
        (void)json_array_append_new(d->ids, json_string(bw_row_text(row, 0, NULL)));
    return BW_OK;
}

static enum bw_rc vuln_row(void *arg, const struct bw_row *row)
{
    struct overdue *d = arg;
    const char *sev = bw_row_text(row, 2, NULL), *scope = bw_row_text(row, 3, NULL);
    if (sev == NULL || scope == NULL || strcmp(sev, d->severity) != 0 ||
        strcmp(scope, d->scope) != 0)
        return BW_OK;
    if (d->n++ < 10)
        (void)json_array_append_new(d->ids, json_string(bw_row_text(row, 0, NULL)));
    return BW_OK;
}

static enum bw_rc overdue_fn(struct bw_tx *tx, void *arg)
{
    struct overdue *d = arg;
    struct bw_val p[] = {BW_VINT(bw_time_now())};
    if (d->kind_prefix != NULL)
        return bw_tx_query(tx, BW_STMT_INC_OVERDUE, p, 1, inc_row, d);
    return bw_tx_query(tx, BW_STMT_VULN_OVERDUE_ALL, p, 1, vuln_row, d);
}

static enum bw_ctl_status overdue(const struct bw_compliance_env *env, struct bw_ctl_out *o,
                                  struct overdue *d, const char *what)
{
    d->ids = json_array();
    enum bw_rc rc = d->ids != NULL ? bw_store_read(env->store, overdue_fn, d) : BW_ERR_NOMEM;
    if (rc != BW_OK) {
        json_decref(d->ids);
        bw_detail_add(o, "cannot read the register: %s", bw_rc_str(rc));
        return BW_CTL_ERROR;
    }
    bw_ev_int(o, "overdue", d->n);
    (void)json_object_set_new(o->evidence, "overdue_ids", d->ids);
    if (d->n > 0) {
        bw_detail_add(o, "%lld %s past due", (long long)d->n, what);
        return BW_CTL_FAIL;
    }
    return BW_CTL_PASS;
}

static enum bw_ctl_status vuln_clock(const struct bw_compliance_env *env, struct bw_ctl_out *o,
                                     const char *sev, const char *scope, const char *key,
                                     int64_t have, int64_t policy)
{
    struct bw_rules r = {o, false};
    struct overdue d = {.severity = sev, .scope = scope};
    bw_rule_dur_max(&r, key, have, policy);
    enum bw_ctl_status st = overdue(env, o, &d, "open finding(s)");
    return st != BW_CTL_PASS ? st : bw_rules_status(&r);
}

BW_CHECK(bw_chk_vul01)
{
    (void)ctl;
    return vuln_clock(env, o, "critical", "product", "vuln.product_critical",
                      env->cfg->vuln_product_critical, BW_POL_DAY);
}

BW_CHECK(bw_chk_vul02)
{
    (void)ctl;
    return vuln_clock(env, o, "high", "product", "vuln.product_high", env->cfg->vuln_product_high,
                      7 * BW_POL_DAY);
}

BW_CHECK(bw_chk_vul03)
{
    (void)ctl;
    return vuln_clock(env, o, "medium", "product", "vuln.product_medium",
                      env->cfg->vuln_product_medium, 30 * BW_POL_DAY);
}

BW_CHECK(bw_chk_vul04)
{
    (void)ctl;
    return vuln_clock(env, o, "low", "product", "vuln.product_low", env->cfg->vuln_product_low,
                      90 * BW_POL_DAY);
}

BW_CHECK(bw_chk_vul05)
{
    (void)ctl;
    bw_ev_str(o, "decision", "C1");
    return vuln_clock(env, o, "critical", "infrastructure", "vuln.infrastructure_critical",
                      env->cfg->vuln_infra_critical, 2 * BW_POL_DAY);
}

BW_CHECK(bw_chk_inc01)
{
    (void)ctl;
    struct bw_rules r = {o, false};
    struct overdue d = {.kind_prefix = "response"};
    bw_rule_dur_max(&r, "incident.p2_response", env->cfg->incident_p2_response, 4 * BW_POL_HOUR);
    bw_rule_dur_max(&r, "incident.p3_response", env->cfg->incident_p3_response, BW_POL_DAY);
    bw_rule_dur_max(&r, "incident.p4_response", env->cfg->incident_p4_response, 3 * BW_POL_DAY);
    bw_rule_dur_max(&r, "incident.p1_response", env->cfg->incident_p1_response, BW_POL_HOUR);
    enum bw_ctl_status st = overdue(env, o, &d, "incident response(s)");
    return st != BW_CTL_PASS ? st : bw_rules_status(&r);
}

BW_CHECK(bw_chk_inc03)
{
    (void)ctl;
    struct bw_rules r = {o, false};
    struct overdue d = {.kind_prefix = "gdpr"};
    bw_rule_dur_max(&r, "incident.gdpr_authority", env->cfg->incident_gdpr_authority,
                    3 * BW_POL_DAY);
    bw_ev_str(o, "decision", "C5");
    enum bw_ctl_status st = overdue(env, o, &d, "GDPR notification(s)");
    return st != BW_CTL_PASS ? st : bw_rules_status(&r);
}

BW_CHECK(bw_chk_g01)
{
    (void)ctl;
    struct bw_rules r = {o, false};
    struct overdue d = {.kind_prefix = "nis2"};
    bw_rule_dur_max(&r, "incident.nis2_early_warning", env->cfg->incident_nis2_early_warning,
                    BW_POL_DAY);
    bw_rule_dur_max(&r, "incident.nis2_notification", env->cfg->incident_nis2_notification,
                    3 * BW_POL_DAY);
    bw_rule_dur_max(&r, "incident.nis2_final", env->cfg->incident_nis2_final, 31 * BW_POL_DAY);
    enum bw_ctl_status st = overdue(env, o, &d, "NIS2 report(s)");
    return st != BW_CTL_PASS ? st : bw_rules_status(&r);
}

/* ---- the audit chain ------------------------------------------------------------ */

/* CONTROL: LOG-06 - a full verification now, and the newest checkpoint's age. */
BW_CHECK(bw_chk_log06)
{
    (void)ctl;
    struct bw_audit_settings s = {
        .data_dir = env->data_dir,
        .checkpoint_interval = env->cfg->audit_checkpoint_interval,
        .checkpoint_events = env->cfg->audit_checkpoint_events,
        .retention = env->cfg->retention_audit,
        .syslog = env->cfg->audit_syslog,
    };
    struct bw_audit_report rep;
    uint8_t pk[BW_SIGN_PUBLIC_BYTES];
    if (env->kr == NULL) {
        bw_detail_add(o, "the keys are not loaded: the chain cannot be verified");
        return BW_CTL_ERROR;
    }
    /* The verifier needs at least one signed checkpoint (store or file) to
     * anchor the chain; without one nothing detects a truncated tail. */
    struct counts cp = {.stmt = BW_STMT_AUDIT_CKPT_LATEST};
    char file[4096];
    struct stat fst;
    if (!query(env, o, &cp))
        return BW_CTL_ERROR;
    if (!cp.found &&
        (bw_sys_path(file, sizeof(file), env->data_dir, "audit/checkpoints.jsonl") != BW_OK ||
         stat(file, &fst) != 0 || fst.st_size == 0)) {
        bw_ev_int(o, "checkpoints", 0);
        bw_detail_add(o, "no signed checkpoint yet: the chain is verified once 'bulwark serve' "
                         "or 'bulwark audit checkpoint' has signed one");
        return BW_CTL_WARNING;
    }
    bw_keyring_public(env->kr, pk);
    enum bw_rc rc = bw_audit_verify(env->store, env->kr, pk, &s, &rep);
    if (rc != BW_OK) {
        bw_detail_add(o, "the verification could not run: %s", bw_rc_str(rc));
        return BW_CTL_ERROR;
    }
    bw_ev_bool(o, "chain_intact", rep.ok);
    bw_ev_int(o, "events", (int64_t)rep.events);
    bw_ev_int(o, "archives", (int64_t)rep.archives);
    bw_ev_int(o, "checkpoints", (int64_t)rep.checkpoints);
    bw_ev_int(o, "newest_checkpoint_age_s", rep.newest_checkpoint_age);
    bw_ev_int(o, "unanchored_events", (int64_t)rep.unanchored);
    if (!rep.ok) {
        bw_ev_int(o, "first_bad", rep.first_bad);
        bw_detail_add(o, "the audit trail is broken at event %lld: %s", (long long)rep.first_bad,
                      rep.reason);
        return BW_CTL_FAIL;
    }
    int64_t limit = 2 * env->cfg->audit_checkpoint_interval + 3600;
    if (rep.unanchored > 0 &&
        (rep.newest_checkpoint_age < 0 || rep.newest_checkpoint_age > limit)) {
        bw_detail_add(o,
                      "%llu event(s) are not covered by a signed checkpoint newer than %llds "
                      "(is 'bulwark serve' running?)",
                      (unsigned long long)rep.unanchored, (long long)limit);
        return BW_CTL_WARNING;
    }
    return BW_CTL_PASS;
}
