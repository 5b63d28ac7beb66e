/*
 * config.c - configuration: one table of keys (section, name, type, field,
 * default) drives defaults, INI parsing (libinih), environment overrides and
 * command-line assignments, so a key exists in exactly one place.
 *
 * Trust: the file, the environment and flags come from the operator, but are
 * still parsed strictly: an unknown key, a duplicate, a bad value or an
 * over-long line is an error that names file, line and key; nothing is
 * guessed. Values weaker than the policy are accepted here and reported by
 * `bulwark check` (SPEC 3).
 */
#include "core.h"

#include <errno.h>
#include <ini.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum key_type {
    KT_STRING,
    KT_BOOL,
    KT_U64,
    KT_DURATION,
    KT_SIZE,
    KT_LISTEN,
};

typedef enum bw_rc (*str_check_fn)(const char *value);

struct key_def {
    const char *section;
    const char *name;
    enum key_type type;
    size_t offset;
    const char *def;
    uint64_t min; /* KT_U64 / KT_SIZE / KT_DURATION lower bound */
    uint64_t max; /* upper bound, 0 = none */
    str_check_fn check;
    bool secret;
};

static enum bw_rc check_cidrs(const char *v)
{
    return bw_parse_cidr_list(v);
}

static enum bw_rc check_db_url(const char *v)
{
    if (*v == '\0' || strncmp(v, "postgresql://", 13) == 0 || strncmp(v, "postgres://", 11) == 0)
        return BW_OK;
    return BW_ERR_INVALID;
}

static enum bw_rc check_schedule(const char *v)
{
    static const char *const names[] = {"hourly", "daily", "weekly", "monthly", "off"};
    int64_t d;
    for (size_t i = 0; i < BW_ARRAY_LEN(names); i++) {
        if (strcmp(v, names[i]) == 0)
            return BW_OK;
    }
    return bw_parse_duration(v, &d) == BW_OK && d > 0 ? BW_OK : BW_ERR_INVALID;
}

static enum bw_rc check_target(const char *v)
{
    if ((strncmp(v, "dir:/", 5) == 0 && strlen(v) > 5) ||
        (strncmp(v, "sftp://", 7) == 0 && strlen(v) > 7))
        return BW_OK;
    return BW_ERR_INVALID;
}

static enum bw_rc check_profile(const char *v)
{
    return strcmp(v, "policy") == 0 || strcmp(v, "modern") == 0 ? BW_OK : BW_ERR_INVALID;
}

static enum bw_rc check_log_level(const char *v)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    for (size_t i = 0; i < BW_ARRAY_LEN(names); i++) {
        if (strcmp(v, names[i]) == 0)
            return BW_OK;
    }
    return BW_ERR_INVALID;
}

static enum bw_rc check_contact(const char *v)
{
    /* RFC 9116: Contact is a URI (mailto:, https:, tel:) */
    if (strncmp(v, "mailto:", 7) == 0 || strncmp(v, "https://", 8) == 0 ||
        strncmp(v, "tel:", 4) == 0 || *v == '\0')
        return strpbrk(v, " \r\n\t") == NULL ? BW_OK : BW_ERR_INVALID;
    return BW_ERR_INVALID;
}

static enum bw_rc check_https_url(const char *v)
{
    if (*v == '\0' || strncmp(v, "https://", 8) == 0)
        return strpbrk(v, " \r\n\t") == NULL ? BW_OK : BW_ERR_INVALID;
    return BW_ERR_INVALID;
}

static enum bw_rc check_relpath(const char *v)
{
    /* a path inside the data directory, or an absolute path chosen by the operator */
    if (*v == '\0' || strstr(v, "..") != NULL)
        return BW_ERR_INVALID;
    return BW_OK;
}

/* audit (issue 5): "" or tcp:HOST:PORT */
static enum bw_rc check_syslog(const char *v)
{
    char host[256];
    uint16_t port = 0;
    if (*v == '\0')
        return BW_OK;
    if (strncmp(v, "tcp:", 4) != 0)
        return BW_ERR_INVALID;
    return bw_parse_hostport(v + 4, host, sizeof(host), &port);
}

