/*
 * notify.c - the notifications outbox (CONTROL: INC-01, INC-05, G-01, G-15,
 * VUL-01): rows queued in the transaction of the change they announce, and
 * their delivery by the serve worker: a webhook POST of JSON signed with
 * HMAC-SHA256 (libsodium) in X-Bulwark-Signature, or an e-mail over SMTP
 * (libcurl). A failed delivery is retried with exponential backoff
 * (notify.retry_base * 2^attempt) up to notify.max_attempts; every outcome
 * is audited. A row is claimed with a lease before delivery so that
 * several servers on one PostgreSQL do not send it twice.
 *
 * Trusts: the configuration (URLs, secret). Payloads hold ids, titles and
 * times, never secrets. The webhook secret is never logged; the signing
 * state is wiped after use. Runs only on the worker thread.
 */
#include "audit/audit.h"
#include "auth/auth.h"
#include "incident/incident_int.h"
#include "store/store.h"

#include <curl/curl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

enum bw_rc bw_notify_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? BW_OK : BW_ERR_INTERNAL;
}

/* ---- queueing -------------------------------------------------------------------------- */

static enum bw_rc enqueue(struct bw_tx *tx, const char *channel, const char *dest,
                          const char *subject, const char *body, const char *event)
{
    char id[BW_ID_LEN + 1];
    bw_id_new(id);
    struct bw_val p[] = {BW_VTEXT(id),      BW_VINT(bw_time_now()), BW_VTEXT(channel),
                         BW_VTEXT(dest),    BW_VTEXT(subject),      BW_VTEXT(body),
                         BW_VTEXT(event)};
    return bw_tx_exec(tx, BW_STMT_NOTIFY_INSERT, p, BW_ARRAY_LEN(p), NULL);
}

/* Subjects become one header line: control characters are replaced. */
static void clean_line(const char *in, char *out, size_t cap)
{
    size_t i = 0;
    for (; in[i] != '\0' && i + 1 < cap; i++)
        out[i] = (unsigned char)in[i] < 0x20 || in[i] == 0x7f ? ' ' : in[i];
    out[i] = '\0';
}

enum bw_rc bw_notify_email(struct bw_tx *tx, const struct bw_config *cfg, const char *event,
                           const char *to, const char *subject, const char *text)
{
    char subj[300];
    if (cfg->notify_smtp_url == NULL || cfg->notify_smtp_url[0] == '\0')
        return BW_OK; /* no mail relay configured: nothing to send */
    if (strpbrk(to, "\r\n<>,; ") != NULL || strchr(to, '@') == NULL)
        return BW_OK; /* never an address that could smuggle a header or recipient */
    clean_line(subject, subj, sizeof(subj));
    return enqueue(tx, "email", to, subj, text, event);
}

enum bw_rc bw_notify_security(struct bw_tx *tx, const struct bw_config *cfg, const char *event,
                              const char *subject, json_t *data)
{
    char ts[21], subj[300];
    bw_time_format(bw_time_now(), ts);
    clean_line(subject, subj, sizeof(subj));
    json_t *msg = json_pack("{s:s, s:s, s:s, s:o}", "event", event, "subject", subj, "at", ts,
                            "data", data != NULL ? data : json_object());
    char *body = msg != NULL ? json_dumps(msg, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    char *pretty = msg != NULL ? json_dumps(msg, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    json_decref(msg);
    enum bw_rc rc = body != NULL && pretty != NULL ? BW_OK : BW_ERR_NOMEM;
    if (rc == BW_OK && cfg->notify_webhook_url != NULL && cfg->notify_webhook_url[0] != '\0')
        rc = enqueue(tx, "webhook", cfg->notify_webhook_url, subj, body, event);
    const char *p = cfg->notify_security_contacts != NULL ? cfg->notify_security_contacts : "";
    while (rc == BW_OK && *p != '\0') {
        char to[BW_EMAIL_MAX + 1];
        size_t n = strcspn(p, ",");
        if (n < sizeof(to)) {
            memcpy(to, p, n);
            to[n] = '\0';
            rc = bw_notify_email(tx, cfg, event, to, subj, pretty);
        }
        p += n + (p[n] == ',');
    }
    bw_free(body);
    bw_free(pretty);
    return rc;
}

/* ---- signing ------------------------------------------------------------------------------ */

enum bw_rc bw_notify_sign(const char *secret, const char *timestamp, const char *body,
                          size_t len, char out[72])
{
    crypto_auth_hmacsha256_state st;
    uint8_t mac[crypto_auth_hmacsha256_BYTES];
    if (secret == NULL || secret[0] == '\0')
        return BW_ERR_UNSUPPORTED;
    crypto_auth_hmacsha256_init(&st, (const uint8_t *)secret, strlen(secret));
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)timestamp, strlen(timestamp));
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)".", 1);
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)body, len);
    crypto_auth_hmacsha256_final(&st, mac);
    memcpy(out, "sha256=", 7);
    bw_hex(mac, sizeof(mac), out + 7);
    sodium_memzero(&st, sizeof(st));
    sodium_memzero(mac, sizeof(mac));
    return BW_OK;
}

