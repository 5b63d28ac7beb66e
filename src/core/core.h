/*
 * core.h - the bottom layer every other module builds on: result codes,
 * capped buffers, strict parsers for numbers/durations/sizes, the allocation
 * hook used by fault-injection tests, structured logging, the one clock and
 * random identifiers. Nothing here knows about HTTP, SQL or keys.
 *
 * Ownership: functions borrow their arguments unless the comment says
 * otherwise. Out-parameters are written only when BW_OK is returned.
 */
#ifndef BW_CORE_H
#define BW_CORE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BW_MUST_CHECK __attribute__((warn_unused_result))
#define BW_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define BW_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Result codes. Append only: the numeric values appear in logs and tests. */
enum bw_rc {
    BW_OK = 0,
    BW_ERR_NOMEM,       /* allocation failed */
    BW_ERR_INVALID,     /* input is malformed or out of range */
    BW_ERR_TOOBIG,      /* input exceeds a configured cap */
    BW_ERR_NOTFOUND,    /* no such object */
    BW_ERR_EXISTS,      /* object already exists */
    BW_ERR_IO,          /* file or socket error */
    BW_ERR_PERM,        /* permission or ownership problem */
    BW_ERR_CRYPTO,      /* a cryptographic operation failed */
    BW_ERR_STORE,       /* the database reported an error */
    BW_ERR_CONFLICT,    /* state conflict (e.g. version mismatch) */
    BW_ERR_UNSUPPORTED, /* feature or configuration not supported */
    BW_ERR_INTERNAL,    /* broken invariant caught at run time */
    BW_ERR_BUSY,        /* resource temporarily unavailable */
    BW_ERR_TLS,         /* TLS set-up failed */
    BW_ERR_SCHEMA,      /* database schema missing or out of date */
    BW_ERR__COUNT
};

/* Short lowercase description of a result code, never NULL. */
const char *bw_rc_str(enum bw_rc rc);

/* Formats a one-line reason into why[whylen] (both may be NULL/0). */
void bw_why(char *why, size_t whylen, const char *fmt, ...) BW_PRINTF(3, 4);

/* ---- memory (core/mem.c) ------------------------------------------------
 * Every allocation in Bulwark goes through these so that a test can make the
 * Nth allocation fail (curl's torture mode). bw_free accepts NULL. */
void *bw_malloc(size_t n);
void *bw_calloc(size_t nmemb, size_t size);
void *bw_realloc(void *p, size_t n); /* never write p = bw_realloc(p, n) */
char *bw_strdup(const char *s);
char *bw_strndup(const char *s, size_t n);
void bw_free(void *p);
/* Test hook: fail every allocation after `n` more succeed; -1 disables. */
void bw_mem_fail_after(long n);

/* ---- capped buffer (core/buf.c) ------------------------------------------
 * Untrusted bytes are only ever collected in a bw_buf: it refuses to grow
 * past `max` (BW_ERR_TOOBIG) instead of truncating. data is always
 * NUL-terminated when non-NULL. The buffer owns data. */
struct bw_buf {
    char *data;
    size_t len;
    size_t cap;
    size_t max;
};

void bw_buf_init(struct bw_buf *b, size_t max);
BW_MUST_CHECK enum bw_rc bw_buf_append(struct bw_buf *b, const void *p, size_t n);
BW_MUST_CHECK enum bw_rc bw_buf_appends(struct bw_buf *b, const char *s);
BW_MUST_CHECK enum bw_rc bw_buf_appendf(struct bw_buf *b, const char *fmt, ...) BW_PRINTF(2, 3);
void bw_buf_reset(struct bw_buf *b);
/* Releases the memory; wipes it first when `wipe` is true. */
void bw_buf_free(struct bw_buf *b, bool wipe);
/* Hands the data to the caller (who frees it with bw_free) and resets b. */
char *bw_buf_steal(struct bw_buf *b, size_t *len);

/* ---- strict parsers (core/strparse.c) -------------------------------------
 * Whole-string parsers: leading/trailing garbage, overflow, empty input and
 * signs where none are allowed are all BW_ERR_INVALID. */
BW_MUST_CHECK enum bw_rc bw_parse_u64(const char *s, uint64_t max, uint64_t *out);
/* "90s", "15m", "12h", "30d", "2w", "2y", also compound "1h30m"; a bare
 * number is rejected (units are mandatory). Result in seconds. */
BW_MUST_CHECK enum bw_rc bw_parse_duration(const char *s, int64_t *out_seconds);
/* "1MiB", "512KiB", "10MB", "100B", bare numbers are bytes. */
BW_MUST_CHECK enum bw_rc bw_parse_size(const char *s, uint64_t *out_bytes);
/* yes/no, true/false, on/off, 1/0 (case-insensitive). */
BW_MUST_CHECK enum bw_rc bw_parse_bool(const char *s, bool *out);
/* "host:port" or "[v6]:port"; host copied into host[hostcap]. */
BW_MUST_CHECK enum bw_rc bw_parse_hostport(const char *s, char *host, size_t hostcap,
                                           uint16_t *port);
