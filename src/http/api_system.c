/*
 * api_system.c - the unauthenticated system routes: liveness, Prometheus
 * metrics (loopback clients only until the identity layer can authorise
 * scrapers), the RFC 9116 security.txt and the disclosure policy it points
 * to (CONTROL: VUL-07, INC-05). None of them reads or changes tenant data.
 */
#include "http/http_int.h"
#include "store/store.h"

#include <string.h>

enum bw_rc bw_api_healthz(struct bw_req *req, struct bw_resp *resp)
{
    json_t *o = json_pack("{s:s}", "status", "ok");
    return bw_resp_json(resp, 200, o);
}

static bool is_loopback(const char *addr)
{
    return strncmp(addr, "127.", 4) == 0 || strcmp(addr, "::1") == 0 ||
           strncmp(addr, "::ffff:127.", 11) == 0;
}

enum bw_rc bw_api_metrics(struct bw_req *req, struct bw_resp *resp)
{
    if (!is_loopback(req->remote))
        return bw_resp_problem(resp, 403, NULL, "metrics are served to loopback clients only",
                               NULL);
    bw_buf_reset(&resp->body);
    enum bw_rc rc = bw_metrics_render(req->deps->store, &resp->body);
    if (rc != BW_OK)
        return rc;
    resp->status = 200;
    resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
    return BW_OK;
}

/* The base URL the server is reachable at, from configuration only (never
 * from the client's Host header, which the client controls). */
static enum bw_rc base_url(const struct bw_config *cfg, struct bw_buf *out)
{
    if (strchr(cfg->listen_host, ':') != NULL)
        return bw_buf_appendf(out, "https://[%s]:%u", cfg->listen_host, cfg->listen_port);
    return bw_buf_appendf(out, "https://%s:%u", cfg->listen_host, cfg->listen_port);
}

enum bw_rc bw_api_security_txt(struct bw_req *req, struct bw_resp *resp)
{
    const struct bw_config *cfg = req->deps->cfg;
    char expires[21];
    struct bw_buf policy;
    bw_buf_init(&policy, 4096);
    bw_time_format(bw_time_now() + cfg->security_txt_expires, expires);
    enum bw_rc rc = BW_OK;
    if (cfg->security_policy != NULL && cfg->security_policy[0] != '\0') {
        rc = bw_buf_appends(&policy, cfg->security_policy);
    } else {
        rc = base_url(cfg, &policy);
        if (rc == BW_OK)
            rc = bw_buf_appends(&policy, "/security-policy");
    }
    bw_buf_reset(&resp->body);
    if (rc == BW_OK)
        rc = bw_buf_appendf(&resp->body,
                            "# Security contact for this Bulwark installation (RFC 9116)\n"
                            "Contact: %s\n"
                            "Expires: %s\n"
                            "Policy: %s\n"
                            "Preferred-Languages: en, de\n",
                            cfg->security_contact, expires, policy.data);
    bw_buf_free(&policy, false);
    if (rc != BW_OK)
        return rc;
    resp->status = 200;
    resp->content_type = "text/plain; charset=utf-8";
    return BW_OK;
}

enum bw_rc bw_api_security_policy(struct bw_req *req, struct bw_resp *resp)
{
    const struct bw_config *cfg = req->deps->cfg;
    bw_buf_reset(&resp->body);
    enum bw_rc rc = bw_buf_appendf(
        &resp->body,
        "Vulnerability disclosure policy\n"
        "===============================\n\n"
        "We welcome reports of security vulnerabilities in this service.\n\n"
        "How to report: write to %s, or send a JSON object\n"
        "{\"description\": \"...\", \"title\": \"...\", \"contact\": \"...\"} with\n"
        "POST /api/v1/vulnerability-reports on this server (stored encrypted,\n"
        "answered with a tracking id). Please include what you found, how to\n"
        "reproduce it and its impact. Do not use public issue trackers for\n"
        "security reports.\n\n"
        "What we promise: an acknowledgement within 3 working days, a first\n"
        "assessment within 10 working days, and coordinated disclosure once a\n"
        "fix is available. Critical issues are fixed within 24 hours, high within\n"
        "7 days, medium within 30 days, low within 90 days.\n\n"
        "Safe harbour: good-faith research that avoids privacy violations, data\n"
        "destruction and service degradation will not lead to legal action.\n",
        cfg->security_contact);
    if (rc != BW_OK)
        return rc;
    resp->status = 200;
    resp->content_type = "text/plain; charset=utf-8";
    return BW_OK;
}
