/*
 * export.c - turns events into lines (JSON lines and RFC 5424 syslog), reads
 * JSON lines back (the archive reader's event parser, fuzzed), and runs
 * searches and scans over the live store. Every line is exactly one line:
 * CR, LF and every other control byte in a value are escaped (CONTROL:
 * G-13), so no stored value can forge a second event in an export or a
 * syslog stream. Trusts nothing in the lines it parses.
 */
#include "audit/audit_int.h"
#include "store/store.h"

#include <jansson.h>
#include <sodium.h>
#include <string.h>

static json_t *jstr(const struct bw_audit_str *s)
{
    return json_stringn(s->p, s->len);
}

json_t *bw_audit_event_json(const struct bw_audit_event *ev)
{
    char time[21], prev[2 * BW_AUDIT_HASH_BYTES + 1], hash[2 * BW_AUDIT_HASH_BYTES + 1];
    bw_time_format(ev->ts, time);
    bw_hex(ev->prev_hash, BW_AUDIT_HASH_BYTES, prev);
    bw_hex(ev->hash, BW_AUDIT_HASH_BYTES, hash);
    /* a string that is not UTF-8 (a damaged row) is refused, never emitted raw */
    const struct bw_audit_str *f[] = {&ev->actor,  &ev->org,        &ev->action,  &ev->target,
                                      &ev->outcome, &ev->remote, &ev->request_id, &ev->details};
    for (size_t i = 0; i < BW_ARRAY_LEN(f); i++) {
        if (!bw_utf8_valid(f[i]->p, f[i]->len))
            return NULL;
    }
    return json_pack("{s:I, s:s, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:s, s:s}", "seq",
                     (json_int_t)ev->seq, "time", time, "ts", (json_int_t)ev->ts, "actor",
                     jstr(&ev->actor), "org", jstr(&ev->org), "action", jstr(&ev->action),
                     "target", jstr(&ev->target), "outcome", jstr(&ev->outcome), "remote",
                     jstr(&ev->remote), "request_id", jstr(&ev->request_id), "details",
                     jstr(&ev->details), "prev_hash", prev, "hash", hash);
}

static enum bw_rc format_jsonl(const struct bw_audit_event *ev, struct bw_buf *out)
{
    json_t *o = bw_audit_event_json(ev);
    if (o == NULL)
        return BW_ERR_INVALID;
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    json_decref(o);
    if (text == NULL)
        return BW_ERR_NOMEM;
    enum bw_rc rc = bw_buf_appends(out, text);
    bw_free(text);
    return rc;
}

/* RFC 5424 PARAM-VALUE: '"', '\' and ']' escaped by backslash (6.3.3); we
 * also write control bytes as \n, \r or \xHH so a value stays on its line. */
static enum bw_rc sd_value(struct bw_buf *out, const char *p, size_t n)
{
    enum bw_rc rc = BW_OK;
    for (size_t i = 0; rc == BW_OK && i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '"' || c == '\\' || c == ']')
            rc = bw_buf_appendf(out, "\\%c", c);
        else if (c == '\n')
            rc = bw_buf_appends(out, "\\n");
        else if (c == '\r')
            rc = bw_buf_appends(out, "\\r");
        else if (c < 0x20 || c == 0x7f)
            rc = bw_buf_appendf(out, "\\x%02x", c);
        else
            rc = bw_buf_append(out, &p[i], 1);
    }
    return rc;
}

/* MSG: the details JSON as is, control bytes escaped as in sd_value. */
static enum bw_rc msg_value(struct bw_buf *out, const char *p, size_t n)
{
    enum bw_rc rc = BW_OK;
    for (size_t i = 0; rc == BW_OK && i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '\n')
            rc = bw_buf_appends(out, "\\n");
        else if (c == '\r')
            rc = bw_buf_appends(out, "\\r");
        else if (c < 0x20 || c == 0x7f)
            rc = bw_buf_appendf(out, "\\x%02x", c);
        else
            rc = bw_buf_append(out, &p[i], 1);
    }
    return rc;
}

/* MSGID: 1..32 printable US-ASCII characters, else "-". */
static enum bw_rc msgid(struct bw_buf *out, const struct bw_audit_str *a)
{
    bool ok = a->len > 0 && a->len <= 32;
    for (size_t i = 0; ok && i < a->len; i++)
        ok = a->p[i] > 32 && a->p[i] < 127;
    return ok ? bw_buf_append(out, a->p, a->len) : bw_buf_appends(out, "-");
}

