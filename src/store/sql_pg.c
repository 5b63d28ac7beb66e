/*
 * sql_pg.c - SQL text of every named statement for the PostgreSQL driver.
 * Parameters are $1..$N and always bound; nothing here is ever formatted.
 */
#include "store/store_int.h"

const char *const bw_sql_pg[BW_STMT__COUNT] = {
    [BW_STMT_META_GET] = "SELECT value FROM bw_meta WHERE key = $1",
    [BW_STMT_META_PUT] = "INSERT INTO bw_meta(key, value) VALUES ($1, $2) "
                         "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    [BW_STMT_META_DELETE] = "DELETE FROM bw_meta WHERE key = $1",
    [BW_STMT_META_COUNT_LIKE] = "SELECT count(*) FROM bw_meta WHERE left(key, length($1)) = $1",
    [BW_STMT_META_LIST_LIKE] = "SELECT key, value FROM bw_meta "
                               "WHERE left(key, length($1)) = $1 ORDER BY key LIMIT $2",
    [BW_STMT_USER_INSERT] =
        "INSERT INTO bw_users(id, email, platform_admin, password_hash, "
        "password_changed_at, password_expires_at, must_change, created_at) VALUES ($1, "
        "$2, $3, $4, $5, $6, $7, $8)",
    [BW_STMT_USER_BY_EMAIL] =
        "SELECT id, email, status, platform_admin, password_hash, password_changed_at, "
        "password_expires_at, must_change, failed_count, locked_until, created_at, "
        "last_login_at, mfa_enabled, CASE WHEN mfa_pending IS NULL THEN 0 ELSE 1 END, "
        "otp_failed_count, otp_locked_until, admin_locked FROM bw_users WHERE email = $1",
    [BW_STMT_USER_BY_ID] =
        "SELECT id, email, status, platform_admin, password_hash, password_changed_at, "
        "password_expires_at, must_change, failed_count, locked_until, created_at, "
        "last_login_at, mfa_enabled, CASE WHEN mfa_pending IS NULL THEN 0 ELSE 1 END, "
        "otp_failed_count, otp_locked_until, admin_locked FROM bw_users WHERE id = $1",
    [BW_STMT_USER_CLAIM_ATTEMPT] =
        "UPDATE bw_users SET failed_count = (CASE WHEN locked_until <> 0 AND locked_until"
        " <= $3::bigint THEN 0 ELSE failed_count END), locked_until = CASE WHEN "
        "locked_until <= $3::bigint THEN 0 ELSE locked_until END, inflight = (CASE WHEN "
        "inflight_at < $4::bigint THEN 0 ELSE inflight END) + 1, inflight_at = $3::bigint"
        " WHERE id = $1 AND admin_locked = 0 AND locked_until <= $3::bigint AND (CASE "
        "WHEN locked_until <> 0 AND locked_until <= $3::bigint THEN 0 ELSE failed_count "
        "END) + (CASE WHEN inflight_at < $4::bigint THEN 0 ELSE inflight END) < $2 "
        "RETURNING failed_count",
    [BW_STMT_USER_LOGIN_OK] =
        "UPDATE bw_users SET inflight = CASE WHEN inflight > 0 THEN inflight - 1 ELSE 0 "
        "END, failed_count = 0, locked_until = 0, last_login_at = $2::bigint WHERE id = "
        "$1",
    [BW_STMT_USER_SET_PASSWORD] =
        "UPDATE bw_users SET password_hash = $2, password_changed_at = $3, "
        "password_expires_at = $4, must_change = $5 WHERE id = $1",
    [BW_STMT_USER_SET_STATUS] =
        "UPDATE bw_users SET status = $2 WHERE id = $1",
    [BW_STMT_USER_UNLOCK] =
        "UPDATE bw_users SET admin_locked = 0, failed_count = 0, locked_until = 0, "
        "inflight = 0, otp_failed_count = 0, otp_locked_until = 0 WHERE id = $1",
    [BW_STMT_USER_LOCK] =
        "UPDATE bw_users SET admin_locked = 1 WHERE id = $1",
    [BW_STMT_USER_LIST] =
        "SELECT id, email, status, platform_admin, password_hash, password_changed_at, "
        "password_expires_at, must_change, failed_count, locked_until, created_at, "
        "last_login_at, mfa_enabled, CASE WHEN mfa_pending IS NULL THEN 0 ELSE 1 END, "
        "otp_failed_count, otp_locked_until, admin_locked FROM bw_users ORDER BY email LIMIT $1",
    [BW_STMT_PWHIST_INSERT] =
        "INSERT INTO bw_password_history(user_id, hash, created_at) VALUES ($1, $2, $3)",
    [BW_STMT_PWHIST_RECENT] =
        "SELECT hash FROM bw_password_history WHERE user_id = $1 ORDER BY created_at DESC"
        " LIMIT $2",
    [BW_STMT_PWHIST_TRIM] =
        "DELETE FROM bw_password_history WHERE user_id = $1 AND ctid NOT IN (SELECT ctid "
        "FROM bw_password_history WHERE user_id = $1 ORDER BY created_at DESC LIMIT $2)",
    [BW_STMT_SESSION_INSERT] =
        "INSERT INTO bw_sessions(id, token_hash, user_id, created_at, last_seen_at, "
        "expires_at, password_only, remote) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    [BW_STMT_SESSION_BY_TOKEN] =
        "SELECT id, user_id, created_at, last_seen_at, expires_at, password_only, "
        "mfa_verified FROM "
        "bw_sessions WHERE token_hash = $1",
    [BW_STMT_SESSION_TOUCH] =
        "UPDATE bw_sessions SET last_seen_at = $2 WHERE id = $1",
    [BW_STMT_SESSION_DELETE] =
        "DELETE FROM bw_sessions WHERE id = $1 AND user_id = $2",
    [BW_STMT_SESSION_DELETE_USER] =
        "DELETE FROM bw_sessions WHERE user_id = $1",
    [BW_STMT_SESSION_LIST_USER] =
        "SELECT id, created_at, last_seen_at, expires_at, remote FROM bw_sessions WHERE "
        "user_id = $1 ORDER BY last_seen_at, created_at",
    [BW_STMT_SESSION_PURGE] =
        "DELETE FROM bw_sessions WHERE expires_at <= $1 OR last_seen_at <= $2",
    [BW_STMT_AUDIT_INSERT] =
        "INSERT INTO bw_audit_events(ts, actor, action, target, outcome, remote, "
        "request_id, details) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    [BW_STMT_USER_MFA_KEYS] =
        "SELECT mfa_enabled, mfa_secret, mfa_pending, mfa_last_step FROM bw_users WHERE id = "
        "$1",
    [BW_STMT_USER_MFA_SET_PENDING] =
        "UPDATE bw_users SET mfa_pending = $2 WHERE id = $1 AND mfa_enabled = 0",
    [BW_STMT_USER_MFA_ACTIVATE] =
        "UPDATE bw_users SET mfa_enabled = 1, mfa_secret = mfa_pending, mfa_pending = NULL, "
        "mfa_last_step = $3, otp_failed_count = 0, otp_locked_until = 0 WHERE id = $1 AND "
        "mfa_enabled = 0 AND mfa_pending = $2 AND mfa_last_step < $3 RETURNING mfa_last_step",
    [BW_STMT_USER_OTP_CLAIM] =
        "UPDATE bw_users SET otp_failed_count = CASE WHEN otp_locked_until <> 0 THEN 1 ELSE "
        "otp_failed_count + 1 END, otp_locked_until = CASE WHEN (CASE WHEN otp_locked_until "
        "<> 0 THEN 1 ELSE otp_failed_count + 1 END) >= $2 THEN $3::bigint ELSE 0 END WHERE id = "
        "$1 AND otp_locked_until <= $4 RETURNING otp_failed_count, otp_locked_until",
    [BW_STMT_USER_OTP_ACCEPT] =
        "UPDATE bw_users SET mfa_last_step = $2, otp_failed_count = 0, otp_locked_until = 0 "
        "WHERE id = $1 AND mfa_enabled = 1 AND mfa_last_step < $2 RETURNING mfa_last_step",
    [BW_STMT_USER_OTP_RESET] =
        "UPDATE bw_users SET otp_failed_count = 0, otp_locked_until = 0 WHERE id = $1",
    [BW_STMT_USER_MFA_CLEAR] =
        "UPDATE bw_users SET mfa_enabled = 0, mfa_secret = NULL, mfa_pending = NULL, "
        "mfa_last_step = 0, otp_failed_count = 0, otp_locked_until = 0 WHERE id = $1",
    [BW_STMT_RECOVERY_INSERT] =
        "INSERT INTO bw_recovery_codes(user_id, code_hash, created_at) VALUES ($1, $2, $3)",
    [BW_STMT_RECOVERY_DELETE_USER] =
        "DELETE FROM bw_recovery_codes WHERE user_id = $1",
    [BW_STMT_RECOVERY_USE] =
        "UPDATE bw_recovery_codes SET used_at = $3 WHERE user_id = $1 AND code_hash = $2 "
        "AND used_at IS NULL RETURNING used_at",
    [BW_STMT_RECOVERY_COUNT] =
        "SELECT count(*) FROM bw_recovery_codes WHERE user_id = $1 AND used_at IS NULL",
    [BW_STMT_SESSION_SET_MFA] =
        "UPDATE bw_sessions SET mfa_verified = 1 WHERE id = $1 AND user_id = $2",
    [BW_STMT_USER_FAIL_ATTEMPT] =
        "UPDATE bw_users SET inflight = CASE WHEN inflight > 0 THEN inflight - 1 ELSE 0 "
        "END, failed_count = failed_count + 1, locked_until = CASE WHEN failed_count + 1 "
        ">= $2 THEN $3::bigint ELSE locked_until END WHERE id = $1 RETURNING failed_count",
    [BW_STMT_USER_BY_ID_FOR_UPDATE] =
        "SELECT id, email, status, platform_admin, password_hash, password_changed_at, "
        "password_expires_at, must_change, failed_count, locked_until, created_at, "
        "last_login_at, mfa_enabled, CASE WHEN mfa_pending IS NULL THEN 0 ELSE 1 END, "
        "otp_failed_count, otp_locked_until, admin_locked FROM bw_users WHERE id = $1 FOR UPDATE",
    /* tenants: organisations, memberships, API keys */
    [BW_STMT_ORG_INSERT] =
        "INSERT INTO bw_organisations(id, name, created_at, created_by) VALUES ($1, $2, "
        "$3, $4)",
    [BW_STMT_ORG_BY_ID] =
        "SELECT id, name, created_at FROM bw_organisations WHERE id = $1 AND deleted_at "
        "IS NULL",
    [BW_STMT_ORG_LOCK] =
        "SELECT id FROM bw_organisations WHERE id = $1 AND deleted_at IS NULL FOR "
        "UPDATE",
    [BW_STMT_ORG_LIST_USER] =
        "SELECT o.id, o.name, o.created_at, m.role FROM bw_memberships m JOIN "
        "bw_organisations o ON o.id = m.org_id WHERE m.user_id = $1 AND o.deleted_at IS "
        "NULL ORDER BY o.name, o.id",
    [BW_STMT_MEMBER_ROLE] =
        "SELECT m.role FROM bw_memberships m JOIN bw_organisations o ON o.id = m.org_id "
        "WHERE m.org_id = $1 AND m.user_id = $2 AND o.deleted_at IS NULL",
    [BW_STMT_MEMBER_INSERT] =
        "INSERT INTO bw_memberships(org_id, user_id, role, created_at) VALUES ($1, $2, "
        "$3, $4)",
    [BW_STMT_MEMBER_SET_ROLE] =
        "UPDATE bw_memberships SET role = $3 WHERE org_id = $1 AND user_id = $2",
    [BW_STMT_MEMBER_DELETE] =
        "DELETE FROM bw_memberships WHERE org_id = $1 AND user_id = $2",
    [BW_STMT_MEMBER_COUNT_ROLE] =
        "SELECT count(*) FROM bw_memberships WHERE org_id = $1 AND role = $2",
    [BW_STMT_MEMBER_LIST] =
        "SELECT m.user_id, u.email, m.role, m.created_at FROM bw_memberships m JOIN "
        "bw_users u ON u.id = m.user_id WHERE m.org_id = $1 ORDER BY u.email",
    [BW_STMT_USER_SET_PLATFORM_ADMIN] =
        "UPDATE bw_users SET platform_admin = $2::integer WHERE id = $1",
    [BW_STMT_APIKEY_INSERT] =
        "INSERT INTO bw_apikeys(id, org_id, name, role, secret_hash, allowed_ips, "
        "created_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "
        "$9)",
    [BW_STMT_APIKEY_BY_HASH] =
        "SELECT k.id, k.org_id, k.role, k.allowed_ips, k.expires_at, k.revoked_at, "
        "k.last_used_at FROM bw_apikeys k JOIN bw_organisations o ON o.id = k.org_id "
        "WHERE k.secret_hash = $1 AND o.deleted_at IS NULL",
    [BW_STMT_APIKEY_LIST_ORG] =
        "SELECT id, name, role, allowed_ips, created_by, created_at, expires_at, "
        "revoked_at, last_used_at, last_used_ip FROM bw_apikeys WHERE org_id = $1 ORDER "
        "BY created_at DESC, id",
    [BW_STMT_APIKEY_REVOKE] =
        "UPDATE bw_apikeys SET revoked_at = $3::bigint WHERE id = $1 AND org_id = $2 "
        "AND revoked_at IS NULL RETURNING id",
    [BW_STMT_APIKEY_TOUCH] =
        "UPDATE bw_apikeys SET last_used_at = $2::bigint, last_used_ip = $3 WHERE id = "
        "$1",
    [BW_STMT_APIKEY_ORG_OF] =
        "SELECT org_id FROM bw_apikeys WHERE id = $1",
    [BW_STMT_ORG_LIST_ALL] =
        "SELECT id, name, created_at FROM bw_organisations WHERE deleted_at IS NULL "
        "ORDER BY name, id LIMIT $1",
    /* audit trail (issue 5) */
    [BW_STMT_AUDIT_HEAD_LOCK] =
        "SELECT seq, hash FROM bw_audit_head WHERE id = 1 FOR UPDATE",
    [BW_STMT_AUDIT_HEAD_SET] =
        "UPDATE bw_audit_head SET seq = $1, hash = $2 WHERE id = 1",
    [BW_STMT_AUDIT_APPEND] =
        "INSERT INTO bw_audit_events(seq, ts, actor, action, target, outcome, remote, "
        "request_id, details, org, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "
        "$9, $10, $11, $12)",
    [BW_STMT_AUDIT_HEAD_GET] =
        "SELECT seq, hash FROM bw_audit_head WHERE id = 1",
    [BW_STMT_AUDIT_RANGE] =
        "SELECT seq, ts, actor, action, target, outcome, remote, request_id, details, org, "
        "prev_hash, hash FROM bw_audit_events WHERE seq > $1 ORDER BY seq LIMIT $2",
    [BW_STMT_AUDIT_BOUNDS] =
        "SELECT min(seq), max(seq), count(*) FROM bw_audit_events",
    [BW_STMT_AUDIT_SEARCH] =
        "SELECT seq, ts, actor, action, target, outcome, remote, request_id, details, org, "
        "prev_hash, hash FROM bw_audit_events WHERE ($1::bigint = 0 OR seq < $1::bigint) AND ($2::text IS "
        "NULL OR actor = $2::text) AND ($3::text IS NULL OR action = $3::text) AND ($4::text "
        "IS NULL OR target = $4::text) AND ts >= $5 AND ts <= $6 ORDER BY seq DESC LIMIT $7",
    [BW_STMT_AUDIT_DELETE_UPTO] =
        "DELETE FROM bw_audit_events WHERE seq <= $1",
    [BW_STMT_AUDIT_CKPT_INSERT] =
        "INSERT INTO bw_audit_checkpoints(seq, hash, ts, sig) VALUES ($1, $2, $3, $4) ON "
        "CONFLICT (seq) DO NOTHING",
    [BW_STMT_AUDIT_CKPT_LIST] =
        "SELECT seq, hash, ts, sig FROM bw_audit_checkpoints ORDER BY seq",
    [BW_STMT_AUDIT_CKPT_LATEST] =
        "SELECT seq, ts FROM bw_audit_checkpoints ORDER BY seq DESC LIMIT 1",
    [BW_STMT_AUDIT_ARCHIVE_INSERT] =
        "INSERT INTO bw_audit_archives(first_seq, last_seq, last_hash, file, file_hash, "
        "created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    [BW_STMT_AUDIT_ARCHIVE_LIST] =
        "SELECT first_seq, last_seq, last_hash, file, file_hash, created_at FROM "
        "bw_audit_archives ORDER BY first_seq",
    [BW_STMT_AUDIT_LEGACY_LIST] =
        "SELECT seq, ts, actor, action, target, outcome, remote, request_id, details FROM "
        "bw_audit_legacy ORDER BY seq LIMIT $1",
    [BW_STMT_AUDIT_LEGACY_DELETE] =
        "DELETE FROM bw_audit_legacy WHERE seq = $1",
    /* incidents, detection, notifications, vulnerabilities (incident/, vuln/: issue 7) */
    [BW_STMT_INC_INSERT] =
        "INSERT INTO bw_incidents(id, title, severity, aware_at, created_at, "
        "created_by, detect_key, respond_by, significant, personal_data, facts, "
        "updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $5) ON "
        "CONFLICT DO NOTHING",
    [BW_STMT_INC_BY_ID] =
        "SELECT id, title, severity, status, significant, personal_data, aware_at, "
        "created_at, created_by, detect_key, respond_by, responded_at, root_cause, "
        "lessons, facts, updated_at, closed_at FROM bw_incidents WHERE id = $1",
    [BW_STMT_INC_LIST] =
        "SELECT id, title, severity, status, significant, personal_data, aware_at, "
        "created_at, created_by, detect_key, respond_by, responded_at, root_cause, "
        "lessons, facts, updated_at, closed_at FROM bw_incidents ORDER BY created_at "
        "DESC, id LIMIT $1",
    [BW_STMT_INC_OPEN_BY_KEY] =
        "SELECT id FROM bw_incidents WHERE detect_key = $1 AND status <> 'closed'",
    [BW_STMT_INC_SET_STATUS] =
        "UPDATE bw_incidents SET status = $3, updated_at = $4, responded_at = CASE WHEN "
        "responded_at IS NULL AND $2::text = 'detected' THEN $4 ELSE responded_at END, "
        "closed_at = CASE WHEN $3::text = 'closed' THEN $4 ELSE closed_at END WHERE id "
        "= $1 AND status = $2 RETURNING id",
    [BW_STMT_INC_SET_REVIEW] =
        "UPDATE bw_incidents SET root_cause = $2, lessons = $3, updated_at = $4 WHERE "
        "id = $1",
    [BW_STMT_INC_SET_ASSESSMENT] =
        "UPDATE bw_incidents SET significant = $2, personal_data = $3, facts = $4, "
        "updated_at = $5 WHERE id = $1",
    [BW_STMT_INC_STEP_INSERT] =
        "INSERT INTO bw_incident_steps(incident_id, status, at, actor, note) VALUES "
        "($1, $2, $3, $4, $5)",
    [BW_STMT_INC_STEPS] =
        "SELECT status, at, actor, note FROM bw_incident_steps WHERE incident_id = $1 "
        "ORDER BY id",
    [BW_STMT_INC_EVIDENCE_ADD] =
        "INSERT INTO bw_incident_evidence(incident_id, audit_seq, rule) VALUES ($1, $2, "
        "$3) ON CONFLICT DO NOTHING",
    [BW_STMT_INC_EVIDENCE_LIST] =
        "SELECT e.audit_seq, e.rule, a.ts, a.action, a.target, a.remote FROM "
        "bw_incident_evidence e LEFT JOIN bw_audit_events a ON a.seq = e.audit_seq "
        "WHERE e.incident_id = $1 ORDER BY e.audit_seq",
    [BW_STMT_INC_DEADLINE_ADD] =
        "INSERT INTO bw_incident_deadlines(incident_id, kind, due_at) VALUES ($1, $2, "
        "$3) ON CONFLICT DO NOTHING",
    [BW_STMT_INC_DEADLINE_MEET] =
        "UPDATE bw_incident_deadlines SET met_at = $3 WHERE incident_id = $1 AND kind = "
        "$2 AND met_at IS NULL RETURNING due_at",
    [BW_STMT_INC_DEADLINES] =
        "SELECT kind, due_at, met_at, warned_at, escalated_at FROM "
        "bw_incident_deadlines WHERE incident_id = $1 ORDER BY due_at, kind",
    [BW_STMT_INC_DEADLINES_PENDING] =
        "SELECT d.incident_id, d.kind, d.due_at, d.warned_at, d.escalated_at, "
        "i.severity, i.title FROM bw_incident_deadlines d JOIN bw_incidents i ON i.id = "
        "d.incident_id WHERE d.met_at IS NULL AND d.due_at IS NOT NULL AND d.due_at <= "
        "$1 AND d.escalated_at IS NULL AND i.status <> 'closed' ORDER BY d.due_at LIMIT "
        "1000",
    [BW_STMT_INC_DEADLINE_MARK] =
        "UPDATE bw_incident_deadlines SET warned_at = coalesce(warned_at, $3::bigint), "
        "escalated_at = coalesce(escalated_at, $4::bigint) WHERE incident_id = $1 AND "
        "kind = $2 AND (($3::bigint IS NOT NULL AND warned_at IS NULL) OR ($4::bigint "
        "IS NOT NULL AND escalated_at IS NULL)) RETURNING kind",
    [BW_STMT_INC_OVERDUE] =
        "SELECT d.incident_id, d.kind, d.due_at, i.severity, i.title FROM "
        "bw_incident_deadlines d JOIN bw_incidents i ON i.id = d.incident_id WHERE "
        "d.met_at IS NULL AND d.due_at IS NOT NULL AND d.due_at <= $1 AND i.status <> "
        "'closed' ORDER BY d.due_at LIMIT 1000",
    [BW_STMT_INC_SUBMISSION_INSERT] =
        "INSERT INTO bw_incident_submissions(id, incident_id, kind, submitted_at, "
        "actor, content, content_hash, delay_reason) VALUES ($1, $2, $3, $4, $5, $6, "
        "$7, $8)",
    [BW_STMT_INC_SUBMISSIONS] =
        "SELECT id, kind, submitted_at, actor, content_hash, delay_reason FROM "
        "bw_incident_submissions WHERE incident_id = $1 ORDER BY submitted_at, id",
    [BW_STMT_TASK_INSERT] =
        "INSERT INTO bw_tasks(id, kind, ref, title, created_at, due_at) VALUES ($1, $2, "
        "$3, $4, $5, $6)",
    [BW_STMT_TASKS_BY_REF] =
        "SELECT id, kind, title, created_at, due_at, done_at FROM bw_tasks WHERE ref = "
        "$1 ORDER BY created_at, id",
    [BW_STMT_AUDIT_SCAN] =
        "SELECT seq, ts, actor, action, target, outcome, remote, details FROM "
        "bw_audit_events WHERE seq > $1 ORDER BY seq LIMIT $2",
    [BW_STMT_AUDIT_WINDOW] =
        "SELECT seq, target, actor, remote, details FROM bw_audit_events WHERE action = "
        "$1 AND ts >= $2 AND seq <= $3 ORDER BY seq LIMIT $4",
    [BW_STMT_AUDIT_PRIOR_FROM] =
        "SELECT count(*) FROM bw_audit_events WHERE action = $1 AND target = $2 AND "
        "remote = $3 AND seq < $4",
    [BW_STMT_AUDIT_PRIOR_ANY] =
        "SELECT count(*) FROM bw_audit_events WHERE action = $1 AND target = $2 AND seq "
        "< $3",
    [BW_STMT_AUDIT_LAST] =
        "SELECT seq, ts FROM bw_audit_events WHERE action = $1 ORDER BY seq DESC LIMIT "
        "1",
    [BW_STMT_AUDIT_MAX_SEQ] =
        "SELECT coalesce(max(seq), 0) FROM bw_audit_events",
    [BW_STMT_NOTIFY_INSERT] =
        "INSERT INTO bw_notifications(id, created_at, channel, dest, subject, body, "
        "event, next_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $2)",
    [BW_STMT_NOTIFY_DUE] =
        "SELECT id, channel, dest, subject, body, event, attempts FROM bw_notifications "
        "WHERE status = 'pending' AND next_at <= $1 ORDER BY next_at, id LIMIT $2",
    [BW_STMT_NOTIFY_CLAIM] =
        "UPDATE bw_notifications SET next_at = $3 WHERE id = $1 AND status = 'pending' "
        "AND next_at <= $2 RETURNING id",
    [BW_STMT_NOTIFY_RESULT] =
        "UPDATE bw_notifications SET status = $2, attempts = $3, next_at = $4, "
        "last_error = $5, sent_at = $6 WHERE id = $1",
    [BW_STMT_NOTIFY_LIST] =
        "SELECT id, created_at, channel, dest, subject, event, attempts, status, "
        "last_error, sent_at FROM bw_notifications ORDER BY created_at DESC, id LIMIT "
        "$1",
    [BW_STMT_VULN_INSERT] =
        "INSERT INTO bw_vulns(id, title, component, version, cve, severity, scope, "
        "found_at, due_at, source, source_ref, created_by) VALUES ($1, $2, $3, $4, $5, "
        "$6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING",
    [BW_STMT_VULN_BY_ID] =
        "SELECT id, title, component, version, cve, severity, scope, found_at, due_at, "
        "status, source, source_ref, fixed_release, exception, closed_at, closed_by, "
        "escalated_at, created_by FROM bw_vulns WHERE id = $1",
    [BW_STMT_VULN_LIST] =
        "SELECT id, title, component, version, cve, severity, scope, found_at, due_at, "
        "status, source, source_ref, fixed_release, exception, closed_at, closed_by, "
        "escalated_at, created_by FROM bw_vulns ORDER BY status DESC, due_at, id LIMIT "
        "$1",
    [BW_STMT_VULN_CLOSE] =
        "UPDATE bw_vulns SET status = 'closed', fixed_release = $2, exception = $3, "
        "closed_at = $4, closed_by = $5 WHERE id = $1 AND status = 'open' RETURNING id",
    [BW_STMT_VULN_RATE] =
        "UPDATE bw_vulns SET severity = $2, scope = $3, due_at = $4, escalated_at = "
        "NULL WHERE id = $1 AND status = 'open' RETURNING id",
    [BW_STMT_VULN_OVERDUE] =
        "SELECT id, title, severity, scope, due_at FROM bw_vulns WHERE status = 'open' "
        "AND due_at <= $1 AND escalated_at IS NULL ORDER BY due_at LIMIT 1000",
    [BW_STMT_VULN_MARK_ESCALATED] =
        "UPDATE bw_vulns SET escalated_at = $2 WHERE id = $1 AND escalated_at IS NULL "
        "RETURNING id",
    [BW_STMT_VREPORT_INSERT] =
        "INSERT INTO bw_vuln_reports(id, received_at, remote, sealed, vuln_id) VALUES "
        "($1, $2, $3, $4, $5)",
    [BW_STMT_VREPORT_BY_ID] =
        "SELECT received_at, remote, sealed, vuln_id FROM bw_vuln_reports WHERE id = $1",
    [BW_STMT_SCAN_RUN_INSERT] =
        "INSERT INTO bw_scan_runs(id, at, feed, components, advisories, matches, "
        "opened) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    [BW_STMT_SCAN_RUN_LAST] =
        "SELECT at FROM bw_scan_runs ORDER BY at DESC LIMIT 1",
    [BW_STMT_VULN_OVERDUE_ALL] =
        "SELECT id, title, severity, scope, due_at FROM bw_vulns WHERE status = 'open' "
        "AND due_at <= $1 ORDER BY due_at LIMIT 1000",
    /* records (data/) */
    [BW_STMT_COLL_INSERT] =
        "INSERT INTO bw_collections(org_id, name, classification, fields, created_at, "
        "updated_at, created_by) VALUES ($1, $2, $3, $4, $5, $5, $6)",
    [BW_STMT_COLL_GET] =
        "SELECT name, classification, fields, created_at, updated_at FROM bw_collections "
        "WHERE org_id = $1 AND name = $2",
    [BW_STMT_COLL_LIST] =
        "SELECT name, classification, fields, created_at, updated_at FROM bw_collections "
        "WHERE org_id = $1 ORDER BY name",
    [BW_STMT_COLL_SET_CLASS] =
        "UPDATE bw_collections SET classification = $3, updated_at = $4::bigint WHERE "
        "org_id = $1 AND name = $2",
    [BW_STMT_REC_INSERT] =
        "INSERT INTO bw_records(org_id, collection, id, version, body, encrypted, "
        "created_at, updated_at, created_by, updated_by) VALUES ($1, $2, $3, 1, $4, "
        "$5::integer, $6::bigint, $6::bigint, $7, $7)",
    [BW_STMT_REC_GET] =
        "SELECT id, version, body, encrypted, created_at, updated_at, deleted_at FROM "
        "bw_records WHERE org_id = $1 AND collection = $2 AND id = $3 FOR UPDATE",
    [BW_STMT_REC_UPDATE] =
        "UPDATE bw_records SET version = version + 1, body = $5, encrypted = $6::integer, "
        "updated_at = $7::bigint, updated_by = $8 WHERE org_id = $1 AND collection = $2 "
        "AND id = $3 AND version = $4::bigint AND deleted_at IS NULL",
    [BW_STMT_REC_SET_DELETED] =
        "UPDATE bw_records SET deleted_at = $4::bigint, updated_at = $5::bigint, "
        "updated_by = $6 WHERE org_id = $1 AND collection = $2 AND id = $3 AND "
        "(deleted_at IS NULL) = ($4::bigint IS NOT NULL)",
    [BW_STMT_REC_LIST] =
        "SELECT id, version, body, encrypted, created_at, updated_at, deleted_at FROM "
        "bw_records WHERE org_id = $1 AND collection = $2 AND id > $3 AND deleted_at IS "
        "NULL ORDER BY id LIMIT $4::bigint",
    [BW_STMT_REC_PURGE_DUE] =
        "SELECT org_id, collection, id FROM bw_records WHERE deleted_at IS NOT NULL AND "
        "deleted_at <= $1::bigint ORDER BY deleted_at LIMIT $2::bigint",
    [BW_STMT_REC_PURGE] =
        "DELETE FROM bw_records WHERE org_id = $1 AND id = $2 AND deleted_at IS NOT NULL "
        "AND deleted_at <= $3::bigint",
    [BW_STMT_ORGKEY_GET] =
        "SELECT mversion, wrapped FROM bulwark_keys.bw_org_keys WHERE org_id = $1",
    [BW_STMT_ORGKEY_INSERT] =
        "INSERT INTO bulwark_keys.bw_org_keys(org_id, mversion, wrapped, created_at) VALUES ($1, "
        "$2::integer, $3, $4::bigint) ON CONFLICT(org_id) DO NOTHING",
    [BW_STMT_ORGKEY_LIST] =
        "SELECT org_id, mversion, wrapped FROM bulwark_keys.bw_org_keys ORDER BY org_id FOR UPDATE",
    [BW_STMT_ORGKEY_SET] =
        "UPDATE bulwark_keys.bw_org_keys SET mversion = $3::integer, wrapped = $4, rotated_at = "
        "$5::bigint WHERE org_id = $1 AND mversion = $2::integer",
    [BW_STMT_ORGKEY_DELETE] =
        "DELETE FROM bulwark_keys.bw_org_keys WHERE org_id = $1",
    [BW_STMT_DATAKEY_GET] =
        "SELECT wrapped FROM bulwark_keys.bw_data_keys WHERE org_id = $1 AND record_id = $2",
    [BW_STMT_DATAKEY_INSERT] =
        "INSERT INTO bulwark_keys.bw_data_keys(org_id, record_id, wrapped, created_at) VALUES ($1, $2, "
        "$3, $4::bigint)",
    [BW_STMT_DATAKEY_DELETE] =
        "DELETE FROM bulwark_keys.bw_data_keys WHERE org_id = $1 AND record_id = $2",
    [BW_STMT_KEYINV_INSERT] =
        "INSERT INTO bulwark_keys.bw_key_inventory(kind, scope, version, created_at, activated_at) "
        "VALUES ($1, $2, $3::bigint, $4::bigint, $4::bigint) ON CONFLICT(kind, scope, "
        "version) DO NOTHING",
    [BW_STMT_KEYINV_RETIRE] =
        "UPDATE bulwark_keys.bw_key_inventory SET retired_at = $4::bigint WHERE kind = $1 AND scope = "
        "$2 AND version < $3::bigint AND retired_at IS NULL",
    [BW_STMT_KEYINV_DESTROY] =
        "UPDATE bulwark_keys.bw_key_inventory SET destroyed_at = $3::bigint, retired_at = "
        "coalesce(retired_at, $3::bigint) WHERE kind = $1 AND scope = $2 AND destroyed_at "
        "IS NULL",
    [BW_STMT_KEYINV_LIST] =
        "SELECT kind, scope, version, created_at, activated_at, retired_at, destroyed_at "
        "FROM bulwark_keys.bw_key_inventory ORDER BY kind, scope, version",
    [BW_STMT_ORG_PURGE_DUE] =
        "SELECT o.id FROM bw_organisations o WHERE o.deleted_at IS NOT NULL AND "
        "o.deleted_at <= $1::bigint AND (EXISTS (SELECT 1 FROM bulwark_keys.bw_org_keys k WHERE "
        "k.org_id = o.id) OR EXISTS (SELECT 1 FROM bw_collections c WHERE c.org_id = "
        "o.id)) LIMIT 100",
    [BW_STMT_DATAKEY_DELETE_ORG] =
        "DELETE FROM bulwark_keys.bw_data_keys WHERE org_id = $1",
    [BW_STMT_COLL_DELETE_ORG] =
        "DELETE FROM bw_collections WHERE org_id = $1",
    [BW_STMT_REC_SET_BODY] =
        "UPDATE bw_records SET body = $4, encrypted = $5::integer WHERE org_id = $1 AND "
        "collection = $2 AND id = $3",
    [BW_STMT_REC_ALL] =
        "SELECT id, version, body, encrypted, created_at, updated_at, deleted_at FROM "
        "bw_records WHERE org_id = $1 AND collection = $2 AND id > $3 ORDER BY id LIMIT "
        "$4::bigint",
    /* compliance (check: migration 0012) */
    [BW_STMT_COMPL_INSERT] =
        "INSERT INTO bw_compliance_assessments(id, at, trigger, actor, pass, fail, "
        "warning, not_applicable, error, not_checked, results) VALUES ($1, $2, $3, $4, "
        "$5, $6, $7, $8, $9, $10, $11)",
    [BW_STMT_COMPL_LIST] =
        "SELECT seq, id, at, trigger, actor, pass, fail, warning, not_applicable, error, "
        "not_checked FROM bw_compliance_assessments WHERE $1::bigint = 0 OR seq < $1 "
        "ORDER BY seq DESC LIMIT $2",
    [BW_STMT_COMPL_BY_ID] =
        "SELECT seq, at, trigger, actor, results FROM bw_compliance_assessments WHERE "
        "id = $1",
    [BW_STMT_COMPL_LAST] =
        "SELECT at FROM bw_compliance_assessments ORDER BY seq DESC LIMIT 1",
    [BW_STMT_COMPL_AUDIT_LAST] =
        "SELECT ts, outcome FROM bw_audit_events WHERE action = $1 ORDER BY seq DESC "
        "LIMIT 1",
    [BW_STMT_COMPL_APIKEYS] =
        "SELECT count(*), coalesce(sum(CASE WHEN allowed_ips = '' THEN 1 ELSE 0 END), 0), "
        "coalesce(sum(CASE WHEN expires_at IS NULL THEN 1 ELSE 0 END), 0) FROM bw_apikeys "
        "WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $1)",
    [BW_STMT_COMPL_ADMIN_MEMBERS] =
        "SELECT count(DISTINCT u.id) FROM bw_users u JOIN bw_memberships m ON m.user_id = "
        "u.id WHERE u.platform_admin = 1",
    [BW_STMT_COMPL_TASKS_OVERDUE] =
        "SELECT count(*) FROM bw_tasks WHERE done_at IS NULL AND due_at <= $1",
    [BW_STMT_COMPL_INC_UNASSESSED] =
        "SELECT count(*) FROM bw_incidents WHERE significant IS NULL AND status <> "
        "'closed' AND aware_at <= $1",
    /* incidents (issue 7, second round): staff reports, quarterly review */
    [BW_STMT_INC_REPORT_MARK] =
        "UPDATE bw_incidents SET reported_by = $2 WHERE id = $1",
    [BW_STMT_INC_REPORT_COUNT] =
        "SELECT count(*) FROM bw_incidents WHERE reported_by = $1 AND created_at >= "
        "$2",
    [BW_STMT_INC_CLOSED_BETWEEN] =
        "SELECT id, title, severity, root_cause, closed_at FROM bw_incidents WHERE "
        "status = 'closed' AND closed_at >= $1 AND closed_at < $2 ORDER BY closed_at, "
        "id LIMIT $3",
    [BW_STMT_INC_REVIEW_EXISTS] =
        "SELECT id FROM bw_incident_reviews WHERE period_start = $1",
    [BW_STMT_INC_REVIEW_INSERT] =
        "INSERT INTO bw_incident_reviews(id, period_start, period_end, run_at, actor, "
        "incidents, repeats, root_causes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON "
        "CONFLICT (period_start) DO NOTHING",
    [BW_STMT_INC_REVIEW_LIST] =
        "SELECT id, period_start, period_end, run_at, actor, incidents, repeats, "
        "root_causes FROM bw_incident_reviews ORDER BY period_start DESC LIMIT $1",
    /* key store apart from the data (decision C6) */
    [BW_STMT_DATAKEY_ORPHANS] =
        "DELETE FROM bulwark_keys.bw_data_keys d USING (SELECT k.org_id, k.record_id FROM "
        "bulwark_keys.bw_data_keys k WHERE k.created_at < $1::bigint AND NOT EXISTS (SELECT "
        "1 FROM bw_records r WHERE r.org_id = k.org_id AND r.id = k.record_id AND "
        "r.encrypted = 1) LIMIT $2::bigint) o WHERE d.org_id = o.org_id AND d.record_id = "
        "o.record_id",
    [BW_STMT_REC_KEYLESS] =
        "SELECT r.id FROM bw_records r WHERE r.org_id = $1 AND r.collection = $2 AND r.id > "
        "$3 AND NOT EXISTS (SELECT 1 FROM bulwark_keys.bw_data_keys k WHERE k.org_id = "
        "r.org_id AND k.record_id = r.id) ORDER BY r.id LIMIT $4::bigint",
    [BW_STMT_ORGKEY_COUNT] =
        "SELECT count(*) FROM bulwark_keys.bw_org_keys",
    [BW_STMT_REC_KEYGONE] =
        "SELECT r.org_id, r.collection, r.id FROM bw_records r WHERE r.encrypted = 1 AND NOT "
        "EXISTS (SELECT 1 FROM bulwark_keys.bw_data_keys k WHERE k.org_id = r.org_id AND "
        "k.record_id = r.id) ORDER BY r.org_id, r.id LIMIT $1::bigint",
    [BW_STMT_REC_DELETE_KEYGONE] =
        "DELETE FROM bw_records WHERE org_id = $1 AND id = $2 AND encrypted = 1 AND NOT "
        "EXISTS (SELECT 1 FROM bulwark_keys.bw_data_keys k WHERE k.org_id = $1 AND "
        "k.record_id = $2)",
    /* audit trail follow-up (issue 5): GET /api/v1/orgs/{org}/audit */
    [BW_STMT_AUDIT_SEARCH_ORG] =
        "SELECT seq, ts, actor, action, target, outcome, remote, request_id, details, org, "
        "prev_hash, hash FROM bw_audit_events WHERE org = $8::text AND ($1::bigint = 0 OR seq "
        "< $1::bigint) AND ($2::text IS NULL OR actor = $2::text) AND ($3::text IS NULL OR "
        "action = $3::text) AND ($4::text IS NULL OR target = $4::text) AND ts >= $5 AND ts "
        "<= $6 ORDER BY seq DESC LIMIT $7",
    /* organisation deletion (issue 4) */
    [BW_STMT_ORG_SET_DELETED] =
        "UPDATE bw_organisations SET deleted_at = $2 WHERE id = $1 AND deleted_at IS NULL",
};
