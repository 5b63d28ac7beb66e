/*
 * server.c - libmicrohttpd glue: TLS 1.3 only (CONTROL: NET-TLS, C9), a worker
 * pool sized to the cores, event-driven connections so slow clients hold a
 * connection slot but never a worker, per-IP and total connection caps, and
 * the request pipeline: limits (URL 414, headers 431, body 413, time 408),
 * routing (404/405), content type (415), JSON checks (400), handler, then
 * the security headers of SPEC 6.1 on every answer (CONTROL: APP-05) and one
 * access-log line per request.
 *
 * Trusts: nothing from the client. Never logs bodies, query strings,
 * Authorization or Cookie headers. Responses are queued on the second call
 * of the access handler (or later) so keep-alive survives; only fatal
 * framing errors (oversize bodies, timeouts) are answered at once, and
 * libmicrohttpd then closes the connection.
 */
#include "http/http_int.h"
#include "incident/incident.h"
#include "store/store.h"
#include "sys/sys.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_PROXIES 64
#define XFF_MAX 1024

struct bw_http_server {
    struct MHD_Daemon *daemon;
    const struct bw_http_deps *deps;
    struct bw_cidr proxies[MAX_PROXIES]; /* server.trusted_proxies, parsed once */
    size_t nproxies;
    _Atomic int connections;
    _Atomic int requests; /* requests in flight, for graceful shutdown */
    struct bw_offload *offload; /* slow handlers (hashing), off the HTTP workers */
    struct bw_offload *io;      /* handlers waiting on durable commits (BW_ROUTE_IO) */
};

/* SPEC 6.1 / CONTROL: APP-05, C10: sent on every response, errors included. */
static const char *const security_headers[][2] = {
    {"Strict-Transport-Security", "max-age=63072000; includeSubDomains"},
    {"Content-Security-Policy", "default-src 'self'; object-src 'none'; frame-ancestors 'none'; "
                                "base-uri 'none'; form-action 'self'"},
    {"X-Frame-Options", "DENY"},
    {"X-Content-Type-Options", "nosniff"},
    {"Referrer-Policy", "no-referrer"},
    {"Cache-Control", "no-store"},
    {"Cross-Origin-Opener-Policy", "same-origin"},
    {"Cross-Origin-Resource-Policy", "same-origin"},
    {"Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()"},
};

/* ---- request objects ----------------------------------------------------- */

static void remote_of(struct MHD_Connection *conn, char *out, size_t cap)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(out, cap, "-");
    if (ci == NULL || ci->client_addr == NULL)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
                  (socklen_t)cap);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
                  (socklen_t)cap);
}

/* True for targets holding raw control bytes or "%00": libmicrohttpd would
 * decode %00 into a NUL that silently cuts the path short. */
static bool raw_uri_suspicious(const char *uri)
{
    for (const char *p = uri; *p != '\0'; p++) {
        if ((unsigned char)*p < 0x21 || *p == 0x7f)
            return true;
        if (p[0] == '%' && p[1] == '0' && p[2] == '0')
            return true;
    }
    return false;
}

/* Called once per request with the raw request-target, before headers. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct bw_http_server *srv = cls;
    struct bw_req *req = bw_calloc(1, sizeof(*req));
    if (req == NULL)
        return NULL;
    uint8_t rid[16];
    randombytes_buf(rid, sizeof(rid));
    bw_hex(rid, sizeof(rid), req->request_id);
    req->deps = srv->deps;
    req->srv = srv;
    atomic_fetch_add(&srv->requests, 1);
    req->conn = conn;
    req->start_ns = bw_time_mono_ns();
    req->raw_uri_len = strlen(uri);
    req->method_name = "-";
    req->match.route_index = SIZE_MAX;
    remote_of(conn, req->remote, sizeof(req->remote));
    bw_buf_init(&req->body, srv->deps->cfg->max_body);
    if (raw_uri_suspicious(uri)) {
        req->early_status = 400;
        snprintf(req->early_detail, sizeof(req->early_detail),
                 "request target contains control characters or an encoded NUL");
    } else if (req->raw_uri_len > srv->deps->cfg->max_url_length) {
        req->early_status = 414;
        snprintf(req->early_detail, sizeof(req->early_detail), "request URI longer than %llu bytes",
                 (unsigned long long)srv->deps->cfg->max_url_length);
    }
    return req;
}

static void req_free(struct bw_req *req)
{
    if (req == NULL)
        return;
    bw_buf_free(&req->body, true); /* bodies may hold passwords */
    if (req->offloaded)
        bw_resp_cleanup(&req->offload_resp); /* connection closed before the answer went */
    json_decref(req->json);
    bw_free(req->path);
    bw_free(req);
}

