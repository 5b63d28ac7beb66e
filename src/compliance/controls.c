/*
 * controls.c - the control catalogue of ../shared/CONTROLS.md as one table
 * (id, title, source, mode, check), the generic answers for rows that have
 * nothing to inspect at run time, the evidence helpers and the rule
 * accumulator that compares configured values with the adopted policy.
 * docs/COMPLIANCE.md lists the same ids (a unit test compares them).
 *
 * Trusts: the configuration was validated by core/config.c. Never puts a
 * secret into evidence or detail.
 */
#include "compliance/compliance_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct bw_control controls[] = {
    {"GOV-01",
     "Information security policy has an owner, version, classification (Public), effective date "
     "2026-02-03, review date 2027-02-03, and approval by the CEO",
     "I header, §14, Approval", "R", bw_chk_register, NULL},
    {"GOV-02", "Policy reviewed annually (minimum)", "I §13", "R", bw_chk_register, NULL},
    {"GOV-03", "Policy reviewed after security incidents", "I §13", "R", bw_chk_register, NULL},
    {"GOV-04", "Policy reviewed when regulations or business requirements change", "I §13", "R",
     bw_chk_register, NULL},
    {"GOV-05", "Stated compliance: GDPR and BDSG \"compliant\", ISO 27001 \"aligned\"", "I §10.1",
     "N/R", bw_chk_register, NULL},
    {"GOV-06",
     "Security objectives: confidentiality via access control and encryption; integrity via "
     "validation and audit trails",
     "I §3", "R", bw_chk_register, NULL},
    {"GOV-07", "Availability target 99.5 % uptime", "I §3", "R (measured)", bw_chk_register, NULL},
    {"RISK-01",
     "Asset inventory: critical assets (customer data, financial records) held in one central "
     "database",
     "N §2", "E/R", bw_chk_register, NULL},
    {"RISK-02", "Regular threat modelling (unauthorised access, data loss, malware)", "N §2", "R",
     bw_chk_register, NULL},
    {"AC-01", "Role-based access control in the application", "N §2", "E", bw_chk_code,
     "src/tenant/rbac.c (deny by default); tests/unit/tenant/test_rbac.c, "
     "tests/api/test_tenants.py"},
    {"AC-02", "Database access restricted to authenticated users/applications", "N §2", "E",
     bw_chk_ac02, NULL},
    {"AC-03",
     "Periodic review of developer access rights to the codebase and release infrastructure",
     "N §8", "R (E for the backend's own privileged accounts)", bw_chk_register, NULL},
    {"AC-04", "API access needs API key + IP allow-list", "I §5.1", "E", bw_chk_ac04, NULL},
    {"AC-05", "\"Restricted\" data (credentials, keys) requires MFA", "I §4.1", "E", bw_chk_ac05,
     NULL},
    {"AC-06", "\"Internal\" data: access controlled", "I §4.1", "E", bw_chk_code,
     "src/http/server.c (401/403 before handlers); tests/api/test_tenants.py"},
    {"AUTH-01", "Standard users log in with e-mail + password", "I §5.1", "E", bw_chk_auth01, NULL},
    {"AUTH-02", "Admin users need e-mail + password + MFA", "I §5.1", "E", bw_chk_auth02, NULL},
    {"AUTH-03", "Password minimum length 8", "I §5.1, §5.2", "E (configurable)", bw_chk_auth03,
     NULL},
    {"AUTH-04", "Complexity: ≥1 upper, ≥1 lower, ≥1 digit", "I §5.2",
     "E (configurable; conflicts with ASVS)", bw_chk_auth04, NULL},
    {"AUTH-05", "Password expiry 90 days (\"recommended\")", "I §5.2",
     "E (configurable; conflicts with ASVS)", bw_chk_auth05, NULL},
    {"AUTH-06", "Cannot reuse the last 5 passwords", "I §5.2",
     "E (configurable; conflicts with ASVS4 2.1.10)", bw_chk_auth06, NULL},
    {"AUTH-07", "Lockout: 5 failed attempts → 15 min", "I §5.2", "E", bw_chk_auth07, NULL},
    {"AUTH-08", "Passwords hashed with Argon2 or bcrypt", "N §6", "E", bw_chk_auth08, NULL},
    {"AUTH-09", "No sharing of credentials", "I §11.2", "R (E partly)", bw_chk_register, NULL},
    {"SESS-01", "Session idle timeout 30 min", "I §5.3", "E", bw_chk_sess01, NULL},
    {"SESS-02", "Max 3 concurrent sessions per user", "I §5.3", "E", bw_chk_sess02, NULL},
    {"SESS-03", "Sessions invalidated on password change", "I §5.3", "E", bw_chk_code,
     "src/auth/user.c (password change ends every session); tests/api/test_identity.py"},
    {"CRY-01", "Data at rest: AES-256", "I §6.1", "E", bw_chk_pending,
     "the records module (encrypted record bodies) is not in this build"},
    {"CRY-02", "In transit: TLS 1.3, HTTPS only", "I §6.1", "E", bw_chk_cry02, NULL},
    {"CRY-03", "Backups AES-256 encrypted archives (and \"backups encrypted\")", "I §6.1; N §4",
     "E", bw_chk_cry03, NULL},
    {"CRY-04", "Database connections enforce SSL/TLS", "N §6",
     "E (networked DB) / not applicable (embedded)", bw_chk_cry04, NULL},
    {"CRY-05", "Full-disk encryption on hosts (\"recommendation\")", "N §6",
     "N (attestation; informational check)", bw_chk_cry05, NULL},
    {"DATA-01",
     "Four classification levels (Public/Internal/Confidential/Restricted) with handling rules",
     "I §4.1", "E", bw_chk_pending,
     "the records module (collections, classification) is not in this build"},
    {"DATA-02", "Confidential data: encrypted and logged", "I §4.1", "E", bw_chk_pending,
     "the records module is not in this build"},
    {"DATA-03", "All customer data classified Confidential", "I §4.2", "E", bw_chk_pending,
     "the records module is not in this build"},
    {"DATA-04", "Active projects retained indefinitely, user-controlled deletion", "I §6.2", "E",
     bw_chk_pending, "the records module is not in this build"},
    {"DATA-05", "Deleted projects recoverable for 30 days, then securely wiped", "I §6.2", "E",
     bw_chk_pending, "the records module (soft delete, purge) is not in this build"},
    {"DATA-06", "Audit logs retained 2 years in a secure archive", "I §6.2, §10.2", "E",
     bw_chk_data06, NULL},
    {"DATA-07", "Backups retained 90 days, secure wipe", "I §6.2", "E", bw_chk_data07, NULL},
    {"DATA-08", "Collect only data necessary for service delivery", "I §6.3", "E/R", bw_chk_pending,
     "the records module (schemas, personal-data inventory) is not in this build"},
    {"DATA-09", "No tracking of user behaviour beyond security logging", "I §6.3", "E",
     bw_chk_pending, "the admin console and egress allow-list are not in this build"},
    {"DATA-10", "No sale or sharing of customer data with third parties", "I §6.3", "R (E partly)",
     bw_chk_pending, "the egress allow-list and recipient register are not in this build"},
    {"LOG-01", "Log all critical actions (login attempts, data modification) to local audit logs",
     "N §3", "E", bw_chk_code,
     "src/audit/event.c (bw_audit_append in the changing transaction); tests/api/test_audit.py"},
    {"LOG-02", "Log login attempts (success and failure)", "I §10.2", "E", bw_chk_code,
     "src/auth/session.c (auth.login events); tests/api/test_audit.py"},
    {"LOG-03", "Log data access and modifications", "I §10.2", "E", bw_chk_pending,
     "the records module (data.read / create / update / delete) is not in this build"},
    {"LOG-04", "Log configuration changes", "I §10.2", "E", bw_chk_pending,
     "no runtime configuration path exists: bulwark.conf edits are not audited yet"},
    {"LOG-05", "Log admin actions", "I §10.2", "E", bw_chk_code,
     "src/auth/user.c, src/tenant/org.c, src/auth/apikey.c; tests/api/test_tenants.py"},
    {"LOG-06", "Logs protected against tampering", "I §10.2", "E", bw_chk_log06, NULL},
    {"BCK-01", "Automated daily backups", "N §4; I §9.1", "E", bw_chk_bck01, NULL},
    {"BCK-02", "Backups stored in a separate location (off-site/cloud)", "N §4; I §9.1", "E/R",
     bw_chk_bck02, NULL},
    {"BCK-03", "Full backup weekly, retained 90 days, off-site EU", "I §9.1", "E/R", bw_chk_bck03,
     NULL},
    {"BCK-04", "Incremental backup daily, retained 30 days, primary + off-site", "I §9.1", "E",
     bw_chk_bck04, NULL},
    {"BCK-05", "Transaction logs continuous, retained 7 days, primary", "I §9.1", "E", bw_chk_bck05,
     NULL},
    {"BCK-06", "Restore documentation; restore capability", "N §4", "R + E (drill)", bw_chk_bck06,
     NULL},
    {"BCK-07", "RPO 24 hours", "I §9.2", "E (monitored)", bw_chk_bck07, NULL},
    {"BCK-08", "RTO 4 hours", "I §9.2", "R (measured by drill)", bw_chk_bck08, NULL},
    {"BCK-09", "Installer available for rapid redeployment", "N §4", "R/E", bw_chk_register, NULL},
    {"SUP-01", "Strict pinning of dependency versions", "N §5", "E (build)", bw_chk_sup01, NULL},
    {"SUP-02", "Regular automated dependency vulnerability scanning", "N §5", "E (scheduled) + R",
     bw_chk_sup02, NULL},
    {"SUP-03", "Security posture of critical libraries evaluated", "N §5", "R", bw_chk_register,
     NULL},
    {"SUP-04", "Third parties provide SOC 2 or ISO 27001 certification", "I §12.1", "R",
     bw_chk_register, NULL},
    {"SUP-05", "Third parties sign a DPA", "I §12.1", "R", bw_chk_register, NULL},
    {"SUP-06", "Third parties undergo an annual security review", "I §12.1", "R", bw_chk_register,
     NULL},
    {"SUP-07", "Register of current third parties with certifications", "I §12.2", "R",
     bw_chk_register, NULL},
    {"VUL-01", "Critical vulnerability: respond within 24 h, immediate patch, notify users",
     "I §7.3", "R (timer) + E (notify)", bw_chk_vul01, NULL},
    {"VUL-02", "High: 7 days, patch in next release", "I §7.3", "R", bw_chk_vul02, NULL},
    {"VUL-03", "Medium: 30 days, scheduled patch", "I §7.3", "R", bw_chk_vul03, NULL},
    {"VUL-04", "Low: 90 days, next major release", "I §7.3", "R", bw_chk_vul04, NULL},
    {"VUL-05", "Security patches within 48 h (critical), infrastructure", "I §7.1", "R",
     bw_chk_vul05, NULL},
    {"VUL-06", "Regular release cycles address discovered vulnerabilities", "N §7", "R",
     bw_chk_register, NULL},
    {"VUL-07", "Published disclosure policy for researchers", "N §7", "E/R", bw_chk_vul07, NULL},
    {"VUL-08",
     "Channel to report bugs and vulnerabilities (GitHub Issues; private channel recommended)",
     "N §3", "E/R", bw_chk_code,
     "POST /api/v1/vulnerability-reports (src/vuln/intake.c); tests/api/test_incidents.py"},
    {"INC-01", "Incident classes P1 Immediate, P2 4 h, P3 24 h, P4 72 h response", "I §8.1",
     "R (timers)", bw_chk_inc01, NULL},
    {"INC-02",
     "Response procedure: Detect → Contain → Investigate → Remediate → Report → Review; N-doc: "
     "isolate, analyse, patch, notify",
     "I §8.2; N §3", "R (workflow) + E (containment actions)", bw_chk_code,
     "src/incident/workflow.c (steps in order, containment); tests/unit/incident/test_clock.c"},
    {"INC-03", "Notify affected users within 72 h for breaches; GDPR procedures apply",
     "I §8.2(5); N §3(4)", "R (timer) + E (send)", bw_chk_inc03, NULL},
    {"INC-04", "Post-incident analysis and procedure update", "I §8.2(6)", "R", bw_chk_inc04, NULL},
    {"INC-05", "Published contacts: security@, datenschutz@, emergency phone (TBD)", "I §8.3",
     "E/R", bw_chk_inc05, NULL},
    {"INC-06", "Staff report security incidents immediately", "I §11.2", "R (E channel)",
     bw_chk_code,
     "POST /api/v1/vulnerability-reports (src/vuln/intake.c); tests/api/test_incidents.py"},
    {"APP-01", "Input validation on all user inputs", "I §7.2", "E", bw_chk_code,
     "src/http/request.c (schemas, strict JSON); fuzz/, tests/attacks/hostile.py"},
    {"APP-02", "SQL injection prevention: parameterised queries", "I §7.2", "E", bw_chk_code,
     "src/store/sql_*.c only, parameters bound; scripts/checksrc"},
    {"APP-03", "XSS prevention: output encoding", "I §7.2", "E", bw_chk_code,
     "src/http/response.c (JSON only, CSP); tests/api/test_api.py"},
    {"APP-04", "CSRF protection (tokens)", "I §7.2", "E", bw_chk_code,
     "src/http/csrf.c; tests/api/test_identity.py"},
    {"APP-05", "Security headers: CSP, HSTS, X-Frame-Options", "I §7.2", "E", bw_chk_code,
     "src/http/server.c (headers on every answer); tests/api/test_api.py"},
    {"NET-01", "Hosting in EU data centres (GDPR compliant)", "I §7.1", "R", bw_chk_register, NULL},
    {"NET-02", "Network: firewall and DDoS protection", "I §7.1", "R (infra) / E (app rate limits)",
     bw_chk_code, "src/http/ratelimit.c, server.c connection caps; tests/attacks/hostile.py"},
    {"HR-01", "Developers trained in secure coding (OWASP Top 10)", "N §8", "R", bw_chk_register,
     NULL},
    {"HR-02", "Security training at onboarding", "I §11.1", "R", bw_chk_register, NULL},
    {"HR-03", "Annual security refresher", "I §11.1", "R", bw_chk_register, NULL},
    {"HR-04", "Phishing awareness training", "I §11.1", "R", bw_chk_register, NULL},
    {"HR-05", "Company devices for business use only", "I §11.2", "N (attestation)",
     bw_chk_register, NULL},
    {"HR-06", "Clear desk policy", "I §11.2", "N (attestation)", bw_chk_register, NULL},
    {"G-01",
     "NIS2 reporting clocks: early warning ≤24 h, notification ≤72 h from awareness, final report "
     "≤1 month after notification, intermediate report on request, progress report if ongoing",
     "standards only", "R (timers)", bw_chk_g01, NULL},
    {"G-02", "Significance assessment recorded, with the awareness timestamp", "standards only",
     "R", bw_chk_g02, NULL},
    {"G-03", "Synchronised time; UTC timestamps", "standards only", "E", bw_chk_g03, NULL},
    {"G-04", "Logging failure detected; logging monitored independently", "standards only", "E",
     bw_chk_code,
     "src/audit/event.c (writes fail closed with the transaction); tests/api/test_audit.py"},
    {"G-05", "Alarm thresholds on log patterns", "standards only", "E", bw_chk_g05, NULL},
    {"G-06", "Separate credentials for privileged/admin work", "standards only", "E", bw_chk_g06,
     NULL},
    {"G-07", "Unused identities deactivated; sessions end on disable", "standards only", "E",
     bw_chk_g07, NULL},
    {"G-08", "Initial credential must be changed", "standards only", "E", bw_chk_g08, NULL},
    {"G-09", "Key management lifecycle", "standards only", "E/R", bw_chk_g09, NULL},
    {"G-10", "Backup integrity checks", "standards only", "E", bw_chk_g10, NULL},
    {"G-11", "Effectiveness of measures assessed", "standards only", "E/R", bw_chk_g11, NULL},
    {"G-12", "Management body approves measures and follows training", "standards only", "R",
     bw_chk_register, NULL},
    {"G-13", "No secrets or sensitive data in logs; log-injection safe", "standards only", "E",
     bw_chk_code, "src/core/log.c (escaped JSON lines); tests/api/test_audit.py secrets"},
    {"G-14", "C memory safety and build hardening", "standards only", "E (build)", bw_chk_g14,
     NULL},
    {"G-15", "Users notified of authentication changes", "standards only", "E", bw_chk_code,
     "src/incident/detect.c (notices of authentication changes); tests/api/test_incidents.py"},
    {"G-16", "Recurring-incident check quarterly", "standards only", "R", bw_chk_register, NULL},
};

