-- 0012: compliance assessments (SQLite). Each run of every control check
-- (`bulwark check`, the daily run inside `serve`) is kept as a dated
-- assessment with its counts and its full results (CONTROL: G-11). seq is
-- the paging cursor; rows are only ever inserted.
CREATE TABLE bw_compliance_assessments (
    seq            INTEGER PRIMARY KEY,
    id             TEXT NOT NULL UNIQUE,
    at             INTEGER NOT NULL,
    trigger        TEXT NOT NULL,
    actor          TEXT NOT NULL,
    pass           INTEGER NOT NULL,
    fail           INTEGER NOT NULL,
    warning        INTEGER NOT NULL,
    not_applicable INTEGER NOT NULL,
    error          INTEGER NOT NULL,
    not_checked    INTEGER NOT NULL,
    results        TEXT NOT NULL                 -- JSON array of {id,status,detail,evidence}
) STRICT;
CREATE INDEX bw_compliance_assessments_at ON bw_compliance_assessments(at);
