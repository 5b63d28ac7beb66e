-- 0007: incidents, deadlines, detection evidence, notifications outbox,
-- vulnerabilities, disclosure reports and feed scans (SQLite).
CREATE TABLE bw_incidents (
    id            TEXT PRIMARY KEY NOT NULL,
    title         TEXT NOT NULL,
    severity      TEXT NOT NULL CHECK (severity IN ('P1', 'P2', 'P3', 'P4')),
    status        TEXT NOT NULL DEFAULT 'detected' CHECK (status IN ('detected', 'contained',
                  'investigating', 'remediated', 'reported', 'closed')),
    significant   INTEGER CHECK (significant IN (0, 1)),   -- NULL: not yet assessed (G-02)
    personal_data INTEGER CHECK (personal_data IN (0, 1)), -- NULL: not yet assessed
    aware_at      INTEGER NOT NULL,                        -- recorded once, never edited
    created_at    INTEGER NOT NULL,
    created_by    TEXT NOT NULL,
    detect_key    TEXT,                                    -- "<rule>:<group>" for detected ones
    respond_by    INTEGER NOT NULL,
    responded_at  INTEGER,
    root_cause    TEXT,
    lessons       TEXT,
    facts         TEXT NOT NULL DEFAULT '{}',              -- JSON: report fields (Art. 33(3), NIS2)
    updated_at    INTEGER NOT NULL,
    closed_at     INTEGER
) STRICT;
CREATE UNIQUE INDEX bw_incidents_open_key ON bw_incidents(detect_key)
    WHERE detect_key IS NOT NULL AND status <> 'closed';
CREATE TRIGGER bw_incidents_aware_at_fixed BEFORE UPDATE OF aware_at ON bw_incidents
    WHEN NEW.aware_at IS NOT OLD.aware_at
BEGIN
    SELECT RAISE(ABORT, 'aware_at is immutable');
END;

CREATE TABLE bw_incident_steps (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id TEXT NOT NULL REFERENCES bw_incidents(id),
    status      TEXT NOT NULL,
    at          INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    note        TEXT NOT NULL
) STRICT;
CREATE INDEX bw_incident_steps_inc ON bw_incident_steps(incident_id, id);

CREATE TABLE bw_incident_evidence (
    incident_id TEXT NOT NULL REFERENCES bw_incidents(id),
    audit_seq   INTEGER NOT NULL,
    rule        TEXT NOT NULL,
    PRIMARY KEY (incident_id, audit_seq)
) STRICT;

CREATE TABLE bw_incident_deadlines (
    incident_id  TEXT NOT NULL REFERENCES bw_incidents(id),
    kind         TEXT NOT NULL,
    due_at       INTEGER,                                  -- NULL: "without undue delay"
    met_at       INTEGER,
    warned_at    INTEGER,
    escalated_at INTEGER,
    PRIMARY KEY (incident_id, kind)
) STRICT;
CREATE INDEX bw_incident_deadlines_due ON bw_incident_deadlines(met_at, due_at);

CREATE TABLE bw_incident_submissions (
    id           TEXT PRIMARY KEY NOT NULL,
    incident_id  TEXT NOT NULL REFERENCES bw_incidents(id),
    kind         TEXT NOT NULL,
    submitted_at INTEGER NOT NULL,
    actor        TEXT NOT NULL,
    content      TEXT NOT NULL,
    content_hash TEXT NOT NULL,                            -- SHA-256 hex of content
    delay_reason TEXT
) STRICT;
CREATE INDEX bw_incident_submissions_inc ON bw_incident_submissions(incident_id, submitted_at);

CREATE TABLE bw_tasks (
    id         TEXT PRIMARY KEY NOT NULL,
    kind       TEXT NOT NULL,
    ref        TEXT NOT NULL,
    title      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    due_at     INTEGER NOT NULL,
    done_at    INTEGER
) STRICT;
CREATE INDEX bw_tasks_ref ON bw_tasks(ref);

CREATE TABLE bw_notifications (
    id         TEXT PRIMARY KEY NOT NULL,
    created_at INTEGER NOT NULL,
    channel    TEXT NOT NULL CHECK (channel IN ('webhook', 'email')),
    dest       TEXT NOT NULL,
    subject    TEXT NOT NULL,
    body       TEXT NOT NULL,
    event      TEXT NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    next_at    INTEGER NOT NULL,
    status     TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    last_error TEXT,
    sent_at    INTEGER
) STRICT;
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
    found_at      INTEGER NOT NULL,
    due_at        INTEGER NOT NULL,
    status        TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    source        TEXT NOT NULL CHECK (source IN ('manual', 'report', 'scan')),
    source_ref    TEXT UNIQUE,                             -- "osv:<id>:<component>", report id
    fixed_release TEXT,
    exception     TEXT,
    closed_at     INTEGER,
    closed_by     TEXT,
    escalated_at  INTEGER,
    created_by    TEXT NOT NULL
) STRICT;
CREATE INDEX bw_vulns_open ON bw_vulns(status, due_at);

CREATE TABLE bw_vuln_reports (
    id          TEXT PRIMARY KEY NOT NULL,
    received_at INTEGER NOT NULL,
    remote      TEXT NOT NULL,
    sealed      BLOB NOT NULL,                             -- keyring seal, AAD vuln-report:<id>
    vuln_id     TEXT NOT NULL REFERENCES bw_vulns(id)
) STRICT;

CREATE TABLE bw_scan_runs (
    id         TEXT PRIMARY KEY NOT NULL,
    at         INTEGER NOT NULL,
    feed       TEXT NOT NULL,
    components INTEGER NOT NULL,
    advisories INTEGER NOT NULL,
    matches    INTEGER NOT NULL,
    opened     INTEGER NOT NULL
) STRICT;
