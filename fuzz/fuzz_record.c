/*
 * fuzz_record.c - record bodies validated against a collection's fields
 * (POST/PUT .../records). The input is a request body {"data":{...}}; it
 * passes the server's JSON checks, then bw_record_validate against a fixed
 * schema holding every field type. Properties: errors are bounded and
 * NUL-terminated and never quote a value (messages are fixed texts, field
 * names are valid names or "data"); an accepted body holds only known
 * fields, every required field, and values of the field's JSON type.
 */
#include "fuzz_util.h"

#include "data/data.h"
#include "http/http_int.h"

static const char SCHEMA[] =
    "[{\"name\":\"name\",\"type\":\"string\",\"required\":true,\"max_length\":16},"
    "{\"name\":\"notes\",\"type\":\"text\",\"max_length\":64},"
    "{\"name\":\"qty\",\"type\":\"integer\",\"min\":-5,\"max\":5},"
    "{\"name\":\"price\",\"type\":\"number\",\"min\":0},"
    "{\"name\":\"paid\",\"type\":\"boolean\"},{\"name\":\"due\",\"type\":\"date\"},"
    "{\"name\":\"at\",\"type\":\"datetime\"},{\"name\":\"mail\",\"type\":\"email\"},"
    "{\"name\":\"state\",\"type\":\"enum\",\"values\":[\"open\",\"closed\"]},"
    "{\"name\":\"extra\",\"type\":\"json\",\"max_length\":32}]";

static struct bw_schema *schema(void)
{
    static struct bw_schema *s;
    if (s == NULL) {
        struct bw_data_errors de = {.n = 0};
        json_t *j = json_loads(SCHEMA, 0, NULL);
        FUZZ_CHECK(j != NULL && bw_schema_parse(j, &s, &de) == BW_OK);
        json_decref(j);
    }
    return s;
}

static bool fixed_message(const char *m)
{
    for (const char *q = m; *q != '\0'; q++) {
        if ((unsigned char)*q < 0x20 || (unsigned char)*q >= 0x7f)
            return false;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *body = NULL;
    int status = 0;
    char detail[160];
    const struct bw_schema *s = schema();
    if (bw_http_parse_json("application/json", (const char *)data, size, &body, &status, detail,
                           sizeof(detail)) != BW_OK)
        return 0;
    const json_t *d = json_object_get(body, "data");
    struct bw_data_errors de = {.n = 0};
    enum bw_rc rc = bw_record_validate(s, d, &de);
    FUZZ_CHECK(de.n <= BW_DATA_ERRORS_MAX);
    FUZZ_CHECK((rc == BW_OK) == (de.n == 0));
    for (size_t i = 0; i < de.n; i++) {
        FUZZ_CHECK(strcmp(de.e[i].field, "data") == 0 || bw_name_valid(de.e[i].field));
        FUZZ_CHECK(fixed_message(de.e[i].message));
    }
    if (rc == BW_OK) {
        const char *key;
        json_t *v;
        FUZZ_CHECK(json_is_object(d));
        FUZZ_CHECK(json_is_string(json_object_get(d, "name")));
        json_object_foreach((json_t *)d, key, v)
        {
            const struct bw_field *f = bw_schema_find(s, key);
            FUZZ_CHECK(f != NULL);
            if (json_is_null(v))
                continue;
            if (f->type == BW_FT_INTEGER)
                FUZZ_CHECK(json_is_integer(v) && json_integer_value(v) >= -5 &&
                           json_integer_value(v) <= 5);
            if (f->type == BW_FT_BOOLEAN)
                FUZZ_CHECK(json_is_boolean(v));
            if (f->type == BW_FT_STRING)
                FUZZ_CHECK(json_is_string(v) && json_string_length(v) <= 16);
        }
    }
    json_decref(body);
    return 0;
}
