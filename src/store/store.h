/*
 * store.h - the one storage interface of Bulwark. Two drivers sit behind it
 * (SQLite: store_sqlite.c, PostgreSQL: store_pg.c); callers never see which.
 *
 * Model: all work happens inside a transaction callback.
 *   bw_store_write(store, fn, arg)  runs fn inside a write transaction. On
 *       SQLite concurrent writers are batched into one commit (group commit:
 *       one fsync for many callers), each caller isolated by a savepoint; on
 *       PostgreSQL each call is its own transaction on a pooled connection.
 *       When fn returns BW_OK and bw_store_write returns BW_OK, the change is
 *       durable (synchronous=FULL / synchronous_commit=on). When fn returns an
 *       error, none of its changes persist and that error is returned.
 *   bw_store_read(store, fn, arg)   runs fn inside a read-only snapshot.
 * Inside fn, statements are named by enum bw_stmt; their SQL text lives only
 * in the driver files, always prepared, parameters always bound (never part
 * of SQL text: SPEC 6.5, CONTROL: APP-02).
 *
 * fn may run on another thread than the caller's (the group-commit leader),
 * must not block on anything but the store, and must not call
 * bw_store_write/read recursively.
 *
 * Everything that must hold across several `bulwark serve` processes sharing
 * one PostgreSQL lives in the store, never only in process memory.
 */
#ifndef BW_STORE_H
#define BW_STORE_H

#include "core/core.h"

#include <string.h> /* strlen in BW_VTEXT */

struct bw_store;
struct bw_tx;
struct bw_row;