/* [notify] (issue 7): comma-separated e-mail addresses, or empty. */
static enum bw_rc check_email_list(const char *v)
{
    const char *p = v;
    while (*p != '\0') {
        size_t n = strcspn(p, ",");
        const char *at = memchr(p, '@', n);
        if (n == 0 || at == NULL || at == p || at == p + n - 1)
            return BW_ERR_INVALID;
        for (size_t i = 0; i < n; i++) {
            unsigned char ch = (unsigned char)p[i];
            if (ch <= 0x20 || ch == '<' || ch == '>' || ch == '"' || ch == 0x7f)
                return BW_ERR_INVALID;
        }
        p += n;
        if (*p == ',')
            p++;
    }
    return BW_OK;
}

/* https:// anywhere; http:// only to a loopback receiver (tests, local relays). */
static enum bw_rc check_webhook_url(const char *v)
{
    if (strpbrk(v, " \r\n\t") != NULL)
        return BW_ERR_INVALID;
    if (*v == '\0' || strncmp(v, "https://", 8) == 0)
        return BW_OK;
    if (strncmp(v, "http://127.", 11) == 0 || strncmp(v, "http://[::1]", 12) == 0 ||
        strncmp(v, "http://localhost:", 17) == 0 || strncmp(v, "http://localhost/", 17) == 0)
        return BW_OK;
    return BW_ERR_INVALID;
}

static enum bw_rc check_smtp_url(const char *v)
{
    if (strpbrk(v, " \r\n\t") != NULL)
        return BW_ERR_INVALID;
    if (*v == '\0' || strncmp(v, "smtp://", 7) == 0 || strncmp(v, "smtps://", 8) == 0)
        return BW_OK;
    return BW_ERR_INVALID;
}

static enum bw_rc check_feed_path(const char *v)
{
    return *v == '\0' ? BW_OK : check_relpath(v);
}

/* an optional second backup target (BCK-02: backup/copy.c, compliance) */
static enum bw_rc check_copy_target(const char *v)
{
    return *v == '\0' ? BW_OK : check_target(v);
}

static enum bw_rc check_phone(const char *v)
{
    if (strlen(v) > 32)
        return BW_ERR_INVALID;
    for (const char *p = v; *p != '\0'; p++) {
        if (!((*p >= '0' && *p <= '9') || *p == '+' || *p == ' ' || *p == '-' || *p == '(' ||
              *p == ')'))
            return BW_ERR_INVALID;
    }
    return BW_OK;
}

#define F(field) offsetof(struct bw_config, field)
#define DAY (86400ULL)