/* Appends s to b as a JSON string body (quotes added); for the access log. */
static enum bw_rc log_str(struct bw_buf *b, const char *key, const char *s)
{
    enum bw_rc rc = bw_buf_appendf(b, ",\"%s\":\"", key);
    for (const unsigned char *p = (const unsigned char *)s; rc == BW_OK && *p != '\0'; p++) {
        if (*p == '"' || *p == '\\')
            rc = bw_buf_appendf(b, "\\%c", *p);
        else if (*p < 0x20 || *p >= 0x7f)
            rc = bw_buf_appendf(b, "\\u%04x", *p); /* bytes, not characters: log is ASCII */
        else
            rc = bw_buf_append(b, p, 1);
    }
    return rc == BW_OK ? bw_buf_append(b, "\"", 1) : rc;
}

/* One access-log line per request (never bodies, query strings or credentials).
 * Formatted by hand: this runs for every request and must stay cheap. */
static void access_log(const struct bw_req *req, uint64_t ns)
{
    char ts[21];
    struct bw_buf b;
    bw_buf_init(&b, 16384);
    bw_time_format(bw_time_now(), ts);
    enum bw_rc rc = bw_buf_appendf(&b, "{\"ts\":\"%s\",\"level\":\"info\",\"event\":\"http.request\"",
                                   ts);
    if (rc == BW_OK)
        rc = log_str(&b, "rid", req->request_id);
    if (rc == BW_OK)
        rc = log_str(&b, "remote", req->remote);
    if (rc == BW_OK)
        rc = log_str(&b, "method", req->method_name);
    if (rc == BW_OK)
        rc = log_str(&b, "path", req->path != NULL ? req->path : "-");
    if (rc == BW_OK)
        rc = log_str(&b, "route", req->matched ? req->match.route->pattern : "-");
    if (rc == BW_OK)
        rc = bw_buf_appendf(&b, ",\"status\":%d,\"bytes_in\":%zu,\"bytes_out\":%zu,\"ms\":%.3f}\n",
                            req->status, req->body.len, req->bytes_out, (double)ns / 1e6);
    if (rc == BW_OK) {
        ssize_t w = write(STDERR_FILENO, b.data, b.len);
        (void)w;
    }
    bw_buf_free(&b, false);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct bw_req *req = *con_cls;
    if (req == NULL)
        return;
    uint64_t ns = bw_time_mono_ns() - req->start_ns;
    if (req->status != 0 || req->path != NULL) {
        bw_metrics_observe(req->matched ? req->match.route_index : SIZE_MAX, req->status, ns);
        access_log(req, ns);
    }
    atomic_fetch_sub(&req->srv->requests, 1);
    req_free(req);
    *con_cls = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct bw_http_server *srv = cls;
    int d = toe == MHD_CONNECTION_NOTIFY_STARTED ? 1 : -1;
    atomic_fetch_add(&srv->connections, d);
    bw_metrics_connections(d);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) BW_PRINTF(2, 0);
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    bw_log(BW_LOG_DEBUG, "http.mhd", "%s", msg);
}

/* ---- sending -------------------------------------------------------------- */

static enum MHD_Result send_resp(struct MHD_Connection *conn, struct bw_req *req,
                                 struct bw_resp *resp)
{
    size_t len = 0;
    char *data = bw_buf_steal(&resp->body, &len);
    struct MHD_Response *r =
        data != NULL ? MHD_create_response_from_buffer_with_free_callback(len, data, bw_free)
                     : MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (r == NULL) {
        bw_free(data);
        return MHD_NO;
    }
    for (size_t i = 0; i < BW_ARRAY_LEN(security_headers); i++)
        MHD_add_response_header(r, security_headers[i][0], security_headers[i][1]);
    if (resp->content_type != NULL)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, resp->content_type);
    MHD_add_response_header(r, "X-Request-Id", req->request_id);
    if (req->close)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    for (size_t i = 0; i < resp->nheaders; i++)
        MHD_add_response_header(r, resp->headers[i].name, resp->headers[i].value);
    req->status = resp->status;
    req->bytes_out = len;
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)resp->status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_problem(struct MHD_Connection *conn, struct bw_req *req, int status,
                                    const char *detail)
{
    struct bw_resp resp;
    bw_resp_init(&resp);
    if (bw_resp_problem(&resp, status, NULL, detail, NULL) != BW_OK)
        bw_resp_from_rc(&resp, BW_ERR_NOMEM);
    if (status == 405) {
        char allow[128] = "";
        for (unsigned bit = BW_GET; bit <= BW_OPTIONS; bit <<= 1) {
            if ((req->match.allowed & bit) == 0)
                continue;
            size_t n = strlen(allow);
            snprintf(allow + n, sizeof(allow) - n, "%s%s", n ? ", " : "", bw_method_name(bit));
        }
        if (req->match.allowed & BW_GET) {
            size_t n = strlen(allow);
            snprintf(allow + n, sizeof(allow) - n, ", HEAD");
        }
        if (bw_resp_header(&resp, "Allow", allow) != BW_OK)
            bw_log(BW_LOG_WARN, "http.response", "cannot add Allow header");
    }
    enum MHD_Result ret = send_resp(conn, req, &resp);
    bw_resp_cleanup(&resp);
    return ret;
}

