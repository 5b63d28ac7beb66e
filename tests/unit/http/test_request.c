/* Unit tests for src/http/request.c (JSON body checks) and response.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "http/http_int.h"

static void test_content_types(void **state)
{
    assert_true(bw_http_is_json_type("application/json"));
    assert_true(bw_http_is_json_type("application/json; charset=utf-8"));
    assert_true(bw_http_is_json_type("Application/JSON;charset=UTF-8"));
    assert_false(bw_http_is_json_type(NULL));
    assert_false(bw_http_is_json_type("text/plain"));
    assert_false(bw_http_is_json_type("application/jsonx"));
    assert_false(bw_http_is_json_type("application/json; charset=latin1"));
    assert_false(bw_http_is_json_type("application/json; boundary=x"));
}

static void test_bodies(void **state)
{
    static const struct {
        const char *ctype;
        const char *body;
        int status; /* 0 = accepted */
    } cases[] = {
        {"application/json", "{\"a\":1}", 0},
        {"application/json", "{\"a\":{\"b\":[1,2,{\"c\":null}]}}", 0},
        {"text/plain", "{\"a\":1}", 415},
        {NULL, "{\"a\":1}", 415},
        {"application/json", "", 400},
        {"application/json", "{\"a\":1,\"a\":2}", 400},
        {"application/json", "[1,2]", 400},
        {"application/json", "\"str\"", 400},
        {"application/json", "{\"a\":\"\xff\"}", 400},
        {"application/json", "{\"a\":\"\\u0000\"}", 400},
        {"application/json", "{\"a\":1} trailing", 400},
        {"application/json", "{'a':1}", 400},
        {"application/json", "{\"a\":1,}", 400},
        {"application/json", "\"\\\n", 400}, /* regression (fuzz_json_body): detail stays one line */
    };
    for (size_t i = 0; i < BW_ARRAY_LEN(cases); i++) {
        json_t *doc = NULL;
        int status = 0;
        char detail[160] = "";
        enum bw_rc rc = bw_http_parse_json(cases[i].ctype, cases[i].body, strlen(cases[i].body),
                                           &doc, &status, detail, sizeof(detail));
        if ((rc == BW_OK) != (cases[i].status == 0) || (rc != BW_OK && status != cases[i].status))
            fail_msg("case %zu: rc %d status %d want %d (%s)", i, rc, status, cases[i].status,
                     detail);
        if (rc != BW_OK)
            assert_true(detail[0] != '\0');
        assert_null(strchr(detail, '\n'));
        json_decref(doc);
    }
}

static void test_depth_limit(void **state)
{
    char body[256];
    size_t n = 0;
    for (int i = 0; i < 40; i++)
        body[n++] = '[';
    for (int i = 0; i < 40; i++)
        body[n++] = ']';
    body[n] = '\0';
    char wrapped[300];
    snprintf(wrapped, sizeof(wrapped), "{\"a\":%s}", body);
    json_t *doc = NULL;
    int status = 0;
    char detail[160];
    assert_int_equal(bw_http_parse_json("application/json", wrapped, strlen(wrapped), &doc,
                                        &status, detail, sizeof(detail)),
                     BW_ERR_INVALID);
    assert_int_equal(status, 400);
    assert_non_null(strstr(detail, "deeper"));
}

static void test_problem_shape(void **state)
{
    struct bw_resp r;
    struct bw_field_errors fe = {.n = 1};
    snprintf(fe.e[0].field, sizeof(fe.e[0].field), "email");
    snprintf(fe.e[0].message, sizeof(fe.e[0].message), "required");
    bw_resp_init(&r);
    assert_int_equal(bw_resp_problem(&r, 400, NULL, "bad", &fe), BW_OK);
    assert_string_equal(r.content_type, "application/problem+json");
    json_t *doc = json_loads(r.body.data, 0, NULL);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "type")),
                        "/problems/invalid-request");
    assert_int_equal(json_integer_value(json_object_get(doc, "status")), 400);
    assert_int_equal(json_array_size(json_object_get(doc, "errors")), 1);
    json_decref(doc);
    bw_resp_cleanup(&r);
    assert_int_equal(bw_http_status_for(BW_ERR_NOTFOUND), 404);
    assert_int_equal(bw_http_status_for(BW_ERR_STORE), 500);
    assert_int_equal(bw_http_status_for(BW_ERR_TOOBIG), 413);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_content_types),
        cmocka_unit_test(test_bodies),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_problem_shape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
