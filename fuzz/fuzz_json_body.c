/*
 * fuzz_json_body.c - request bodies (bw_http_parse_json in src/http/request.c)
 * and the content-type check in front of it.
 *
 * Input: the first byte chooses the content type. With its top bit clear it
 * indexes a fixed table (JSON, JSON with charset, text/plain, none, look-alike
 * garbage); with the top bit set the content type is the input up to the
 * first '\n'. The rest is the body, passed without a terminator.
 *
 * Properties:
 *  - bw_http_is_json_type agrees with a reference for the media type;
 *  - BW_OK only when the type is JSON, the body is non-empty valid UTF-8
 *    (reference decoder) and the document is an object nested at most
 *    BW_JSON_MAX_DEPTH levels; conversely such a body that jansson itself
 *    accepts without duplicate keys is never refused (no false rejects);
 *  - an accepted document has no duplicate keys: the number of members in
 *    the text equals the number of members jansson kept, and parsing the text
 *    again with flags 0 (last duplicate wins) gives an equal object;
 *  - no accepted string or key contains NUL;
 *  - re-serialising with json_dumps (compact, and ASCII-escaped with sorted
 *    keys) and parsing again through bw_http_parse_json gives an equal object;
 *  - on failure the status is 415 for a non-JSON type and 400 otherwise, *out
 *    is untouched, and the detail is non-empty and one line.
 */
#include "http/http_int.h"
#include "fuzz_util.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct {
    const char *ct;
    bool json;
} types[] = {
    {"application/json", true},
    {"application/json; charset=utf-8", true},
    {"text/plain", false},
    {NULL, false},
    {"application/jsonp", false},
    {"Application/JSON ;charset=\"UTF-8\"", true},
    {"application/json; charset=iso-8859-1", false},
    {"application/json-patch+json", false},
};

/* Reference media-type check, from the grammar in request.c's comment:
 *   *SP "application/json" *SP [ ";" *SP "charset=" ( "utf-8" / DQUOTE "utf-8" DQUOTE ) ]
 * case-insensitive, nothing after the charset value. */
static bool ref_is_json(const char *ct)
{
    static const char mt[] = "application/json";
    if (ct == NULL)
        return false;
    size_t i = 0, n = strlen(ct);
    while (i < n && ct[i] == ' ')
        i++;
    if (n - i < sizeof(mt) - 1 || strncasecmp(ct + i, mt, sizeof(mt) - 1) != 0)
        return false;
    i += sizeof(mt) - 1;
    while (i < n && ct[i] == ' ')
        i++;
    if (i == n)
        return true;
    if (ct[i] != ';')
        return false;
    i++;
    while (i < n && ct[i] == ' ')
        i++;
    const char *rest = ct + i;
    return strcasecmp(rest, "charset=utf-8") == 0 || strcasecmp(rest, "charset=\"utf-8\"") == 0;
}

/* Nesting as request.c counts it: a scalar is 1, a container 1 + its
 * deepest child. Computed without a limit (jansson caps depth at 2048). */
static int depth(const json_t *v)
{
    int max = 0;
    if (json_is_object(v)) {
        const char *k;
        json_t *child;
        json_object_foreach((json_t *)v, k, child) {
            int d = depth(child);
            if (d > max)
                max = d;
        }
        return max + 1;
    }
    if (json_is_array(v)) {
        size_t i;
        json_t *child;
        json_array_foreach(v, i, child) {
            int d = depth(child);
            if (d > max)
                max = d;
        }
        return max + 1;
    }
    return 1;
}

/* Members kept by jansson, over every object in the tree; also checks that
 * no key or string holds a NUL. */