static enum bw_rc format_syslog(const struct bw_audit_event *ev, const char *hostname,
                                struct bw_buf *out)
{
    char time[21], hash[2 * BW_AUDIT_HASH_BYTES + 1];
    bw_time_format(ev->ts, time);
    bw_hex(ev->hash, BW_AUDIT_HASH_BYTES, hash);
    /* facility 13 (log audit); success informational, failure notice, denied warning */
    int sev = ev->outcome.len == 7 && memcmp(ev->outcome.p, "success", 7) == 0 ? 6
              : ev->outcome.len == 7 && memcmp(ev->outcome.p, "failure", 7) == 0 ? 5
                                                                                  : 4;
    enum bw_rc rc = bw_buf_appendf(out, "<%d>1 %s ", 13 * 8 + sev, time);
    struct bw_audit_str host = {hostname != NULL && *hostname ? hostname : "-",
                                hostname != NULL && *hostname ? strlen(hostname) : 1};
    if (rc == BW_OK)
        rc = msgid(out, &host);
    if (rc == BW_OK)
        rc = bw_buf_appends(out, " bulwark - ");
    if (rc == BW_OK)
        rc = msgid(out, &ev->action);
    if (rc == BW_OK)
        rc = bw_buf_appendf(out, " [bulwark@32473 seq=\"%lld\"", (long long)ev->seq);
    const char *names[] = {"action", "actor", "org", "target", "outcome", "remote", "request_id"};
    const struct bw_audit_str *vals[] = {&ev->action, &ev->actor,  &ev->org,       &ev->target,
                                         &ev->outcome, &ev->remote, &ev->request_id};
    for (size_t i = 0; rc == BW_OK && i < BW_ARRAY_LEN(names); i++) {
        rc = bw_buf_appendf(out, " %s=\"", names[i]);
        if (rc == BW_OK)
            rc = sd_value(out, vals[i]->p, vals[i]->len);
        if (rc == BW_OK)
            rc = bw_buf_appends(out, "\"");
    }
    if (rc == BW_OK)
        rc = bw_buf_appendf(out, " hash=\"%s\"] ", hash);
    if (rc == BW_OK)
        rc = msg_value(out, ev->details.p, ev->details.len);
    return rc;
}

enum bw_rc bw_audit_format_event(const struct bw_audit_event *ev, enum bw_audit_format fmt,
                                 const char *hostname, struct bw_buf *out)
{
    return fmt == BW_AUDIT_SYSLOG ? format_syslog(ev, hostname, out) : format_jsonl(ev, out);
}

static bool get_str(json_t *o, const char *name, struct bw_audit_str *out)
{
    json_t *v = json_object_get(o, name);
    if (!json_is_string(v))
        return false;
    out->p = json_string_value(v);
    out->len = json_string_length(v);
    return true;
}

static bool get_hash(json_t *o, const char *name, uint8_t out[BW_AUDIT_HASH_BYTES])
{
    json_t *v = json_object_get(o, name);
    size_t bin = 0;
    return json_is_string(v) && json_string_length(v) == 2 * BW_AUDIT_HASH_BYTES &&
           sodium_hex2bin(out, BW_AUDIT_HASH_BYTES, json_string_value(v), json_string_length(v),
                          NULL, &bin, NULL) == 0 &&
           bin == BW_AUDIT_HASH_BYTES;
}

enum bw_rc bw_audit_parse_line(const char *line, size_t len, struct bw_audit_event *ev,
                               json_t **keep)
{
    json_error_t err;
    json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &err);
    struct bw_audit_event e = {0};
    if (o == NULL)
        return BW_ERR_INVALID;
    json_t *seq = json_object_get(o, "seq"), *ts = json_object_get(o, "ts");
    bool ok = json_is_object(o) && json_is_integer(seq) && json_is_integer(ts) &&
              json_integer_value(seq) > 0 && get_str(o, "actor", &e.actor) &&
              get_str(o, "org", &e.org) && get_str(o, "action", &e.action) &&
              get_str(o, "target", &e.target) && get_str(o, "outcome", &e.outcome) &&
              get_str(o, "remote", &e.remote) && get_str(o, "request_id", &e.request_id) &&
              get_str(o, "details", &e.details) && get_hash(o, "prev_hash", e.prev_hash) &&
              get_hash(o, "hash", e.hash);
    if (!ok) {
        json_decref(o);
        return BW_ERR_INVALID;
    }
    e.seq = json_integer_value(seq);
    e.ts = json_integer_value(ts);
    e.prev_ok = e.hash_ok = true;
    *ev = e;
    *keep = o;
    return BW_OK;
}