static const struct key_def keys[] = {
    {"server", "listen", KT_LISTEN, 0, "127.0.0.1:8443", 0, 0, NULL, false},
    {"server", "trusted_proxies", KT_STRING, F(trusted_proxies), "", 0, 0, check_cidrs, false},
    {"server", "max_body", KT_SIZE, F(max_body), "1MiB", 1024, 1ULL << 30, NULL, false},
    {"server", "security_contact", KT_STRING, F(security_contact),
     "mailto:security@example.invalid", 0, 0, check_contact, false},
    {"server", "security_policy", KT_STRING, F(security_policy), "", 0, 0, check_https_url, false},
    {"server", "security_txt_expires", KT_DURATION, F(security_txt_expires), "180d", DAY,
     365 * DAY, NULL, false},
    {"server", "threads", KT_U64, F(threads), "0", 0, 256, NULL, false},
    {"server", "max_connections", KT_U64, F(max_connections), "1024", 1, 65536, NULL, false},
    {"server", "max_connections_per_ip", KT_U64, F(max_connections_per_ip), "64", 1, 65536, NULL,
     false},
    {"server", "request_timeout", KT_DURATION, F(request_timeout), "30s", 1, 3600, NULL, false},
    {"server", "idle_timeout", KT_DURATION, F(idle_timeout), "10s", 1, 3600, NULL, false},
    {"server", "max_header_size", KT_SIZE, F(max_header_size), "16KiB", 1024, 1 << 20, NULL,
     false},
    {"server", "max_url_length", KT_SIZE, F(max_url_length), "4KiB", 256, 64 << 10, NULL, false},
    {"server", "log_level", KT_STRING, F(log_level), "info", 0, 0, check_log_level, false},
    {"database", "url", KT_STRING, F(database_url), "", 0, 0, check_db_url, true},
    {"database", "pool_size", KT_U64, F(pool_size), "4", 1, 256, NULL, false},
    {"database", "busy_timeout", KT_DURATION, F(busy_timeout), "5s", 1, 600, NULL, false},
    {"password", "profile", KT_STRING, F(password_profile), "policy", 0, 0, check_profile, false},
    {"password", "min_length", KT_U64, F(password_min_length), "8", 1, 1024, NULL, false},
    {"password", "require_upper", KT_BOOL, F(password_require_upper), "yes", 0, 0, NULL, false},
    {"password", "require_lower", KT_BOOL, F(password_require_lower), "yes", 0, 0, NULL, false},
    {"password", "require_digit", KT_BOOL, F(password_require_digit), "yes", 0, 0, NULL, false},
    {"password", "history", KT_U64, F(password_history), "5", 0, 100, NULL, false},
    {"password", "max_age", KT_DURATION, F(password_max_age), "90d", 0, 0, NULL, false},
    {"password", "reject_common", KT_BOOL, F(password_reject_common), "yes", 0, 0, NULL, false},
    {"lockout", "max_failures", KT_U64, F(lockout_max_failures), "5", 1, 1000, NULL, false},
    {"lockout", "duration", KT_DURATION, F(lockout_duration), "15m", 1, 0, NULL, false},
    {"session", "idle_timeout", KT_DURATION, F(session_idle_timeout), "30m", 1, 0, NULL, false},
    {"session", "absolute_timeout", KT_DURATION, F(session_absolute_timeout), "12h", 1, 0, NULL,
     false},
    {"session", "max_concurrent", KT_U64, F(session_max_concurrent), "3", 1, 100, NULL, false},
    {"mfa", "required_for_admins", KT_BOOL, F(mfa_required_for_admins), "yes", 0, 0, NULL, false},
    {"mfa", "required_for_restricted", KT_BOOL, F(mfa_required_for_restricted), "yes", 0, 0, NULL,
     false},
    {"mfa", "required_for_all", KT_BOOL, F(mfa_required_for_all), "no", 0, 0, NULL, false},
    {"retention", "deleted_records", KT_DURATION, F(retention_deleted_records), "30d", 1, 0, NULL,
     false},
    {"retention", "audit", KT_DURATION, F(retention_audit), "2y", 1, 0, NULL, false},
    {"retention", "full_backups", KT_DURATION, F(retention_full_backups), "90d", 1, 0, NULL,
     false},
    {"retention", "incremental_backups", KT_DURATION, F(retention_incremental_backups), "30d", 1,
     0, NULL, false},
    {"retention", "backup_log", KT_DURATION, F(retention_backup_log), "7d", 1, 0, NULL, false},
    {"backup", "target", KT_STRING, F(backup_target), "dir:/var/backups/bulwark", 0, 0,
     check_target, false},
    {"backup", "full", KT_STRING, F(backup_full), "weekly", 0, 0, check_schedule, false},
    {"backup", "incremental", KT_STRING, F(backup_incremental), "daily", 0, 0, check_schedule,
     false},
    {"backup", "log_interval", KT_DURATION, F(backup_log_interval), "5s", 1, 0, NULL, false},
    {"tls", "cert", KT_STRING, F(tls_cert), "tls/cert.pem", 0, 0, check_relpath, false},
    {"tls", "key", KT_STRING, F(tls_key), "tls/key.pem", 0, 0, check_relpath, false},
    /* tenants: who may create organisations (platform admins always) */
    {"tenants", "self_service", KT_BOOL, F(tenants_self_service), "no", 0, 0, NULL, false},
    /* users: self sign-up is off by default; administrators invite (issue 3) */
    {"users", "signup", KT_BOOL, F(users_signup), "no", 0, 0, NULL, false},
    /* audit (issue 5) */
    {"audit", "checkpoint_interval", KT_DURATION, F(audit_checkpoint_interval), "60s", 1, DAY,
     NULL, false},
    {"audit", "checkpoint_events", KT_U64, F(audit_checkpoint_events), "1000", 1, 1000000, NULL,
     false},
    {"audit", "syslog", KT_STRING, F(audit_syslog), "", 0, 0, check_syslog, false},
    /* [incident], [notify], [vuln] (issue 7; docs/OPERATIONS.md) */
    {"incident", "p1_response", KT_DURATION, F(incident_p1_response), "15m", 1, 0, NULL, false},
    {"incident", "p2_response", KT_DURATION, F(incident_p2_response), "4h", 1, 0, NULL, false},
    {"incident", "p3_response", KT_DURATION, F(incident_p3_response), "24h", 1, 0, NULL, false},
    {"incident", "p4_response", KT_DURATION, F(incident_p4_response), "72h", 1, 0, NULL, false},
    {"incident", "nis2_early_warning", KT_DURATION, F(incident_nis2_early_warning), "24h", 1, 0,
     NULL, false},
    {"incident", "nis2_notification", KT_DURATION, F(incident_nis2_notification), "72h", 1, 0,
     NULL, false},
    {"incident", "nis2_final", KT_DURATION, F(incident_nis2_final), "30d", 1, 0, NULL, false},
    {"incident", "gdpr_authority", KT_DURATION, F(incident_gdpr_authority), "72h", 1, 0, NULL,
     false},
    {"incident", "warn_before", KT_DURATION, F(incident_warn_before), "6h", 1, 0, NULL, false},
    {"incident", "review_due", KT_DURATION, F(incident_review_due), "30d", 1, 0, NULL, false},
    {"incident", "detect_interval", KT_DURATION, F(incident_detect_interval), "10s", 1, DAY, NULL,
     false},
    {"incident", "lockout_threshold", KT_U64, F(incident_lockout_threshold), "3", 1, 100000, NULL,
     false},
    {"incident", "lockout_window", KT_DURATION, F(incident_lockout_window), "1h", 1, 0, NULL,
     false},
    {"incident", "lockout_wave_threshold", KT_U64, F(incident_lockout_wave_threshold), "20", 1,
     100000, NULL, false},
    {"incident", "lockout_wave_window", KT_DURATION, F(incident_lockout_wave_window), "5m", 1, 0,
     NULL, false},
    {"incident", "spray_accounts", KT_U64, F(incident_spray_accounts), "10", 2, 100000, NULL,
     false},
    {"incident", "spray_window", KT_DURATION, F(incident_spray_window), "10m", 1, 0, NULL, false},
    {"incident", "apikey_denied_threshold", KT_U64, F(incident_apikey_denied_threshold), "5", 1,
     100000, NULL, false},
    {"incident", "apikey_denied_window", KT_DURATION, F(incident_apikey_denied_window), "1h", 1, 0,
     NULL, false},
    {"incident", "confidential_reads_threshold", KT_U64,
     F(incident_confidential_reads_threshold), "500", 1, 1000000, NULL, false},
    {"incident", "confidential_reads_window", KT_DURATION, F(incident_confidential_reads_window),
     "1h", 1, 0, NULL, false},
    {"incident", "admin_new_address", KT_BOOL, F(incident_admin_new_address), "yes", 0, 0, NULL,
     false},
    {"incident", "rpo", KT_DURATION, F(incident_rpo), "24h", 1, 0, NULL, false},
    {"notify", "security_contacts", KT_STRING, F(notify_security_contacts), "", 0, 0,
     check_email_list, false},
    {"notify", "webhook_url", KT_STRING, F(notify_webhook_url), "", 0, 0, check_webhook_url,
     false},
    {"notify", "webhook_secret", KT_STRING, F(notify_webhook_secret), "", 0, 0, NULL, true},
    {"notify", "smtp_url", KT_STRING, F(notify_smtp_url), "", 0, 0, check_smtp_url, false},
    {"notify", "smtp_from", KT_STRING, F(notify_smtp_from), "bulwark@localhost", 0, 0,
     check_email_list, false},
    {"notify", "smtp_tls", KT_BOOL, F(notify_smtp_tls), "yes", 0, 0, NULL, false},
    {"notify", "max_attempts", KT_U64, F(notify_max_attempts), "8", 1, 100, NULL, false},
    {"notify", "retry_base", KT_DURATION, F(notify_retry_base), "30s", 1, DAY, NULL, false},
    {"notify", "timeout", KT_DURATION, F(notify_timeout), "10s", 1, 600, NULL, false},
    {"vuln", "product_critical", KT_DURATION, F(vuln_product_critical), "24h", 1, 0, NULL, false},
    {"vuln", "product_high", KT_DURATION, F(vuln_product_high), "7d", 1, 0, NULL, false},
    {"vuln", "product_medium", KT_DURATION, F(vuln_product_medium), "30d", 1, 0, NULL, false},
    {"vuln", "product_low", KT_DURATION, F(vuln_product_low), "90d", 1, 0, NULL, false},
    {"vuln", "infrastructure_critical", KT_DURATION, F(vuln_infra_critical), "48h", 1, 0, NULL,
     false},
    {"vuln", "infrastructure_high", KT_DURATION, F(vuln_infra_high), "7d", 1, 0, NULL, false},
    {"vuln", "infrastructure_medium", KT_DURATION, F(vuln_infra_medium), "30d", 1, 0, NULL,
     false},
    {"vuln", "infrastructure_low", KT_DURATION, F(vuln_infra_low), "90d", 1, 0, NULL, false},
    {"vuln", "triage", KT_DURATION, F(vuln_triage), "72h", 1, 0, NULL, false},
    {"vuln", "feed", KT_STRING, F(vuln_feed), "", 0, 0, check_feed_path, false},
    {"vuln", "scan_interval", KT_DURATION, F(vuln_scan_interval), "24h", 1, 0, NULL, false},
    /* records: how often the purge job of the deletion lifecycle runs */
    {"retention", "purge_interval", KT_DURATION, F(retention_purge_interval), "1h", 1, 0, NULL,
     false},
    /* [compliance] and contacts (check: bulwark check, GET /api/v1/compliance) */
    {"backup", "copy_target", KT_STRING, F(backup_copy_target), "", 0, 0, check_copy_target,
     false},
    {"notify", "emergency_phone", KT_STRING, F(notify_emergency_phone), "", 0, 0, check_phone,
     false},
    {"compliance", "interval", KT_DURATION, F(compliance_interval), "24h", 60, 0, NULL, false},
    {"compliance", "first_delay", KT_DURATION, F(compliance_first_delay), "5m", 1, DAY, NULL,
     false},
    /* incidents, second round (issue 7): INC-06 staff reports, G-16 recurrence review */
    {"incident", "report_limit", KT_U64, F(incident_report_limit), "10", 1, 10000, NULL, false},
    {"incident", "recurrence_window", KT_DURATION, F(incident_recurrence_window), "365d", 1, 0,
     NULL, false},
    {"incident", "recurrence_threshold", KT_U64, F(incident_recurrence_threshold), "2", 2, 1000,
     NULL, false},
    /* C6 key store: key-store backups are kept this long, then no copy of a destroyed key is left */
    {"retention", "key_backups", KT_DURATION, F(retention_key_backups), "7d", 1, 0, NULL, false},
};

