-- 0002: identity (PostgreSQL). Users (with TOTP MFA state), password history,
-- sessions, MFA recovery codes and the audit events table the identity issue
-- writes to until the audit issue hardens it.
CREATE TABLE bw_users (
    id                  TEXT PRIMARY KEY NOT NULL,
    email               TEXT NOT NULL UNIQUE,
    status              TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    platform_admin      INTEGER NOT NULL DEFAULT 0 CHECK (platform_admin IN (0, 1)),
    password_hash       TEXT NOT NULL,
    password_changed_at BIGINT NOT NULL,
    password_expires_at BIGINT,
    must_change         INTEGER NOT NULL DEFAULT 0 CHECK (must_change IN (0, 1)),
    failed_count        INTEGER NOT NULL DEFAULT 0,
    locked_until        BIGINT NOT NULL DEFAULT 0,
    created_at          BIGINT NOT NULL,
    last_login_at       BIGINT,
    mfa_enabled         INTEGER NOT NULL DEFAULT 0 CHECK (mfa_enabled IN (0, 1)),
    mfa_secret          BYTEA,
    mfa_pending         BYTEA,
    mfa_last_step       BIGINT NOT NULL DEFAULT 0,
    otp_failed_count    INTEGER NOT NULL DEFAULT 0,
    otp_locked_until    BIGINT NOT NULL DEFAULT 0,
    admin_locked        INTEGER NOT NULL DEFAULT 0 CHECK (admin_locked IN (0, 1)),
    inflight            INTEGER NOT NULL DEFAULT 0,      -- password checks under way
    inflight_at         BIGINT NOT NULL DEFAULT 0         -- when the last one started
);

CREATE TABLE bw_password_history (
    user_id    TEXT NOT NULL REFERENCES bw_users(id) ON DELETE CASCADE,
    hash       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX bw_password_history_user ON bw_password_history(user_id, created_at);

CREATE TABLE bw_sessions (
    id            TEXT PRIMARY KEY NOT NULL,
    token_hash    BYTEA NOT NULL UNIQUE,
    user_id       TEXT NOT NULL REFERENCES bw_users(id) ON DELETE CASCADE,
    created_at    BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    password_only INTEGER NOT NULL DEFAULT 0,
    remote        TEXT NOT NULL,
    mfa_verified  INTEGER NOT NULL DEFAULT 0 CHECK (mfa_verified IN (0, 1))
);
CREATE INDEX bw_sessions_user ON bw_sessions(user_id, last_seen_at);

CREATE TABLE bw_recovery_codes (
    user_id    TEXT NOT NULL REFERENCES bw_users(id) ON DELETE CASCADE,
    code_hash  BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    used_at    BIGINT,
    PRIMARY KEY (user_id, code_hash)
);

CREATE TABLE bw_audit_events (
    seq        BIGSERIAL PRIMARY KEY,
    ts         BIGINT NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    target     TEXT NOT NULL,
    outcome    TEXT NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
    remote     TEXT NOT NULL,
    request_id TEXT NOT NULL,
    details    TEXT NOT NULL
);
CREATE INDEX bw_audit_events_action ON bw_audit_events(action, seq);
