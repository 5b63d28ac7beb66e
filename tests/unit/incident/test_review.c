/*
 * Unit tests for src/incident/review.c on a real temporary SQLite store, or
 * on PostgreSQL when BW_TEST_PG_URL names a fresh database: the staff
 * report (INC-06: P4 in `detected`, reporter recorded, bad descriptions
 * refused, the per-reporter hourly limit) and the quarterly recurrence
 * review (G-16) driven by the test clock: quarter arithmetic, grouping by
 * normalised root cause, the repeat rule (threshold, one closing inside the
 * quarter, the look-back window), once per quarter, stored and listed.
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
    return fixture_setup("review");
}

static int64_t at(const char *rfc3339)
{
    int64_t t = 0;
    assert_int_equal(bw_time_parse(rfc3339, &t), BW_OK);
    return t;
}

static void test_prev_quarter(void **state)
{
    static const struct {
        const char *now, *start, *end;
    } cases[] = {
        {"2024-05-15T12:00:00Z", "2024-01-01T00:00:00Z", "2024-04-01T00:00:00Z"},
        {"2024-01-01T00:00:00Z", "2023-10-01T00:00:00Z", "2024-01-01T00:00:00Z"},
        {"2023-12-31T23:59:59Z", "2023-07-01T00:00:00Z", "2023-10-01T00:00:00Z"},
        {"2024-02-29T08:00:00Z", "2023-10-01T00:00:00Z", "2024-01-01T00:00:00Z"},
        {"2024-04-01T00:00:00Z", "2024-01-01T00:00:00Z", "2024-04-01T00:00:00Z"},
        {"2024-03-31T23:59:59Z", "2023-10-01T00:00:00Z", "2024-01-01T00:00:00Z"},
        {"2025-09-30T00:00:00Z", "2025-04-01T00:00:00Z", "2025-07-01T00:00:00Z"},
    };
    for (size_t i = 0; i < BW_ARRAY_LEN(cases); i++) {
        int64_t s = 0, e = 0;
        bw_incident_prev_quarter(at(cases[i].now), &s, &e);
        assert_int_equal(s, at(cases[i].start));
        assert_int_equal(e, at(cases[i].end));
    }
}

static json_t *get(const char *id)
{
    json_t *o = NULL;
    assert_int_equal(bw_incident_get(st, &cfg, id, &o), BW_OK);
    return o;
}

/* CONTROL: INC-06 */
static void test_staff_report(void **state)
{
    char uid[BW_ID_LEN + 1], other[BW_ID_LEN + 1], id[BW_ID_LEN + 1];
    struct bw_reg_err err;
    bw_id_new(uid);
    bw_id_new(other);
    bw_time_set_offset(0);
    cfg.incident_report_limit = 3;
    const char *desc = "A USB stick labelled 'payroll' was left at reception.\nPlugged in? no";
    assert_int_equal(
        bw_incident_staff_report(st, &cfg, &actx, uid, "staff@example.com", desc, id, &err),
        BW_OK);
    json_t *o = get(id);
    assert_string_equal(json_string_value(json_object_get(o, "severity")), "P4");
    assert_string_equal(json_string_value(json_object_get(o, "status")), "detected");
    char who[BW_ID_LEN + 8];
    snprintf(who, sizeof(who), "user:%s", uid);
    assert_string_equal(json_string_value(json_object_get(o, "created_by")), who);
    json_t *step = json_array_get(json_object_get(o, "steps"), 0);
    assert_string_equal(json_string_value(json_object_get(step, "note")), desc);
    assert_non_null(strstr(json_string_value(json_object_get(o, "title")), "staff@example.com"));
    json_decref(o);
    /* bad descriptions change nothing */
    char big[BW_INC_NOTE_MAX + 2];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    const char *bad[] = {"", "nul\x01here", big, "\xff\xfe bad utf-8"};
    for (size_t i = 0; i < BW_ARRAY_LEN(bad); i++) {
        memset(&err, 0, sizeof(err));
        assert_int_equal(
            bw_incident_staff_report(st, &cfg, &actx, uid, "staff@example.com", bad[i], id, &err),
            BW_ERR_INVALID);
        assert_string_equal(err.field, "description");
    }
    assert_int_equal(bw_incident_staff_report(st, &cfg, &actx, NULL, "x@example.com", desc, id,
                                              &err),
                     BW_ERR_PERM);
    /* the hourly limit counts this reporter only, and expires */
    for (int i = 0; i < 2; i++)
        assert_int_equal(
            bw_incident_staff_report(st, &cfg, &actx, uid, "staff@example.com", "again", id, &err),
            BW_OK);
    assert_int_equal(
        bw_incident_staff_report(st, &cfg, &actx, uid, "staff@example.com", "4th", id, &err),
        BW_ERR_BUSY);
    assert_int_equal(
        bw_incident_staff_report(st, &cfg, &actx, other, "o@example.com", "mine", id, &err),
        BW_OK);
    bw_time_set_offset(3601);
    assert_int_equal(
        bw_incident_staff_report(st, &cfg, &actx, uid, "staff@example.com", "later", id, &err),
        BW_OK);
    bw_time_set_offset(0);
}

/* The real time at the start of the review test (the clock is shifted from it). */
static int64_t base;