#undef F

static const struct key_def *find_key(const char *section, const char *name)
{
    for (size_t i = 0; i < BW_ARRAY_LEN(keys); i++) {
        if (strcasecmp(keys[i].section, section) == 0 && strcasecmp(keys[i].name, name) == 0)
            return &keys[i];
    }
    return NULL;
}

static bool section_known(const char *section)
{
    for (size_t i = 0; i < BW_ARRAY_LEN(keys); i++) {
        if (strcasecmp(keys[i].section, section) == 0)
            return true;
    }
    return false;
}

static bool in_range(const struct key_def *k, uint64_t v)
{
    return v >= k->min && (k->max == 0 || v <= k->max);
}

/* A value is kept only if bw_config_render can write it back as an INI line
 * that reads the same: it fits inih's line buffer, has no control
 * characters, and nothing inih would take for a comment (";" at the start
 * or after whitespace, "#" at the start). */
static bool renders_safely(const struct key_def *k, const char *value, size_t vlen)
{
    if (strlen(k->name) + 3 + vlen > INI_MAX_LINE - 2)
        return false;
    if (value[0] == ';' || value[0] == '#')
        return false;
    for (size_t i = 0; i < vlen; i++) {
        unsigned char c = (unsigned char)value[i];
        if (c < 0x20 || c == 0x7f)
            return false;
        if (c == ';' && i > 0 && (value[i - 1] == ' ' || value[i - 1] == '\t'))
            return false;
    }
    return true;
}