/* Named statements. Append only; each driver supplies text for every id. */
enum bw_stmt {
    BW_STMT_META_GET,        /* (key) -> (value) */
    BW_STMT_META_PUT,        /* (key, value) upsert */
    BW_STMT_META_DELETE,     /* (key) */
    BW_STMT_META_COUNT_LIKE, /* (prefix) -> (count) rows whose key starts with prefix */
    BW_STMT_META_LIST_LIKE,  /* (prefix, limit) -> (key, value) ordered by key */
    /* identity (auth/) */
    BW_STMT_USER_INSERT, /* (id, email, platform_admin, hash, changed_at, expires_at|NULL,
                            must_change, created_at) */
    BW_STMT_USER_BY_EMAIL, /* (email) -> USER_COLUMNS */
    BW_STMT_USER_BY_ID,    /* (id) -> USER_COLUMNS */
    BW_STMT_USER_CLAIM_ATTEMPT, /* (id, max_failures, now, stale_before) -> (failed_count);
                                   no row when locked, or when failures plus checks under
                                   way already reach max_failures */
    BW_STMT_USER_LOGIN_OK,      /* (id, now) ends a claimed check: resets failures */
    BW_STMT_USER_SET_PASSWORD,  /* (id, hash, changed_at, expires_at|NULL, must_change) */
    BW_STMT_USER_SET_STATUS,    /* (id, status) */
    BW_STMT_USER_UNLOCK,        /* (id) */
    BW_STMT_USER_LOCK,          /* (id) administrative lock, until unlocked */
    BW_STMT_USER_LIST,          /* (limit) -> USER_COLUMNS ordered by email */
    BW_STMT_PWHIST_INSERT,      /* (user_id, hash, created_at) */
    BW_STMT_PWHIST_RECENT,      /* (user_id, limit) -> (hash) newest first */
    BW_STMT_PWHIST_TRIM,        /* (user_id, keep) deletes all but the newest `keep` */
    BW_STMT_SESSION_INSERT,     /* (id, token_hash, user_id, created_at, last_seen_at,
                                   expires_at, password_only, remote) */
    BW_STMT_SESSION_BY_TOKEN,   /* (token_hash) -> (id, user_id, created_at, last_seen_at,
                                   expires_at, password_only, mfa_verified) */
    BW_STMT_SESSION_TOUCH,      /* (id, now) */
    BW_STMT_SESSION_DELETE,     /* (id, user_id) */
    BW_STMT_SESSION_DELETE_USER, /* (user_id) */
    BW_STMT_SESSION_LIST_USER,  /* (user_id) -> (id, created_at, last_seen_at, expires_at,
                                   remote) least recently used first */
    BW_STMT_SESSION_PURGE,      /* (now, idle_cutoff) removes expired and idle sessions */
    BW_STMT_AUDIT_INSERT,       /* (ts, actor, action, target, outcome, remote, request_id,
                                   details) */
    /* TOTP MFA (auth/mfa.c); sealed seeds never leave these statements */
    BW_STMT_USER_MFA_KEYS,        /* (id) -> (mfa_enabled, mfa_secret|NULL, mfa_pending|NULL,
                                     mfa_last_step) */
    BW_STMT_USER_MFA_SET_PENDING, /* (id, sealed) only while MFA is not enabled */
    BW_STMT_USER_MFA_ACTIVATE,    /* (id, sealed_pending, step) pending -> active when pending
                                     is unchanged and step > mfa_last_step -> (mfa_last_step);
                                     no row otherwise */
    BW_STMT_USER_OTP_CLAIM,       /* (id, max_failures, locked_until_if_max, now)
                                     -> (otp_failed_count, otp_locked_until); no row when locked */
    BW_STMT_USER_OTP_ACCEPT,      /* (id, step) records a used step and resets OTP failures
                                     when step > mfa_last_step -> (mfa_last_step); no row
                                     otherwise (replay) */
    BW_STMT_USER_OTP_RESET,       /* (id) resets OTP failures (recovery code accepted) */
    BW_STMT_USER_MFA_CLEAR,       /* (id) disables MFA, drops seeds, resets OTP state */
    BW_STMT_RECOVERY_INSERT,      /* (user_id, code_hash, created_at) */
    BW_STMT_RECOVERY_DELETE_USER, /* (user_id) */
    BW_STMT_RECOVERY_USE,         /* (user_id, code_hash, now) marks an unused code used
                                     -> (used_at); no row when unknown or used */
    BW_STMT_RECOVERY_COUNT,       /* (user_id) -> (unused codes) */
    BW_STMT_SESSION_SET_MFA,      /* (id, user_id) marks the session's second factor done */
    BW_STMT_USER_FAIL_ATTEMPT, /* (id, max_failures, locked_until_if_max) ends a claimed
                                  check that failed -> (failed_count) */
    BW_STMT_USER_BY_ID_FOR_UPDATE, /* (id) -> USER_COLUMNS, row locked until commit (PG) */
    /* tenants (tenant/, auth/apikey.c): organisations, memberships, API keys */
    BW_STMT_ORG_INSERT,          /* (id, name, created_at, created_by) */
    BW_STMT_ORG_BY_ID,           /* (id) -> (id, name, created_at); live organisations only */
    BW_STMT_ORG_LOCK,            /* (id) -> (id) of a live organisation; holds its row until
                                    commit (PG), so membership changes of one org are serial */
    BW_STMT_ORG_LIST_USER,       /* (user_id) -> (id, name, created_at, role) live orgs the
                                    user belongs to, by name */
    BW_STMT_MEMBER_ROLE,         /* (org_id, user_id) -> (role); live organisations only */
    BW_STMT_MEMBER_INSERT,       /* (org_id, user_id, role, created_at) */
    BW_STMT_MEMBER_SET_ROLE,     /* (org_id, user_id, role) */
    BW_STMT_MEMBER_DELETE,       /* (org_id, user_id) */
    BW_STMT_MEMBER_COUNT_ROLE,   /* (org_id, role) -> (count) */
    BW_STMT_MEMBER_LIST,         /* (org_id) -> (user_id, email, role, created_at) by email */
    BW_STMT_USER_SET_PLATFORM_ADMIN, /* (id, platform_admin 0|1) */
    BW_STMT_APIKEY_INSERT,       /* (id, org_id, name, role, secret_hash, allowed_ips,
                                    created_by, created_at, expires_at|NULL) */
    BW_STMT_APIKEY_BY_HASH,      /* (secret_hash) -> (id, org_id, role, allowed_ips,
                                    expires_at|NULL, revoked_at|NULL, last_used_at|NULL);
                                    keys of live organisations only */
    BW_STMT_APIKEY_LIST_ORG,     /* (org_id) -> (id, name, role, allowed_ips, created_by,
                                    created_at, expires_at|NULL, revoked_at|NULL,
                                    last_used_at|NULL, last_used_ip|NULL) newest first */
    BW_STMT_APIKEY_REVOKE,       /* (id, org_id, now) -> (id); no row when unknown, of another
                                    organisation or already revoked */
    BW_STMT_APIKEY_TOUCH,        /* (id, now, ip) records the last use */
    BW_STMT_APIKEY_ORG_OF,       /* (id) -> (org_id) of a key (command line: revoke ID) */
    BW_STMT_ORG_LIST_ALL,        /* (limit) -> (id, name, created_at) live organisations, by name */
    /* audit trail (audit/, issue 5). AUDIT_COLUMNS = (seq, ts, actor, action, target,
       outcome, remote, request_id, details, org, prev_hash, hash) */
    BW_STMT_AUDIT_HEAD_LOCK,     /* () -> (seq, hash) of the chain head, row locked until
                                    commit (PG: FOR UPDATE; SQLite: the one writer) */
    BW_STMT_AUDIT_HEAD_SET,      /* (seq, hash) */
    BW_STMT_AUDIT_APPEND,        /* (seq, ts, actor, action, target, outcome, remote,
                                    request_id, details, org, prev_hash, hash) */
    BW_STMT_AUDIT_HEAD_GET,      /* () -> (seq, hash) without a lock */
    BW_STMT_AUDIT_RANGE,         /* (after_seq, limit) -> AUDIT_COLUMNS, seq > after_seq,
                                    ascending */
    BW_STMT_AUDIT_BOUNDS,        /* () -> (min seq, max seq, count); NULLs when empty */
    BW_STMT_AUDIT_SEARCH,        /* (before_seq|0, actor|NULL, action|NULL, target|NULL,
                                    since, until, limit) -> AUDIT_COLUMNS, newest first */
    BW_STMT_AUDIT_DELETE_UPTO,   /* (seq) retention only, after the archive is durable */
    BW_STMT_AUDIT_CKPT_INSERT,   /* (seq, hash, ts, sig); an existing seq is kept */
    BW_STMT_AUDIT_CKPT_LIST,     /* () -> (seq, hash, ts, sig) ascending */
    BW_STMT_AUDIT_CKPT_LATEST,   /* () -> (seq, ts) of the newest checkpoint */
    BW_STMT_AUDIT_ARCHIVE_INSERT, /* (first_seq, last_seq, last_hash, file, file_hash,
                                     created_at) */
    BW_STMT_AUDIT_ARCHIVE_LIST,  /* () -> (first_seq, last_seq, last_hash, file, file_hash,
                                    created_at) ascending */
    BW_STMT_AUDIT_LEGACY_LIST,   /* (limit) -> (seq, ts, actor, action, target, outcome, remote,
                                    request_id, details) oldest first */
    BW_STMT_AUDIT_LEGACY_DELETE, /* (seq) */
    /* incidents, detection, notifications, vulnerabilities (incident/, vuln/: issue 7) */
    BW_STMT_INC_INSERT, /* (id, title, severity, aware_at, created_at, created_by,
        detect_key|NULL, respond_by, significant|NULL, personal_data|NULL, facts); no row
        inserted when an open incident has the same detect_key */
    BW_STMT_INC_BY_ID, /* (id) -> INC_COLUMNS */
    BW_STMT_INC_LIST, /* (limit) -> INC_COLUMNS newest first */
    BW_STMT_INC_OPEN_BY_KEY, /* (detect_key) -> (id) of the open incident with this key */
    BW_STMT_INC_SET_STATUS, /* (id, from, to, now) -> (id); no row when the status is no longer
        `from`; the first step out of detected records the response */
    BW_STMT_INC_SET_REVIEW, /* (id, root_cause, lessons, now) */
    BW_STMT_INC_SET_ASSESSMENT, /* (id, significant|NULL, personal_data|NULL, facts, now) */
    BW_STMT_INC_STEP_INSERT, /* (incident_id, status, at, actor, note) */
    BW_STMT_INC_STEPS, /* (incident_id) -> (status, at, actor, note) oldest first */
    BW_STMT_INC_EVIDENCE_ADD, /* (incident_id, audit_seq, rule); nothing when already linked */
    BW_STMT_INC_EVIDENCE_LIST, /* (incident_id) -> (audit_seq, rule, ts, action, target, remote)
        oldest first */
    BW_STMT_INC_DEADLINE_ADD, /* (incident_id, kind, due_at|NULL); an existing deadline is never
        moved */
    BW_STMT_INC_DEADLINE_MEET, /* (incident_id, kind, met_at) -> (due_at) when it was still open
        */
    BW_STMT_INC_DEADLINES, /* (incident_id) -> (kind, due_at, met_at, warned_at, escalated_at)
        by due time */
    BW_STMT_INC_DEADLINES_PENDING, /* (horizon) -> (incident_id, kind, due_at, warned_at,
        escalated_at, severity, title) unmet deadlines due before horizon and not yet escalated
        */
    BW_STMT_INC_DEADLINE_MARK, /* (incident_id, kind, warned_at|NULL, escalated_at|NULL) ->
        (kind); sets each only once */
    BW_STMT_INC_OVERDUE, /* (now) -> (incident_id, kind, due_at, severity, title) unmet
        deadlines past due */
    BW_STMT_INC_SUBMISSION_INSERT, /* (id, incident_id, kind, submitted_at, actor, content,
        content_hash, delay_reason|NULL) */
    BW_STMT_INC_SUBMISSIONS, /* (incident_id) -> (id, kind, submitted_at, actor, content_hash,
        delay_reason) oldest first */
    BW_STMT_TASK_INSERT, /* (id, kind, ref, title, created_at, due_at) */
    BW_STMT_TASKS_BY_REF, /* (ref) -> (id, kind, title, created_at, due_at, done_at) */
    BW_STMT_AUDIT_SCAN, /* (after_seq, limit) -> (seq, ts, actor, action, target, outcome,
        remote, details) */
    BW_STMT_AUDIT_WINDOW, /* (action, since_ts, upto_seq, limit) -> (seq, target, actor, remote,
        details) of one action in a time window */
    BW_STMT_AUDIT_PRIOR_FROM, /* (action, target, remote, before_seq) -> (count) earlier events
        of one target from one address */
    BW_STMT_AUDIT_PRIOR_ANY, /* (action, target, before_seq) -> (count) earlier events of one
        target */
    BW_STMT_AUDIT_LAST, /* (action) -> (seq, ts) of the newest event of one action */
    BW_STMT_AUDIT_MAX_SEQ, /* () -> (max seq or 0) */
    BW_STMT_NOTIFY_INSERT, /* (id, created_at, channel, dest, subject, body, event) */
    BW_STMT_NOTIFY_DUE, /* (now, limit) -> (id, channel, dest, subject, body, event, attempts)
        */
    BW_STMT_NOTIFY_CLAIM, /* (id, now, lease_until) -> (id); no row when another worker holds it
        */
    BW_STMT_NOTIFY_RESULT, /* (id, status, attempts, next_at, last_error|NULL, sent_at|NULL) */
    BW_STMT_NOTIFY_LIST, /* (limit) -> (id, created_at, channel, dest, subject, event, attempts,
        status, last_error, sent_at) newest first */
    BW_STMT_VULN_INSERT, /* (id, title, component, version|NULL, cve|NULL, severity, scope,
        found_at, due_at, source, source_ref|NULL, created_by); no row when source_ref exists */
    BW_STMT_VULN_BY_ID, /* (id) -> VULN_COLUMNS */
    BW_STMT_VULN_LIST, /* (limit) -> VULN_COLUMNS, open first by due time */
    BW_STMT_VULN_CLOSE, /* (id, fixed_release|NULL, exception|NULL, closed_at, closed_by) ->
        (id); no row unless open */
    BW_STMT_VULN_RATE, /* (id, severity, scope, due_at) -> (id); no row unless open */
    BW_STMT_VULN_OVERDUE, /* (now) -> (id, title, severity, scope, due_at) open, past due, not
        yet escalated */
    BW_STMT_VULN_MARK_ESCALATED, /* (id, now) -> (id); once */
    BW_STMT_VREPORT_INSERT, /* (id, received_at, remote, sealed, vuln_id) */
    BW_STMT_VREPORT_BY_ID, /* (id) -> (received_at, remote, sealed, vuln_id) */
    BW_STMT_SCAN_RUN_INSERT, /* (id, at, feed, components, advisories, matches, opened) */
    BW_STMT_SCAN_RUN_LAST, /* () -> (at) of the newest run */
    BW_STMT_VULN_OVERDUE_ALL, /* (now) -> (id, title, severity, scope, due_at) open and past due
        */
    /* records (data/): collections, records, key store; every tenant statement binds org_id */
    BW_STMT_COLL_INSERT, /* (org_id, name, classification, fields, created_at, created_by) */
    BW_STMT_COLL_GET, /* (org_id, name) -> (name, classification, fields, created_at, updated_at) */
    BW_STMT_COLL_LIST, /* (org_id) -> COLL_GET columns, by name */
    BW_STMT_COLL_SET_CLASS, /* (org_id, name, classification, now) */
    BW_STMT_REC_INSERT, /* (org_id, collection, id, body, encrypted, now, actor) version 1 */
    BW_STMT_REC_GET, /* (org_id, collection, id) -> REC columns (id, version, body, encrypted, created_at, updated_at, deleted_at|NULL); deleted rows too; row locked until commit (PG) */
    BW_STMT_REC_UPDATE, /* (org_id, collection, id, version, body, encrypted, now, actor) writes version+1 of a live record whose version is `version` */
    BW_STMT_REC_SET_DELETED, /* (org_id, collection, id, deleted_at|NULL, now, actor) soft delete (live rows) or restore (deleted rows) */
    BW_STMT_REC_LIST, /* (org_id, collection, after, limit) -> REC columns of live records with id > after, by id */
    BW_STMT_REC_PURGE_DUE, /* (cutoff, limit) -> (org_id, collection, id) of records deleted at or before cutoff */
    BW_STMT_REC_PURGE, /* (org_id, id, cutoff) removes a record deleted at or before cutoff */
    BW_STMT_ORGKEY_GET, /* (org_id) -> (mversion, wrapped) */
    BW_STMT_ORGKEY_INSERT, /* (org_id, mversion, wrapped, now); no-op when the organisation has a key */
    BW_STMT_ORGKEY_LIST, /* () -> (org_id, mversion, wrapped) every organisation key */
    BW_STMT_ORGKEY_SET, /* (org_id, old mversion, new mversion, wrapped, now) rewrap */
    BW_STMT_ORGKEY_DELETE, /* (org_id) destroys the organisation key */
    BW_STMT_DATAKEY_GET, /* (org_id, record_id) -> (wrapped) */
    BW_STMT_DATAKEY_INSERT, /* (org_id, record_id, wrapped, now) */
    BW_STMT_DATAKEY_DELETE, /* (org_id, record_id) destroys a record's data key */
    BW_STMT_KEYINV_INSERT, /* (kind, scope, version, now) created and activated now; no-op when present */
    BW_STMT_KEYINV_RETIRE, /* (kind, scope, below_version, now) retires active versions below */
    BW_STMT_KEYINV_DESTROY, /* (kind, scope, now) marks every version of the key destroyed */
    BW_STMT_KEYINV_LIST, /* () -> (kind, scope, version, created_at, activated_at, retired_at, destroyed_at) */
    BW_STMT_ORG_PURGE_DUE, /* (cutoff) -> (org_id) organisations deleted at or before cutoff that still hold a key or data */
    BW_STMT_DATAKEY_DELETE_ORG, /* (org_id) destroys every data key of an organisation */
    BW_STMT_COLL_DELETE_ORG, /* (org_id) removes the collections (and, by cascade, records) of an organisation */
    BW_STMT_REC_SET_BODY, /* (org_id, collection, id, body, encrypted) re-encodes a body in place (classification change) */
    BW_STMT_REC_ALL, /* (org_id, collection, after, limit) -> REC columns of every record (deleted too) with id > after, by id */
    /* compliance (check: src/compliance/, migration 0012) */
    BW_STMT_COMPL_INSERT, /* (id, at, trigger, actor, pass, fail, warning, not_applicable,
        error, not_checked, results) */
    BW_STMT_COMPL_LIST, /* (before_seq|0, limit) -> (seq, id, at, trigger, actor, pass, fail,
        warning, not_applicable, error, not_checked) newest first */
    BW_STMT_COMPL_BY_ID, /* (id) -> (seq, at, trigger, actor, results) */
    BW_STMT_COMPL_LAST, /* () -> (at) of the newest assessment */
    BW_STMT_COMPL_AUDIT_LAST, /* (action) -> (ts, outcome) of the newest event of one action */
    BW_STMT_COMPL_APIKEYS, /* (now) -> (usable keys, of them without allow-list, without
        expiry) */
    BW_STMT_COMPL_ADMIN_MEMBERS, /* () -> (platform admins holding an organisation role) */
    BW_STMT_COMPL_TASKS_OVERDUE, /* (now) -> (open tasks past due) */
    BW_STMT_COMPL_INC_UNASSESSED, /* (aware_before) -> (open incidents without a significance
        assessment, aware before the bound) */
    /* incidents (issue 7, second round): staff reports (INC-06), quarterly review (G-16) */
    BW_STMT_INC_REPORT_MARK,     /* (id, user_id) records the reporter of a staff report */
    BW_STMT_INC_REPORT_COUNT,    /* (user_id, since) -> (count) of their reports since */
    BW_STMT_INC_CLOSED_BETWEEN,  /* (from, to, limit) -> (id, title, severity, root_cause,
                                    closed_at) closed in [from, to) */
    BW_STMT_INC_REVIEW_EXISTS,   /* (period_start) -> (id) */
    BW_STMT_INC_REVIEW_INSERT,   /* (id, period_start, period_end, run_at, actor, incidents,
                                    repeats, root_causes); no row when the period has one */
    BW_STMT_INC_REVIEW_LIST,     /* (limit) -> (id, period_start, period_end, run_at, actor,
                                    incidents, repeats, root_causes) newest period first */
    /* key store apart from the data (decision C6, issues 4 and 6) */
    BW_STMT_DATAKEY_ORPHANS, /* (cutoff, limit) destroys up to limit data keys created before cutoff whose record is gone or no longer sealed */
    BW_STMT_REC_KEYLESS, /* (org_id, collection, after, limit) -> (id) of records (deleted too) without a data key, id > after, by id */
    BW_STMT_ORGKEY_COUNT, /* () -> (count) organisation keys in the key store */
    BW_STMT_REC_KEYGONE, /* (limit) -> (org_id, collection, id) of sealed records whose data key is gone */
    BW_STMT_REC_DELETE_KEYGONE, /* (org_id, id) removes a sealed record whose data key is gone */
    /* audit trail follow-up (issue 5): one organisation's events */
    BW_STMT_AUDIT_SEARCH_ORG, /* (before_seq|0, actor|NULL, action|NULL, target|NULL, since,
                                 until, limit, org) -> AUDIT_COLUMNS of that org, newest first */
    /* organisation deletion (issue 4): hidden at once, purged after the grace period */
    BW_STMT_ORG_SET_DELETED, /* (id, now) marks a live organisation deleted */
    BW_STMT__COUNT
};

