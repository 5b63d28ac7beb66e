/*
 * Unit tests for src/incident (clock.c, incident.c, workflow.c, detect.c) on
 * a real temporary SQLite store, or on PostgreSQL when BW_TEST_PG_URL names
 * a fresh database: response windows per severity, approaching and overdue
 * notices with short configured durations and the test clock offset, the
 * NIS2 / GDPR clocks, the strict workflow and the review on closing, the
 * immutable awareness time, and the detection rules fed through
 * bw_audit_append (audit.verify.failed -> P1, lockouts -> one incident).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "incident/incident.h"
#include "store/store.h"

#include "fixture.h"

static int setup(void **state)
{
    (void)state;
    return fixture_setup("incident");
}

static void test_response_windows(void **state)
{
    static const struct {
        const char *sev;
        int64_t want;
        enum bw_rc rc;
    } cases[] = {{"P1", 15 * 60, BW_OK},     {"P2", 4 * 3600, BW_OK}, {"P3", 24 * 3600, BW_OK},
                 {"P4", 72 * 3600, BW_OK},   {"P5", 0, BW_ERR_INVALID}, {"p1", 0, BW_ERR_INVALID},
                 {"", 0, BW_ERR_INVALID},    {"P11", 0, BW_ERR_INVALID}};
    for (size_t i = 0; i < BW_ARRAY_LEN(cases); i++) {
        int64_t w = -1;
        assert_int_equal(bw_incident_response_window(&cfg, cases[i].sev, &w), cases[i].rc);
        if (cases[i].rc == BW_OK)
            assert_int_equal(w, cases[i].want);
    }
}

static json_t *get(const char *id)
{
    json_t *o = NULL;
    assert_int_equal(bw_incident_get(st, &cfg, id, &o), BW_OK);
    return o;
}

static const char *deadline_state(json_t *inc, const char *kind)
{
    json_t *d = json_object_get(json_object_get(inc, "deadlines"), kind);
    return d != NULL ? json_string_value(json_object_get(d, "state")) : NULL;
}

static void open_one(const char *sev, int sig, int pd, char id[BW_ID_LEN + 1])
{
    struct bw_reg_err err;
    struct bw_incident_new in = {"clock test", sev, 0, sig, pd, NULL, NULL};
    assert_int_equal(bw_incident_open(st, &cfg, &actx, "test", &in, id, &err), BW_OK);
}

/* P2 with a 100 s response window, warn 40 s ahead: quiet, warned, escalated, once each. */
static void test_response_clock(void **state)
{
    struct bw_sweep_stats s;
    char id[BW_ID_LEN + 1];
    cfg.incident_p2_response = 100;
    cfg.incident_warn_before = 40;
    bw_time_set_offset(0);
    open_one("P2", -1, -1, id);
    assert_int_equal(bw_incident_sweep(st, &cfg, &s), BW_OK);
    assert_int_equal(s.warned + s.escalated, 0);
    bw_time_set_offset(70); /* 30 s before due */
    assert_int_equal(bw_incident_sweep(st, &cfg, &s), BW_OK);
    assert_int_equal(s.warned, 1);
    assert_int_equal(bw_incident_sweep(st, &cfg, &s), BW_OK);
    assert_int_equal(s.warned, 0); /* once */
    json_t *o = get(id);
    assert_string_equal(deadline_state(o, "response"), "open");
    json_decref(o);
    bw_time_set_offset(101);
    assert_int_equal(bw_incident_sweep(st, &cfg, &s), BW_OK);
    assert_int_equal(s.escalated, 1);
    assert_int_equal(bw_incident_sweep(st, &cfg, &s), BW_OK);
    assert_int_equal(s.escalated, 0);
    o = get(id);
    assert_string_equal(deadline_state(o, "response"), "overdue");
    assert_string_equal(json_string_value(json_array_get(json_object_get(o, "overdue"), 0)),
                        "response");
    json_decref(o);
    json_t *od = NULL;
    assert_int_equal(bw_incident_overdue(st, &od), BW_OK);
    assert_true(json_array_size(json_object_get(od, "items")) >= 1);
    json_decref(od);
    /* a late first response is met late, and no longer overdue */
    struct bw_reg_err err;
    assert_int_equal(bw_incident_transition(st, &cfg, &actx, "test", id, "contained", "late",
                                            NULL, NULL, &err),
                     BW_OK);
    o = get(id);
    assert_string_equal(deadline_state(o, "response"), "met_late");
    json_decref(o);
    bw_time_set_offset(0);
    cfg.incident_p2_response = 4 * 3600;
    cfg.incident_warn_before = 6 * 3600;
}