/* Parses `value` for key k and stores it; nothing changes on failure. */
static enum bw_rc apply(struct bw_config *cfg, const struct key_def *k, const char *value)
{
    char *base = (char *)cfg;
    uint64_t u;
    int64_t d;
    bool b;
    size_t vlen = strlen(value);
    if (!bw_utf8_valid(value, vlen) || !renders_safely(k, value, vlen))
        return BW_ERR_INVALID;
    switch (k->type) {
    case KT_STRING: {
        if (k->check != NULL && k->check(value) != BW_OK)
            return BW_ERR_INVALID;
        char *copy = bw_strdup(value);
        if (copy == NULL)
            return BW_ERR_NOMEM;
        char **slot = (char **)(base + k->offset);
        bw_free(*slot);
        *slot = copy;
        return BW_OK;
    }
    case KT_BOOL:
        if (bw_parse_bool(value, &b) != BW_OK)
            return BW_ERR_INVALID;
        *(bool *)(base + k->offset) = b;
        return BW_OK;
    case KT_U64:
        if (bw_parse_u64(value, UINT64_MAX, &u) != BW_OK || !in_range(k, u))
            return BW_ERR_INVALID;
        *(uint64_t *)(base + k->offset) = u;
        return BW_OK;
    case KT_SIZE:
        if (bw_parse_size(value, &u) != BW_OK || !in_range(k, u))
            return BW_ERR_INVALID;
        *(uint64_t *)(base + k->offset) = u;
        return BW_OK;
    case KT_DURATION:
        if (bw_parse_duration(value, &d) != BW_OK || !in_range(k, (uint64_t)d))
            return BW_ERR_INVALID;
        *(int64_t *)(base + k->offset) = d;
        return BW_OK;
    case KT_LISTEN: {
        char host[64];
        uint16_t port;
        if (bw_parse_hostport(value, host, sizeof(host), &port) != BW_OK)
            return BW_ERR_INVALID;
        memcpy(cfg->listen_host, host, sizeof(host));
        cfg->listen_port = port;
        return BW_OK;
    }
    }
    return BW_ERR_INTERNAL;
}

