/*
 * check_config.c - controls decided by the effective configuration: each
 * value is compared with the adopted policy (SPEC 3; CONTROLS.md) and a
 * weaker one fails its control naming the key and the value. Decision C2
 * (password profile `modern`) and C3 (MFA for everyone) are reported as
 * warnings, never failures. (CONTROL: AUTH-02..07, SESS-01..02, CRY-04,
 * DATA-06..07, BCK-03..05, VUL-07, INC-05, G-05.)
 *
 * Trusts: the configuration was validated by core/config.c. Reads nothing
 * else; the database URL's credentials never reach evidence.
 */
#include "backup/backup.h"
#include "compliance/compliance_int.h"

#include <string.h>

static bool modern(const struct bw_config *c)
{
    return strcmp(c->password_profile, "modern") == 0;
}

BW_CHECK(bw_chk_auth03)
{
    (void)ctl;
    struct bw_rules r = {o, false};
    const struct bw_config *c = env->cfg;
    bw_ev_str(o, "password.profile", c->password_profile);
    /* CONTROL: AUTH-03 - the modern profile raises the floor to 15 characters */
    bw_rule_u64_min(&r, "password.min_length", c->password_min_length, 8);
    bw_ev_int(o, "effective_min_length",
              (int64_t)(modern(c) && c->password_min_length < 15 ? 15 : c->password_min_length));
    bw_rule_yes(&r, "password.reject_common", c->password_reject_common);
    return bw_rules_status(&r);
}

BW_CHECK(bw_chk_auth04)
{
    (void)ctl;
    struct bw_rules r = {o, false};
    const struct bw_config *c = env->cfg;
    bw_ev_str(o, "password.profile", c->password_profile);
    if (modern(c)) {
        bw_ev_str(o, "decision", "C2");
        bw_detail_add(o, "password.profile = modern: no composition rules (decision C2: ASVS "
                         "and NIST 800-63B); common passwords are still refused");
        return c->password_reject_common ? BW_CTL_WARNING : BW_CTL_FAIL;
    }
    bw_rule_yes(&r, "password.require_upper", c->password_require_upper);
    bw_rule_yes(&r, "password.require_lower", c->password_require_lower);
    bw_rule_yes(&r, "password.require_digit", c->password_require_digit);
    return bw_rules_status(&r);
}

BW_CHECK(bw_chk_auth05)
{
    (void)ctl;
    struct bw_rules r = {o, false};
    const struct bw_config *c = env->cfg;
    bw_ev_str(o, "password.profile", c->password_profile);
    if (modern(c)) {
        bw_ev_str(o, "decision", "C2");
        bw_detail_add(o, "password.profile = modern: no periodic expiry (decision C2)");
        return BW_CTL_WARNING;
    }
    bw_rule_dur_max(&r, "password.max_age", c->password_max_age, 90 * BW_POL_DAY);
    return bw_rules_status(&r);
}

BW_CHECK(bw_chk_auth06)
{
    (void)ctl;
    struct bw_rules r = {o, false};
    bw_rule_u64_min(&r, "password.history", env->cfg->password_history, 5);
    return bw_rules_status(&r);
}

BW_CHECK(bw_chk_auth07)
{
    (void)ctl;
    struct bw_rules r = {o, false};
    bw_rule_u64_max(&r, "lockout.max_failures", env->cfg->lockout_max_failures, 5);
    bw_rule_dur_min(&r, "lockout.duration", env->cfg->lockout_duration, 15 * BW_POL_MIN);
    return bw_rules_status(&r);
}

BW_CHECK(bw_chk_sess01)
{
    (void)ctl;
    struct bw_rules r = {o, false};
    bw_rule_dur_max(&r, "session.idle_timeout", env->cfg->session_idle_timeout, 30 * BW_POL_MIN);
    bw_rule_dur_max(&r, "session.absolute_timeout", env->cfg->session_absolute_timeout,
                    12 * BW_POL_HOUR);
    return bw_rules_status(&r);
}