/* Columns of BW_STMT_USER_BY_EMAIL / _BY_ID / _LIST, in this order. */
enum bw_user_col {
    BW_UCOL_ID,
    BW_UCOL_EMAIL,
    BW_UCOL_STATUS,
    BW_UCOL_PLATFORM_ADMIN,
    BW_UCOL_PASSWORD_HASH,
    BW_UCOL_PASSWORD_CHANGED_AT,
    BW_UCOL_PASSWORD_EXPIRES_AT,
    BW_UCOL_MUST_CHANGE,
    BW_UCOL_FAILED_COUNT,
    BW_UCOL_LOCKED_UNTIL,
    BW_UCOL_CREATED_AT,
    BW_UCOL_LAST_LOGIN_AT,
    BW_UCOL_MFA_ENABLED,
    BW_UCOL_MFA_PENDING, /* 1 when an unconfirmed enrolment exists (never the seed) */
    BW_UCOL_OTP_FAILED_COUNT,
    BW_UCOL_OTP_LOCKED_UNTIL,
    BW_UCOL_ADMIN_LOCKED,
};

enum bw_val_type { BW_VAL_NULL, BW_VAL_INT, BW_VAL_TEXT, BW_VAL_BLOB };

/* A bound parameter. Borrowed: the pointed-to bytes must outlive the call. */
struct bw_val {
    enum bw_val_type type;
    int64_t i;
    const void *p;
    size_t len;
};