/* NIS2: 24 h / 72 h from awareness, final one month after the notification;
 * GDPR: 72 h, a late notification needs a reason. Short durations. */
static void test_reporting_clocks(void **state)
{
    struct bw_reg_err err;
    char id[BW_ID_LEN + 1], sid[BW_ID_LEN + 1];
    struct bw_sweep_stats s;
    cfg.incident_nis2_early_warning = 10;
    cfg.incident_nis2_notification = 30;
    cfg.incident_nis2_final = 50;
    cfg.incident_gdpr_authority = 30;
    cfg.incident_warn_before = 1;
    bw_time_set_offset(0);
    open_one("P3", 1, 1, id);
    json_t *o = get(id);
    int64_t aware = 0, ew = 0, nt = 0, ga = 0;
    assert_int_equal(bw_time_parse(json_string_value(json_object_get(o, "aware_at")), &aware), BW_OK);
    json_t *d = json_object_get(o, "deadlines");
#define DUE(k, out)                                                                               \
    assert_int_equal(bw_time_parse(json_string_value(json_object_get(json_object_get(d, k),      \
                                                                     "due_at")),                  \
                                   &(out)),                                                       \
                     BW_OK)
    DUE("nis2_early_warning", ew);
    DUE("nis2_notification", nt);
    DUE("gdpr_authority", ga);
    assert_int_equal(ew - aware, 10);
    assert_int_equal(nt - aware, 30);
    assert_int_equal(ga - aware, 30);
    assert_true(json_is_null(json_object_get(json_object_get(d, "gdpr_subjects"), "due_at")));
    json_decref(o);
    bw_time_set_offset(11);
    assert_int_equal(bw_incident_sweep(st, &cfg, &s), BW_OK);
    assert_int_equal(s.escalated, 1); /* the early warning is overdue */
    /* a GDPR notification needs the Art. 33(3) facts */
    assert_int_equal(bw_incident_submit(st, &cfg, &actx, "test", id, "gdpr_authority", "text",
                                        NULL, sid, &err),
                     BW_ERR_INVALID);
    assert_string_equal(err.field, "facts.nature");
    json_t *body = json_pack(
        "{s:{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}}", "facts", "nature", "n",
        "subject_categories", "customers", "subjects_approx", "120", "record_categories",
        "contacts", "records_approx", "300", "dpo_contact", "dpo@example.invalid", "consequences",
        "c", "measures", "m");
    assert_int_equal(bw_incident_assess(st, &cfg, &actx, "test", id, body, &err), BW_OK);
    json_decref(body);
    bw_time_set_offset(31); /* past 72 h (30 s here): a reason is required */
    assert_int_equal(bw_incident_submit(st, &cfg, &actx, "test", id, "gdpr_authority", "text",
                                        NULL, sid, &err),
                     BW_ERR_INVALID);
    assert_string_equal(err.field, "delay_reason");
    assert_int_equal(bw_incident_submit(st, &cfg, &actx, "test", id, "gdpr_authority", "text",
                                        "forensics took 4 days", sid, &err),
                     BW_OK);
    /* the notification starts the final-report clock */
    body = json_pack("{s:{s:b, s:b}}", "facts", "suspected_malicious", 1, "cross_border", 0);
    assert_int_equal(bw_incident_assess(st, &cfg, &actx, "test", id, body, &err), BW_OK);
    json_decref(body);
    assert_int_equal(bw_incident_submit(st, &cfg, &actx, "test", id, "nis2_notification", "n",
                                        NULL, sid, &err),
                     BW_OK);
    o = get(id);
    d = json_object_get(o, "deadlines");
    int64_t fin = 0, now = bw_time_now();
    DUE("nis2_final", fin);
    assert_int_equal(fin - now, 50);
    assert_string_equal(deadline_state(o, "gdpr_authority"), "met_late");
    assert_string_equal(deadline_state(o, "nis2_notification"), "met_late");
    assert_int_equal(json_array_size(json_object_get(o, "submissions")), 2);
    json_decref(o);
    /* a recorded yes cannot be withdrawn */
    body = json_pack("{s:b}", "significant", 0);
    assert_int_equal(bw_incident_assess(st, &cfg, &actx, "test", id, body, &err),
                     BW_ERR_CONFLICT);
    json_decref(body);
    bw_time_set_offset(0);
}

