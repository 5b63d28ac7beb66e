/*
 * request.c - request bodies. Every JSON body passes here before a handler
 * sees it: the content type must be application/json (415 otherwise), the
 * bytes valid UTF-8, the document a single object without duplicate keys,
 * NUL characters or nesting deeper than BW_JSON_MAX_DEPTH (400 otherwise).
 * Parsing is jansson's; this file only adds the checks. Fuzzed by
 * fuzz/fuzz_json_body.c.
 */
#include "http/http_int.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

bool bw_http_is_json_type(const char *ct)
{
    if (ct == NULL)
        return false;
    while (*ct == ' ')
        ct++;
    if (strncasecmp(ct, "application/json", 16) != 0)
        return false;
    ct += 16;
    while (*ct == ' ')
        ct++;
    if (*ct == '\0')
        return true;
    if (*ct != ';')
        return false;
    ct++;
    while (*ct == ' ')
        ct++;
    if (strncasecmp(ct, "charset=", 8) != 0)
        return false;
    ct += 8;
    if (*ct == '"')
        return strcasecmp(ct, "\"utf-8\"") == 0;
    return strcasecmp(ct, "utf-8") == 0;
}

static int depth_of(const json_t *v, int limit)
{
    if (limit <= 0)
        return 1;
    int max = 0;
    if (json_is_object(v)) {
        const char *k;
        json_t *child;
        json_object_foreach((json_t *)v, k, child) {
            int d = depth_of(child, limit - 1);
            if (d > max)
                max = d;
        }
        return max + 1;
    }
    if (json_is_array(v)) {
        size_t i;
        json_t *child;
        json_array_foreach(v, i, child) {
            int d = depth_of(child, limit - 1);
            if (d > max)
                max = d;
        }
        return max + 1;
    }
    return 1;
}

enum bw_rc bw_http_parse_json(const char *content_type, const char *body, size_t len,
                              json_t **out, int *status, char *detail, size_t detail_len)
{
    if (!bw_http_is_json_type(content_type)) {
        *status = 415;
        snprintf(detail, detail_len, "request body must be application/json");
        return BW_ERR_UNSUPPORTED;
    }
    if (len == 0) {
        *status = 400;
        snprintf(detail, detail_len, "request body is empty: a JSON object is required");
        return BW_ERR_INVALID;
    }
    if (!bw_utf8_valid(body, len)) {
        *status = 400;
        snprintf(detail, detail_len, "request body is not valid UTF-8");
        return BW_ERR_INVALID;
    }
    json_error_t jerr;
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL) {
        *status = 400;
        /* jansson's message describes the syntax, never echoes content at length */
        snprintf(detail, detail_len, "invalid JSON at line %d column %d: %.80s", jerr.line,
                 jerr.column, jerr.text);
        for (char *p = detail; *p != '\0'; p++) {
            if ((unsigned char)*p < 0x20)
                *p = ' '; /* jansson quotes the offending input: keep details one line */
        }
        return BW_ERR_INVALID;
    }
    if (!json_is_object(doc)) {
        json_decref(doc);
        *status = 400;
        snprintf(detail, detail_len, "request body must be a JSON object");
        return BW_ERR_INVALID;
    }
    if (depth_of(doc, BW_JSON_MAX_DEPTH + 1) > BW_JSON_MAX_DEPTH) {
        json_decref(doc);
        *status = 400;
        snprintf(detail, detail_len, "request body nests deeper than %d levels",
                 BW_JSON_MAX_DEPTH);
        return BW_ERR_INVALID;
    }
    *out = doc;
    return BW_OK;
}

void bw_field_error(struct bw_field_errors *fe, const char *field, const char *message)
{
    if (fe->n == BW_MAX_FIELD_ERRORS)
        return;
    snprintf(fe->e[fe->n].field, sizeof(fe->e[0].field), "%s", field);
    snprintf(fe->e[fe->n].message, sizeof(fe->e[0].message), "%s", message);
    fe->n++;
}

/* Member names are echoed in field errors only when short printable ASCII. */
static bool printable_name(const char *k)
{
    size_t n = 0;
    for (; k[n] != '\0'; n++) {
        if ((unsigned char)k[n] < 0x20 || (unsigned char)k[n] >= 0x7f || n >= 60)
            return false;
    }
    return n > 0;
}

void bw_body_only(const json_t *body, const char *const *allowed, size_t n,
                  struct bw_field_errors *fe)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)body, k, v) {
        bool known = false;
        for (size_t i = 0; i < n && !known; i++)
            known = strcmp(k, allowed[i]) == 0;
        if (!known)
            bw_field_error(fe, printable_name(k) ? k : "(member)", "unknown member");
    }
}

const char *bw_body_string(const json_t *body, const char *name, size_t max, size_t *len,
                           struct bw_field_errors *fe)
{
    json_t *v = json_object_get(body, name);
    if (v == NULL) {
        bw_field_error(fe, name, "required");
        return NULL;
    }
    if (!json_is_string(v)) {
        bw_field_error(fe, name, "must be a string");
        return NULL;
    }
    if (json_string_length(v) > max) {
        bw_field_error(fe, name, "too long");
        return NULL;
    }
    *len = json_string_length(v);
    return json_string_value(v);
}