/* Comma-separated list of CIDRs ("10.0.0.0/8, ::1/128"); empty is valid. */
BW_MUST_CHECK enum bw_rc bw_parse_cidr_list(const char *s);
/* Formats bytes in the largest exact binary unit ("1MiB", "1500"). */
void bw_format_size(uint64_t bytes, char *out, size_t cap);
/* Formats seconds back into the shortest unit form ("15m"). */
void bw_format_duration(int64_t seconds, char *out, size_t cap);
/* True if s is valid UTF-8 of exactly len bytes (no overlongs, surrogates). */
bool bw_utf8_valid(const char *s, size_t len);

/* ---- logging (core/log.c) ------------------------------------------------
 * One JSON object per line on stderr: {"ts","level","event",...}. Values are
 * escaped by jansson, so CR/LF in input cannot forge lines (G-13). Callers
 * must never pass secrets, tokens, passwords or bodies. */
enum bw_log_level { BW_LOG_DEBUG, BW_LOG_INFO, BW_LOG_WARN, BW_LOG_ERROR };
void bw_log_set_level(enum bw_log_level lvl);
void bw_log(enum bw_log_level lvl, const char *event, const char *fmt, ...) BW_PRINTF(3, 4);
/* Logs `fields` (a jansson object, stolen) with ts/level/event added. */
struct json_t;
void bw_log_fields(enum bw_log_level lvl, const char *event, struct json_t *fields);

/* ---- time (core/time.c) --------------------------------------------------
 * The one clock. Tests can shift it with bw_time_set_offset (and the server
 * honours BULWARK_TEST_CLOCK_OFFSET only in test builds). All times are UTC. */
int64_t bw_time_now(void);    /* seconds since the epoch */
int64_t bw_time_now_ms(void); /* milliseconds since the epoch */
uint64_t bw_time_mono_ns(void);
void bw_time_set_offset(int64_t seconds);
/* RFC 3339 UTC, "2026-11-24T10:00:00Z"; out needs 21 bytes. */
void bw_time_format(int64_t t, char out[21]);
BW_MUST_CHECK enum bw_rc bw_time_parse(const char *s, int64_t *out);

/* ---- identifiers (core/id.c) --------------------------------------------- */
#define BW_ID_LEN 26 /* 128-bit random, Crockford base32, lowercase */
void bw_id_new(char out[BW_ID_LEN + 1]);
bool bw_id_valid(const char *s);
/* Hex encoding; out must hold 2*n+1 bytes. */
void bw_hex(const uint8_t *p, size_t n, char *out);

/* ---- configuration (core/config.c) ----------------------------------------
 * Defaults are the adopted policy's values (SPEC 3). Sources are applied in
 * order: defaults, bulwark.conf, BULWARK_<SECTION>_<KEY> environment, then
 * command-line "-o section.key=value" flags. Unknown keys and bad values are
 * errors naming the file, line and key. The struct owns its strings. */
