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
     BW_ROUTE_JSON_BODY | BW_ROUTE_THROTTLED | BW_ROUTE_OFFLOAD, 4096},
    {BW_POST, "/api/v1/auth/logout", bw_api_logout, BW_AUTH_REQUIRED,
     BW_ROUTE_EXPIRED_OK | BW_ROUTE_MFA_PENDING_OK, 0},
    {BW_POST, "/api/v1/auth/password", bw_api_password, BW_AUTH_REQUIRED,
     BW_ROUTE_JSON_BODY | BW_ROUTE_EXPIRED_OK | BW_ROUTE_OFFLOAD, 8192},
    {BW_POST, "/api/v1/auth/mfa/verify", bw_api_mfa_verify, BW_AUTH_REQUIRED,
     BW_ROUTE_JSON_BODY | BW_ROUTE_MFA_PENDING_OK | BW_ROUTE_EXPIRED_OK, 1024},
    {BW_POST, "/api/v1/auth/mfa/enroll", bw_api_mfa_enroll, BW_AUTH_REQUIRED, 0, 0},
    {BW_POST, "/api/v1/auth/mfa/enroll/confirm", bw_api_mfa_confirm, BW_AUTH_REQUIRED,
     BW_ROUTE_JSON_BODY, 1024},
    {BW_GET, "/api/v1/auth/sessions", bw_api_sessions, BW_AUTH_REQUIRED, 0, 0},
    {BW_DELETE, "/api/v1/auth/sessions/{id}", bw_api_session_delete, BW_AUTH_REQUIRED, 0, 0},
    {BW_POST, "/api/v1/users", bw_api_user_create, BW_AUTH_REQUIRED,
     BW_ROUTE_JSON_BODY | BW_ROUTE_ADMIN | BW_ROUTE_OFFLOAD, 8192},
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
    {BW_POST, "/api/v1/orgs/{org}/apikeys", bw_api_apikey_create, BW_AUTH_REQUIRED,
     BW_ROUTE_JSON_BODY | BW_ROUTE_APIKEY_OK, 8192},
    {BW_GET, "/api/v1/orgs/{org}/apikeys", bw_api_apikey_list, BW_AUTH_REQUIRED,
     BW_ROUTE_APIKEY_OK, 0},
    {BW_DELETE, "/api/v1/orgs/{org}/apikeys/{id}", bw_api_apikey_revoke, BW_AUTH_REQUIRED,
     BW_ROUTE_APIKEY_OK, 0},
    /* audit trail (issue 5): platform admins until org auditor/admin roles exist */
    {BW_GET, "/api/v1/audit", bw_api_audit_search, BW_AUTH_REQUIRED, BW_ROUTE_ADMIN, 0},
    {BW_GET, "/api/v1/audit/verify", bw_api_audit_verify, BW_AUTH_REQUIRED,
     BW_ROUTE_ADMIN | BW_ROUTE_OFFLOAD, 0},
    /* incidents and vulnerabilities (issue 7): platform administrators; the intake is public */
    {BW_GET, "/api/v1/incidents", bw_api_incidents, BW_AUTH_REQUIRED, BW_ROUTE_ADMIN, 0},
    {BW_POST, "/api/v1/incidents", bw_api_incident_create, BW_AUTH_REQUIRED,
     BW_ROUTE_JSON_BODY | BW_ROUTE_ADMIN, 16384},
    {BW_GET, "/api/v1/incidents/{id}", bw_api_incident_get, BW_AUTH_REQUIRED, BW_ROUTE_ADMIN, 0},
    {BW_POST, "/api/v1/incidents/{id}/transition", bw_api_incident_transition, BW_AUTH_REQUIRED,
     BW_ROUTE_JSON_BODY | BW_ROUTE_ADMIN, 65536},
    {BW_POST, "/api/v1/incidents/{id}/assess", bw_api_incident_assess, BW_AUTH_REQUIRED,
     BW_ROUTE_JSON_BODY | BW_ROUTE_ADMIN, 262144},
    {BW_POST, "/api/v1/incidents/{id}/submissions", bw_api_incident_submit, BW_AUTH_REQUIRED,
     BW_ROUTE_JSON_BODY | BW_ROUTE_ADMIN, 131072},
    {BW_POST, "/api/v1/incidents/{id}/contain", bw_api_incident_contain, BW_AUTH_REQUIRED,
     BW_ROUTE_JSON_BODY | BW_ROUTE_ADMIN, 4096},
    {BW_GET, "/api/v1/incidents/{id}/report/{kind}", bw_api_incident_report, BW_AUTH_REQUIRED,
     BW_ROUTE_ADMIN, 0},
    {BW_GET, "/api/v1/overdue", bw_api_overdue, BW_AUTH_REQUIRED, BW_ROUTE_ADMIN, 0},
    {BW_GET, "/api/v1/vulnerabilities", bw_api_vulns, BW_AUTH_REQUIRED, BW_ROUTE_ADMIN, 0},
    {BW_POST, "/api/v1/vulnerabilities", bw_api_vuln_create, BW_AUTH_REQUIRED,
     BW_ROUTE_JSON_BODY | BW_ROUTE_ADMIN, 8192},
    {BW_GET, "/api/v1/vulnerabilities/{id}", bw_api_vuln_get, BW_AUTH_REQUIRED, BW_ROUTE_ADMIN, 0},
    {BW_POST, "/api/v1/vulnerabilities/{id}/close", bw_api_vuln_close, BW_AUTH_REQUIRED,
     BW_ROUTE_JSON_BODY | BW_ROUTE_ADMIN, 65536},
    {BW_POST, "/api/v1/vulnerabilities/{id}/rate", bw_api_vuln_rate, BW_AUTH_REQUIRED,
     BW_ROUTE_JSON_BODY | BW_ROUTE_ADMIN, 1024},
    {BW_POST, "/api/v1/vulnerability-reports", bw_api_vuln_report, BW_AUTH_NONE,
     BW_ROUTE_JSON_BODY | BW_ROUTE_THROTTLED, 32768},
    {BW_GET, "/api/v1/vulnerability-reports/{id}", bw_api_vuln_report_get, BW_AUTH_REQUIRED,
     BW_ROUTE_ADMIN, 0},
    {BW_GET, "/api/v1/sbom", bw_api_sbom, BW_AUTH_REQUIRED, BW_ROUTE_ADMIN, 0},
    /* audit trail follow-up (issue 5): an organisation's own events (audit.read) */
    {BW_GET, "/api/v1/orgs/{org}/audit", bw_api_org_audit, BW_AUTH_REQUIRED, BW_ROUTE_APIKEY_OK,
     0},
};

const size_t bw_routes_count = BW_ARRAY_LEN(bw_routes);
