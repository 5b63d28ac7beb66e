-- 0009: the audit chain's event hash moves from BLAKE2b-256 (v1) to SHA-256
-- (v2, SHA-NI through GnuTLS: verify is bound by it; issue 5). A chain that
-- already holds events keeps v1 for them, so nothing is re-hashed (which
-- would launder tampering); events from head + 1 on are v2. A new store
-- (head 0) is v2 from event 1. src/audit/event.c reads the boundary.
INSERT INTO bw_meta(key, value)
    SELECT 'audit.hash_v2_from', CAST(seq + 1 AS TEXT) FROM bw_audit_head WHERE id = 1;

-- GET /api/v1/orgs/{org}/audit: one organisation's events, newest first.
CREATE INDEX bw_audit_events_org ON bw_audit_events(org, seq);