static void test_workflow(void **state)
{
    static const char *const path[] = {"contained", "investigating", "remediated", "reported"};
    struct bw_reg_err err;
    char id[BW_ID_LEN + 1];
    open_one("P1", 0, 0, id);
    /* no skipping: every stage needs its record */
    assert_int_equal(bw_incident_transition(st, &cfg, &actx, "t", id, "investigating", "n", NULL,
                                            NULL, &err),
                     BW_ERR_CONFLICT);
    assert_int_equal(bw_incident_transition(st, &cfg, &actx, "t", id, "contained", "", NULL, NULL,
                                            &err),
                     BW_ERR_INVALID); /* a note is required */
    for (size_t i = 0; i < BW_ARRAY_LEN(path); i++)
        assert_int_equal(bw_incident_transition(st, &cfg, &actx, "t", id, path[i], "step", NULL,
                                                NULL, &err),
                         BW_OK);
    assert_int_equal(bw_incident_transition(st, &cfg, &actx, "t", id, "closed", "done", NULL,
                                            NULL, &err),
                     BW_ERR_INVALID);
    assert_string_equal(err.field, "root_cause");
    assert_int_equal(bw_incident_transition(st, &cfg, &actx, "t", id, "closed", "done", "cause",
                                            NULL, &err),
                     BW_ERR_INVALID);
    assert_string_equal(err.field, "lessons");
    assert_int_equal(bw_incident_transition(st, &cfg, &actx, "t", id, "closed", "done", "cause",
                                            "lessons", &err),
                     BW_OK);
    json_t *o = get(id);
    assert_string_equal(json_string_value(json_object_get(o, "status")), "closed");
    assert_int_equal(json_array_size(json_object_get(o, "steps")), 6);
    json_t *task = json_array_get(json_object_get(o, "tasks"), 0);
    assert_non_null(task);
    assert_string_equal(json_string_value(json_object_get(task, "kind")), "policy_review");
    json_decref(o);
    assert_int_equal(bw_incident_transition(st, &cfg, &actx, "t", id, "closed", "again", "c", "l",
                                            &err),
                     BW_ERR_CONFLICT);
    /* bad input changes nothing */
    struct bw_incident_new bad[] = {
        {"", "P1", 0, -1, -1, NULL, NULL},
        {"t", "P9", 0, -1, -1, NULL, NULL},
        {"t\x01", "P1", 0, -1, -1, NULL, NULL},
        {"t", "P1", bw_time_now() + 3600, -1, -1, NULL, NULL},
    };
    for (size_t i = 0; i < BW_ARRAY_LEN(bad); i++)
        assert_int_equal(bw_incident_open(st, &cfg, &actx, "t", &bad[i], id, &err),
                         BW_ERR_INVALID);
}

static enum bw_rc tamper_fn(struct bw_tx *tx, void *arg)
{
    /* the awareness time is immutable: the schema's trigger refuses the edit */
    return bw_tx_exec(tx, BW_STMT_INC_SET_ASSESSMENT, NULL, 0, NULL) == BW_OK ? BW_ERR_INTERNAL
                                                                           : BW_OK;
}

struct ev_job {
    const char *action, *target, *remote;
    int n;
    const char *actor;   /* NULL: "system" */
    const char *details; /* JSON object text or NULL */
    enum bw_audit_outcome outcome;
};

static enum bw_rc ev_fn(struct bw_tx *tx, void *arg)
{
    struct ev_job *j = arg;
    struct bw_audit_ctx c = {.remote = j->remote, .request_id = "test"};
    enum bw_rc rc = BW_OK;
    for (int i = 0; rc == BW_OK && i < j->n; i++)
        rc = bw_audit_append(tx, &c, j->actor != NULL ? j->actor : "system", j->action,
                             j->target, j->outcome,
                             j->details != NULL ? json_loads(j->details, 0, NULL) : NULL);
    return rc;
}