/* ---- the pipeline ---------------------------------------------------------- */

struct header_sum {
    size_t total;
    unsigned count;
    unsigned content_length; /* how many Content-Length headers */
    unsigned transfer_encoding;
    unsigned host;           /* how many Host headers */
    bool odd_coding;         /* Transfer-Encoding other than exactly "chunked" */
    bool bad_name;           /* empty, or whitespace in a header name */
};

static enum MHD_Result sum_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    struct header_sum *h = cls;
    h->total += strlen(key) + (value != NULL ? strlen(value) : 0) + 4;
    h->count++;
    if (key[0] == '\0' || strpbrk(key, " \t") != NULL)
        h->bad_name = true;
    if (strcasecmp(key, "Content-Length") == 0)
        h->content_length++;
    if (strcasecmp(key, "Host") == 0)
        h->host++;
    if (strcasecmp(key, "Transfer-Encoding") == 0) {
        h->transfer_encoding++;
        h->odd_coding |= value == NULL || strcasecmp(value, "chunked") != 0;
    }
    return MHD_YES;
}

/* RFC 9112 6.3: a message whose length could be read two ways is refused and
 * the connection closed, so nothing behind it can be smuggled in. */
static bool ambiguous_framing(const struct header_sum *h)
{
    return h->bad_name || h->content_length > 1 || h->transfer_encoding > 1 ||
           (h->transfer_encoding > 0 && h->content_length > 0) || h->odd_coding;
}

static void set_early(struct bw_req *req, int status, const char *detail)
{
    if (req->early_status != 0)
        return;
    req->early_status = status;
    snprintf(req->early_detail, sizeof(req->early_detail), "%s", detail);
}

/* ---- the client address (tenants feature) ------------------------------------ */

/* Canonical text of one address (no prefix length). */
static void addr_text(const struct bw_cidr *a, char *out, size_t cap)
{
    char t[64];
    bw_cidr_format(a, t, sizeof(t));
    t[strcspn(t, "/")] = '\0';
    snprintf(out, cap, "%s", t);
}

/* CONTROL: AC-04, NET-02 - X-Forwarded-For is believed only from a trusted
 * proxy, and only up to the first hop that is not itself a trusted proxy:
 * entries further left were written by the client and prove nothing. */
void bw_client_address(const char *peer, const char *xff, const struct bw_cidr *proxies,
                       size_t n, char *out, size_t cap)
{
    struct bw_cidr cur, hop;
    snprintf(out, cap, "%s", peer);
    if (n == 0 || xff == NULL || bw_ip_parse(peer, &cur) != BW_OK ||
        !bw_cidr_list_contains(proxies, n, &cur))
        return;
    size_t end = strlen(xff);
    while (end > 0) {
        size_t start = end;
        while (start > 0 && xff[start - 1] != ',')
            start--;
        size_t a = start, b = end;
        while (a < b && (xff[a] == ' ' || xff[a] == '\t'))
            a++;
        while (b > a && (xff[b - 1] == ' ' || xff[b - 1] == '\t'))
            b--;
        char one[64];
        if (b - a == 0 || b - a >= sizeof(one))
            break;
        memcpy(one, xff + a, b - a);
        one[b - a] = '\0';
        if (bw_ip_parse(one, &hop) != BW_OK)
            break; /* garbage (or a port): the last good hop is the client */
        cur = hop;
        if (!bw_cidr_list_contains(proxies, n, &hop))
            break;
        end = start > 0 ? start - 1 : 0;
    }
    addr_text(&cur, out, cap);
}

struct xff_sum {
    struct bw_buf b;
    bool bad;
};

/* Joins every X-Forwarded-For header in order (RFC 9110 5.3). */
static enum MHD_Result sum_xff(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *value)
{
    struct xff_sum *x = cls;
    if (strcasecmp(key, "X-Forwarded-For") != 0 || value == NULL)
        return MHD_YES;
    if (bw_buf_appendf(&x->b, "%s%s", x->b.len ? "," : "", value) != BW_OK)
        x->bad = true;
    return MHD_YES;
}