/* ---- searches and scans ---------------------------------------------------- */

struct scan {
    bw_audit_event_fn fn;
    void *arg;
    int64_t since;
    int64_t last_seq;
    uint64_t rows;
};

static enum bw_rc scan_row(void *arg, const struct bw_row *row)
{
    struct scan *s = arg;
    struct bw_audit_event ev;
    bw_audit_event_from_row(row, &ev);
    s->last_seq = ev.seq;
    s->rows++;
    return ev.ts >= s->since ? s->fn(s->arg, &ev) : BW_OK;
}

enum bw_rc bw_audit_search_tx(struct bw_tx *tx, const struct bw_audit_filter *f,
                              bw_audit_event_fn fn, void *arg)
{
    if (f->limit == 0 || f->limit > 1000 || f->before_seq < 0)
        return BW_ERR_INVALID;
    struct scan s = {.fn = fn, .arg = arg, .since = INT64_MIN};
    struct bw_val p[] = {
        BW_VINT(f->before_seq),
        f->actor != NULL ? BW_VTEXT(f->actor) : BW_VNULL,
        f->action != NULL ? BW_VTEXT(f->action) : BW_VNULL,
        f->target != NULL ? BW_VTEXT(f->target) : BW_VNULL,
        BW_VINT(f->since),
        BW_VINT(f->until > 0 ? f->until : INT64_MAX),
        BW_VINT(f->limit),
        f->org != NULL ? BW_VTEXT(f->org) : BW_VNULL,
    };
    /* CONTROL: AC-01 - an organisation's search can only return rows whose
     * org column is that organisation */
    if (f->org != NULL)
        return bw_tx_query(tx, BW_STMT_AUDIT_SEARCH_ORG, p, BW_ARRAY_LEN(p), scan_row, &s);
    return bw_tx_query(tx, BW_STMT_AUDIT_SEARCH, p, BW_ARRAY_LEN(p) - 1, scan_row, &s);
}

struct search_job {
    const struct bw_audit_filter *f;
    bw_audit_event_fn fn;
    void *arg;
};

static enum bw_rc search_tx(struct bw_tx *tx, void *arg)
{
    const struct search_job *j = arg;
    return bw_audit_search_tx(tx, j->f, j->fn, j->arg);
}

enum bw_rc bw_audit_search(struct bw_store *st, const struct bw_audit_filter *f,
                           bw_audit_event_fn fn, void *arg)
{
    struct search_job j = {f, fn, arg};
    return bw_store_read(st, search_tx, &j);
}

enum { SCAN_PAGE = 5000 };

static enum bw_rc scan_tx(struct bw_tx *tx, void *arg)
{
    struct scan *s = arg;
    struct bw_val p[] = {BW_VINT(s->last_seq), BW_VINT(SCAN_PAGE)};
    s->rows = 0;
    return bw_tx_query(tx, BW_STMT_AUDIT_RANGE, p, BW_ARRAY_LEN(p), scan_row, s);
}

enum bw_rc bw_audit_scan(struct bw_store *st, int64_t since, bw_audit_event_fn fn, void *arg)
{
    struct scan s = {.fn = fn, .arg = arg, .since = since};
    enum bw_rc rc;
    do
        rc = bw_store_read(st, scan_tx, &s);
    while (rc == BW_OK && s.rows == SCAN_PAGE);
    return rc;
}

enum bw_rc bw_audit_scan_after(struct bw_store *st, int64_t after_seq, bw_audit_event_fn fn,
                               void *arg)
{
    struct scan s = {.fn = fn, .arg = arg, .since = INT64_MIN, .last_seq = after_seq};
    enum bw_rc rc;
    do
        rc = bw_store_read(st, scan_tx, &s);
    while (rc == BW_OK && s.rows == SCAN_PAGE);
    return rc;
}