static void events(const char *action, const char *target, const char *remote, int n)
{
    struct ev_job j = {action, target, remote, n, NULL, NULL, BW_AUDIT_FAILURE};
    assert_int_equal(bw_store_write(st, ev_fn, &j), BW_OK);
}

/* n events as their writers emit them: actor, details, outcome. */
static void events_as(const char *actor, const char *action, const char *target,
                      const char *remote, const char *details, enum bw_audit_outcome outcome,
                      int n)
{
    struct ev_job j = {action, target, remote, n, actor, details, outcome};
    assert_int_equal(bw_store_write(st, ev_fn, &j), BW_OK);
}

static const char *incident_title(const char *id)
{
    static char t[BW_INC_TITLE_MAX + 1];
    json_t *o = get(id);
    snprintf(t, sizeof(t), "%s", json_string_value(json_object_get(o, "title")));
    json_decref(o);
    return t;
}

/* Counts incidents whose rule key starts with prefix; returns the first id. */
static size_t with_rule(const char *prefix, char id[BW_ID_LEN + 1], size_t *evidence)
{
    json_t *l = NULL, *it;
    size_t i, n = 0;
    assert_int_equal(bw_incident_list(st, &cfg, &l), BW_OK);
    json_array_foreach(json_object_get(l, "items"), i, it) {
        const char *r = json_string_value(json_object_get(it, "rule"));
        if (r == NULL || strncmp(r, prefix, strlen(prefix)) != 0)
            continue;
        if (n++ == 0) {
            snprintf(id, BW_ID_LEN + 1, "%s", json_string_value(json_object_get(it, "id")));
            json_t *full = get(id);
            *evidence = json_array_size(json_object_get(full, "evidence"));
            json_decref(full);
        }
    }
    json_decref(l);
    return n;
}

static void test_detection(void **state)
{
    struct bw_detect_stats ds;
    char id[BW_ID_LEN + 1];
    size_t ev = 0;
    (void)tamper_fn;
    /* a tampered trail reported by `audit verify` opens a P1 */
    events("audit.verify.failed", "-", "-", 1);
    assert_int_equal(bw_detect_run(st, &cfg, &ds), BW_OK);
    assert_int_equal(ds.opened, 1);
    assert_int_equal(with_rule("audit_verify:", id, &ev), 1);
    json_t *o = get(id);
    assert_string_equal(json_string_value(json_object_get(o, "severity")), "P1");
    json_decref(o);
    assert_int_equal(ev, 1);
    /* a second failure adds evidence, no duplicate */
    events("audit.verify.failed", "-", "-", 1);
    assert_int_equal(bw_detect_run(st, &cfg, &ds), BW_OK);
    assert_int_equal(ds.opened, 0);
    assert_int_equal(with_rule("audit_verify:", id, &ev), 1);
    assert_int_equal(ev, 2);
    /* lockouts of one account: below the threshold nothing, at it one incident */
    cfg.incident_lockout_threshold = 3;
    events("auth.login.failed", "acct1", "10.0.0.1", 5);
    events("auth.lockout", "acct1", "10.0.0.1", 2);
    assert_int_equal(bw_detect_run(st, &cfg, &ds), BW_OK);
    assert_int_equal(with_rule("account_lockout:", id, &ev), 0);
    events("auth.lockout", "acct1", "10.0.0.1", 2);
    assert_int_equal(bw_detect_run(st, &cfg, &ds), BW_OK);
    assert_int_equal(with_rule("account_lockout:acct1", id, &ev), 1);
    assert_int_equal(ev, 9); /* 4 lockouts + 5 failed logins */
    /* spraying: one address, many accounts */
    cfg.incident_spray_accounts = 4;
    for (int i = 0; i < 4; i++) {
        char t[16];
        snprintf(t, sizeof(t), "user%d", i);
        events("auth.login.failed", t, "10.9.9.9", 1);
    }
    assert_int_equal(bw_detect_run(st, &cfg, &ds), BW_OK);
    assert_int_equal(with_rule("password_spray:10.9.9.9", id, &ev), 1);
    /* re-running over nothing new changes nothing */
    assert_int_equal(bw_detect_run(st, &cfg, &ds), BW_OK);
    assert_int_equal(ds.opened + ds.updated, 0);
}