/* ---- delivery ---------------------------------------------------------------------------------- */

struct item {
    char id[BW_ID_LEN + 1];
    char channel[16];
    char dest[512];
    char subject[300];
    char event[64];
    char *body; /* owned */
    int64_t attempts;
};

struct due {
    struct item items[16];
    size_t n;
};

static enum bw_rc due_row(void *arg, const struct bw_row *row)
{
    struct due *d = arg;
    if (d->n == BW_ARRAY_LEN(d->items))
        return BW_OK;
    struct item *it = &d->items[d->n];
    memset(it, 0, sizeof(*it));
    bw_why(it->id, sizeof(it->id), "%s", bw_row_text(row, 0, NULL));
    bw_why(it->channel, sizeof(it->channel), "%s", bw_row_text(row, 1, NULL));
    bw_why(it->dest, sizeof(it->dest), "%s", bw_row_text(row, 2, NULL));
    bw_why(it->subject, sizeof(it->subject), "%s", bw_row_text(row, 3, NULL));
    it->body = bw_strdup(bw_row_text(row, 4, NULL));
    bw_why(it->event, sizeof(it->event), "%s", bw_row_text(row, 5, NULL));
    it->attempts = bw_row_int(row, 6);
    d->n++;
    return it->body != NULL ? BW_OK : BW_ERR_NOMEM;
}

static enum bw_rc due_fn(struct bw_tx *tx, void *arg)
{
    struct due *d = arg;
    for (size_t i = 0; i < d->n; i++)
        bw_free(d->items[i].body);
    d->n = 0;
    struct bw_val p[] = {BW_VINT(bw_time_now()), BW_VINT(BW_ARRAY_LEN(d->items))};
    return bw_tx_query(tx, BW_STMT_NOTIFY_DUE, p, 2, due_row, d);
}

struct claim {
    const char *id;
    int64_t lease;
    bool got;
};

static enum bw_rc claim_row(void *arg, const struct bw_row *row)
{
    ((struct claim *)arg)->got = true;
    return BW_OK;
}

static enum bw_rc claim_fn(struct bw_tx *tx, void *arg)
{
    struct claim *c = arg;
    c->got = false;
    struct bw_val p[] = {BW_VTEXT(c->id), BW_VINT(bw_time_now()), BW_VINT(c->lease)};
    return bw_tx_query(tx, BW_STMT_NOTIFY_CLAIM, p, 3, claim_row, c);
}

static size_t sink(char *ptr, size_t size, size_t n, void *arg)
{
    return size * n; /* the receiver's answer body is not needed */
}

static enum bw_rc post_webhook(const struct bw_config *cfg, const struct item *it, char *err,
                               size_t errlen)
{
    char ts[24], sig[72], h_sig[96], h_ts[64], h_ev[96];
    long status = 0;
    snprintf(ts, sizeof(ts), "%lld", (long long)bw_time_now());
    enum bw_rc rc = bw_notify_sign(cfg->notify_webhook_secret, ts, it->body, strlen(it->body), sig);
    if (rc != BW_OK) {
        bw_why(err, errlen, "notify.webhook_secret is not set");
        return rc;
    }
    snprintf(h_sig, sizeof(h_sig), "X-Bulwark-Signature: %s", sig);
    snprintf(h_ts, sizeof(h_ts), "X-Bulwark-Timestamp: %s", ts);
    snprintf(h_ev, sizeof(h_ev), "X-Bulwark-Event: %s", it->event);
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, h_sig);
    h = curl_slist_append(h, h_ts);
    h = curl_slist_append(h, h_ev);
    CURLcode cc = CURLE_OUT_OF_MEMORY;
    if (c != NULL && h != NULL) {
        curl_easy_setopt(c, CURLOPT_URL, it->dest);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https,http");
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, it->body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(it->body));
        curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)cfg->notify_timeout);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
        cc = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    }
    sodium_memzero(sig, sizeof(sig));
    sodium_memzero(h_sig, sizeof(h_sig));
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (cc != CURLE_OK) {
        bw_why(err, errlen, "webhook: %s", curl_easy_strerror(cc));
        return BW_ERR_IO;
    }
    if (status < 200 || status > 299) {
        bw_why(err, errlen, "webhook answered HTTP %ld", status);
        return BW_ERR_IO;
    }
    return BW_OK;
}

