/*
 * response.c - building answers: JSON bodies, RFC 9457 problem details and
 * the one mapping from enum bw_rc to an HTTP status. Problem details never
 * carry secrets, SQL, paths of the data directory or stack traces; the
 * detail texts are fixed strings or describe the client's own input.
 */
#include "http/http_int.h"

#include <stdio.h>
#include <string.h>

void bw_resp_init(struct bw_resp *resp)
{
    memset(resp, 0, sizeof(*resp));
    bw_buf_init(&resp->body, 64u << 20);
}

void bw_resp_cleanup(struct bw_resp *resp)
{
    bw_buf_free(&resp->body, false);
    for (size_t i = 0; i < resp->nheaders; i++) {
        bw_free(resp->headers[i].name);
        bw_free(resp->headers[i].value);
    }
    resp->nheaders = 0;
}

enum bw_rc bw_resp_header(struct bw_resp *resp, const char *name, const char *value)
{
    if (resp->nheaders == BW_ARRAY_LEN(resp->headers) || strpbrk(value, "\r\n") != NULL)
        return BW_ERR_INVALID;
    char *n = bw_strdup(name);
    char *v = bw_strdup(value);
    if (n == NULL || v == NULL) {
        bw_free(n);
        bw_free(v);
        return BW_ERR_NOMEM;
    }
    resp->headers[resp->nheaders].name = n;
    resp->headers[resp->nheaders].value = v;
    resp->nheaders++;
    return BW_OK;
}

enum bw_rc bw_resp_json(struct bw_resp *resp, int status, json_t *obj)
{
    enum bw_rc rc = BW_ERR_NOMEM;
    char *text = obj != NULL ? json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(obj);
    if (text == NULL)
        return rc;
    bw_buf_reset(&resp->body);
    rc = bw_buf_appends(&resp->body, text);
    bw_free(text);
    if (rc != BW_OK)
        return rc;
    resp->status = status;
    resp->content_type = "application/json";
    return BW_OK;
}

enum bw_rc bw_resp_text(struct bw_resp *resp, int status, const char *ctype, const char *text)
{
    bw_buf_reset(&resp->body);
    enum bw_rc rc = bw_buf_appends(&resp->body, text);
    if (rc != BW_OK)
        return rc;
    resp->status = status;
    resp->content_type = ctype;
    return BW_OK;
}

static const struct {
    int status;
    const char *reason;
} reasons[] = {
    {200, "OK"},
    {201, "Created"},
    {204, "No Content"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {408, "Request Timeout"},
    {409, "Conflict"},
    {411, "Length Required"},
    {412, "Precondition Failed"},
    {413, "Content Too Large"},
    {414, "URI Too Long"},
    {415, "Unsupported Media Type"},
    {422, "Unprocessable Content"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {503, "Service Unavailable"},
};

const char *bw_http_reason(int status)
{
    for (size_t i = 0; i < BW_ARRAY_LEN(reasons); i++) {
        if (reasons[i].status == status)
            return reasons[i].reason;
    }
    return status >= 500 ? "Server Error" : "Client Error";
}

int bw_http_status_for(enum bw_rc rc)
{
    switch (rc) {
    case BW_OK:
        return 200;
    case BW_ERR_INVALID:
        return 400;
    case BW_ERR_PERM:
        return 403;
    case BW_ERR_NOTFOUND:
        return 404;
    case BW_ERR_EXISTS:
    case BW_ERR_CONFLICT:
        return 409;
    case BW_ERR_TOOBIG:
        return 413;
    case BW_ERR_UNSUPPORTED:
        return 415;
    case BW_ERR_BUSY:
        return 503;
    case BW_ERR_NOMEM:
    case BW_ERR_IO:
    case BW_ERR_CRYPTO:
    case BW_ERR_STORE:
    case BW_ERR_INTERNAL:
    case BW_ERR_TLS:
    case BW_ERR_SCHEMA:
    case BW_ERR__COUNT:
        break;
    }
    return 500;
}

static const char *slug_for(int status)
{
    switch (status) {
    case 400:
        return "invalid-request";
    case 401:
        return "unauthenticated";
    case 403:
        return "forbidden";
    case 404:
        return "not-found";
    case 405:
        return "method-not-allowed";
    case 409:
        return "conflict";
    case 413:
        return "body-too-large";
    case 415:
        return "unsupported-media-type";
    case 429:
        return "too-many-requests";
    case 503:
        return "unavailable";
    default:
        return status >= 500 ? "internal" : "invalid-request";
    }
}

enum bw_rc bw_resp_problem(struct bw_resp *resp, int status, const char *slug, const char *detail,
                           const struct bw_field_errors *errors)
{
    char type[96];
    snprintf(type, sizeof(type), "/problems/%s", slug != NULL ? slug : slug_for(status));
    json_t *p = json_pack("{s:s, s:s, s:i}", "type", type, "title", bw_http_reason(status),
                          "status", status);
    if (p == NULL)
        return BW_ERR_NOMEM;
    if (detail != NULL) {
        /* details may quote client input: json_string rejects invalid UTF-8 */
        json_t *d = json_string(detail);
        json_object_set_new(p, "detail", d != NULL ? d : json_string("(detail not shown)"));
    }
    if (errors != NULL && errors->n > 0) {
        json_t *arr = json_array();
        for (size_t i = 0; arr != NULL && i < errors->n; i++)
            json_array_append_new(arr, json_pack("{s:s, s:s}", "field", errors->e[i].field,
                                                 "message", errors->e[i].message));
        json_object_set_new(p, "errors", arr);
    }
    enum bw_rc rc = bw_resp_json(resp, status, p);
    if (rc == BW_OK)
        resp->content_type = "application/problem+json";
    return rc;
}

void bw_resp_from_rc(struct bw_resp *resp, enum bw_rc rc)
{
    int status = bw_http_status_for(rc);
    const char *detail = status >= 500 ? "the server could not complete the request" : bw_rc_str(rc);
    if (bw_resp_problem(resp, status, NULL, detail, NULL) != BW_OK) {
        bw_buf_reset(&resp->body);
        resp->status = 500;
        resp->content_type = "application/problem+json";
    }
}
