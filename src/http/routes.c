/*
 * routes.c - the route table (STYLE rule 7). One row per method and path:
 * handler, who may call it, flags (JSON body, open to expired passwords or
 * to sessions before their second factor, administrators only) and body
 * size limit. The router enforces these before a handler runs; a path not in
 * this table is 404 and a method not listed for a known path is 405 (deny by
 * default).
 */
#include "http/http_int.h"

const struct bw_route bw_routes[] = {
    {BW_GET, "/healthz", bw_api_healthz, BW_AUTH_NONE, 0, 0},
    {BW_GET, "/metrics", bw_api_metrics, BW_AUTH_NONE, BW_ROUTE_TEXT, 0},
    {BW_GET, "/.well-known/security.txt", bw_api_security_txt, BW_AUTH_NONE, BW_ROUTE_TEXT, 0},
    {BW_GET, "/security-policy", bw_api_security_policy, BW_AUTH_NONE, BW_ROUTE_TEXT, 0},
    {BW_POST, "/api/v1/auth/login", bw_api_login, BW_AUTH_NONE,
     BW_ROUTE_JSON_BODY | BW_ROUTE_THROTTLED, 4096},
    {BW_POST, "/api/v1/auth/logout", bw_api_logout, BW_AUTH_REQUIRED,
     BW_ROUTE_EXPIRED_OK | BW_ROUTE_MFA_PENDING_OK, 0},
    {BW_POST, "/api/v1/auth/password", bw_api_password, BW_AUTH_REQUIRED,
     BW_ROUTE_JSON_BODY | BW_ROUTE_EXPIRED_OK, 8192},
    {BW_POST, "/api/v1/auth/mfa/verify", bw_api_mfa_verify, BW_AUTH_REQUIRED,
     BW_ROUTE_JSON_BODY | BW_ROUTE_MFA_PENDING_OK, 1024},
    {BW_POST, "/api/v1/auth/mfa/enroll", bw_api_mfa_enroll, BW_AUTH_REQUIRED, 0, 0},
    {BW_POST, "/api/v1/auth/mfa/enroll/confirm", bw_api_mfa_confirm, BW_AUTH_REQUIRED,
     BW_ROUTE_JSON_BODY, 1024},
    {BW_GET, "/api/v1/auth/sessions", bw_api_sessions, BW_AUTH_REQUIRED, 0, 0},
    {BW_DELETE, "/api/v1/auth/sessions/{id}", bw_api_session_delete, BW_AUTH_REQUIRED, 0, 0},
    {BW_POST, "/api/v1/users", bw_api_user_create, BW_AUTH_REQUIRED,
     BW_ROUTE_JSON_BODY | BW_ROUTE_ADMIN, 8192},
    {BW_GET, "/api/v1/users/me", bw_api_me, BW_AUTH_REQUIRED,
     BW_ROUTE_EXPIRED_OK | BW_ROUTE_MFA_PENDING_OK, 0},
    /* tenants: organisations and memberships (permissions: tenant/rbac.c) */
    {BW_POST, "/api/v1/orgs", bw_api_org_create, BW_AUTH_REQUIRED, BW_ROUTE_JSON_BODY, 4096},
    {BW_GET, "/api/v1/orgs", bw_api_org_list, BW_AUTH_REQUIRED, 0, 0},
    {BW_GET, "/api/v1/orgs/{org}", bw_api_org_get, BW_AUTH_REQUIRED, BW_ROUTE_APIKEY_OK, 0},
    {BW_GET, "/api/v1/orgs/{org}/members", bw_api_members, BW_AUTH_REQUIRED,
     BW_ROUTE_APIKEY_OK, 0},
    {BW_POST, "/api/v1/orgs/{org}/members", bw_api_member_add, BW_AUTH_REQUIRED,
     BW_ROUTE_JSON_BODY | BW_ROUTE_APIKEY_OK, 4096},
    {BW_DELETE, "/api/v1/orgs/{org}/members/{user}", bw_api_member_delete, BW_AUTH_REQUIRED,
     BW_ROUTE_APIKEY_OK, 0},
    /* records: collections, records, export (permissions: tenant/rbac.c, checked by
       the handlers inside their transaction) */
    {BW_GET, "/api/v1/orgs/{org}/collections", bw_api_collections, BW_AUTH_REQUIRED,
     BW_ROUTE_APIKEY_OK, 0},
    {BW_POST, "/api/v1/orgs/{org}/collections", bw_api_collection_create, BW_AUTH_REQUIRED,
     BW_ROUTE_JSON_BODY | BW_ROUTE_APIKEY_OK, 65536},
    {BW_GET, "/api/v1/orgs/{org}/collections/{c}", bw_api_collection_get, BW_AUTH_REQUIRED,
     BW_ROUTE_APIKEY_OK, 0},
    {BW_PUT, "/api/v1/orgs/{org}/collections/{c}", bw_api_collection_set, BW_AUTH_REQUIRED,
     BW_ROUTE_JSON_BODY | BW_ROUTE_APIKEY_OK, 1024},
    {BW_GET, "/api/v1/orgs/{org}/collections/{c}/records", bw_api_records, BW_AUTH_REQUIRED,
     BW_ROUTE_APIKEY_OK, 0},
    {BW_POST, "/api/v1/orgs/{org}/collections/{c}/records", bw_api_record_create,
     BW_AUTH_REQUIRED, BW_ROUTE_JSON_BODY | BW_ROUTE_APIKEY_OK, 0},
    {BW_GET, "/api/v1/orgs/{org}/collections/{c}/records/{id}", bw_api_record_get,
     BW_AUTH_REQUIRED, BW_ROUTE_APIKEY_OK, 0},
    {BW_PUT, "/api/v1/orgs/{org}/collections/{c}/records/{id}", bw_api_record_put,
     BW_AUTH_REQUIRED, BW_ROUTE_JSON_BODY | BW_ROUTE_APIKEY_OK, 0},
    {BW_DELETE, "/api/v1/orgs/{org}/collections/{c}/records/{id}", bw_api_record_delete,
     BW_AUTH_REQUIRED, BW_ROUTE_APIKEY_OK, 0},
    {BW_POST, "/api/v1/orgs/{org}/collections/{c}/records/{id}/restore", bw_api_record_restore,
     BW_AUTH_REQUIRED, BW_ROUTE_APIKEY_OK, 0},
    {BW_GET, "/api/v1/orgs/{org}/export", bw_api_org_export, BW_AUTH_REQUIRED,
     BW_ROUTE_APIKEY_OK, 0},
};

const size_t bw_routes_count = BW_ARRAY_LEN(bw_routes);