const struct bw_control *bw_compliance_controls(size_t *n)
{
    *n = BW_ARRAY_LEN(controls);
    return controls;
}

const struct bw_control *bw_compliance_find(const char *id)
{
    for (size_t i = 0; i < BW_ARRAY_LEN(controls); i++) {
        if (strcmp(controls[i].id, id) == 0)
            return &controls[i];
    }
    return NULL;
}

const char *bw_ctl_status_str(enum bw_ctl_status s)
{
    static const char *const names[BW_CTL__COUNT] = {"pass",           "fail",  "warning",
                                                     "not_applicable", "error", "not_checked"};
    return (unsigned)s < BW_CTL__COUNT ? names[s] : "error";
}

/* ---- generic answers ------------------------------------------------------------ */

BW_CHECK(bw_chk_register)
{
    (void)env;
    bw_ev_str(o, "kind", "organisational");
    bw_ev_str(o, "mode", ctl->mode);
    bw_detail_add(o, "organisational control: no register for it in this version, nothing "
                     "to inspect");
    return BW_CTL_NOT_CHECKED;
}

BW_CHECK(bw_chk_code)
{
    (void)env;
    bw_ev_str(o, "kind", "code");
    bw_ev_str(o, "where", ctl->where);
    bw_detail_add(o, "fixed in code and verified by the test suite, not at run time");
    return BW_CTL_NOT_CHECKED;
}

