/*
 * http_int.h - internals shared by the files of src/http/: the request and
 * response objects, the route table (STYLE rule 7: each row declares method,
 * path, handler, permission, body and size limit; the router enforces them
 * before a handler runs) and the helpers handlers use to answer.
 */
#ifndef BW_HTTP_INT_H
#define BW_HTTP_INT_H

#include "audit/audit.h"
#include "auth/auth.h"
#include "http/http.h"

#include <jansson.h>

enum bw_method {
    BW_GET = 1 << 0,
    BW_POST = 1 << 1,
    BW_PUT = 1 << 2,
    BW_DELETE = 1 << 3,
    BW_PATCH = 1 << 4,
    BW_HEAD = 1 << 5,
    BW_OPTIONS = 1 << 6,
};

/* Who may call a route. Later issues add session/API-key/RBAC levels. */
enum bw_auth {
    BW_AUTH_NONE,     /* public: health, metrics, security.txt, login */
    BW_AUTH_REQUIRED, /* a valid session (Authorization: Bearer) */
    BW_AUTH_OPTIONAL, /* credentials, when sent, are checked like REQUIRED (with every gate of
                         the row); without any the request goes on anonymous, throttled per
                         address like BW_ROUTE_THROTTLED (sign-up on POST /api/v1/users) */
};

/* Route flags. */
#define BW_ROUTE_JSON_BODY (1u << 0) /* requires an application/json object body */
#define BW_ROUTE_TEXT (1u << 1)      /* answers text, not JSON (no Cache-Control rule) */
#define BW_ROUTE_EXPIRED_OK (1u << 2) /* open to sessions whose password expired */
#define BW_ROUTE_THROTTLED (1u << 3)  /* unauthenticated auth route: per-address limit */
#define BW_ROUTE_MFA_PENDING_OK (1u << 4) /* open to sessions still missing their second factor */
#define BW_ROUTE_ADMIN (1u << 5) /* administrators only (platform admins today; org owners and
                                    admins later); with mfa.required_for_admins they also need
                                    MFA enabled and verified in the session (CONTROL: AC-05) */
#define BW_ROUTE_OFFLOAD (1u << 6) /* slow handler (password hashing): runs on the offload pool
                                      with the connection suspended, never on an HTTP worker */
#define BW_ROUTE_IO (1u << 8) /* waits on durable store commits (audited record reads and
                                 writes): runs on the I/O pool with the connection suspended, so
                                 many such requests share one group commit instead of blocking
                                 the few HTTP workers one fsync at a time */
#define BW_ROUTE_APIKEY_OK (1u << 7) /* open to API keys (Authorization: ApiKey); other routes
                                        answer a key 403 (CONTROL: AC-04) */
/* Every flag above, once: a new flag is added here too, and a bit used twice
 * fails the build (two branches once both took bit 6). */
#define BW_ROUTE_FLAGS_ALL                                                                    \
    (BW_ROUTE_JSON_BODY | BW_ROUTE_TEXT | BW_ROUTE_EXPIRED_OK | BW_ROUTE_THROTTLED |            \
     BW_ROUTE_MFA_PENDING_OK | BW_ROUTE_ADMIN | BW_ROUTE_OFFLOAD | BW_ROUTE_APIKEY_OK |         \
     BW_ROUTE_IO)
_Static_assert(__builtin_popcount(BW_ROUTE_FLAGS_ALL) == 9, "route flags must be distinct bits");

#define BW_MAX_PARAMS 6
#define BW_MAX_PARAM_LEN 128

struct bw_req;
struct bw_resp;
typedef enum bw_rc (*bw_handler_fn)(struct bw_req *req, struct bw_resp *resp);

struct bw_route {
    unsigned method;      /* one enum bw_method bit */
    const char *pattern;  /* "/api/v1/orgs/{org}": literal segments and {params} */
    bw_handler_fn handler;
    enum bw_auth auth;
    unsigned flags;
    size_t max_body;      /* 0 = server.max_body */
};

struct bw_route_match {
    const struct bw_route *route;
    size_t route_index;
    size_t nparams;
    char names[BW_MAX_PARAMS][32];
    char values[BW_MAX_PARAMS][BW_MAX_PARAM_LEN + 1];
    unsigned allowed; /* methods the path accepts, for 405 + Allow */
};

/* The route table (routes.c) and its size. */
extern const struct bw_route bw_routes[];
extern const size_t bw_routes_count;

/* Matches method+path against the table. BW_OK with m filled; BW_ERR_NOTFOUND
 * when no pattern matches the path; BW_ERR_UNSUPPORTED when the path exists
 * but not for this method (m->allowed says which). Pure: no I/O, no alloc. */