/* Replaces req->remote (the TCP peer) by the client a trusted proxy
 * forwarded for; an over-long header chain is ignored (the peer stays). */
static void resolve_client(struct MHD_Connection *conn, struct bw_req *req)
{
    const struct bw_http_server *srv = req->srv;
    struct xff_sum x = {.bad = false};
    char client[sizeof(req->remote)];
    if (srv->nproxies == 0)
        return;
    bw_buf_init(&x.b, XFF_MAX);
    MHD_get_connection_values(conn, MHD_HEADER_KIND, sum_xff, &x);
    if (!x.bad && x.b.len > 0) {
        bw_client_address(req->remote, x.b.data, srv->proxies, srv->nproxies, client,
                          sizeof(client));
        memcpy(req->remote, client, sizeof(client));
    }
    bw_buf_free(&x.b, false);
}

/* First call: headers are complete. Decide everything that does not need the
 * body. Returns true when the request must be answered (and closed) now. */
static bool first_call(struct MHD_Connection *conn, struct bw_req *req, const char *url,
                       const char *method, const char *version)
{
    const struct bw_config *cfg = req->deps->cfg;
    struct header_sum hs;
    memset(&hs, 0, sizeof(hs));
    req->method = bw_method_parse(method);
    req->method_name = req->method != 0 ? bw_method_name(req->method) : "OTHER";
    req->path = bw_strndup(url, strnlen(url, 8192));
    MHD_get_connection_values(conn, MHD_HEADER_KIND, sum_header, &hs);
    resolve_client(conn, req);
    if (ambiguous_framing(&hs)) {
        req->early_status = 400;
        req->close = true;
        snprintf(req->early_detail, sizeof(req->early_detail),
                 "ambiguous message framing (Content-Length/Transfer-Encoding)");
        return true;
    }
    if (req->early_status != 0 && req->early_status != 414) {
        req->close = true;
        return true; /* the request line itself was refused in on_uri */
    }
    /* RFC 9112 3.2: an HTTP/1.1 request lacking Host, or with several, is 400.
     * libmicrohttpd runs with strictness 0 so this answer is ours (with the
     * SPEC 6.1 headers) rather than the library's bare one. */
    if (hs.host > 1 || (hs.host == 0 && strcmp(version, MHD_HTTP_VERSION_1_1) == 0)) {
        req->early_status = 400;
        req->close = true;
        snprintf(req->early_detail, sizeof(req->early_detail),
                 "an HTTP/1.1 request needs exactly one Host header");
        return true;
    }
    if (hs.total > cfg->max_header_size || hs.count > 100)
        set_early(req, 431, "request headers too large");
    if (req->path == NULL)
        set_early(req, 503, "the server is out of memory");
    else if (!bw_utf8_valid(req->path, strlen(req->path)))
        set_early(req, 400, "request path is not valid UTF-8");
    if (req->early_status == 0) {
        enum bw_rc rc = bw_router_match(bw_routes, bw_routes_count, req->method, req->path,
                                        &req->match);
        if (rc == BW_OK)
            req->matched = true;
        else if (rc == BW_ERR_UNSUPPORTED)
            set_early(req, 405, "method not allowed for this path");
        else
            set_early(req, 404, "no such resource");
    }
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
    uint64_t len = 0;
    size_t max = req->matched && req->match.route->max_body ? req->match.route->max_body
                                                            : cfg->max_body;
    req->body.max = max;
    if (cl != NULL && bw_parse_u64(cl, UINT64_MAX, &len) == BW_OK && len > max &&
        len <= cfg->max_body) {
        /* over this route's limit but within the server's: read and drop the body,
         * then answer 413 on a connection that stays usable. Answering first and
         * closing on unread bytes makes the kernel reset the connection, and the
         * client may lose the answer. */
        char detail[64];
        snprintf(detail, sizeof(detail), "request body larger than %zu bytes", max);
        req->discard_body = true;
        set_early(req, 413, detail);
        return false;
    }
    if (cl != NULL && (bw_parse_u64(cl, UINT64_MAX, &len) != BW_OK || len > max)) {
        req->early_status = 413;
        req->close = true;
        snprintf(req->early_detail, sizeof(req->early_detail),
                 "request body larger than %zu bytes", max);
        return true;
    }
    if (req->matched && (req->match.route->flags & BW_ROUTE_JSON_BODY)) {
        const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
        if (!bw_http_is_json_type(ct))
            set_early(req, 415, "request body must be application/json");
    }
    return false;
}

struct deny_job {
    const struct bw_audit_ctx *ctx;
    const char *actor;
    const struct bw_req *req;
};