BW_CHECK(bw_chk_sess02)
{
    (void)ctl;
    struct bw_rules r = {o, false};
    bw_rule_u64_max(&r, "session.max_concurrent", env->cfg->session_max_concurrent, 3);
    return bw_rules_status(&r);
}

/* CONTROL: CRY-04 - only the sslmode is shown, never the URL (it may hold a password). */
BW_CHECK(bw_chk_cry04)
{
    (void)ctl;
    const char *url = env->cfg->database_url;
    if (url == NULL || url[0] == '\0') {
        bw_ev_str(o, "driver", "sqlite");
        bw_detail_add(o, "embedded SQLite store: no database connection leaves the process");
        return BW_CTL_NOT_APPLICABLE;
    }
    bw_ev_str(o, "driver", "postgresql");
    static const char *const modes[] = {"verify-full", "verify-ca", "require"};
    const char *q = strchr(url, '?');
    for (size_t i = 0; q != NULL && i < BW_ARRAY_LEN(modes); i++) {
        char want[32];
        snprintf(want, sizeof(want), "sslmode=%s", modes[i]);
        const char *m = strstr(q, want);
        size_t wl = strlen(want);
        if (m == NULL || (m[-1] != '?' && m[-1] != '&') || (m[wl] != '\0' && m[wl] != '&'))
            continue;
        bw_ev_str(o, "sslmode", modes[i]);
        if (i == 2) {
            bw_detail_add(o, "database.url sslmode=require encrypts but does not verify the "
                             "server certificate: use verify-full");
            return BW_CTL_WARNING;
        }
        return BW_CTL_PASS;
    }
    if (strstr(url, "host=/") != NULL || strstr(url, "@/") != NULL || strstr(url, "%2F") != NULL) {
        bw_ev_str(o, "sslmode", "unix-socket");
        bw_detail_add(o, "the database is reached over a unix socket (no network)");
        return BW_CTL_PASS;
    }
    bw_ev_str(o, "sslmode", "none");
    bw_detail_add(o, "database.url does not require TLS (sslmode)");
    return BW_CTL_FAIL;
}

BW_CHECK(bw_chk_data06)
{
    (void)ctl;
    struct bw_rules r = {o, false};
    bw_rule_dur_min(&r, "retention.audit", env->cfg->retention_audit, 730 * BW_POL_DAY);
    bw_ev_str(o, "decision", "C11");
    return bw_rules_status(&r);
}

BW_CHECK(bw_chk_data07)
{
    (void)ctl;
    struct bw_rules r = {o, false};
    int64_t v = env->cfg->retention_full_backups;
    bw_rule_dur_min(&r, "retention.full_backups", v, 90 * BW_POL_DAY);
    if (!r.weaker && v > 90 * BW_POL_DAY) {
        bw_detail_add(o, "retention.full_backups keeps backups longer than the policy's 90d "
                         "(deleted data stays readable longer: decision C6)");
        return BW_CTL_WARNING;
    }
    return bw_rules_status(&r);
}

/* A schedule value ("weekly", "6h", "off") as seconds; 0 = off. */
static int64_t every(const char *s)
{
    int64_t v = 0;
    return bw_backup_parse_every(s, &v) == BW_OK ? v : 0;
}

BW_CHECK(bw_chk_bck03)
{
    (void)ctl;
    struct bw_rules r = {o, false};
    bw_ev_str(o, "backup.full", env->cfg->backup_full);
    bw_rule_dur_max(&r, "backup.full (interval)", every(env->cfg->backup_full), 7 * BW_POL_DAY);
    bw_rule_dur_min(&r, "retention.full_backups", env->cfg->retention_full_backups,
                    90 * BW_POL_DAY);
    bw_ev_str(o, "location", "attestation (R): the EU location is not recorded by Bulwark");
    return bw_rules_status(&r);
}

