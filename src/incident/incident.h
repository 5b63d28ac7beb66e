/*
 * incident.h - incident handling (issue 7): the incident register with its
 * P1-P4 response clocks and the NIS2 / GDPR reporting clocks (decision C5),
 * the detection rules that read the audit stream and open incidents by
 * themselves, containment actions, report drafts, the notifications outbox
 * (webhook with an HMAC-SHA256 signature, e-mail over SMTP) and the worker
 * thread of `bulwark serve` that runs detection, clocks and delivery.
 *
 * Every change and its audit event commit in one store transaction;
 * notifications are rows of the same transaction (an outbox), delivered
 * later by the worker, never on a request thread.
 *
 * Ownership: arguments are borrowed; json_t out-parameters are new
 * references the caller releases. Out-parameters are set only on BW_OK.
 */
#ifndef BW_INCIDENT_H
#define BW_INCIDENT_H

#include "core/core.h"

struct bw_store;
struct bw_tx;
struct bw_audit_ctx;
struct bw_keyring;
struct json_t;

/* A refused input: which member and why (never the value itself). */
struct bw_reg_err {
    char field[64];
    char msg[160];
};
void bw_reg_err_set(struct bw_reg_err *e, const char *field, const char *msg);
/* UTF-8 text of 1..max bytes without control characters (newlines and
 * tabs allowed when multiline). */
bool bw_inc_text_ok(const char *s, size_t max, bool multiline);

#define BW_INC_TITLE_MAX 200
#define BW_INC_NOTE_MAX 4000
#define BW_INC_TEXT_MAX 16000      /* root cause, lessons, a report field */
#define BW_INC_CONTENT_MAX 65536   /* one submission to an authority */

/* ---- clocks (clock.c) ------------------------------------------------------
 * Pure functions of configuration and times, tested with short durations. */

/* Seconds from awareness to the first response of a P1..P4 incident
 * (CONTROL: INC-01); BW_ERR_INVALID for another severity. */
BW_MUST_CHECK enum bw_rc bw_incident_response_window(const struct bw_config *cfg,
                                                     const char *severity, int64_t *out);
/* True for "P1".."P4", and the statuses of SPEC 5 in their order. */
bool bw_incident_severity_valid(const char *s);
/* Index of a status in detected..closed, or -1. */
int bw_incident_status_index(const char *s);
extern const char *const bw_incident_statuses[6];

/* ---- the register (incident.c) ----------------------------------------------- */
struct bw_incident_new {
    const char *title;
    const char *severity;       /* P1..P4 */
    int64_t aware_at;           /* 0 = now; never in the future, never edited later */
    int significant;            /* -1 not assessed yet, 0 no, 1 yes (NIS2 Art. 23) */
    int personal_data;          /* -1 not assessed yet, 0 no, 1 yes (GDPR Art. 33) */
    const char *note;           /* first step's note, may be NULL */
    const char *detect_key;     /* rule key of a detected incident, or NULL */
};

/* Opens an incident by `actor` and writes its deadlines. BW_ERR_INVALID with
 * err filled for bad input; BW_ERR_EXISTS when detect_key is already open. */
BW_MUST_CHECK enum bw_rc bw_incident_open(struct bw_store *st, const struct bw_config *cfg,
                                          const struct bw_audit_ctx *ctx, const char *actor,
                                          const struct bw_incident_new *in,
                                          char id[BW_ID_LEN + 1], struct bw_reg_err *err);
/* The same inside the caller's write transaction (detection). */
BW_MUST_CHECK enum bw_rc bw_incident_open_tx(struct bw_tx *tx, const struct bw_config *cfg,
                                             const struct bw_audit_ctx *ctx, const char *actor,
                                             const struct bw_incident_new *in,
                                             char id[BW_ID_LEN + 1], struct bw_reg_err *err);
/* One incident with deadlines (and their state), steps, evidence,
 * submissions and tasks; BW_ERR_NOTFOUND when absent. */
BW_MUST_CHECK enum bw_rc bw_incident_get(struct bw_store *st, const struct bw_config *cfg,
                                         const char *id, struct json_t **out);
/* Every incident, newest first, each with its deadlines: {items,next_cursor}. */
BW_MUST_CHECK enum bw_rc bw_incident_list(struct bw_store *st, const struct bw_config *cfg,
                                          struct json_t **out);
/* Unmet deadlines past due, incidents and vulnerabilities: {items}. */
BW_MUST_CHECK enum bw_rc bw_incident_overdue(struct bw_store *st, struct json_t **out);
/* Moves to the next status `to` with a note (CONTROL: INC-02): statuses
 * are taken strictly in order so every stage has its record; closing needs
 * root cause and lessons learned (given here or before) and opens a
 * policy-review task (CONTROL: INC-04, GOV-03). BW_ERR_CONFLICT when `to`
 * is not the next status; BW_ERR_NOTFOUND; BW_ERR_INVALID with err. */