#define BW_VNULL ((struct bw_val){.type = BW_VAL_NULL})
#define BW_VINT(x) ((struct bw_val){.type = BW_VAL_INT, .i = (int64_t)(x)})
#define BW_VTEXT(s) ((struct bw_val){.type = BW_VAL_TEXT, .p = (s), .len = strlen(s)})
#define BW_VTEXTN(s, n) ((struct bw_val){.type = BW_VAL_TEXT, .p = (s), .len = (n)})
#define BW_VBLOB(b, n) ((struct bw_val){.type = BW_VAL_BLOB, .p = (b), .len = (n)})

struct bw_store_opts {
    unsigned pool_size;       /* reader (SQLite) / connection (PostgreSQL) pool size */
    unsigned busy_timeout_ms; /* SQLite busy timeout */
    bool create;              /* SQLite: create the file if absent (init only) */
};

struct bw_store_stats {
    const char *driver;
    unsigned pool_size;
    unsigned pool_in_use;
    uint64_t commits;        /* transactions committed */
    uint64_t commit_batches; /* physical commits (fsyncs) on SQLite */
    uint64_t waits;          /* times a caller waited for a pooled connection */
};

typedef enum bw_rc (*bw_tx_fn)(struct bw_tx *tx, void *arg);
/* Called once per result row; a non-OK return stops the query and is returned. */
typedef enum bw_rc (*bw_row_fn)(void *arg, const struct bw_row *row);

