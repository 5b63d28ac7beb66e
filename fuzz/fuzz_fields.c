/*
 * fuzz_fields.c - collection field definitions (POST .../collections
 * "fields"). The input is a request body; after the server's JSON checks its
 * "fields" member goes through bw_schema_parse. Properties: a refusal names
 * at most BW_DATA_ERRORS_MAX bounded, NUL-terminated, one-line errors and
 * returns no schema; an accepted definition has valid, distinct names,
 * enum fields with values, min <= max, and survives a round trip through
 * bw_schema_json unchanged.
 */
#include "fuzz_util.h"

#include "data/data.h"
#include "http/http_int.h"

static void check_errors(const struct bw_data_errors *de)
{
    FUZZ_CHECK(de->n <= BW_DATA_ERRORS_MAX);
    for (size_t i = 0; i < de->n; i++) {
        FUZZ_CHECK(memchr(de->e[i].field, '\0', sizeof(de->e[i].field)) != NULL);
        FUZZ_CHECK(memchr(de->e[i].message, '\0', sizeof(de->e[i].message)) != NULL);
        FUZZ_CHECK(strchr(de->e[i].message, '\n') == NULL);
    }
}

static void check_schema(const struct bw_schema *s)
{
    FUZZ_CHECK(s->n <= BW_FIELDS_MAX);
    for (size_t i = 0; i < s->n; i++) {
        const struct bw_field *f = &s->f[i];
        FUZZ_CHECK(bw_name_valid(f->name));
        FUZZ_CHECK((f->type == BW_FT_ENUM) == (f->nvalues > 0));
        FUZZ_CHECK(!(f->has_min && f->has_max) || f->min <= f->max);
        for (size_t j = 0; j < i; j++)
            FUZZ_CHECK(strcmp(s->f[j].name, f->name) != 0);
    }
    struct bw_data_errors de = {.n = 0};
    struct bw_schema *again = NULL;
    json_t *j = bw_schema_json(s);
    FUZZ_CHECK(j != NULL);
    FUZZ_CHECK(bw_schema_parse(j, &again, &de) == BW_OK);
    json_t *j2 = bw_schema_json(again);
    FUZZ_CHECK(json_equal(j, j2));
    json_decref(j);
    json_decref(j2);
    bw_schema_free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *body = NULL;
    int status = 0;
    char detail[160];
    if (bw_http_parse_json("application/json", (const char *)data, size, &body, &status, detail,
                           sizeof(detail)) != BW_OK)
        return 0;
    const json_t *fields = json_object_get(body, "fields");
    struct bw_data_errors de = {.n = 0};
    struct bw_schema *s = NULL;
    enum bw_rc rc = bw_schema_parse(fields, &s, &de);
    check_errors(&de);
    FUZZ_CHECK((rc == BW_OK) == (s != NULL));
    FUZZ_CHECK(rc == BW_OK || rc == BW_ERR_INVALID || rc == BW_ERR_NOMEM);
    FUZZ_CHECK(rc != BW_ERR_INVALID || de.n > 0);
    if (s != NULL)
        check_schema(s);
    bw_schema_free(s);
    json_decref(body);
    return 0;
}