static const char *type_hint(const struct key_def *k)
{
    switch (k->type) {
    case KT_BOOL:
        return "expected yes or no";
    case KT_U64:
        return "expected a whole number in range";
    case KT_SIZE:
        return "expected a size such as 1MiB, in range";
    case KT_DURATION:
        return "expected a duration with a unit such as 90s, 15m, 12h, 30d, in range";
    case KT_LISTEN:
        return "expected ADDRESS:PORT with a literal IP address";
    case KT_STRING:
        break;
    }
    return "value not accepted";
}

enum bw_rc bw_config_init(struct bw_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < BW_ARRAY_LEN(keys); i++) {
        enum bw_rc rc = apply(cfg, &keys[i], keys[i].def);
        if (rc != BW_OK) {
            bw_config_cleanup(cfg);
            return rc == BW_ERR_NOMEM ? rc : BW_ERR_INTERNAL;
        }
    }
    return BW_OK;
}

void bw_config_cleanup(struct bw_config *cfg)
{
    char *base = (char *)cfg;
    for (size_t i = 0; i < BW_ARRAY_LEN(keys); i++) {
        if (keys[i].type == KT_STRING) {
            char **slot = (char **)(base + keys[i].offset);
            bw_free(*slot);
            *slot = NULL;
        }
    }
}

/* ---- INI file ------------------------------------------------------------ */

struct ini_ctx {
    struct bw_config *cfg;
    const char *name;
    int line;
    bool seen[BW_ARRAY_LEN(keys)];
    bool failed;
    bool line_too_long;
    struct bw_config_err *err;
    /* reader state for the string variant */
    const char *cursor;
    FILE *fp;
};

static void set_err(struct bw_config_err *err, const char *fmt, ...) BW_PRINTF(2, 3);
static void set_err(struct bw_config_err *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
}

static int on_ini_pair(void *user, const char *section, const char *name, const char *value)
{
    struct ini_ctx *c = user;
    if (c->failed)
        return 0;
    const struct key_def *k = find_key(section, name);
    c->failed = true;
    if (!section_known(section)) {
        set_err(c->err, "%s:%d: unknown section [%s]", c->name, c->line, section);
        return 0;
    }
    if (k == NULL) {
        set_err(c->err, "%s:%d: unknown key '%s' in section [%s]", c->name, c->line, name,
                section);
        return 0;
    }
    size_t idx = (size_t)(k - keys);
    if (c->seen[idx]) {
        set_err(c->err, "%s:%d: key '%s' in section [%s] is set twice", c->name, c->line, name,
                section);
        return 0;
    }
    enum bw_rc rc = apply(c->cfg, k, value);
    if (rc != BW_OK) {
        set_err(c->err, "%s:%d: invalid value for %s.%s: %s", c->name, c->line, k->section,
                k->name, rc == BW_ERR_NOMEM ? bw_rc_str(rc) : type_hint(k));
        return 0;
    }
    c->seen[idx] = true;
    c->failed = false;
    return 1;
}