/* Opens and closes an incident with `cause`, the clock at `when`. */
static void closed_at(int64_t when, const char *cause)
{
    static const char *const steps[] = {"contained", "investigating", "remediated", "reported",
                                        "closed"};
    char id[BW_ID_LEN + 1];
    struct bw_reg_err err;
    struct bw_incident_new in = {"review test", "P3", 0, 0, 0, NULL, NULL};
    bw_time_set_offset(when - base);
    assert_int_equal(bw_incident_open(st, &cfg, &actx, "test", &in, id, &err), BW_OK);
    for (size_t i = 0; i < BW_ARRAY_LEN(steps); i++)
        assert_int_equal(bw_incident_transition(st, &cfg, &actx, "test", id, steps[i], "n",
                                                i == 4 ? cause : NULL, i == 4 ? "lesson" : NULL,
                                                &err),
                         BW_OK);
}

/* The group of a normalised root cause (its "key"). */
static json_t *group(json_t *review, const char *key)
{
    size_t i;
    json_t *g;
    json_array_foreach(json_object_get(review, "root_causes"), i, g) {
        if (strcmp(json_string_value(json_object_get(g, "key")), key) == 0)
            return g;
    }
    return NULL;
}

/* CONTROL: G-16 - with the test clock: a quarter's review, once. */
static void test_recurrence_review(void **state)
{
    int64_t s = 0, e = 0, day = 86400;
    json_t *r = NULL, *g;
    bw_time_set_offset(0);
    base = bw_time_now();
    cfg.incident_recurrence_window = 365 * day;
    cfg.incident_recurrence_threshold = 2;
    bw_incident_prev_quarter(bw_time_now(), &s, &e);
    /* nothing closed yet: no review, nothing stored */
    assert_int_equal(bw_incident_review_if_due(st, &cfg, "system", &r), BW_OK);
    assert_true(json_is_null(r));
    json_decref(r);
    assert_int_equal(bw_incident_reviews(st, &r), BW_OK);
    assert_int_equal(json_array_size(json_object_get(r, "items")), 0);
    json_decref(r);
    /* inside the reviewed quarter */
    closed_at(s + 10 * day, "Weak password.");
    closed_at(s + 20 * day, "  weak   PASSWORD ");
    closed_at(s + 30 * day, "Phishing");
    closed_at(s + 40 * day, "Vendor outage");
    /* earlier, inside the look-back window */
    closed_at(s - 60 * day, "phishing!");
    closed_at(s - 70 * day, "Old cause");
    closed_at(s - 80 * day, "old cause");
    /* outside the window: does not count */
    closed_at(e - 400 * day, "Vendor outage");
    bw_time_set_offset(0);
    assert_int_equal(bw_incident_review_if_due(st, &cfg, "system", &r), BW_OK);
    assert_true(json_is_object(r));
    assert_int_equal(json_integer_value(json_object_get(r, "incidents")), 7);
    assert_int_equal(json_integer_value(json_object_get(r, "repeats")), 2);
    assert_non_null(g = group(r, "weak password"));
    assert_int_equal(json_integer_value(json_object_get(g, "count")), 2);
    assert_string_equal(json_string_value(json_object_get(g, "root_cause")),
                        "  weak   PASSWORD "); /* the newest wording */
    assert_true(json_is_true(json_object_get(g, "repeat")));
    assert_non_null(g = group(r, "phishing"));
    assert_int_equal(json_integer_value(json_object_get(g, "count")), 2);
    assert_int_equal(json_integer_value(json_object_get(g, "in_period")), 1);
    assert_true(json_is_true(json_object_get(g, "repeat")));
    assert_non_null(g = group(r, "old cause")); /* two, but none in the quarter */
    assert_int_equal(json_integer_value(json_object_get(g, "count")), 2);
    assert_true(json_is_false(json_object_get(g, "repeat")));
    assert_non_null(g = group(r, "vendor outage")); /* the old one is outside the window */
    assert_int_equal(json_integer_value(json_object_get(g, "count")), 1);
    assert_true(json_is_false(json_object_get(g, "repeat")));
    /* repeats are listed first */
    assert_true(json_is_true(json_object_get(json_array_get(json_object_get(r, "root_causes"), 0),
                                             "repeat")));
    json_decref(r);
    /* once per quarter */
    assert_int_equal(bw_incident_review_if_due(st, &cfg, "system", &r), BW_OK);
    assert_true(json_is_null(r));
    json_decref(r);
    assert_int_equal(bw_incident_reviews(st, &r), BW_OK);
    assert_int_equal(json_array_size(json_object_get(r, "items")), 1);
    g = json_array_get(json_object_get(r, "items"), 0);
    assert_int_equal(json_integer_value(json_object_get(g, "repeats")), 2);
    assert_int_equal(json_array_size(json_object_get(g, "root_causes")), 4);
    json_decref(r);
    /* the next quarter gets its own review: nothing closed in it repeats */
    bw_time_set_offset(e + 100 * day - base);
    assert_int_equal(bw_incident_review_if_due(st, &cfg, "system", &r), BW_OK);
    assert_true(json_is_object(r));
    assert_int_equal(json_integer_value(json_object_get(r, "repeats")), 0);
    json_decref(r);
    bw_time_set_offset(0);
    assert_int_equal(bw_incident_reviews(st, &r), BW_OK);
    assert_int_equal(json_array_size(json_object_get(r, "items")), 2);
    json_decref(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prev_quarter),
        cmocka_unit_test(test_staff_report),
        cmocka_unit_test(test_recurrence_review),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