/* Opens a store. `target` is a SQLite file path or a postgresql:// URL.
 * PostgreSQL URLs must require TLS (sslmode=require or stronger) unless the
 * host is a unix socket; otherwise BW_ERR_UNSUPPORTED with `why` filled. */
BW_MUST_CHECK enum bw_rc bw_store_open(const char *target, const struct bw_store_opts *opts,
                                       struct bw_store **out, char *why, size_t whylen);
void bw_store_close(struct bw_store *st); /* accepts NULL */

BW_MUST_CHECK enum bw_rc bw_store_write(struct bw_store *st, bw_tx_fn fn, void *arg);
BW_MUST_CHECK enum bw_rc bw_store_read(struct bw_store *st, bw_tx_fn fn, void *arg);

/* Inside a transaction. `changes` (may be NULL) receives affected rows. */
BW_MUST_CHECK enum bw_rc bw_tx_exec(struct bw_tx *tx, enum bw_stmt stmt,
                                    const struct bw_val *params, size_t nparams,
                                    uint64_t *changes);
BW_MUST_CHECK enum bw_rc bw_tx_query(struct bw_tx *tx, enum bw_stmt stmt,
                                     const struct bw_val *params, size_t nparams, bw_row_fn fn,
                                     void *arg);

/* Row accessors, valid only during the bw_row_fn call. Text is NUL-terminated. */
size_t bw_row_count(const struct bw_row *row);
bool bw_row_is_null(const struct bw_row *row, size_t col);
int64_t bw_row_int(const struct bw_row *row, size_t col);
const char *bw_row_text(const struct bw_row *row, size_t col, size_t *len);
const void *bw_row_blob(const struct bw_row *row, size_t col, size_t *len);