BW_MUST_CHECK enum bw_rc bw_incident_transition(struct bw_store *st, const struct bw_config *cfg,
                                                const struct bw_audit_ctx *ctx,
                                                const char *actor, const char *id,
                                                const char *to, const char *note,
                                                const char *root_cause, const char *lessons,
                                                struct bw_reg_err *err);
/* Records the significance / personal-data assessment and the report facts
 * (a JSON object of known members; see docs/INCIDENTS.md). A yes starts
 * the NIS2 or GDPR clocks from the awareness time and cannot be withdrawn
 * (BW_ERR_CONFLICT). */
BW_MUST_CHECK enum bw_rc bw_incident_assess(struct bw_store *st, const struct bw_config *cfg,
                                            const struct bw_audit_ctx *ctx, const char *actor,
                                            const char *id, const struct json_t *body,
                                            struct bw_reg_err *err);
/* Stores a submission to an authority (kind: nis2_early_warning,
 * nis2_notification, nis2_intermediate, nis2_final, gdpr_authority,
 * gdpr_subjects) with its SHA-256, meets the matching deadline; a
 * notification starts the final-report clock; a GDPR notification after
 * its deadline needs delay_reason (CONTROL: INC-03, G-01). */
BW_MUST_CHECK enum bw_rc bw_incident_submit(struct bw_store *st, const struct bw_config *cfg,
                                            const struct bw_audit_ctx *ctx, const char *actor,
                                            const char *id, const char *kind,
                                            const char *content, const char *delay_reason,
                                            char sub_id[BW_ID_LEN + 1], struct bw_reg_err *err);
/* A report draft (kind gdpr_authority or nis2_early_warning / nis2_notification):
 * {kind, incident, fields, missing, markdown}. */
BW_MUST_CHECK enum bw_rc bw_incident_report(struct bw_store *st, const struct bw_config *cfg,
                                            const char *id, const char *kind,
                                            struct json_t **out, struct bw_reg_err *err);
/* Containment actions (CONTROL: INC-02), audited with the incident
 * (incident.containment, and a step "action"):
 * "revoke_sessions" (user), "disable_account" (user), "read_only" (enabled),
 * "revoke_org_apikeys" (org: every live key revoked, each audited
 * apikey.revoked), "revoke_org_sessions" (org: every session of every
 * member ended). `user` is an e-mail address, `org` an organisation id.
 * The effect is checked inside the transaction (no live key / session
 * left) and the result says so ("verified"). BW_ERR_NOTFOUND for an
 * unknown incident, user or organisation (err.field names which);
 * BW_ERR_INVALID with err; BW_ERR_CONFLICT for a closed incident. */
BW_MUST_CHECK enum bw_rc bw_incident_contain(struct bw_store *st, const struct bw_config *cfg,
                                             const struct bw_audit_ctx *ctx, const char *actor,
                                             const char *id, const char *action,
                                             const char *user, const char *org, bool enabled,
                                             struct json_t **result, struct bw_reg_err *err);

/* ---- staff reports and the recurrence review (review.c) -------------------------- */
/* CONTROL: INC-06 - a signed-in user (id and e-mail of the session)
 * reports a suspicious event: opens a P4 incident in `detected` with
 * the description as its first note and the reporter recorded
 * (created_by "user:<id>", reported_by), audited incident.opened +
 * incident.reported, the security contacts notified (incident.opened).
 * BW_ERR_INVALID with err for an empty or oversized description;
 * BW_ERR_BUSY when the reporter already made incident.report_limit
 * reports in the last hour. */
BW_MUST_CHECK enum bw_rc bw_incident_staff_report(struct bw_store *st,
                                                  const struct bw_config *cfg,
                                                  const struct bw_audit_ctx *ctx,
                                                  const char *user_id, const char *email,
                                                  const char *description,
                                                  char id[BW_ID_LEN + 1],
                                                  struct bw_reg_err *err);
/* The calendar quarter (UTC) before the one that holds t: [*start, *end). */
void bw_incident_prev_quarter(int64_t t, int64_t *start, int64_t *end);
/* CONTROL: G-16 - the recurring-incident review of the last complete
 * quarter, unless it already has one: incidents closed in
 * [end - incident.recurrence_window, end) grouped by normalised root
 * cause; a group of at least incident.recurrence_threshold incidents with
 * one closed inside the quarter is a repeat. Nothing happens while that
 * window holds no closed incident. Stored (one per quarter),
 * audited incident.recurrence.review, repeats notified
 * (incident.recurrence). *out (may be NULL): the review when it ran now,
 * else JSON null. */