BW_CHECK(bw_chk_pending)
{
    (void)env;
    bw_ev_str(o, "kind", "pending");
    bw_ev_str(o, "reason", ctl->where);
    bw_detail_add(o, "%s", ctl->where);
    return BW_CTL_NOT_CHECKED;
}

/* ---- evidence ------------------------------------------------------------------- */

void bw_ev_str(struct bw_ctl_out *o, const char *key, const char *value)
{
    (void)json_object_set_new(o->evidence, key, value != NULL ? json_string(value) : json_null());
}

void bw_ev_int(struct bw_ctl_out *o, const char *key, int64_t value)
{
    (void)json_object_set_new(o->evidence, key, json_integer((json_int_t)value));
}

void bw_ev_bool(struct bw_ctl_out *o, const char *key, bool value)
{
    (void)json_object_set_new(o->evidence, key, json_boolean(value));
}

void bw_ev_dur(struct bw_ctl_out *o, const char *key, int64_t seconds)
{
    char b[32];
    bw_format_duration(seconds, b, sizeof(b));
    bw_ev_str(o, key, b);
}

void bw_ev_time(struct bw_ctl_out *o, const char *key, int64_t t)
{
    char b[21];
    bw_time_format(t, b);
    bw_ev_str(o, key, b);
}

void bw_detail_add(struct bw_ctl_out *o, const char *fmt, ...)
{
    size_t len = strlen(o->detail);
    if (len + 3 >= sizeof(o->detail))
        return;
    if (len > 0) {
        memcpy(o->detail + len, "; ", 3);
        len += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->detail + len, sizeof(o->detail) - len, fmt, ap);
    va_end(ap);
    if (n < 0)
        o->detail[len] = '\0';
}