/* Schema: `init` applies the driver's numbered migrations; `serve` checks. */
BW_MUST_CHECK enum bw_rc bw_store_migrate(struct bw_store *st, int *version);
BW_MUST_CHECK enum bw_rc bw_store_schema_version(struct bw_store *st, int *have, int *want);
/* Full integrity check (PRAGMA integrity_check / catalogue sanity). */
BW_MUST_CHECK enum bw_rc bw_store_check(struct bw_store *st, char *why, size_t whylen);

void bw_store_stats(struct bw_store *st, struct bw_store_stats *out);
const char *bw_store_driver(const struct bw_store *st);

/* Convenience over BW_STMT_META_*: the installation's key/value metadata. */
BW_MUST_CHECK enum bw_rc bw_store_meta_put(struct bw_tx *tx, const char *key, const char *value);
/* Copies the value into out (capped); BW_ERR_NOTFOUND when absent. */
BW_MUST_CHECK enum bw_rc bw_store_meta_get(struct bw_tx *tx, const char *key, struct bw_buf *out);

/* ---- backup support (issue 6: src/backup/) ----------------------------------
 * A consistent copy of the WHOLE store (every table, whoever owns it) and,
 * on SQLite, a logical change log of every commit for point-in-time restore. */

/* Writes a consistent snapshot of the whole store into the new private file
 * `dest` while the store keeps serving. SQLite: the online backup API from
 * one read snapshot (a database file, pages as stored). PostgreSQL: pg_dump
 * custom format of one REPEATABLE READ snapshot (credentials passed through
 * the environment, never argv). *log_seq receives the change-log position:
 * every commit with a sequence number <= *log_seq is in the snapshot, later
 * ones may be (replaying them is idempotent); 0 when no change log runs. */
