-- 0007: incidents, deadlines, detection evidence, notifications outbox,
-- vulnerabilities, disclosure reports and feed scans (PostgreSQL).
CREATE TABLE bw_incidents (
    id            TEXT PRIMARY KEY NOT NULL,
    title         TEXT NOT NULL,
    severity      TEXT NOT NULL CHECK (severity IN ('P1', 'P2', 'P3', 'P4')),
    status        TEXT NOT NULL DEFAULT 'detected' CHECK (status IN ('detected', 'contained',
                  'investigating', 'remediated', 'reported', 'closed')),
    significant   INTEGER CHECK (significant IN (0, 1)),   -- NULL: not yet assessed (G-02)
    personal_data INTEGER CHECK (personal_data IN (0, 1)), -- NULL: not yet assessed
    aware_at      BIGINT NOT NULL,                        -- recorded once, never edited
    created_at    BIGINT NOT NULL,
    created_by    TEXT NOT NULL,
    detect_key    TEXT,                                    -- "<rule>:<group>" for detected ones
    respond_by    BIGINT NOT NULL,
    responded_at  BIGINT,
    root_cause    TEXT,
    lessons       TEXT,
    facts         TEXT NOT NULL DEFAULT '{}',              -- JSON: report fields (Art. 33(3), NIS2)
    updated_at    BIGINT NOT NULL,
    closed_at     BIGINT
);
CREATE UNIQUE INDEX bw_incidents_open_key ON bw_incidents(detect_key)
    WHERE detect_key IS NOT NULL AND status <> 'closed';
CREATE FUNCTION bw_incidents_aware_at_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.aware_at IS DISTINCT FROM OLD.aware_at THEN
        RAISE EXCEPTION 'aware_at is immutable';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER bw_incidents_aware_at_fixed BEFORE UPDATE OF aware_at ON bw_incidents
    FOR EACH ROW EXECUTE FUNCTION bw_incidents_aware_at_fixed();

CREATE TABLE bw_incident_steps (
    id          BIGSERIAL PRIMARY KEY,
    incident_id TEXT NOT NULL REFERENCES bw_incidents(id),
    status      TEXT NOT NULL,
    at          BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    note        TEXT NOT NULL
);
CREATE INDEX bw_incident_steps_inc ON bw_incident_steps(incident_id, id);

CREATE TABLE bw_incident_evidence (
    incident_id TEXT NOT NULL REFERENCES bw_incidents(id),
    audit_seq   BIGINT NOT NULL,
    rule        TEXT NOT NULL,
    PRIMARY KEY (incident_id, audit_seq)
);

CREATE TABLE bw_incident_deadlines (
    incident_id  TEXT NOT NULL REFERENCES bw_incidents(id),
    kind         TEXT NOT NULL,
    due_at       BIGINT,                                  -- NULL: "without undue delay"
    met_at       BIGINT,
    warned_at    BIGINT,
    escalated_at BIGINT,
    PRIMARY KEY (incident_id, kind)
);
CREATE INDEX bw_incident_deadlines_due ON bw_incident_deadlines(met_at, due_at);

CREATE TABLE bw_incident_submissions (
    id           TEXT PRIMARY KEY NOT NULL,
    incident_id  TEXT NOT NULL REFERENCES bw_incidents(id),
    kind         TEXT NOT NULL,
    submitted_at BIGINT NOT NULL,
    actor        TEXT NOT NULL,
    content      TEXT NOT NULL,
    content_hash TEXT NOT NULL,                            -- SHA-256 hex of content
    delay_reason TEXT
);
CREATE INDEX bw_incident_submissions_inc ON bw_incident_submissions(incident_id, submitted_at);

CREATE TABLE bw_tasks (
    id         TEXT PRIMARY KEY NOT NULL,
    kind       TEXT NOT NULL,
    ref        TEXT NOT NULL,
    title      TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    due_at     BIGINT NOT NULL,
    done_at    BIGINT
);
CREATE INDEX bw_tasks_ref ON bw_tasks(ref);

CREATE TABLE bw_notifications (
    id         TEXT PRIMARY KEY NOT NULL,
    created_at BIGINT NOT NULL,
    channel    TEXT NOT NULL CHECK (channel IN ('webhook', 'email')),
    dest       TEXT NOT NULL,
    subject    TEXT NOT NULL,
    body       TEXT NOT NULL,
    event      TEXT NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    next_at    BIGINT NOT NULL,
    status     TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    last_error TEXT,
    sent_at    BIGINT
);
CREATE INDEX bw_notifications_due ON bw_notifications(status, next_at);

CREATE TABLE bw_vulns (
    id            TEXT PRIMARY KEY NOT NULL,
    title         TEXT NOT NULL,
    component     TEXT NOT NULL,
    version       TEXT,
    cve           TEXT,
    severity      TEXT NOT NULL CHECK (severity IN ('critical', 'high', 'medium', 'low',
                  'untriaged')),
    scope         TEXT NOT NULL CHECK (scope IN ('product', 'infrastructure')),
    found_at      BIGINT NOT NULL,
    due_at        BIGINT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    source        TEXT NOT NULL CHECK (source IN ('manual', 'report', 'scan')),
    source_ref    TEXT UNIQUE,                             -- "osv:<id>:<component>", report id
    fixed_release TEXT,
    exception     TEXT,
    closed_at     BIGINT,
    closed_by     TEXT,
    escalated_at  BIGINT,
    created_by    TEXT NOT NULL
);
CREATE INDEX bw_vulns_open ON bw_vulns(status, due_at);

CREATE TABLE bw_vuln_reports (
    id          TEXT PRIMARY KEY NOT NULL,
    received_at BIGINT NOT NULL,
    remote      TEXT NOT NULL,
    sealed      BYTEA NOT NULL,                             -- keyring seal, AAD vuln-report:<id>
    vuln_id     TEXT NOT NULL REFERENCES bw_vulns(id)
);

CREATE TABLE bw_scan_runs (
    id         TEXT PRIMARY KEY NOT NULL,
    at         BIGINT NOT NULL,
    feed       TEXT NOT NULL,
    components INTEGER NOT NULL,
    advisories INTEGER NOT NULL,
    matches    INTEGER NOT NULL,
    opened     INTEGER NOT NULL
);
