/*
 * compliance.h - the control catalogue of ../shared/CONTROLS.md compiled into
 * one table (STYLE rule 7: id, title, source, check function) and the checks
 * that inspect LIVE state: the effective configuration against the adopted
 * policy (SPEC 3: a weaker value is accepted but fails its control), file
 * modes of the data directory, the TLS certificate, the kernel clock, the
 * backup target and drill record, the audit chain, the registers
 * (incidents, vulnerabilities, users, API keys) and the binary itself.
 * (CONTROL: G-11 - each run can be stored as a dated assessment.)
 *
 * Result values are those of CONTROLS.md (what GRC tools import): pass,
 * fail, warning (a recommendation or a documented decision, never a
 * failure), not_applicable (does not apply to this installation, with the
 * reason), error (the check could not run: a failure of the check, counted
 * as failing) and not_checked (nothing to inspect at run time: an
 * organisational row without a register yet, or a property fixed in code
 * and verified by the test suite - the evidence names which).
 *
 * Evidence is a short JSON object and never holds a secret: no key
 * material, password hash, token or database password.
 *
 * Ownership: arguments are borrowed; json_t out-parameters are new
 * references owned by the caller. Out-parameters are set only on BW_OK.
 */
#ifndef BW_COMPLIANCE_H
#define BW_COMPLIANCE_H

#include "core/core.h"

struct bw_store;
struct bw_keyring;
struct bw_audit_ctx;
struct json_t;

enum bw_ctl_status {
    BW_CTL_PASS,
    BW_CTL_FAIL,
    BW_CTL_WARNING,
    BW_CTL_NOT_APPLICABLE,
    BW_CTL_ERROR,
    BW_CTL_NOT_CHECKED,
    BW_CTL__COUNT
};

/* "pass", "fail", "warning", "not_applicable", "error", "not_checked". */
const char *bw_ctl_status_str(enum bw_ctl_status s);

/* What a check may look at. All borrowed; kr may be NULL (then checks that
 * need keys - backups, audit verification - report error). */
struct bw_compliance_cache;
struct bw_compliance_env {
    const struct bw_config *cfg;
    struct bw_store *store;
    const struct bw_keyring *kr;
    const char *data_dir;
    struct bw_compliance_cache *cache; /* internal: set by bw_compliance_run, NULL outside */
};

/* One check's answer: detail is one lowercase line saying why (naming the
 * configuration key and value when the configuration is the cause);
 * evidence is a JSON object the check fills. */
struct bw_ctl_out {
    struct json_t *evidence;
    char detail[320];
};

struct bw_control;
typedef enum bw_ctl_status (*bw_ctl_check_fn)(const struct bw_compliance_env *env,
                                              const struct bw_control *ctl, struct bw_ctl_out *out);

struct bw_control {
    const char *id;     /* "AUTH-03" */
    const char *title;  /* the statement of CONTROLS.md */
    const char *source; /* "I §5.1, §5.2" */
    const char *mode;   /* E, R, N, E/R … as CONTROLS.md */
    bw_ctl_check_fn check;
    const char *where; /* not_checked rows: the code that enforces it and the test that
                          verifies it, or the register it waits for; else NULL */
};

/* The table, in CONTROLS.md order; *n receives its length. */
const struct bw_control *bw_compliance_controls(size_t *n);
const struct bw_control *bw_compliance_find(const char *id);

/* Runs the checks (all when nonly == 0, else those whose id is in only[];
 * an unknown id is BW_ERR_NOTFOUND). *out = {"checked_at", "items":[{id,
 * title, source, mode, status, detail, evidence, checked_at}], "summary":
 * {pass, fail, warning, not_applicable, error, not_checked}, "failed":
 * bool}; "failed" is true when any item is fail or error. */
BW_MUST_CHECK enum bw_rc bw_compliance_run(const struct bw_compliance_env *env,
                                           const char *const *only, size_t nonly,
                                           struct json_t **out);

/* Stores a run (from bw_compliance_run) as a dated assessment and audits
 * compliance.assessed in the same transaction (CONTROL: G-11). `trigger` is
 * "cli", "schedule" …; *id (may be NULL) receives the assessment id. */
BW_MUST_CHECK enum bw_rc bw_compliance_record(struct bw_store *st, const struct bw_audit_ctx *ctx,
                                              const char *actor, const char *trigger,
                                              const struct json_t *run, char id[BW_ID_LEN + 1]);

/* Stored assessments, newest first: {items:[{id, at, trigger, actor,
 * summary}], next_cursor}; before (RFC 3339 seconds, 0 = newest) pages. */
BW_MUST_CHECK enum bw_rc bw_compliance_history(struct bw_store *st, int64_t before, unsigned limit,
                                               struct json_t **out);
/* One stored assessment with its items; BW_ERR_NOTFOUND. */
BW_MUST_CHECK enum bw_rc bw_compliance_assessment(struct bw_store *st, const char *id,
                                                  struct json_t **out);

/* ---- inside `bulwark serve` ----------------------------------------------
 * A thread that runs every check once a day (first run `first_delay`
 * seconds after start) and records each run (trigger "schedule", actor
 * "system"). env and what it points to are borrowed for the thread's life. */
struct bw_compliance_timer;
BW_MUST_CHECK enum bw_rc bw_compliance_timer_start(const struct bw_compliance_env *env,
                                                   int64_t every, int64_t first_delay,
                                                   struct bw_compliance_timer **out);
void bw_compliance_timer_stop(struct bw_compliance_timer *t); /* accepts NULL */

#endif