BW_MUST_CHECK enum bw_rc bw_incident_review_if_due(struct bw_store *st,
                                                   const struct bw_config *cfg,
                                                   const char *actor, struct json_t **out);
/* The stored reviews, newest quarter first: {items, next_cursor}. */
BW_MUST_CHECK enum bw_rc bw_incident_reviews(struct bw_store *st, struct json_t **out);

/* ---- read-only mode (incident.c) ---------------------------------------------
 * A process-wide flag mirrored in the store (meta key server.read_only) so
 * that every `serve` sharing the store follows it within one detection
 * interval. While set, the router answers 503 to changing requests other
 * than authentication and incident handling. */
bool bw_readonly_active(void);
BW_MUST_CHECK enum bw_rc bw_readonly_refresh(struct bw_store *st);

/* ---- clocks sweep (clock.c) ----------------------------------------------------
 * Notices for approaching deadlines, escalation of overdue ones (incidents
 * and vulnerabilities), each once, audited and notified. */
struct bw_sweep_stats {
    unsigned warned;
    unsigned escalated;
    unsigned vulns_escalated;
};
BW_MUST_CHECK enum bw_rc bw_incident_sweep(struct bw_store *st, const struct bw_config *cfg,
                                           struct bw_sweep_stats *out);

/* ---- detection (detect.c) --------------------------------------------------------
 * Reads audit events after a stored cursor and applies the rules of
 * docs/INCIDENTS.md; a rule that fires opens an incident or adds its
 * evidence to the open one with the same key (CONTROL: G-05). Also queues
 * the G-15 e-mails of notify.user.* events. */
struct bw_detect_stats {
    unsigned events;
    unsigned opened;
    unsigned updated;
};
BW_MUST_CHECK enum bw_rc bw_detect_run(struct bw_store *st, const struct bw_config *cfg,
                                       struct bw_detect_stats *out);

/* ---- notifications (notify.c) ---------------------------------------------------- */
/* Within a write transaction: queues `event` for the security contacts:
 * one webhook delivery (when notify.webhook_url is set) and one e-mail per
 * notify.security_contacts address (when notify.smtp_url is set).
 * `data` is stolen (may be NULL) and must hold no secrets. */
BW_MUST_CHECK enum bw_rc bw_notify_security(struct bw_tx *tx, const struct bw_config *cfg,
                                            const char *event, const char *subject,
                                            struct json_t *data);
/* Within a write transaction: queues one e-mail to `to` (when SMTP is set). */
BW_MUST_CHECK enum bw_rc bw_notify_email(struct bw_tx *tx, const struct bw_config *cfg,
                                         const char *event, const char *to, const char *subject,
                                         const char *text);
struct bw_deliver_stats {
    unsigned sent;
    unsigned retried;
    unsigned failed;
};
/* Delivers what is due now: webhook POST with X-Bulwark-Signature, or SMTP;
 * failures retry with exponential backoff up to notify.max_attempts; each
 * outcome is audited (notify.delivered / notify.retry / notify.failed). */
BW_MUST_CHECK enum bw_rc bw_notify_deliver(struct bw_store *st, const struct bw_config *cfg,
                                           struct bw_deliver_stats *out);
/* The signature header value "sha256=<hex>" of HMAC-SHA256(secret,
 * timestamp "." body); out needs 72 bytes. */
BW_MUST_CHECK enum bw_rc bw_notify_sign(const char *secret, const char *timestamp,
                                        const char *body, size_t len, char out[72]);
/* The queue as JSON (newest first) for `bulwark incident notifications`. */
BW_MUST_CHECK enum bw_rc bw_notify_list(struct bw_store *st, struct json_t **out);
/* libcurl's global set-up; call once from the main thread before workers. */
BW_MUST_CHECK enum bw_rc bw_notify_global_init(void);

/* ---- the worker of `bulwark serve` (worker.c) ----------------------------------- */
struct bw_incident_worker;
/* Starts a thread that every incident.detect_interval runs detection, the
 * clocks sweep, the read-only refresh and (with vuln.feed) the feed scan,
 * and every second delivers due notifications. Borrowed for its life. */
BW_MUST_CHECK enum bw_rc bw_incident_worker_start(struct bw_store *st,
                                                  const struct bw_config *cfg,
                                                  const char *data_dir,
                                                  struct bw_incident_worker **out);
void bw_incident_worker_stop(struct bw_incident_worker *w); /* accepts NULL */

#endif