static enum bw_rc deny_fn(struct bw_tx *tx, void *arg)
{
    struct deny_job *j = arg;
    return bw_audit_append(tx, j->ctx, j->actor, "authz.deny", j->req->match.route->pattern,
                           BW_AUDIT_DENIED,
                           json_pack("{s:s, s:s}", "method", j->req->method_name, "reason",
                                     j->req->denied));
}

/* A refusal of an authenticated request: answered 403 and remembered so
 * that dispatch records it as an authz.deny event (CONTROL: AC-01). */
static enum bw_rc deny(struct bw_req *req, struct bw_resp *resp, const char *slug,
                       const char *detail, const struct bw_field_errors *errors)
{
    req->denied = slug;
    return bw_resp_problem(resp, 403, slug, detail, errors);
}

/* Writes the authz.deny event of a refused request. */
static void audit_denial(struct bw_req *req)
{
    struct bw_audit_ctx ctx;
    char actor[BW_ACTOR_LEN];
    bw_req_audit_ctx(req, &ctx);
    bw_principal_actor(&req->principal, actor);
    struct deny_job j = {&ctx, actor, req};
    if (bw_store_write(req->deps->store, deny_fn, &j) != BW_OK)
        bw_log(BW_LOG_ERROR, "audit.write", "rid=%s: cannot record authz.deny",
               req->request_id);
}

/* SPEC 5, CONTROL: AC-04 - "Authorization: ApiKey <key>": a live key used
 * from inside its allow-list, and only on routes scoped to an organisation
 * (never /api/v1/auth/..., platform-admin or user routes); the tenant check
 * of the handler then keeps it inside its own organisation. */
static enum bw_rc check_apikey(struct bw_req *req, struct bw_resp *resp, const char *key)
{
    struct bw_audit_ctx ctx;
    bw_req_audit_ctx(req, &ctx);
    enum bw_rc rc =
        bw_apikey_authenticate(req->deps->store, &ctx, key, req->remote, &req->principal);
    if (rc == BW_ERR_NOTFOUND)
        return bw_resp_problem(resp, 401, "unauthenticated", "authentication required", NULL);
    if (rc == BW_ERR_PERM) /* audited as apikey.denied */
        return bw_resp_problem(resp, 403, "address-not-allowed",
                               "this API key may not be used from this address", NULL);
    if (rc != BW_OK)
        return rc;
    req->authenticated = true;
    if (!(req->match.route->flags & BW_ROUTE_APIKEY_OK))
        return deny(req, resp, "forbidden", "API keys cannot use this route", NULL);
    return BW_OK;
}

/* Throttling, authentication, the expired-password and second-factor gates
 * and the administrator check, as the route row declares, before any
 * handler runs. Answers (resp->status set) when the request may not go on. */