/* ---- policy rules --------------------------------------------------------------- */

static void weaker(struct bw_rules *r, const char *key, const char *have, const char *want)
{
    r->weaker = true;
    bw_detail_add(r->o, "%s = %s is weaker than the policy (%s)", key, have, want);
}

void bw_rule_dur_max(struct bw_rules *r, const char *key, int64_t v, int64_t policy)
{
    char have[32], want[48], p[32];
    bw_ev_dur(r->o, key, v);
    if (v <= policy && v > 0)
        return;
    bw_format_duration(v, have, sizeof(have));
    bw_format_duration(policy, p, sizeof(p));
    snprintf(want, sizeof(want), "at most %s", p);
    weaker(r, key, v == 0 ? "off" : have, want);
}

void bw_rule_dur_min(struct bw_rules *r, const char *key, int64_t v, int64_t policy)
{
    char have[32], want[48], p[32];
    bw_ev_dur(r->o, key, v);
    if (v >= policy)
        return;
    bw_format_duration(v, have, sizeof(have));
    bw_format_duration(policy, p, sizeof(p));
    snprintf(want, sizeof(want), "at least %s", p);
    weaker(r, key, have, want);
}

void bw_rule_u64_max(struct bw_rules *r, const char *key, uint64_t v, uint64_t policy)
{
    char have[24], want[40];
    bw_ev_int(r->o, key, (int64_t)v);
    if (v <= policy)
        return;
    snprintf(have, sizeof(have), "%llu", (unsigned long long)v);
    snprintf(want, sizeof(want), "at most %llu", (unsigned long long)policy);
    weaker(r, key, have, want);
}

void bw_rule_u64_min(struct bw_rules *r, const char *key, uint64_t v, uint64_t policy)
{
    char have[24], want[40];
    bw_ev_int(r->o, key, (int64_t)v);
    if (v >= policy)
        return;
    snprintf(have, sizeof(have), "%llu", (unsigned long long)v);
    snprintf(want, sizeof(want), "at least %llu", (unsigned long long)policy);
    weaker(r, key, have, want);
}

void bw_rule_yes(struct bw_rules *r, const char *key, bool v)
{
    bw_ev_bool(r->o, key, v);
    if (!v)
        weaker(r, key, "no", "yes");
}

enum bw_ctl_status bw_rules_status(struct bw_rules *r)
{
    return r->weaker ? BW_CTL_FAIL : BW_CTL_PASS;
}
