-- 0011: staff reports of suspicious events (INC-06) and the quarterly
-- recurring-incident review (G-16) (PostgreSQL).
ALTER TABLE bw_incidents ADD COLUMN reported_by TEXT;      -- user id of a staff report
CREATE INDEX bw_incidents_reported ON bw_incidents(reported_by, created_at)
    WHERE reported_by IS NOT NULL;
CREATE INDEX bw_incidents_closed ON bw_incidents(closed_at) WHERE closed_at IS NOT NULL;

CREATE TABLE bw_incident_reviews (
    id           TEXT PRIMARY KEY NOT NULL,
    period_start BIGINT NOT NULL UNIQUE,                   -- first second of the quarter (UTC)
    period_end   BIGINT NOT NULL,                          -- first second of the next one
    run_at       BIGINT NOT NULL,
    actor        TEXT NOT NULL,
    incidents    BIGINT NOT NULL,                          -- closed incidents looked at
    repeats      BIGINT NOT NULL,                          -- root causes flagged as repeats
    root_causes  TEXT NOT NULL                             -- JSON array, see docs/INCIDENTS.md
);
