/* Unit tests for src/data/fields.c: field definitions and record validation
 * (CONTROL: APP-01, DATA-01, DATA-08). Cases in tables. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "data/data.h"

#include <jansson.h>

static json_t *parse(const char *text)
{
    json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
    assert_non_null(j);
    return j;
}

static const struct {
    const char *fields;
    bool ok;
    const char *field; /* first error's field when refused */
} defs[] = {
    {"[]", true, NULL},
    {"[{\"name\":\"a\",\"type\":\"string\"}]", true, NULL},
    {"[{\"name\":\"a\",\"type\":\"string\",\"required\":true,\"max_length\":10}]", true, NULL},
    {"[{\"name\":\"n\",\"type\":\"integer\",\"min\":0,\"max\":10}]", true, NULL},
    {"[{\"name\":\"n\",\"type\":\"number\",\"min\":-1.5,\"max\":2.5}]", true, NULL},
    {"[{\"name\":\"e\",\"type\":\"enum\",\"values\":[\"x\",\"y\"]}]", true, NULL},
    {"[{\"name\":\"j\",\"type\":\"json\",\"max_length\":100}]", true, NULL},
    {"{}", false, "fields"},
    {"[1]", false, "fields[0]"},
    {"[{\"name\":\"A\",\"type\":\"string\"}]", false, "fields[0]"},
    {"[{\"name\":\"1a\",\"type\":\"string\"}]", false, "fields[0]"},
    {"[{\"name\":\"a\",\"type\":\"blob\"}]", false, "fields[0]"},
    {"[{\"name\":\"a\",\"type\":\"string\",\"color\":1}]", false, "fields[0]"},
    {"[{\"name\":\"a\",\"type\":\"string\"},{\"name\":\"a\",\"type\":\"text\"}]", false,
     "fields[1]"},
    {"[{\"name\":\"a\",\"type\":\"string\",\"min\":1}]", false, "fields[0]"},
    {"[{\"name\":\"a\",\"type\":\"integer\",\"max_length\":1}]", false, "fields[0]"},
    {"[{\"name\":\"a\",\"type\":\"integer\",\"min\":5,\"max\":1}]", false, "fields[0]"},
    {"[{\"name\":\"a\",\"type\":\"integer\",\"min\":0.5}]", false, "fields[0]"},
    {"[{\"name\":\"a\",\"type\":\"string\",\"max_length\":0}]", false, "fields[0]"},
    {"[{\"name\":\"a\",\"type\":\"string\",\"max_length\":1048577}]", false, "fields[0]"},
    {"[{\"name\":\"a\",\"type\":\"enum\"}]", false, "fields[0]"},
    {"[{\"name\":\"a\",\"type\":\"enum\",\"values\":[]}]", false, "fields[0]"},
    {"[{\"name\":\"a\",\"type\":\"enum\",\"values\":[\"x\",\"x\"]}]", false, "fields[0]"},
    {"[{\"name\":\"a\",\"type\":\"string\",\"values\":[\"x\"]}]", false, "fields[0]"},
    {"[{\"name\":\"a\",\"type\":\"string\",\"required\":\"yes\"}]", false, "fields[0]"},
};

static void test_definitions(void **state)
{
    for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++) {
        struct bw_data_errors de = {.n = 0};
        struct bw_schema *s = NULL;
        json_t *j = parse(defs[i].fields);
        enum bw_rc rc = bw_schema_parse(j, &s, &de);
        if (defs[i].ok) {
            assert_int_equal(rc, BW_OK);
            json_t *back = bw_schema_json(s); /* round trip */
            struct bw_schema *s2 = NULL;
            assert_int_equal(bw_schema_parse(back, &s2, &de), BW_OK);
            assert_int_equal(s2->n, s->n);
            json_decref(back);
            bw_schema_free(s2);
        } else {
            if (rc == BW_OK)
                fail_msg("definition %zu accepted: %s", i, defs[i].fields);
            assert_int_equal(rc, BW_ERR_INVALID);
            assert_null(s);
            assert_true(de.n >= 1);
            assert_string_equal(de.e[0].field, defs[i].field);
        }
        bw_schema_free(s);
        json_decref(j);
    }
}

static const char *const SCHEMA =
    "[{\"name\":\"name\",\"type\":\"string\",\"required\":true,\"max_length\":8},"
    "{\"name\":\"notes\",\"type\":\"text\"},"
    "{\"name\":\"qty\",\"type\":\"integer\",\"min\":0,\"max\":100},"
    "{\"name\":\"price\",\"type\":\"number\",\"min\":0},"
    "{\"name\":\"paid\",\"type\":\"boolean\"},"
    "{\"name\":\"due\",\"type\":\"date\"},"
    "{\"name\":\"at\",\"type\":\"datetime\"},"
    "{\"name\":\"mail\",\"type\":\"email\"},"
    "{\"name\":\"state\",\"type\":\"enum\",\"values\":[\"open\",\"closed\"]},"
    "{\"name\":\"extra\",\"type\":\"json\",\"max_length\":20}]";