struct bw_config {
    /* [server] */
    char listen_host[64];
    uint16_t listen_port;
    char *trusted_proxies;
    uint64_t max_body;
    char *security_contact;
    char *security_policy;
    int64_t security_txt_expires;
    uint64_t threads; /* 0 = one per core */
    uint64_t max_connections;
    uint64_t max_connections_per_ip;
    int64_t request_timeout;
    int64_t idle_timeout;
    uint64_t max_header_size;
    uint64_t max_url_length;
    char *log_level;
    /* [database] */
    char *database_url;
    uint64_t pool_size;
    int64_t busy_timeout;
    /* [password] */
    char *password_profile;
    uint64_t password_min_length;
    bool password_require_upper;
    bool password_require_lower;
    bool password_require_digit;
    uint64_t password_history;
    int64_t password_max_age;
    bool password_reject_common;
    /* [lockout] */
    uint64_t lockout_max_failures;
    int64_t lockout_duration;
    /* [session] */
    int64_t session_idle_timeout;
    int64_t session_absolute_timeout;
    uint64_t session_max_concurrent;
    /* [mfa] */
    bool mfa_required_for_admins;
    bool mfa_required_for_restricted;
    bool mfa_required_for_all;
    /* [retention] */
    int64_t retention_deleted_records;
    int64_t retention_audit;
    int64_t retention_full_backups;
    int64_t retention_incremental_backups;
    int64_t retention_backup_log;
    /* [backup] */
    char *backup_target;
    char *backup_full;
    char *backup_incremental;
    int64_t backup_log_interval;
    /* [tls] */
    char *tls_cert;
    char *tls_key;
    /* [tenants] (tenants feature) */
    bool tenants_self_service; /* any user may create organisations */
    /* [users] */
    bool users_signup; /* anyone may create an account (POST /api/v1/users without credentials) */
    /* [audit] (issue 5) */
    int64_t audit_checkpoint_interval;
    uint64_t audit_checkpoint_events;
    char *audit_syslog;
    /* [incident] (incident/: issue 7) */
    int64_t incident_p1_response;
    int64_t incident_p2_response;
    int64_t incident_p3_response;
    int64_t incident_p4_response;
    int64_t incident_nis2_early_warning;
    int64_t incident_nis2_notification;
    int64_t incident_nis2_final;
    int64_t incident_gdpr_authority;
    int64_t incident_warn_before;
    int64_t incident_review_due;
    int64_t incident_detect_interval;
    uint64_t incident_lockout_threshold;
    int64_t incident_lockout_window;
    uint64_t incident_lockout_wave_threshold;
    int64_t incident_lockout_wave_window;
    uint64_t incident_spray_accounts;
    int64_t incident_spray_window;
    uint64_t incident_apikey_denied_threshold;
    int64_t incident_apikey_denied_window;
    uint64_t incident_confidential_reads_threshold;
    int64_t incident_confidential_reads_window;
    bool incident_admin_new_address;
    int64_t incident_rpo;
    /* [notify] (incident/notify.c: issue 7) */
    char *notify_security_contacts;
    char *notify_webhook_url;
    char *notify_webhook_secret;
    char *notify_smtp_url;
    char *notify_smtp_from;
    bool notify_smtp_tls;
    uint64_t notify_max_attempts;
    int64_t notify_retry_base;
    int64_t notify_timeout;
    /* [vuln] (vuln/: issue 7) */
    int64_t vuln_product_critical;
    int64_t vuln_product_high;
    int64_t vuln_product_medium;
    int64_t vuln_product_low;
    int64_t vuln_infra_critical;
    int64_t vuln_infra_high;
    int64_t vuln_infra_medium;
    int64_t vuln_infra_low;
    int64_t vuln_triage;
    char *vuln_feed;
    int64_t vuln_scan_interval;
    /* [retention] (records feature) */
    int64_t retention_purge_interval; /* seconds between purge passes of bulwark serve */
    /* [compliance] and contacts (check) */
    char *backup_copy_target;     /* second (off-site) backup target, "" = none (BCK-02) */
    char *notify_emergency_phone; /* emergency phone of the security team (INC-05, C8) */
    int64_t compliance_interval;  /* serve runs every check this often (G-11) */
    int64_t compliance_first_delay;
    /* [incident] second round (issue 7): staff reports, quarterly recurrence review */
    uint64_t incident_report_limit;
    int64_t incident_recurrence_window;
    uint64_t incident_recurrence_threshold;
    /* [retention] (C6 key store) */
    int64_t retention_key_backups; /* age after which a key-store backup is removed */
};

struct bw_config_err {
    char msg[512];
};

/* Fills every field with its default; allocation failure is BW_ERR_NOMEM. */
BW_MUST_CHECK enum bw_rc bw_config_init(struct bw_config *cfg);
void bw_config_cleanup(struct bw_config *cfg);
/* Applies an INI file; err names "path:line: ..." on failure. */
BW_MUST_CHECK enum bw_rc bw_config_load_file(struct bw_config *cfg, const char *path,
                                             struct bw_config_err *err);
/* Same, from memory (used by the fuzzer); `name` appears in messages. */
BW_MUST_CHECK enum bw_rc bw_config_load_string(struct bw_config *cfg, const char *name,
                                               const char *text, struct bw_config_err *err);
/* Applies BULWARK_<SECTION>_<KEY> variables of envp (NULL-terminated). */
BW_MUST_CHECK enum bw_rc bw_config_load_env(struct bw_config *cfg, char *const *envp,
                                            struct bw_config_err *err);
/* Applies one "section.key=value" assignment (command-line flags). */
BW_MUST_CHECK enum bw_rc bw_config_set_arg(struct bw_config *cfg, const char *assignment,
                                           struct bw_config_err *err);
/* Writes the whole effective configuration as INI text (for init and
 * "config show"); values marked secret are masked when `mask` is true. */
BW_MUST_CHECK enum bw_rc bw_config_render(const struct bw_config *cfg, bool mask,
                                          struct bw_buf *out);

/* ---- IP networks (core/strparse.c; tenants: API-key allow-lists, trusted
 * proxies) ------------------------------------------------------------------
 * One parsed address or network. IPv4 lives in addr[0..3]; IPv4-mapped IPv6
 * addresses are turned into IPv4; host bits past the prefix are cleared. */
struct bw_cidr {
    uint8_t addr[16];
    uint8_t bits; /* prefix length: 0..32 (IPv4) or 0..128 (IPv6) */
    bool v6;
};
/* Parses a list as bw_parse_cidr_list does into out[cap] (out may be NULL to
 * count only); *n = entries. BW_ERR_TOOBIG when more than cap. */
BW_MUST_CHECK enum bw_rc bw_cidr_parse_list(const char *s, struct bw_cidr *out, size_t cap,
                                            size_t *n);
/* Parses one address (no prefix) as a /32 or /128. */
BW_MUST_CHECK enum bw_rc bw_ip_parse(const char *s, struct bw_cidr *out);
bool bw_cidr_contains(const struct bw_cidr *net, const struct bw_cidr *ip);
bool bw_cidr_list_contains(const struct bw_cidr *nets, size_t n, const struct bw_cidr *ip);
/* Canonical "addr/bits" text; cap >= 50 always suffices. */
void bw_cidr_format(const struct bw_cidr *c, char *out, size_t cap);

#endif