struct upload {
    const char *data;
    size_t len, off;
};

static size_t upload_read(char *buf, size_t size, size_t n, void *arg)
{
    struct upload *u = arg;
    size_t want = size * n, left = u->len - u->off;
    size_t k = want < left ? want : left;
    memcpy(buf, u->data + u->off, k);
    u->off += k;
    return k;
}

static enum bw_rc send_mail(const struct bw_config *cfg, const struct item *it, char *err,
                            size_t errlen)
{
    struct bw_buf msg;
    char date[64], from[300], mid[BW_ID_LEN + 1];
    time_t now = (time_t)bw_time_now();
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
    bw_id_new(mid);
    snprintf(from, sizeof(from), "<%s>", cfg->notify_smtp_from);
    bw_buf_init(&msg, 1 << 20);
    enum bw_rc rc = bw_buf_appendf(&msg,
                                   "Date: %s\r\nFrom: %s\r\nTo: <%s>\r\nSubject: %s\r\n"
                                   "Message-ID: <%s@bulwark>\r\nMIME-Version: 1.0\r\n"
                                   "Content-Type: text/plain; charset=utf-8\r\n"
                                   "Content-Transfer-Encoding: 8bit\r\n\r\n",
                                   date, from, it->dest, it->subject, mid);
    for (const char *p = it->body; rc == BW_OK && *p != '\0'; p++)
        rc = *p == '\n' ? bw_buf_append(&msg, "\r\n", 2) : bw_buf_append(&msg, p, 1);
    if (rc == BW_OK)
        rc = bw_buf_append(&msg, "\r\n", 2);
    if (rc != BW_OK) {
        bw_buf_free(&msg, false);
        bw_why(err, errlen, "message too large");
        return rc;
    }
    char rcpt[600];
    snprintf(rcpt, sizeof(rcpt), "<%s>", it->dest);
    struct upload u = {msg.data, msg.len, 0};
    CURL *c = curl_easy_init();
    struct curl_slist *to = curl_slist_append(NULL, rcpt);
    CURLcode cc = CURLE_OUT_OF_MEMORY;
    if (c != NULL && to != NULL) {
        curl_easy_setopt(c, CURLOPT_URL, cfg->notify_smtp_url);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
        curl_easy_setopt(c, CURLOPT_USE_SSL, cfg->notify_smtp_tls ? (long)CURLUSESSL_ALL
                                                                   : (long)CURLUSESSL_NONE);
        curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
        curl_easy_setopt(c, CURLOPT_MAIL_RCPT, to);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, upload_read);
        curl_easy_setopt(c, CURLOPT_READDATA, &u);
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_INFILESIZE, (long)msg.len);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)cfg->notify_timeout);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        cc = curl_easy_perform(c);
    }
    curl_slist_free_all(to);
    curl_easy_cleanup(c);
    bw_buf_free(&msg, false);
    if (cc != CURLE_OK) {
        bw_why(err, errlen, "smtp: %s", curl_easy_strerror(cc));
        return BW_ERR_IO;
    }
    return BW_OK;
}

struct result {
    const struct bw_config *cfg;
    const struct item *it;
    bool ok;
    const char *err;
    struct bw_deliver_stats *stats;
};