#define ORG1 "01HZZZZZZZZZZZZZZZZZZZZOR1"
#define KEY1 "01HZZZZZZZZZZZZZZZZZZZZKY1"
#define KEY2 "01HZZZZZZZZZZZZZZZZZZZZKY2"

/* apikey.denied as src/auth/apikey.c writes it: actor apikey:<id>, target
 * the organisation, details {apikey, reason, address}. Grouped per key:
 * two keys of one organisation below the threshold each open nothing. */
static void test_detect_apikey(void **state)
{
    struct bw_detect_stats ds;
    char id[BW_ID_LEN + 1];
    size_t ev = 0;
    const char *d1 = "{\"apikey\":\"" KEY1 "\",\"reason\":\"address not in allowed_ips\","
                     "\"address\":\"127.0.0.2\"}";
    const char *d2 = "{\"apikey\":\"" KEY2 "\",\"reason\":\"address not in allowed_ips\","
                     "\"address\":\"127.0.0.2\"}";
    cfg.incident_apikey_denied_threshold = 3;
    cfg.incident_apikey_denied_window = 3600;
    events_as("apikey:" KEY1, "apikey.denied", ORG1, "127.0.0.2", d1, BW_AUDIT_DENIED, 2);
    events_as("apikey:" KEY2, "apikey.denied", ORG1, "127.0.0.2", d2, BW_AUDIT_DENIED, 2);
    assert_int_equal(bw_detect_run(st, &cfg, &ds), BW_OK);
    assert_int_equal(with_rule("apikey_denied:", id, &ev), 0);
    events_as("apikey:" KEY1, "apikey.denied", ORG1, "127.0.0.3", d1, BW_AUDIT_DENIED, 1);
    assert_int_equal(bw_detect_run(st, &cfg, &ds), BW_OK);
    assert_int_equal(with_rule("apikey_denied:", id, &ev), 1);
    assert_int_equal(with_rule("apikey_denied:apikey:" KEY1, id, &ev), 1);
    assert_int_equal(ev, 3); /* only KEY1's events */
    json_t *o = get(id);
    assert_string_equal(json_string_value(json_object_get(o, "severity")), "P3");
    json_decref(o);
    /* more uses add evidence to the open incident, no second one */
    events_as("apikey:" KEY1, "apikey.denied", ORG1, "127.0.0.2", d1, BW_AUDIT_DENIED, 2);
    assert_int_equal(bw_detect_run(st, &cfg, &ds), BW_OK);
    assert_int_equal(with_rule("apikey_denied:", id, &ev), 1);
    assert_int_equal(ev, 5);
}

/* The backup events of src/backup/ as written there: one P2 collects a
 * failed run, a failed log shipment, a missed schedule and a damaged
 * backup; a successful verify is no failure. */