/* Line reader shared by the file and string variants: counts lines and
 * refuses lines that do not fit inih's buffer instead of splitting them. */
static char *read_ini_line(char *str, int num, void *stream)
{
    struct ini_ctx *c = stream;
    if (c->failed)
        return NULL;
    size_t n = 0;
    size_t cap = (size_t)num - 1;
    for (;;) {
        int ch;
        if (c->fp != NULL) {
            ch = fgetc(c->fp);
        } else {
            ch = *c->cursor == '\0' ? EOF : (unsigned char)*c->cursor++;
        }
        if (ch == EOF)
            break;
        if (ch == '\0') { /* embedded NUL: not a text file */
            c->failed = c->line_too_long = true;
            return NULL;
        }
        if (n == cap) {
            c->line++;
            c->line_too_long = true;
            c->failed = true;
            return NULL;
        }
        str[n++] = (char)ch;
        if (ch == '\n')
            break;
    }
    if (n == 0)
        return NULL;
    str[n] = '\0';
    c->line++;
    return str;
}

static enum bw_rc run_ini(struct ini_ctx *c)
{
    int r = ini_parse_stream(read_ini_line, c, on_ini_pair, c);
    if (c->line_too_long) {
        set_err(c->err, "%s:%d: line too long or contains a NUL byte (max %d characters)",
                c->name, c->line, INI_MAX_LINE - 2);
        return BW_ERR_INVALID;
    }
    if (c->failed)
        return BW_ERR_INVALID;
    if (r > 0) {
        set_err(c->err, "%s:%d: syntax error (expected [section] or key = value)", c->name, r);
        return BW_ERR_INVALID;
    }
    if (r < 0) {
        set_err(c->err, "%s: cannot parse configuration", c->name);
        return BW_ERR_IO;
    }
    return BW_OK;
}

enum bw_rc bw_config_load_file(struct bw_config *cfg, const char *path, struct bw_config_err *err)
{
    struct ini_ctx c = {.cfg = cfg, .name = path, .err = err};
    c.fp = fopen(path, "re");
    if (c.fp == NULL) {
        set_err(err, "cannot read %s: %s", path, strerror(errno));
        return errno == ENOENT ? BW_ERR_NOTFOUND : BW_ERR_IO;
    }
    enum bw_rc rc = run_ini(&c);
    fclose(c.fp);
    return rc;
}

enum bw_rc bw_config_load_string(struct bw_config *cfg, const char *name, const char *text,
                                 struct bw_config_err *err)
{
    struct ini_ctx c = {.cfg = cfg, .name = name, .err = err, .cursor = text};
    return run_ini(&c);
}

/* ---- environment and flags ----------------------------------------------- */

static enum bw_rc set_named(struct bw_config *cfg, const char *origin, const char *section,
                            const char *name, const char *value, struct bw_config_err *err)
{
    const struct key_def *k = find_key(section, name);
    if (k == NULL) {
        set_err(err, "%s: unknown key '%s' in section [%s]", origin, name, section);
        return BW_ERR_INVALID;
    }
    enum bw_rc rc = apply(cfg, k, value);
    if (rc != BW_OK)
        set_err(err, "%s: invalid value for %s.%s: %s", origin, k->section, k->name,
                rc == BW_ERR_NOMEM ? bw_rc_str(rc) : type_hint(k));
    return rc;
}

