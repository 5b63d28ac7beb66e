/*
 * fuzz_vuln_report.c - the researchers' intake body (src/vuln/intake.c,
 * POST /api/v1/vulnerability-reports) after the pipeline's JSON checks.
 * Properties: no crash or leak; an accepted body is an object whose members
 * are all known strings within their limits (description present), and the
 * check is deterministic; a refusal always names a field.
 */
#include "fuzz_util.h"
#include "http/http_int.h"
#include "vuln/vuln.h"

#include <jansson.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *body = NULL;
    int status = 0;
    char detail[160];
    if (bw_http_parse_json("application/json", (const char *)data, size, &body, &status, detail,
                           sizeof(detail)) != BW_OK)
        return 0;
    struct bw_reg_err err = {"", ""}, err2 = {"", ""};
    enum bw_rc rc = bw_vuln_report_check(body, &err);
    FUZZ_CHECK(bw_vuln_report_check(body, &err2) == rc);
    if (rc == BW_OK) {
        const char *k;
        json_t *v;
        FUZZ_CHECK(json_is_string(json_object_get(body, "description")));
        json_object_foreach(body, k, v) {
            FUZZ_CHECK(json_is_string(v));
            FUZZ_CHECK(strlen(json_string_value(v)) == json_string_length(v));
            FUZZ_CHECK(json_string_length(v) <= 30000);
        }
    } else {
        FUZZ_CHECK(rc == BW_ERR_INVALID && err.field[0] != '\0');
    }
    json_decref(body);
    return 0;
}