static size_t members(const json_t *v)
{
    size_t n = 0;
    if (json_is_object(v)) {
        const char *k;
        json_t *child;
        json_object_foreach((json_t *)v, k, child) {
            n += 1 + members(child);
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *child;
        json_array_foreach(v, i, child) {
            n += members(child);
        }
    } else if (json_is_string(v)) {
        FUZZ_CHECK(strlen(json_string_value(v)) == json_string_length(v));
    }
    return n;
}

/* Members written in the text: every ':' outside a string separates a key
 * from its value (the text is known to be valid JSON here). */
static size_t text_members(const char *s, size_t len)
{
    size_t n = 0;
    bool in_str = false;
    for (size_t i = 0; i < len; i++) {
        if (in_str) {
            if (s[i] == '\\')
                i++;
            else if (s[i] == '"')
                in_str = false;
        } else if (s[i] == '"') {
            in_str = true;
        } else if (s[i] == ':') {
            n++;
        }
    }
    return n;
}

static void check_failure(enum bw_rc rc, bool is_json, int status, const char *detail,
                          const json_t *out)
{
    FUZZ_CHECK(out == (const json_t *)&types);
    if (!is_json)
        FUZZ_CHECK(rc == BW_ERR_UNSUPPORTED && status == 415);
    else
        FUZZ_CHECK(rc == BW_ERR_INVALID && status == 400);
    FUZZ_CHECK(detail[0] != '\0');
    FUZZ_CHECK(strchr(detail, '\n') == NULL);
}

static void check_reserialised(const json_t *doc, size_t flags)
{
    char *text = json_dumps(doc, flags);
    FUZZ_CHECK(text != NULL);
    json_t *again = NULL;
    int status = 0;
    char detail[160] = "";
    enum bw_rc rc =
        bw_http_parse_json("application/json", text, strlen(text), &again, &status, detail,
                           sizeof(detail));
    if (rc != BW_OK)
        fprintf(stderr, "re-serialised body refused (%d): %s\n%s\n", status, detail, text);
    FUZZ_CHECK(rc == BW_OK);
    FUZZ_CHECK(json_equal(doc, again));
    json_decref(again);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    char *ct_buf = NULL;
    const char *ct;
    const uint8_t *body_p = data + 1;
    size_t body_len = size - 1;
    if (data[0] & 0x80) {
        const uint8_t *nl = memchr(body_p, '\n', body_len);
        size_t ct_len = nl != NULL ? (size_t)(nl - body_p) : body_len;
        ct_buf = fuzz_strdup(body_p, ct_len);
        ct = ct_buf;
        body_p += nl != NULL ? ct_len + 1 : ct_len;
        body_len -= nl != NULL ? ct_len + 1 : ct_len;
    } else {
        ct = types[data[0] % BW_ARRAY_LEN(types)].ct;
    }
    bool is_json = ref_is_json(ct);
    FUZZ_CHECK(bw_http_is_json_type(ct) == is_json);
    if (ct_buf == NULL)
        FUZZ_CHECK(is_json == types[data[0] % BW_ARRAY_LEN(types)].json);

    char *body = fuzz_memdup(body_p, body_len);
    json_t *out = (json_t *)&types; /* sentinel: must be untouched on failure */
    int status = 0;
    char detail[160];
    memset(detail, 0, sizeof(detail));
    enum bw_rc rc = bw_http_parse_json(ct, body, body_len, &out, &status, detail, sizeof(detail));

    /* what jansson alone says about the body */
    bool utf8 = fuzz_ref_utf8(body_p, body_len);
    json_t *ref = NULL;
    if (is_json && utf8 && body_len > 0) {
        json_error_t jerr;
        ref = json_loadb(body, body_len, JSON_REJECT_DUPLICATES, &jerr);
    }
    bool ref_ok = ref != NULL && json_is_object(ref) && depth(ref) <= BW_JSON_MAX_DEPTH;

    if (rc != BW_OK) {
        check_failure(rc, is_json, status, detail, out);
        FUZZ_CHECK(!ref_ok);
    } else {
        FUZZ_CHECK(ref_ok);
        FUZZ_CHECK(out != NULL && out != (json_t *)&types);
        FUZZ_CHECK(is_json && body_len > 0 && utf8);
        FUZZ_CHECK(json_is_object(out));
        FUZZ_CHECK(depth(out) <= BW_JSON_MAX_DEPTH);
        FUZZ_CHECK(json_equal(out, ref));
        /* no duplicate keys were collapsed */
        FUZZ_CHECK(members(out) == text_members(body, body_len));
        json_error_t jerr;
        json_t *lax = json_loadb(body, body_len, 0, &jerr);
        FUZZ_CHECK(lax != NULL && json_equal(out, lax));
        json_decref(lax);
        check_reserialised(out, JSON_COMPACT);
        check_reserialised(out, JSON_ENSURE_ASCII | JSON_SORT_KEYS | JSON_INDENT(2));
        json_decref(out);
    }
    json_decref(ref);
    free(body);
    free(ct_buf);
    return 0;
}