enum bw_rc bw_config_load_env(struct bw_config *cfg, char *const *envp, struct bw_config_err *err)
{
    for (; envp != NULL && *envp != NULL; envp++) {
        const char *e = *envp;
        if (strncmp(e, "BULWARK_", 8) != 0)
            continue;
        const char *eq = strchr(e, '=');
        if (eq == NULL)
            continue;
        char var[128];
        size_t vlen = (size_t)(eq - e);
        if (vlen >= sizeof(var))
            continue;
        memcpy(var, e, vlen);
        var[vlen] = '\0';
        /* BULWARK_<SECTION>_<KEY>: the section is the first word, keys may hold '_' */
        char *sec = var + 8;
        char *us = strchr(sec, '_');
        if (us == NULL)
            continue;
        *us = '\0';
        if (!section_known(sec))
            continue; /* BULWARK_DATA and friends are not configuration keys */
        enum bw_rc rc = set_named(cfg, e, sec, us + 1, eq + 1, err);
        if (rc != BW_OK) {
            /* name the variable only, never echo its value (it may be a secret) */
            *us = '_';
            const char *colon = strchr(err->msg, ':');
            struct bw_buf msg;
            bw_buf_init(&msg, sizeof(err->msg) - 1);
            if (bw_buf_appendf(&msg, "environment %s%s", var, colon != NULL ? colon : "") ==
                BW_OK)
                memcpy(err->msg, msg.data, msg.len + 1);
            bw_buf_free(&msg, false);
            return rc;
        }
    }
    return BW_OK;
}

enum bw_rc bw_config_set_arg(struct bw_config *cfg, const char *assignment,
                             struct bw_config_err *err)
{
    char sec[64], name[64];
    const char *dot = strchr(assignment, '.');
    const char *eq = strchr(assignment, '=');
    if (dot == NULL || eq == NULL || dot > eq || (size_t)(dot - assignment) >= sizeof(sec) ||
        (size_t)(eq - dot - 1) >= sizeof(name) || dot == assignment || eq == dot + 1) {
        set_err(err, "option -o: expected section.key=value");
        return BW_ERR_INVALID;
    }
    memcpy(sec, assignment, (size_t)(dot - assignment));
    sec[dot - assignment] = '\0';
    memcpy(name, dot + 1, (size_t)(eq - dot - 1));
    name[eq - dot - 1] = '\0';
    return set_named(cfg, "option -o", sec, name, eq + 1, err);
}

/* ---- rendering ------------------------------------------------------------ */

static enum bw_rc render_value(const struct bw_config *cfg, const struct key_def *k, bool mask,
                               struct bw_buf *out)
{
    const char *base = (const char *)cfg;
    char tmp[64];
    switch (k->type) {
    case KT_STRING: {
        const char *v = *(char *const *)(base + k->offset);
        if (mask && k->secret && v != NULL && *v != '\0')
            v = "********";
        return bw_buf_appends(out, v != NULL ? v : "");
    }
    case KT_BOOL:
        return bw_buf_appends(out, *(const bool *)(base + k->offset) ? "yes" : "no");
    case KT_U64:
        return bw_buf_appendf(out, "%llu",
                              (unsigned long long)*(const uint64_t *)(base + k->offset));
    case KT_SIZE:
        bw_format_size(*(const uint64_t *)(base + k->offset), tmp, sizeof(tmp));
        return bw_buf_appends(out, tmp);
    case KT_DURATION:
        bw_format_duration(*(const int64_t *)(base + k->offset), tmp, sizeof(tmp));
        return bw_buf_appends(out, tmp);
    case KT_LISTEN:
        if (strchr(cfg->listen_host, ':') != NULL)
            return bw_buf_appendf(out, "[%s]:%u", cfg->listen_host, cfg->listen_port);
        return bw_buf_appendf(out, "%s:%u", cfg->listen_host, cfg->listen_port);
    }
    return BW_ERR_INTERNAL;
}

enum bw_rc bw_config_render(const struct bw_config *cfg, bool mask, struct bw_buf *out)
{
    const char *section = "";
    enum bw_rc rc = BW_OK;
    for (size_t i = 0; i < BW_ARRAY_LEN(keys) && rc == BW_OK; i++) {
        if (strcmp(section, keys[i].section) != 0) {
            section = keys[i].section;
            rc = bw_buf_appendf(out, "%s[%s]\n", i == 0 ? "" : "\n", section);
        }
        if (rc == BW_OK)
            rc = bw_buf_appendf(out, "%s = ", keys[i].name);
        if (rc == BW_OK)
            rc = render_value(cfg, &keys[i], mask, out);
        if (rc == BW_OK)
            rc = bw_buf_append(out, "\n", 1);
    }
    return rc;
}