BW_MUST_CHECK enum bw_rc bw_store_snapshot(struct bw_store *st, const char *dest,
                                           uint64_t *log_seq, char *why, size_t whylen);

/* A snapshot read where it lies (bw_store_snapshot_pin). */
struct bw_store_pin;
/* Pins a consistent snapshot of the whole store that is read in place, with
 * no copy: *data and *len stay valid and unchanged until
 * bw_store_pin_release, and may be read from any thread. SQLite: the
 * database file itself, mapped through SQLite's own file handle (SQLite's
 * POSIX locks forbid opening and closing the file beside it), when the
 * write-ahead log is empty once the read snapshot is held (then no
 * checkpoint may write the file while the pin lives) and the file fits
 * SQLite's memory-map limit (about 2 GiB). BW_ERR_UNSUPPORTED otherwise
 * (PostgreSQL, a log kept by readers, a larger file): the caller then uses
 * bw_store_snapshot. *log_seq as there. */
BW_MUST_CHECK enum bw_rc bw_store_snapshot_pin(struct bw_store *st, const uint8_t **data,
                                               size_t *len, uint64_t *log_seq,
                                               struct bw_store_pin **pin, char *why,
                                               size_t whylen);
void bw_store_pin_release(struct bw_store_pin *pin); /* accepts NULL */

/* Receives one committed change set (SQLite: a session-extension changeset;
 * PostgreSQL: one transaction's row images as JSON, store_pg_log.c) in
 * commit order: seq increases by one per commit batch that changed rows;
 * ts_ms is the commit time. data == NULL with len == 0 reports a gap: a
 * commit by another connection (another process) that the log did not see.
 * seq == 0 (data NULL) is a watermark, not a record: every commit stamped
 * before ts_ms has been handed over (PostgreSQL, whose records carry the
 * server's commit times; SQLite sends none). Called on the writer thread
 * right after the commit (PostgreSQL: the log's poller); must only copy and
 * return, never call back into the store. */