BW_MUST_CHECK enum bw_rc bw_router_match(const struct bw_route *table, size_t n, unsigned method,
                                         const char *path, struct bw_route_match *m);
/* Parses a method name; 0 when unknown. */
unsigned bw_method_parse(const char *name);
const char *bw_method_name(unsigned method);

/* Field errors collected while validating a body (STYLE rule 3). */
#define BW_MAX_FIELD_ERRORS 16
struct bw_field_errors {
    size_t n;
    struct {
        char field[64];
        char message[128];
    } e[BW_MAX_FIELD_ERRORS];
};

/* Body parsing, shared by the server and the fuzzer. Checks the content
 * type, UTF-8, duplicate keys, nesting depth and that the top level is an
 * object. On failure returns the HTTP status (400/415) and a detail line. */
enum { BW_JSON_MAX_DEPTH = 32 };
BW_MUST_CHECK enum bw_rc bw_http_parse_json(const char *content_type, const char *body,
                                            size_t len, json_t **out, int *status, char *detail,
                                            size_t detail_len);
/* True for "application/json" with optional "; charset=utf-8". */
bool bw_http_is_json_type(const char *content_type);

/* Body schema helpers (request.c): unknown members are field errors; a
 * string member must be a JSON string of at most `max` bytes. */
void bw_body_only(const json_t *body, const char *const *allowed, size_t n,
                  struct bw_field_errors *fe);
const char *bw_body_string(const json_t *body, const char *name, size_t max, size_t *len,
                           struct bw_field_errors *fe);
void bw_field_error(struct bw_field_errors *fe, const char *field, const char *message);

struct bw_resp_header {
    char *name;
    char *value;
};

struct bw_resp {
    int status;
    const char *content_type; /* static string */
    struct bw_buf body;
    struct bw_resp_header headers[8];
    size_t nheaders;
};

struct bw_req {
    const struct bw_http_deps *deps;
    struct bw_http_server *srv;
    void *conn;                /* struct MHD_Connection */
    unsigned method;
    const char *method_name;   /* as sent (for logs), or "-" */
    char *path;                /* decoded path, owned */
    size_t raw_uri_len;
    char request_id[33];
    char remote[64];
    uint64_t start_ns;
    struct bw_route_match match;
    bool matched;
    bool started;              /* first access-handler call seen */
    bool close;                /* answer with Connection: close */
    int early_status;          /* error decided while reading the request */
    bool discard_body;         /* early 413 within max_body: the body is read and dropped */
    char early_detail[160];
    struct bw_buf body;
    json_t *json;              /* parsed body, owned */
    bool authenticated;
    const char *denied;        /* problem slug of a 403 decided by the router, or NULL */
    struct bw_principal principal;
    int status;                /* final status, for the access log */
    size_t bytes_out;
    /* BW_ROUTE_OFFLOAD: the answer prepared on the offload pool */
    bool offloaded;
    _Atomic bool offload_done;
    struct bw_resp offload_resp;
    struct bw_req *offload_next; /* queue link, owned by offload.c */
};

/* The offload pool (offload.c): `threads` threads, their nice value raised
 * by `nice`, run `run(req)` for each submitted request, in order. submit returns false when `max_queued`
 * requests already wait or the pool is stopping. stop runs what is queued,
 * then joins. */
struct bw_offload;
BW_MUST_CHECK enum bw_rc bw_offload_start(unsigned threads, size_t max_queued, int nice,
                                          void (*run)(struct bw_req *req),
                                          struct bw_offload **out);
BW_MUST_CHECK bool bw_offload_submit(struct bw_offload *o, struct bw_req *req);
void bw_offload_stop(struct bw_offload *o); /* accepts NULL */

/* Helpers for handlers. */
BW_MUST_CHECK enum bw_rc bw_resp_json(struct bw_resp *resp, int status, json_t *obj);
BW_MUST_CHECK enum bw_rc bw_resp_text(struct bw_resp *resp, int status, const char *ctype,
                                      const char *text);
/* RFC 9457 problem: type "/problems/<slug>". `errors` may be NULL. */
BW_MUST_CHECK enum bw_rc bw_resp_problem(struct bw_resp *resp, int status, const char *slug,
                                         const char *detail,
                                         const struct bw_field_errors *errors);
BW_MUST_CHECK enum bw_rc bw_resp_header(struct bw_resp *resp, const char *name,
                                        const char *value);
void bw_resp_init(struct bw_resp *resp);
void bw_resp_cleanup(struct bw_resp *resp);
/* The single mapping from result codes to HTTP status (STYLE rule 3). */
int bw_http_status_for(enum bw_rc rc);
const char *bw_http_reason(int status);
/* Builds the problem for `rc` when a handler failed without answering. */
void bw_resp_from_rc(struct bw_resp *resp, enum bw_rc rc);