static enum bw_rc check_access(struct bw_req *req, struct bw_resp *resp)
{
    const struct bw_route *route = req->match.route;
    if (route->flags & BW_ROUTE_THROTTLED) {
        unsigned retry = 1;
        char value[16];
        if (!bw_ratelimit_take(req->remote, &retry)) {
            snprintf(value, sizeof(value), "%u", retry);
            enum bw_rc rc = bw_resp_problem(resp, 429, "too-many-requests",
                                            "too many attempts from this address", NULL);
            return rc == BW_OK ? bw_resp_header(resp, "Retry-After", value) : rc;
        }
    }
    if (route->auth == BW_AUTH_NONE)
        return BW_OK;
    const char *authz =
        MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (route->auth == BW_AUTH_OPTIONAL && authz == NULL &&
        MHD_lookup_connection_value(req->conn, MHD_COOKIE_KIND, BW_SESSION_COOKIE) == NULL) {
        unsigned retry = 1;
        char value[16];
        if (bw_ratelimit_take(req->remote, &retry))
            return BW_OK; /* anonymous: the handler decides (sign-up) */
        snprintf(value, sizeof(value), "%u", retry);
        enum bw_rc rc = bw_resp_problem(resp, 429, "too-many-requests",
                                        "too many attempts from this address", NULL);
        return rc == BW_OK ? bw_resp_header(resp, "Retry-After", value) : rc;
    }
    if (authz != NULL && strncmp(authz, "ApiKey ", 7) == 0)
        return check_apikey(req, resp, authz + 7);
    const char *token = authz != NULL && strncmp(authz, "Bearer ", 7) == 0 ? authz + 7 : NULL;
    bool by_cookie = false;
    if (authz == NULL) {
        token = MHD_lookup_connection_value(req->conn, MHD_COOKIE_KIND, BW_SESSION_COOKIE);
        by_cookie = token != NULL;
    }
    enum bw_rc rc = token != NULL ? bw_session_authenticate(req->deps->store, req->deps->cfg,
                                                            token, &req->principal)
                                  : BW_ERR_PERM;
    if (rc == BW_ERR_PERM)
        return bw_resp_problem(resp, 401, "unauthenticated", "authentication required", NULL);
    if (rc != BW_OK)
        return rc;
    /* CONTROL: APP-04 - cookie-authenticated changes must carry the CSRF token */
    if (by_cookie && req->method != BW_GET && req->method != BW_HEAD &&
        !bw_csrf_valid(req->deps->keyring, token,
                       MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "X-CSRF-Token")))
        return deny(req, resp, "csrf-failed",
                               "missing or wrong X-CSRF-Token for a cookie-authenticated request",
                               NULL);
    req->authenticated = true;
    const struct bw_principal *p = &req->principal;
    /* CONTROL: AUTH-02 - before its second factor a session may only verify it,
     * look at itself or log out. This gate comes first, also for a session
     * whose password expired: changing a password needs both factors, or a
     * stolen password alone could take over (and lock out) an MFA account. */
    if (p->mfa_enabled && !p->mfa_verified && !(route->flags & BW_ROUTE_MFA_PENDING_OK))
        return deny(req, resp, "mfa-required",
                               "complete the second factor first: POST /api/v1/auth/mfa/verify",
                               NULL);
    if (p->password_only && !(route->flags & BW_ROUTE_EXPIRED_OK))
        return deny(req, resp, "password-expired",
                               "the password has expired: change it first", NULL);
    /* decision C3: with mfa.required_for_all every account enrols before it
     * may do anything beyond its own sign-in routes (/api/v1/auth/..., /me) */
    if (req->deps->cfg->mfa_required_for_all && !p->mfa_enabled &&
        !(route->flags & BW_ROUTE_MFA_PENDING_OK) &&
        strncmp(route->pattern, "/api/v1/auth/", 13) != 0)
        return deny(req, resp, "mfa-required",
                               "every account needs MFA here: enrol first "
                               "(POST /api/v1/auth/mfa/enroll)",
                               NULL);
    if (!(route->flags & BW_ROUTE_ADMIN))
        return BW_OK;
    /* CONTROL: AC-05 - administrators act only with a verified second factor */
    if (!p->platform_admin)
        return deny(req, resp, "forbidden", "administrators only", NULL);
    if (req->deps->cfg->mfa_required_for_admins && !(p->mfa_enabled && p->mfa_verified))
        return deny(req, resp, "mfa-required",
                               "administrators must enrol in MFA (POST /api/v1/auth/mfa/enroll) "
                               "and verify it in this session",
                               NULL);
    return BW_OK;
}

/* Body, read-only mode and access gates, on the HTTP worker: true when the
 * request is answered (refused) here. Only admitted requests reach an
 * offload pool, so an unauthenticated flood never occupies its threads. */
static bool admit(struct bw_req *req, struct bw_resp *resp)
{
    const struct bw_route *route = req->match.route;
    int status = 0;
    char detail[160];
    if (route->flags & BW_ROUTE_JSON_BODY) {
        const char *ct =
            MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "Content-Type");
        if (bw_http_parse_json(ct, req->body.data, req->body.len, &req->json, &status, detail,
                               sizeof(detail)) != BW_OK) {
            if (bw_resp_problem(resp, status, NULL, detail, NULL) != BW_OK)
                bw_resp_from_rc(resp, BW_ERR_NOMEM);
            return true;
        }
    } else if (req->body.len > 0) {
        if (bw_resp_problem(resp, 400, NULL, "this resource takes no request body", NULL) !=
            BW_OK)
            bw_resp_from_rc(resp, BW_ERR_NOMEM);
        return true;
    }
    /* CONTROL: INC-02 - containment by read-only mode (issue 7) */
    if (bw_readonly_active() && req->method != BW_GET && req->method != BW_HEAD &&
        strncmp(route->pattern, "/api/v1/auth/", 13) != 0 &&
        strncmp(route->pattern, "/api/v1/incidents", 17) != 0) {
        if (bw_resp_problem(resp, 503, "read-only", "the server is in read-only mode", NULL) !=
            BW_OK)
            bw_resp_from_rc(resp, BW_ERR_NOMEM);
        return true;
    }
    enum bw_rc rc = check_access(req, resp);
    if (req->denied != NULL)
        audit_denial(req);
    if (rc != BW_OK || resp->status != 0) {
        if (resp->status == 0)
            bw_resp_from_rc(resp, rc);
        return true;
    }
    return false;
}