typedef void (*bw_store_change_fn)(void *arg, uint64_t seq, int64_t ts_ms, const void *data,
                                   size_t len);
/* Starts (fn != NULL) or stops (fn == NULL) the change log. Tables without
 * a PRIMARY KEY are not logged; `why` names them as a warning. PostgreSQL:
 * BW_ERR_BUSY when another process ships this database's log. */
BW_MUST_CHECK enum bw_rc bw_store_changelog(struct bw_store *st, bw_store_change_fn fn,
                                            void *arg, char *why, size_t whylen);
/* Applies one change set produced by the change log (restore only). Rows
 * already in the target are replaced, missing rows of deletes are skipped,
 * so replaying a change already in the snapshot converges. */
BW_MUST_CHECK enum bw_rc bw_store_apply_changes(struct bw_store *st, const void *data,
                                                size_t len);
/* Loads a snapshot written by bw_store_snapshot into the store `target`
 * (a new SQLite path, or an EMPTY PostgreSQL database URL). */
BW_MUST_CHECK enum bw_rc bw_store_load_snapshot(const char *target, const char *snapshot,
                                                char *why, size_t whylen);
/* PostgreSQL databases a restore fills (backup restore|drill --database;
 * an SQLite restore builds a new directory). *empty: the database holds no
 * table, sequence or function in its current schema and no schema
 * bulwark_keys, so a restore may fill it. */
BW_MUST_CHECK enum bw_rc bw_store_scratch_empty(const char *target, bool *empty, char *why,
                                                size_t whylen);
/* Drops the schema bulwark_keys and every table, sequence and function of
 * the current schema of `target`: only ever called on a database a restore
 * or drill found empty and filled itself. */
BW_MUST_CHECK enum bw_rc bw_store_scratch_wipe(const char *target, char *why, size_t whylen);
/* records feature: moves every committed page from the SQLite write-ahead
 * log into the database file and truncates the log, so that pages of purged
 * rows and destroyed keys do not linger in db/bulwark.db-wal (CONTROL:
 * DATA-05). Waits for the writer; BW_ERR_BUSY when readers keep old
 * snapshots open past the busy timeout (try again later).
 * BW_ERR_UNSUPPORTED on PostgreSQL, whose WAL and checkpoints belong to the
 * database server (the application role may not force them). */
BW_MUST_CHECK enum bw_rc bw_store_checkpoint(struct bw_store *st);

/* backup incrementals from the change log (issue 6, backup2): records a gap
 * in the running change log now if another connection (another process)
 * committed since the log's last batch, so that a reader of the log up to
 * this moment never misses such a commit silently. BW_ERR_UNSUPPORTED when
 * the driver has no change log; BW_OK (nothing to do) when none runs. */
BW_MUST_CHECK enum bw_rc bw_store_changelog_sync(struct bw_store *st);
/* ---- the key store (decision C6) ---------------------------------------------
 * The wrapped organisation keys, per-record data keys and the key inventory
 * live apart from the data: SQLite in a second file db/keys.db beside the
 * database (same directory, mode 0600, ATTACHed as schema `keys` on every
 * connection, created by `init`/`migrate`; opening a migrated store whose
 * keys.db is missing fails with BW_ERR_NOTFOUND rather than silently
 * starting an empty one), PostgreSQL in the schema bulwark_keys of the same
 * database. bw_store_snapshot never includes it. On SQLite one transaction
 * over both files is atomic per file only: a caller that adds a key and a
 * row that needs it commits the key in a transaction of its own first. */

/* Writes a consistent copy of the key store alone into the new private file
 * `dest` (SQLite: a database file; PostgreSQL: pg_dump -n bulwark_keys). */
BW_MUST_CHECK enum bw_rc bw_store_keys_snapshot(struct bw_store *st, const char *dest,
                                                char *why, size_t whylen);
/* Installs a key-store copy written by bw_store_keys_snapshot for the store
 * `target` that is being restored: SQLite moves it to keys.db beside the
 * target path (which must not exist yet); PostgreSQL loads it into the
 * target database, which must not hold the schema bulwark_keys yet. */
BW_MUST_CHECK enum bw_rc bw_store_keys_load(const char *target, const char *snapshot, char *why,
                                            size_t whylen);

#endif