static void test_detect_backup(void **state)
{
    struct bw_detect_stats ds;
    char id[BW_ID_LEN + 1];
    size_t ev = 0;
    events_as("system", "backup.verified", "all", "-", "{\"scope\":\"all\",\"result\":\"ok\"}",
              BW_AUDIT_SUCCESS, 1);
    events_as("system", "backup.completed", "20240101T000000Z-full", "-", "{\"kind\":\"full\"}",
              BW_AUDIT_SUCCESS, 1);
    assert_int_equal(bw_detect_run(st, &cfg, &ds), BW_OK);
    assert_int_equal(with_rule("backup_", id, &ev), 0);
    events_as("system", "backup.failed", "change-log", "-",
              "{\"reason\":\"cannot write /backups/log: No such file or directory\"}",
              BW_AUDIT_FAILURE, 1);
    assert_int_equal(bw_detect_run(st, &cfg, &ds), BW_OK);
    assert_int_equal(with_rule("backup_failed:backup", id, &ev), 1);
    assert_non_null(strstr(incident_title(id), "change-log"));
    json_t *o = get(id);
    assert_string_equal(json_string_value(json_object_get(o, "severity")), "P2");
    json_decref(o);
    events_as("cli", "backup.failed", "-", "-", "{\"kind\":\"full\",\"reason\":\"io\"}",
              BW_AUDIT_FAILURE, 1);
    events_as("system", "backup.missed", "schedule", "-", "{\"last_backup_ms\":1}",
              BW_AUDIT_FAILURE, 1);
    events_as("cli", "backup.verified", "x", "-", "{\"scope\":\"x\",\"result\":\"chunk ab\"}",
              BW_AUDIT_FAILURE, 1);
    assert_int_equal(bw_detect_run(st, &cfg, &ds), BW_OK);
    assert_int_equal(with_rule("backup_failed:", id, &ev), 1);
    assert_int_equal(ev, 4);
    /* RPO: the newest backup.completed older than incident.rpo */
    cfg.incident_rpo = 3600;
    bw_time_set_offset(3601);
    assert_int_equal(bw_detect_run(st, &cfg, &ds), BW_OK);
    bw_time_set_offset(0);
    assert_int_equal(with_rule("backup_rpo:backup", id, &ev), 1);
}

/* CONTRACT for records (issue 4, docs/INCIDENTS.md): record.read, actor
 * user:<id> or apikey:<id>, details.classification, optional details.count
 * for a list read. Only confidential and restricted reads count, per actor. */
static void test_detect_confidential_reads(void **state)
{
    struct bw_detect_stats ds;
    char id[BW_ID_LEN + 1];
    size_t ev = 0;
    cfg.incident_confidential_reads_threshold = 10;
    cfg.incident_confidential_reads_window = 3600;
    const char *conf = "{\"org\":\"" ORG1 "\",\"collection\":\"patients\","
                       "\"classification\":\"confidential\"}";
    const char *restr = "{\"classification\":\"restricted\"}";
    const char *pub = "{\"classification\":\"public\"}";
    const char *internal_list = "{\"classification\":\"internal\",\"count\":50}";
    const char *conf_list = "{\"classification\":\"confidential\",\"count\":6}";
    /* many public / internal reads and another actor's reads: nothing */
    events_as("user:reader1", "record.read", "r1", "10.2.2.2", pub, BW_AUDIT_SUCCESS, 30);
    events_as("user:reader1", "record.read", "c1", "10.2.2.2", internal_list, BW_AUDIT_SUCCESS,
              2);
    events_as("user:reader2", "record.read", "r2", "10.2.2.3", conf, BW_AUDIT_SUCCESS, 9);
    events_as("user:reader1", "record.read", "r3", "10.2.2.2", conf, BW_AUDIT_SUCCESS, 5);
    events_as("user:reader1", "record.read", "r4", "10.2.2.2", "{}", BW_AUDIT_SUCCESS, 20);
    assert_int_equal(bw_detect_run(st, &cfg, &ds), BW_OK);
    assert_int_equal(with_rule("confidential_reads:", id, &ev), 0);
    /* reader1: 5 confidential + 1 restricted + a list of 6 = 12 >= 10 */
    events_as("user:reader1", "record.read", "r5", "10.2.2.2", restr, BW_AUDIT_SUCCESS, 1);
    events_as("user:reader1", "record.read", "c1", "10.2.2.2", conf_list, BW_AUDIT_SUCCESS, 1);
    assert_int_equal(bw_detect_run(st, &cfg, &ds), BW_OK);
    assert_int_equal(with_rule("confidential_reads:", id, &ev), 1);
    assert_int_equal(with_rule("confidential_reads:user:reader1", id, &ev), 1);
    assert_int_equal(ev, 7); /* the confidential and restricted reads only */
    json_t *o = get(id);
    assert_string_equal(json_string_value(json_object_get(o, "severity")), "P2");
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_response_windows),
        cmocka_unit_test(test_response_clock),
        cmocka_unit_test(test_reporting_clocks),
        cmocka_unit_test(test_workflow),
        cmocka_unit_test(test_detection),
        cmocka_unit_test(test_detect_apikey),
        cmocka_unit_test(test_detect_backup),
        cmocka_unit_test(test_detect_confidential_reads),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