/* Metrics (metrics.c). */
void bw_metrics_observe(size_t route_index, int status, uint64_t ns);
BW_MUST_CHECK enum bw_rc bw_metrics_render(struct bw_store *store, struct bw_buf *out);
void bw_metrics_connections(int delta);

/* Browser mode (csrf.c). */
#define BW_SESSION_COOKIE "__Host-bulwark_session"
#define BW_CSRF_LEN 43 /* base64url of 32 bytes */
struct bw_keyring;
BW_MUST_CHECK enum bw_rc bw_csrf_token(const struct bw_keyring *kr, const char *session_token,
                                       char out[BW_CSRF_LEN + 1]);
bool bw_csrf_valid(const struct bw_keyring *kr, const char *session_token, const char *header);
/* Sets (token) or clears (NULL) the session cookie on a response. */
BW_MUST_CHECK enum bw_rc bw_session_cookie(struct bw_resp *resp, const char *token,
                                           int64_t max_age);

/* Per-address token bucket (ratelimit.c); false = refuse, retry_after set. */
bool bw_ratelimit_take(const char *addr, unsigned *retry_after);
/* The audit context of a request. */
void bw_req_audit_ctx(const struct bw_req *req, struct bw_audit_ctx *ctx);

/* Identity handlers (api_auth.c). */
enum bw_rc bw_api_login(struct bw_req *req, struct bw_resp *resp);
enum bw_rc bw_api_logout(struct bw_req *req, struct bw_resp *resp);
enum bw_rc bw_api_password(struct bw_req *req, struct bw_resp *resp);
enum bw_rc bw_api_sessions(struct bw_req *req, struct bw_resp *resp);
enum bw_rc bw_api_session_delete(struct bw_req *req, struct bw_resp *resp);
enum bw_rc bw_api_me(struct bw_req *req, struct bw_resp *resp);
enum bw_rc bw_api_mfa_enroll(struct bw_req *req, struct bw_resp *resp);
enum bw_rc bw_api_mfa_confirm(struct bw_req *req, struct bw_resp *resp);
enum bw_rc bw_api_mfa_verify(struct bw_req *req, struct bw_resp *resp);
enum bw_rc bw_api_user_create(struct bw_req *req, struct bw_resp *resp);

/* System handlers (api_system.c). */
enum bw_rc bw_api_healthz(struct bw_req *req, struct bw_resp *resp);
enum bw_rc bw_api_metrics(struct bw_req *req, struct bw_resp *resp);
enum bw_rc bw_api_security_txt(struct bw_req *req, struct bw_resp *resp);
enum bw_rc bw_api_security_policy(struct bw_req *req, struct bw_resp *resp);

/* ---- tenants (api_orgs.c, api_apikeys.c) -----------------------------------
 * Organisation-scoped routes ("/api/v1/orgs/{org}/...", {org} the FIRST
 * parameter) carry BW_ROUTE_APIKEY_OK when an API key may call them; the
 * router refuses API keys (403) on every other route. Their handlers call
 * bw_tenant_authorize() inside their own transaction and, when it refuses,
 * return bw_tenant_answer(): 404 for other organisations' ids exactly like
 * for ids that do not exist, 403 (type .../forbidden or .../mfa-required)
 * for members lacking the permission, 409 for the owner rules; refusals
 * are recorded as authz.deny events by the pipeline. Any other rc is
 * returned unchanged. */
struct bw_tenant_result;
BW_MUST_CHECK enum bw_rc bw_tenant_answer(struct bw_req *req, struct bw_resp *resp,
                                          enum bw_rc rc, const struct bw_tenant_result *res);
enum bw_rc bw_api_org_create(struct bw_req *req, struct bw_resp *resp);
enum bw_rc bw_api_org_list(struct bw_req *req, struct bw_resp *resp);
enum bw_rc bw_api_org_get(struct bw_req *req, struct bw_resp *resp);
enum bw_rc bw_api_org_delete(struct bw_req *req, struct bw_resp *resp);
enum bw_rc bw_api_members(struct bw_req *req, struct bw_resp *resp);
enum bw_rc bw_api_member_add(struct bw_req *req, struct bw_resp *resp);
enum bw_rc bw_api_member_delete(struct bw_req *req, struct bw_resp *resp);

/* API keys of an organisation (api_apikeys.c). */
enum bw_rc bw_api_apikey_create(struct bw_req *req, struct bw_resp *resp);
enum bw_rc bw_api_apikey_list(struct bw_req *req, struct bw_resp *resp);
enum bw_rc bw_api_apikey_revoke(struct bw_req *req, struct bw_resp *resp);