static const struct {
    const char *data;
    const char *bad; /* NULL: valid; else the field of the first error */
} recs[] = {
    {"{\"name\":\"a\"}", NULL},
    {"{\"name\":\"abcdefgh\",\"notes\":\"x\\ny\",\"qty\":100,\"price\":1.5,\"paid\":true,"
     "\"due\":\"2024-02-29\",\"at\":\"2026-01-31T12:00:00Z\",\"mail\":\"a@example.org\","
     "\"state\":\"open\",\"extra\":{\"k\":[1,2]}}",
     NULL},
    {"{\"name\":\"a\",\"qty\":null}", NULL},
    {"{}", "name"},
    {"{\"name\":null}", "name"},
    {"[]", "data"},
    {"{\"name\":\"abcdefghi\"}", "name"},
    {"{\"name\":\"a\\nb\"}", "name"},
    {"{\"name\":1}", "name"},
    {"{\"name\":\"a\",\"unknown\":1}", "unknown"},
    {"{\"name\":\"a\",\"Bad Key\":1}", "data"},
    {"{\"name\":\"a\",\"qty\":101}", "qty"},
    {"{\"name\":\"a\",\"qty\":-1}", "qty"},
    {"{\"name\":\"a\",\"qty\":1.5}", "qty"},
    {"{\"name\":\"a\",\"qty\":\"1\"}", "qty"},
    {"{\"name\":\"a\",\"price\":-0.1}", "price"},
    {"{\"name\":\"a\",\"price\":true}", "price"},
    {"{\"name\":\"a\",\"paid\":0}", "paid"},
    {"{\"name\":\"a\",\"due\":\"2023-02-29\"}", "due"},
    {"{\"name\":\"a\",\"due\":\"2024-13-01\"}", "due"},
    {"{\"name\":\"a\",\"due\":\"24-01-01\"}", "due"},
    {"{\"name\":\"a\",\"at\":\"2026-01-31\"}", "at"},
    {"{\"name\":\"a\",\"at\":\"yesterday\"}", "at"},
    {"{\"name\":\"a\",\"mail\":\"nobody\"}", "mail"},
    {"{\"name\":\"a\",\"state\":\"OPEN\"}", "state"},
    {"{\"name\":\"a\",\"extra\":\"012345678901234567890\"}", "extra"},
};

static void test_records(void **state)
{
    struct bw_data_errors de = {.n = 0};
    struct bw_schema *s = NULL;
    json_t *def = parse(SCHEMA);
    assert_int_equal(bw_schema_parse(def, &s, &de), BW_OK);
    for (size_t i = 0; i < sizeof(recs) / sizeof(recs[0]); i++) {
        json_t *d = parse(recs[i].data);
        memset(&de, 0, sizeof(de));
        enum bw_rc rc = bw_record_validate(s, d, &de);
        if (recs[i].bad == NULL) {
            if (rc != BW_OK)
                fail_msg("record %zu refused: %s: %s", i, de.e[0].field, de.e[0].message);
        } else {
            if (rc == BW_OK)
                fail_msg("record %zu accepted: %s", i, recs[i].data);
            assert_string_equal(de.e[0].field, recs[i].bad);
        }
        json_decref(d);
    }
    bw_schema_free(s);
    json_decref(def);
}

/* Error messages never quote a value: a secret sent in the wrong field must
 * not come back in the 400 answer. */
static void test_messages_hold_no_values(void **state)
{
    struct bw_data_errors de = {.n = 0};
    struct bw_schema *s = NULL;
    json_t *def = parse(SCHEMA);
    assert_int_equal(bw_schema_parse(def, &s, &de), BW_OK);
    json_t *d = parse("{\"name\":\"SECRETSECRET\",\"qty\":\"SECRET\",\"state\":\"SECRET\"}");
    assert_int_equal(bw_record_validate(s, d, &de), BW_ERR_INVALID);
    assert_int_equal(de.n, 3);
    for (size_t i = 0; i < de.n; i++)
        assert_null(strstr(de.e[i].message, "SECRET"));
    json_decref(d);
    bw_schema_free(s);
    json_decref(def);
}

static void test_filter_values(void **state)
{
    struct bw_data_errors de = {.n = 0};
    struct bw_schema *s = NULL;
    json_t *def = parse(SCHEMA), *v = NULL;
    assert_int_equal(bw_schema_parse(def, &s, &de), BW_OK);
    assert_int_equal(bw_field_filter_value(bw_schema_find(s, "qty"), "42", &v), BW_OK);
    assert_int_equal(json_integer_value(v), 42);
    json_decref(v);
    assert_int_equal(bw_field_filter_value(bw_schema_find(s, "qty"), "4x", &v), BW_ERR_INVALID);
    assert_int_equal(bw_field_filter_value(bw_schema_find(s, "qty"), "101", &v), BW_ERR_INVALID);
    assert_int_equal(bw_field_filter_value(bw_schema_find(s, "paid"), "true", &v), BW_OK);
    assert_true(json_is_true(v));
    json_decref(v);
    assert_int_equal(bw_field_filter_value(bw_schema_find(s, "state"), "nope", &v),
                     BW_ERR_INVALID);
    assert_int_equal(bw_field_filter_value(bw_schema_find(s, "price"), "1", &v), BW_ERR_INVALID);
    bw_schema_free(s);
    json_decref(def);
}

static void test_names_and_classes(void **state)
{
    enum bw_class c;
    assert_true(bw_name_valid("customers_2"));
    assert_false(bw_name_valid(""));
    assert_false(bw_name_valid("_x"));
    assert_false(bw_name_valid("a-b"));
    assert_false(bw_name_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
    assert_int_equal(bw_class_parse("restricted", &c), BW_OK);
    assert_int_equal(c, BW_CLASS_RESTRICTED);
    assert_int_equal(bw_class_parse("secret", &c), BW_ERR_INVALID);
    assert_string_equal(bw_class_name(BW_CLASS_CONFIDENTIAL), "confidential");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_definitions),
        cmocka_unit_test(test_records),
        cmocka_unit_test(test_messages_hold_no_values),
        cmocka_unit_test(test_filter_values),
        cmocka_unit_test(test_names_and_classes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