BW_CHECK(bw_chk_bck04)
{
    (void)ctl;
    struct bw_rules r = {o, false};
    bw_ev_str(o, "backup.incremental", env->cfg->backup_incremental);
    bw_rule_dur_max(&r, "backup.incremental (interval)", every(env->cfg->backup_incremental),
                    BW_POL_DAY);
    bw_rule_dur_min(&r, "retention.incremental_backups", env->cfg->retention_incremental_backups,
                    30 * BW_POL_DAY);
    return bw_rules_status(&r);
}

BW_CHECK(bw_chk_bck05)
{
    (void)ctl;
    struct bw_rules r = {o, false};
    const char *url = env->cfg->database_url;
    if (url != NULL && url[0] != '\0') {
        bw_ev_str(o, "driver", "postgresql");
        bw_detail_add(o, "the change log runs on the embedded SQLite store only; on "
                         "PostgreSQL archive the WAL with the database's own tools");
        return BW_CTL_NOT_APPLICABLE;
    }
    bw_rule_dur_max(&r, "backup.log_interval", env->cfg->backup_log_interval, 5 * BW_POL_MIN);
    bw_rule_dur_min(&r, "retention.backup_log", env->cfg->retention_backup_log, 7 * BW_POL_DAY);
    return bw_rules_status(&r);
}

BW_CHECK(bw_chk_vul07)
{
    (void)ctl;
    const struct bw_config *c = env->cfg;
    enum bw_ctl_status st = BW_CTL_PASS;
    bw_ev_str(o, "server.security_contact", c->security_contact);
    bw_ev_dur(o, "server.security_txt_expires", c->security_txt_expires);
    if (strstr(c->security_contact, "example.invalid") != NULL) {
        bw_detail_add(o,
                      "server.security_contact = %s is the placeholder: security.txt "
                      "advertises no real contact",
                      c->security_contact);
        st = BW_CTL_FAIL;
    }
    if (c->security_txt_expires <= 30 * BW_POL_DAY) {
        bw_detail_add(o, "server.security_txt_expires is 30 days or less (the control fails "
                         "30 days before Expires)");
        st = BW_CTL_FAIL;
    }
    bw_ev_str(o, "server.security_policy", c->security_policy);
    if (st == BW_CTL_PASS && c->security_policy[0] == '\0') {
        bw_detail_add(o, "server.security_policy is empty: security.txt points at the built-in "
                         "/security-policy page");
        st = BW_CTL_WARNING;
    }
    return st;
}

/* CONTROL: INC-05 - contacts are configuration (decision C8). */
BW_CHECK(bw_chk_inc05)
{
    (void)ctl;
    const struct bw_config *c = env->cfg;
    enum bw_ctl_status st = BW_CTL_PASS;
    bw_ev_str(o, "server.security_contact", c->security_contact);
    bw_ev_str(o, "notify.security_contacts", c->notify_security_contacts);
    bw_ev_str(o, "notify.emergency_phone", c->notify_emergency_phone);
    bw_ev_str(o, "decision", "C8");
    if (strstr(c->security_contact, "example.invalid") != NULL) {
        bw_detail_add(o, "server.security_contact = %s is the placeholder", c->security_contact);
        st = BW_CTL_FAIL;
    }
    if (c->notify_security_contacts[0] == '\0') {
        bw_detail_add(o, "notify.security_contacts is empty: nobody is told of incidents");
        st = BW_CTL_FAIL;
    }
    if (c->notify_emergency_phone[0] == '\0') {
        bw_detail_add(o, "notify.emergency_phone is empty (decision C8)");
        st = BW_CTL_FAIL;
    }
    return st;
}

BW_CHECK(bw_chk_g05)
{
    (void)ctl;
    struct bw_rules r = {o, false};
    bw_rule_u64_max(&r, "incident.lockout_wave_threshold",
                    env->cfg->incident_lockout_wave_threshold, 20);
    bw_rule_dur_min(&r, "incident.lockout_wave_window", env->cfg->incident_lockout_wave_window,
                    5 * BW_POL_MIN);
    bw_rule_dur_max(&r, "incident.detect_interval", env->cfg->incident_detect_interval,
                    5 * BW_POL_MIN);
    return bw_rules_status(&r);
}