/* The client address (server.c): `peer` itself, unless it lies inside one
 * of the n trusted proxies; then the right-most X-Forwarded-For entry that
 * is not a trusted proxy (a malformed entry ends the walk at the last good
 * hop). Canonical text in out[cap]. Pure. */
void bw_client_address(const char *peer, const char *xff, const struct bw_cidr *proxies,
                       size_t n, char *out, size_t cap);
/* Audit trail handlers (api_audit.c, issue 5). */
enum bw_rc bw_api_audit_search(struct bw_req *req, struct bw_resp *resp);
enum bw_rc bw_api_audit_verify(struct bw_req *req, struct bw_resp *resp);
/* Incidents and vulnerabilities (api_incidents.c, api_vulns.c: issue 7). */
struct bw_reg_err;
void bw_req_actor(const struct bw_req *req, char out[BW_ID_LEN + 8]);
/* A register's refusal (400 field error, 409, 404 "no such <what>"); other
 * codes are returned for the pipeline to answer. */
enum bw_rc bw_reg_answer(struct bw_resp *resp, enum bw_rc rc, const struct bw_reg_err *err,
                         const char *what);
enum bw_rc bw_api_incidents(struct bw_req *req, struct bw_resp *resp);
enum bw_rc bw_api_incident_create(struct bw_req *req, struct bw_resp *resp);
enum bw_rc bw_api_incident_get(struct bw_req *req, struct bw_resp *resp);
enum bw_rc bw_api_incident_transition(struct bw_req *req, struct bw_resp *resp);
enum bw_rc bw_api_incident_assess(struct bw_req *req, struct bw_resp *resp);
enum bw_rc bw_api_incident_submit(struct bw_req *req, struct bw_resp *resp);
enum bw_rc bw_api_incident_contain(struct bw_req *req, struct bw_resp *resp);
enum bw_rc bw_api_incident_report(struct bw_req *req, struct bw_resp *resp);
enum bw_rc bw_api_overdue(struct bw_req *req, struct bw_resp *resp);
enum bw_rc bw_api_vulns(struct bw_req *req, struct bw_resp *resp);
enum bw_rc bw_api_vuln_create(struct bw_req *req, struct bw_resp *resp);
enum bw_rc bw_api_vuln_get(struct bw_req *req, struct bw_resp *resp);
enum bw_rc bw_api_vuln_close(struct bw_req *req, struct bw_resp *resp);
enum bw_rc bw_api_vuln_rate(struct bw_req *req, struct bw_resp *resp);
enum bw_rc bw_api_vuln_report(struct bw_req *req, struct bw_resp *resp);
enum bw_rc bw_api_vuln_report_get(struct bw_req *req, struct bw_resp *resp);
enum bw_rc bw_api_sbom(struct bw_req *req, struct bw_resp *resp);
/* ---- records (api_records.c): collections, records, export ------------------ */
enum bw_rc bw_api_collections(struct bw_req *req, struct bw_resp *resp);
enum bw_rc bw_api_collection_create(struct bw_req *req, struct bw_resp *resp);
enum bw_rc bw_api_collection_get(struct bw_req *req, struct bw_resp *resp);
enum bw_rc bw_api_collection_set(struct bw_req *req, struct bw_resp *resp);
enum bw_rc bw_api_records(struct bw_req *req, struct bw_resp *resp);
enum bw_rc bw_api_record_create(struct bw_req *req, struct bw_resp *resp);
enum bw_rc bw_api_record_get(struct bw_req *req, struct bw_resp *resp);
enum bw_rc bw_api_record_put(struct bw_req *req, struct bw_resp *resp);
enum bw_rc bw_api_record_delete(struct bw_req *req, struct bw_resp *resp);
enum bw_rc bw_api_record_restore(struct bw_req *req, struct bw_resp *resp);
enum bw_rc bw_api_org_export(struct bw_req *req, struct bw_resp *resp);
/* Compliance (api_compliance.c: check). */
enum bw_rc bw_api_compliance(struct bw_req *req, struct bw_resp *resp);
enum bw_rc bw_api_compliance_history(struct bw_req *req, struct bw_resp *resp);
enum bw_rc bw_api_compliance_assessment(struct bw_req *req, struct bw_resp *resp);

/* incidents, second round (issue 7): staff reports (INC-06), recurrence reviews (G-16) */
enum bw_rc bw_api_incident_staff_report(struct bw_req *req, struct bw_resp *resp);
enum bw_rc bw_api_incident_reviews(struct bw_req *req, struct bw_resp *resp);

/* Audit trail follow-up (api_audit.c): one organisation's events. */
enum bw_rc bw_api_org_audit(struct bw_req *req, struct bw_resp *resp);

#endif