/* The route's handler, on the worker or an offload pool. */
static void handle(struct bw_req *req, struct bw_resp *resp)
{
    const struct bw_route *route = req->match.route;
    enum bw_rc rc = route->handler(req, resp);
    if (req->denied != NULL)
        audit_denial(req); /* a handler's refusal (tenant checks), recorded like the router's */
    if (rc != BW_OK && resp->status == 0)
        bw_resp_from_rc(resp, rc);
    if (rc != BW_OK)
        bw_log(rc == BW_ERR_NOMEM || bw_http_status_for(rc) >= 500 ? BW_LOG_ERROR : BW_LOG_DEBUG,
               "http.handler", "rid=%s route=%s failed: %s", req->request_id, route->pattern,
               bw_rc_str(rc));
    if (resp->status == 0)
        bw_resp_from_rc(resp, BW_ERR_INTERNAL);
}

/* Offloaded I/O-bound handlers in flight at most: each waits in a group commit. */
enum { BW_IO_THREADS = 64 };

/* Runs on an offload pool (offload.c) while the connection is suspended. */
static void offload_run(struct bw_req *req)
{
    handle(req, &req->offload_resp);
    atomic_store(&req->offload_done, true);
    MHD_resume_connection(req->conn);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    struct bw_http_server *srv = cls;
    struct bw_req *req = *con_cls;
    if (req == NULL)
        return MHD_NO; /* allocation failed in on_uri: drop the connection */
    if (req->offloaded) { /* resumed: the offload pool prepared the answer */
        if (!atomic_load(&req->offload_done))
            return MHD_YES;
        req->offloaded = false;
        enum MHD_Result ret = send_resp(conn, req, &req->offload_resp);
        bw_resp_cleanup(&req->offload_resp);
        return ret;
    }
    if (!req->started) {
        req->started = true;
        if (first_call(conn, req, url, method, version))
            return send_problem(conn, req, req->early_status, req->early_detail);
        return MHD_YES;
    }
    /* libmicrohttpd 0.9 cannot queue an answer while a body is still
     * arriving: a body that runs too long or too large closes the connection
     * (logged with the status it earned). Declared lengths were checked
     * before the body started and got a real 413. */
    uint64_t elapsed_ns = bw_time_mono_ns() - req->start_ns;
    if (elapsed_ns / 1000000000ULL > (uint64_t)srv->deps->cfg->request_timeout) {
        req->status = 408;
        return *upload_data_size > 0 ? MHD_NO
                                     : send_problem(conn, req, 408, "request took too long");
    }
    if (*upload_data_size > 0 && req->discard_body) {
        *upload_data_size = 0; /* counted against the declared length by libmicrohttpd */
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        enum bw_rc rc = bw_buf_append(&req->body, upload_data, *upload_data_size);
        *upload_data_size = 0;
        if (rc != BW_OK) {
            req->status = rc == BW_ERR_TOOBIG ? 413 : 503;
            return MHD_NO;
        }
        return MHD_YES;
    }
    if (req->status != 0)
        return MHD_YES; /* already answered */
    if (req->early_status != 0)
        return send_problem(conn, req, req->early_status, req->early_detail);
    struct bw_resp resp;
    bw_resp_init(&resp);
    enum MHD_Result ret;
    struct bw_offload *pool = (req->match.route->flags & BW_ROUTE_OFFLOAD) ? srv->offload
                              : (req->match.route->flags & BW_ROUTE_IO)    ? srv->io
                                                                           : NULL;
    if (admit(req, &resp) || pool == NULL) {
        if (resp.status == 0)
            handle(req, &resp);
        ret = send_resp(conn, req, &resp);
        bw_resp_cleanup(&resp);
        return ret;
    }
    bw_resp_cleanup(&resp);
    bw_resp_init(&req->offload_resp);
    req->offloaded = true;
    MHD_suspend_connection(conn);
    if (bw_offload_submit(pool, req))
        return MHD_YES;
    /* the queue is full: answer 429 on the next call, after resuming */
    if (bw_resp_problem(&req->offload_resp, 429, "too-many-requests",
                        "the server is busy; try again shortly", NULL) != BW_OK ||
        bw_resp_header(&req->offload_resp, "Retry-After", "1") != BW_OK)
        bw_resp_from_rc(&req->offload_resp, BW_ERR_NOMEM);
    atomic_store(&req->offload_done, true);
    MHD_resume_connection(conn);
    return MHD_YES;
}

/* ---- lifecycle ------------------------------------------------------------- */

