-- 0002: identity (SQLite). Users (with TOTP MFA state), password history,
-- sessions, MFA recovery codes and the audit events table the identity issue
-- writes to until the audit issue hardens it.
CREATE TABLE bw_users (
    id                  TEXT PRIMARY KEY NOT NULL,
    email               TEXT NOT NULL UNIQUE,            -- normalised: trimmed, lower case
    status              TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    platform_admin      INTEGER NOT NULL DEFAULT 0 CHECK (platform_admin IN (0, 1)),
    password_hash       TEXT NOT NULL,
    password_changed_at INTEGER NOT NULL,
    password_expires_at INTEGER,                         -- NULL: never (modern profile)
    must_change         INTEGER NOT NULL DEFAULT 0 CHECK (must_change IN (0, 1)),
    failed_count        INTEGER NOT NULL DEFAULT 0,
    locked_until        INTEGER NOT NULL DEFAULT 0,
    created_at          INTEGER NOT NULL,
    last_login_at       INTEGER,
    mfa_enabled         INTEGER NOT NULL DEFAULT 0 CHECK (mfa_enabled IN (0, 1)),
    mfa_secret          BLOB,                            -- sealed TOTP seed (keyring, AAD totp:<id>)
    mfa_pending         BLOB,                            -- sealed seed of an unconfirmed enrolment
    mfa_last_step       INTEGER NOT NULL DEFAULT 0,      -- last accepted TOTP time step (replay)
    otp_failed_count    INTEGER NOT NULL DEFAULT 0,      -- counted apart from password failures
    otp_locked_until    INTEGER NOT NULL DEFAULT 0,
    admin_locked        INTEGER NOT NULL DEFAULT 0 CHECK (admin_locked IN (0, 1)),
    inflight            INTEGER NOT NULL DEFAULT 0,      -- password checks under way
    inflight_at         INTEGER NOT NULL DEFAULT 0         -- when the last one started
) STRICT;

CREATE TABLE bw_password_history (
    user_id    TEXT NOT NULL REFERENCES bw_users(id) ON DELETE CASCADE,
    hash       TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX bw_password_history_user ON bw_password_history(user_id, created_at);

CREATE TABLE bw_sessions (
    id            TEXT PRIMARY KEY NOT NULL,
    token_hash    BLOB NOT NULL UNIQUE,                  -- SHA-256 of the 256-bit token
    user_id       TEXT NOT NULL REFERENCES bw_users(id) ON DELETE CASCADE,
    created_at    INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,                      -- absolute timeout
    password_only INTEGER NOT NULL DEFAULT 0,            -- expired password: may only change it
    remote        TEXT NOT NULL,
    mfa_verified  INTEGER NOT NULL DEFAULT 0 CHECK (mfa_verified IN (0, 1))
) STRICT;
CREATE INDEX bw_sessions_user ON bw_sessions(user_id, last_seen_at);

CREATE TABLE bw_recovery_codes (
    user_id    TEXT NOT NULL REFERENCES bw_users(id) ON DELETE CASCADE,
    code_hash  BLOB NOT NULL,                            -- SHA-256 of user id and code, never the code
    created_at INTEGER NOT NULL,
    used_at    INTEGER,                                  -- NULL: still usable (single use)
    PRIMARY KEY (user_id, code_hash)
) STRICT;

CREATE TABLE bw_audit_events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    ts         INTEGER NOT NULL,
    actor      TEXT NOT NULL,                            -- "user:<id>", "system", "anonymous"
    action     TEXT NOT NULL,
    target     TEXT NOT NULL,
    outcome    TEXT NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
    remote     TEXT NOT NULL,
    request_id TEXT NOT NULL,
    details    TEXT NOT NULL                             -- JSON, never secrets
) STRICT;
CREATE INDEX bw_audit_events_action ON bw_audit_events(action, seq);