static enum bw_rc result_fn(struct bw_tx *tx, void *arg)
{
    static const struct bw_audit_ctx sys = {.remote = "-", .request_id = "-"};
    struct result *r = arg;
    int64_t now = bw_time_now(), attempts = r->it->attempts + 1;
    bool give_up = !r->ok && attempts >= (int64_t)r->cfg->notify_max_attempts;
    int64_t shift = attempts - 1 < 20 ? attempts - 1 : 20;
    int64_t next = now + r->cfg->notify_retry_base * ((int64_t)1 << shift);
    const char *status = r->ok ? "sent" : give_up ? "failed" : "pending";
    struct bw_val p[] = {BW_VTEXT(r->it->id),
                         BW_VTEXT(status),
                         BW_VINT(attempts),
                         BW_VINT(r->ok || give_up ? now : next),
                         r->ok ? BW_VNULL : BW_VTEXT(r->err),
                         r->ok ? BW_VINT(now) : BW_VNULL};
    enum bw_rc rc = bw_tx_exec(tx, BW_STMT_NOTIFY_RESULT, p, BW_ARRAY_LEN(p), NULL);
    const char *action = r->ok ? "notify.delivered" : give_up ? "notify.failed" : "notify.retry";
    /* e-mail addresses are not logged in full for users; the channel and event are enough */
    if (rc == BW_OK)
        rc = bw_audit_append(tx, &sys, "system", action, r->it->id,
                             r->ok ? BW_AUDIT_SUCCESS : BW_AUDIT_FAILURE,
                             json_pack("{s:s, s:s, s:I, s:s?}", "channel", r->it->channel,
                                       "event", r->it->event, "attempt", (json_int_t)attempts,
                                       "error", r->ok ? NULL : r->err));
    if (rc == BW_OK && r->ok)
        r->stats->sent++;
    else if (rc == BW_OK && give_up)
        r->stats->failed++;
    else if (rc == BW_OK)
        r->stats->retried++;
    return rc;
}

enum bw_rc bw_notify_deliver(struct bw_store *st, const struct bw_config *cfg,
                             struct bw_deliver_stats *out)
{
    struct bw_deliver_stats stats = {0, 0, 0};
    struct due *d = bw_calloc(1, sizeof(*d));
    if (d == NULL)
        return BW_ERR_NOMEM;
    enum bw_rc rc = bw_store_read(st, due_fn, d);
    for (size_t i = 0; rc == BW_OK && i < d->n; i++) {
        struct item *it = &d->items[i];
        struct claim c = {it->id, bw_time_now() + 2 * cfg->notify_timeout + 60, false};
        rc = bw_store_write(st, claim_fn, &c);
        if (rc != BW_OK || !c.got)
            continue;
        char err[256] = "";
        enum bw_rc sent = strcmp(it->channel, "webhook") == 0 ? post_webhook(cfg, it, err, sizeof(err))
                                                             : send_mail(cfg, it, err, sizeof(err));
        struct result r = {cfg, it, sent == BW_OK, err, &stats};
        rc = bw_store_write(st, result_fn, &r);
        if (sent != BW_OK)
            bw_log(BW_LOG_WARN, "notify.failed", "notification %s via %s: %s", it->id,
                   it->channel, err);
    }
    for (size_t i = 0; i < d->n; i++)
        bw_free(d->items[i].body);
    bw_free(d);
    if (rc == BW_OK && out != NULL)
        *out = stats;
    return rc;
}

static enum bw_rc list_row(void *arg, const struct bw_row *row)
{
    char created[21], sent[21];
    bw_time_format(bw_row_int(row, 1), created);
    if (!bw_row_is_null(row, 9))
        bw_time_format(bw_row_int(row, 9), sent);
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:s?, s:s?}", "id",
                          bw_row_text(row, 0, NULL), "created_at", created, "channel",
                          bw_row_text(row, 2, NULL), "dest", bw_row_text(row, 3, NULL), "subject",
                          bw_row_text(row, 4, NULL), "event", bw_row_text(row, 5, NULL),
                          "attempts", (json_int_t)bw_row_int(row, 6), "status",
                          bw_row_text(row, 7, NULL), "last_error",
                          bw_row_is_null(row, 8) ? NULL : bw_row_text(row, 8, NULL), "sent_at",
                          bw_row_is_null(row, 9) ? NULL : sent);
    return o != NULL && json_array_append_new(arg, o) == 0 ? BW_OK : BW_ERR_NOMEM;
}

static enum bw_rc nlist_fn(struct bw_tx *tx, void *arg)
{
    struct bw_val p[] = {BW_VINT(1000)};
    json_array_clear(arg);
    return bw_tx_query(tx, BW_STMT_NOTIFY_LIST, p, 1, list_row, arg);
}

enum bw_rc bw_notify_list(struct bw_store *st, json_t **out)
{
    json_t *items = json_array();
    enum bw_rc rc = items != NULL ? bw_store_read(st, nlist_fn, items) : BW_ERR_NOMEM;
    if (rc != BW_OK) {
        json_decref(items);
        return rc;
    }
    *out = json_pack("{s:o}", "items", items);
    return *out != NULL ? BW_OK : BW_ERR_NOMEM;
}