enum bw_rc bw_http_bind(const char *host, uint16_t port, int *out, char *why, size_t whylen)
{
    struct sockaddr_storage ss;
    socklen_t slen;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        slen = sizeof(*v4);
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        slen = sizeof(*v6);
    } else {
        bw_why(why, whylen, "listen address %s is not a literal IP address", host);
        return BW_ERR_INVALID;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        bw_why(why, whylen, "cannot create socket: %s", strerror(errno));
        return BW_ERR_IO;
    }
    int one = 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ss.ss_family == AF_INET6)
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, slen) != 0 || listen(fd, 1024) != 0) {
        int e = errno;
        close(fd);
        if (e == EADDRINUSE) {
            bw_why(why, whylen, "cannot listen on %s:%u: address already in use", host, port);
            return BW_ERR_BUSY;
        }
        bw_why(why, whylen, "cannot listen on %s:%u: %s", host, port, strerror(e));
        return e == EACCES ? BW_ERR_PERM : BW_ERR_IO;
    }
    *out = fd;
    return BW_OK;
}

enum bw_rc bw_http_start(const struct bw_http_deps *deps, int fd, const char *cert_pem,
                         const char *key_pem, struct bw_http_server **out, char *why,
                         size_t whylen)
{
    const struct bw_config *cfg = deps->cfg;
    /* handlers rely on all three: serve loads them before it starts us */
    assert(deps->cfg != NULL && deps->store != NULL && deps->keyring != NULL);
    struct bw_http_server *srv = bw_calloc(1, sizeof(*srv));
    if (srv == NULL)
        return BW_ERR_NOMEM;
    srv->deps = deps;
    if (bw_cidr_parse_list(cfg->trusted_proxies, srv->proxies, MAX_PROXIES, &srv->nproxies) !=
        BW_OK) {
        bw_why(why, whylen, "server.trusted_proxies: more than %d networks or invalid",
               MAX_PROXIES);
        close(fd);
        bw_free(srv);
        return BW_ERR_INVALID;
    }
    unsigned threads = cfg->threads > 0 ? (unsigned)cfg->threads : bw_sys_ncpu();
    size_t mem_limit = cfg->max_header_size + cfg->max_url_length + 32768;
    unsigned flags = MHD_USE_TLS | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
    /* Offloaded handlers mostly wait for the Argon2id pool (sized to the
     * cores); a few more threads than cores keep store work flowing, and the
     * bounded queue turns an excess into 429 rather than unbounded memory. */
    unsigned ncpu = bw_sys_ncpu();
    enum bw_rc orc = bw_offload_start(ncpu * 2 + 2, 1024, 10, offload_run, &srv->offload);
    /* I/O pool: its threads mostly sleep in a group commit, so it is wide:
     * how many audited record requests can share one fsync */
    if (orc == BW_OK &&
        (orc = bw_offload_start(BW_IO_THREADS, 4096, 0, offload_run, &srv->io)) != BW_OK)
        bw_offload_stop(srv->offload);
    if (orc != BW_OK) {
        bw_why(why, whylen, "cannot start the offload threads");
        close(fd);
        bw_free(srv);
        return orc;
    }
    /* CONTROL: C9 - TLS 1.3 only, whatever the system's GnuTLS defaults allow */
    srv->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_HTTPS_MEM_CERT, cert_pem, MHD_OPTION_HTTPS_MEM_KEY, key_pem,
        MHD_OPTION_HTTPS_PRIORITIES, "NORMAL:-VERS-ALL:+VERS-TLS1.3",
        MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)cfg->max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned)cfg->max_connections_per_ip, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)cfg->idle_timeout, MHD_OPTION_CONNECTION_MEMORY_LIMIT, mem_limit,
        MHD_OPTION_STRICT_FOR_CLIENT, 0, MHD_OPTION_URI_LOG_CALLBACK, on_uri, srv,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_NOTIFY_CONNECTION,
        on_connection, srv, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, srv, MHD_OPTION_END);
    if (srv->daemon == NULL) {
        bw_why(why, whylen, "cannot start the HTTPS server (certificate, key or TLS set-up)");
        close(fd);
        bw_offload_stop(srv->offload);
        bw_offload_stop(srv->io);
        bw_free(srv);
        return BW_ERR_TLS;
    }
    *out = srv;
    return BW_OK;
}

void bw_http_stop(struct bw_http_server *srv, unsigned grace_ms)
{
    if (srv == NULL)
        return;
    MHD_socket lfd = MHD_quiesce_daemon(srv->daemon);
    for (unsigned waited = 0; waited < grace_ms && atomic_load(&srv->requests) > 0;
         waited += 50) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    bw_offload_stop(srv->offload); /* runs what is queued: no connection stays suspended */
    bw_offload_stop(srv->io);
    MHD_stop_daemon(srv->daemon);
    if (lfd != MHD_INVALID_SOCKET)
        close(lfd);
    bw_free(srv);
}
