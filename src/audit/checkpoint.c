/*
 * checkpoint.c - signed checkpoints of the chain head and their copies
 * outside the database (CONTROL: LOG-06; CloudTrail-style digests). A
 * checkpoint (seq, head hash, time) is signed with the Ed25519 audit key,
 * which only the keyring holds; it is appended to DATA/audit/checkpoints.jsonl
 * (O_APPEND, fsync), stored in bw_audit_checkpoints, and, when audit.syslog
 * is set, sent to the syslog receiver with the events forwarded since the
 * last run. Whoever deletes the newest events from the database cannot
 * delete them from these copies, so verify detects it (the blind spot of
 * CVE-2023-31438 is reduced to the events after the newest checkpoint,
 * which verify reports). Trusts the keyring; trusts nothing it reads back.
 */
#include "audit/audit_int.h"
#include "crypto/crypto.h"
#include "store/store.h"
#include "sys/sys.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netdb.h>
#include <sodium.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

/* The signed text; fixed so any implementation can check it. */
static void cp_message(const struct bw_audit_checkpoint *cp, char out[160])
{
    char hex[2 * BW_AUDIT_HASH_BYTES + 1];
    bw_hex(cp->hash, BW_AUDIT_HASH_BYTES, hex);
    snprintf(out, 160, "bulwark-audit-checkpoint-v1\nseq=%lld\nts=%lld\nhash=%s\n",
             (long long)cp->seq, (long long)cp->ts, hex);
}

enum bw_rc bw_audit_checkpoint_verify(const struct bw_audit_checkpoint *cp, const uint8_t pk[32])
{
    char msg[160];
    cp_message(cp, msg);
    return bw_sign_verify(pk, msg, strlen(msg), cp->sig);
}

static bool hex_field(json_t *o, const char *name, uint8_t *out, size_t n)
{
    json_t *v = json_object_get(o, name);
    size_t bin = 0;
    return json_is_string(v) && json_string_length(v) == 2 * n &&
           sodium_hex2bin(out, n, json_string_value(v), 2 * n, NULL, &bin, NULL) == 0 &&
           bin == n;
}

enum bw_rc bw_audit_checkpoint_parse(const char *line, size_t len,
                                     struct bw_audit_checkpoint *out)
{
    json_error_t err;
    struct bw_audit_checkpoint cp = {0};
    json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &err);
    json_t *seq = json_object_get(o, "seq"), *ts = json_object_get(o, "ts");
    bool ok = json_is_object(o) && json_is_integer(seq) && json_is_integer(ts) &&
              json_integer_value(seq) > 0 && hex_field(o, "hash", cp.hash, BW_AUDIT_HASH_BYTES) &&
              hex_field(o, "sig", cp.sig, sizeof(cp.sig));
    if (ok) {
        cp.seq = json_integer_value(seq);
        cp.ts = json_integer_value(ts);
        *out = cp;
    }
    json_decref(o);
    return ok ? BW_OK : BW_ERR_INVALID;
}

static enum bw_rc cp_line(const struct bw_audit_checkpoint *cp, struct bw_buf *out)
{
    char hash[2 * BW_AUDIT_HASH_BYTES + 1], sig[2 * 64 + 1], time[21];
    bw_hex(cp->hash, BW_AUDIT_HASH_BYTES, hash);
    bw_hex(cp->sig, 64, sig);
    bw_time_format(cp->ts, time);
    return bw_buf_appendf(out, "{\"seq\":%lld,\"ts\":%lld,\"time\":\"%s\",\"hash\":\"%s\","
                               "\"sig\":\"%s\"}",
                          (long long)cp->seq, (long long)cp->ts, time, hash, sig);
}

/* Appends one line to DATA/audit/checkpoints.jsonl and makes it durable. */
static enum bw_rc file_append(const char *data_dir, const char *line, size_t len)
{
    char dir[4096], path[4096], why[256];
    enum bw_rc rc = bw_sys_path(dir, sizeof(dir), data_dir, BW_AUDIT_DIR);
    if (rc == BW_OK)
        rc = bw_sys_path(path, sizeof(path), data_dir, BW_AUDIT_CKPT_FILE);
    if (rc != BW_OK)
        return rc;
    rc = bw_sys_mkdir_private(dir, why, sizeof(why));
    if (rc != BW_OK && rc != BW_ERR_EXISTS)
        return rc;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return BW_ERR_IO;
    char nl = '\n';
    rc = (write(fd, line, len) == (ssize_t)len && write(fd, &nl, 1) == 1 && fsync(fd) == 0)
             ? BW_OK
             : BW_ERR_IO;
    close(fd);
    return rc;
}

struct cp_state {
    int64_t head_seq;
    uint8_t head_hash[BW_AUDIT_HASH_BYTES];
    int64_t cp_seq, cp_ts;
};

static enum bw_rc cp_head_row(void *arg, const struct bw_row *row)
{
    struct cp_state *s = arg;
    size_t n = 0;
    const void *p = bw_row_blob(row, 1, &n);
    if (p == NULL || n != BW_AUDIT_HASH_BYTES)
        return BW_ERR_SCHEMA;
    s->head_seq = bw_row_int(row, 0);
    memcpy(s->head_hash, p, n);
    return BW_OK;
}

static enum bw_rc cp_latest_row(void *arg, const struct bw_row *row)
{
    struct cp_state *s = arg;
    s->cp_seq = bw_row_int(row, 0);
    s->cp_ts = bw_row_int(row, 1);
    return BW_OK;
}

static enum bw_rc cp_read_tx(struct bw_tx *tx, void *arg)
{
    enum bw_rc rc = bw_tx_query(tx, BW_STMT_AUDIT_HEAD_GET, NULL, 0, cp_head_row, arg);
    if (rc == BW_OK)
        rc = bw_tx_query(tx, BW_STMT_AUDIT_CKPT_LATEST, NULL, 0, cp_latest_row, arg);
    return rc;
}

static enum bw_rc cp_insert_tx(struct bw_tx *tx, void *arg)
{
    const struct bw_audit_checkpoint *cp = arg;
    struct bw_val p[] = {BW_VINT(cp->seq), BW_VBLOB(cp->hash, BW_AUDIT_HASH_BYTES),
                         BW_VINT(cp->ts), BW_VBLOB(cp->sig, 64)};
    return bw_tx_exec(tx, BW_STMT_AUDIT_CKPT_INSERT, p, BW_ARRAY_LEN(p), NULL);
}

enum bw_rc bw_audit_checkpoint(struct bw_store *st, const struct bw_keyring *kr,
                               const struct bw_audit_settings *s, bool force, bool *made)
{
    struct cp_state cs = {0};
    struct bw_audit_checkpoint cp = {0};
    struct bw_buf line;
    char msg[160];
    enum bw_rc rc = bw_store_read(st, cp_read_tx, &cs);
    if (rc != BW_OK)
        return rc;
    int64_t now = bw_time_now();
    bool due = cs.head_seq > cs.cp_seq &&
               (force || (uint64_t)(cs.head_seq - cs.cp_seq) >= s->checkpoint_events ||
                now - cs.cp_ts >= s->checkpoint_interval);
    if (!due) {
        if (made != NULL)
            *made = false;
        return BW_OK;
    }
    cp.seq = cs.head_seq;
    cp.ts = now;
    memcpy(cp.hash, cs.head_hash, BW_AUDIT_HASH_BYTES);
    cp_message(&cp, msg);
    rc = bw_keyring_sign(kr, msg, strlen(msg), cp.sig);
    bw_buf_init(&line, 1024);
    if (rc == BW_OK)
        rc = cp_line(&cp, &line);
    /* the copy outside the database first: it is the one truncation cannot reach */
    if (rc == BW_OK)
        rc = file_append(s->data_dir, line.data, line.len);
    if (rc == BW_OK)
        rc = bw_store_write(st, cp_insert_tx, &cp);
    if (rc == BW_OK && s->syslog != NULL && s->syslog[0] != '\0') {
        struct bw_buf sl;
        bw_buf_init(&sl, 2048);
        char host[256] = "-";
        gethostname(host, sizeof(host) - 1);
        char time[21];
        bw_time_format(cp.ts, time);
        if (bw_buf_appendf(&sl, "<110>1 %s %s bulwark - audit.checkpoint - ", time, host) ==
                BW_OK &&
            bw_buf_append(&sl, line.data, line.len) == BW_OK &&
            bw_audit_syslog_send(s->syslog, sl.data, sl.len) != BW_OK)
            bw_log(BW_LOG_WARN, "audit.syslog_failed", "checkpoint %lld not forwarded",
                   (long long)cp.seq);
        bw_buf_free(&sl, false);
    }
    bw_buf_free(&line, false);
    if (rc == BW_OK && made != NULL)
        *made = true;
    return rc;
}

/* ---- syslog over TCP (RFC 6587 non-transparent framing: one line, LF) ---- */

static int syslog_connect(const char *target)
{
    char host[256];
    uint16_t port = 0;
    char portstr[8];
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    if (strncmp(target, "tcp:", 4) != 0 ||
        bw_parse_hostport(target + 4, host, sizeof(host), &port) != BW_OK)
        return -1;
    snprintf(portstr, sizeof(portstr), "%u", port);
    if (getaddrinfo(host, portstr, &hints, &ai) != 0)
        return -1;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval tv = {.tv_sec = 5};
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(ai);
    return fd;
}

static enum bw_rc send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return BW_ERR_IO;
        p += w;
        n -= (size_t)w;
    }
    return BW_OK;
}

enum bw_rc bw_audit_syslog_send(const char *target, const char *line, size_t len)
{
    int fd = syslog_connect(target);
    if (fd < 0)
        return BW_ERR_IO;
    enum bw_rc rc = send_all(fd, line, len);
    if (rc == BW_OK)
        rc = send_all(fd, "\n", 1);
    close(fd);
    return rc;
}

struct fwd {
    int fd;
    int64_t last;
    uint64_t rows;
    char host[256];
    struct bw_buf line;
};

static enum bw_rc fwd_event(void *arg, const struct bw_audit_event *ev)
{
    struct fwd *f = arg;
    bw_buf_reset(&f->line);
    enum bw_rc rc = bw_audit_format_event(ev, BW_AUDIT_SYSLOG, f->host, &f->line);
    if (rc == BW_OK)
        rc = bw_buf_append(&f->line, "\n", 1);
    if (rc == BW_OK)
        rc = send_all(f->fd, f->line.data, f->line.len);
    if (rc == BW_OK) {
        f->last = ev->seq;
        f->rows++;
    }
    return rc;
}

static enum bw_rc fwd_cursor_get(struct bw_tx *tx, void *arg)
{
    struct bw_buf v;
    bw_buf_init(&v, 64);
    enum bw_rc rc = bw_store_meta_get(tx, "audit.syslog.forwarded", &v);
    uint64_t n = 0;
    if (rc == BW_OK && bw_parse_u64(v.data, INT64_MAX, &n) == BW_OK)
        *(int64_t *)arg = (int64_t)n;
    bw_buf_free(&v, false);
    return rc == BW_ERR_NOTFOUND ? BW_OK : rc;
}

static enum bw_rc fwd_cursor_put(struct bw_tx *tx, void *arg)
{
    char v[24];
    snprintf(v, sizeof(v), "%lld", (long long)*(int64_t *)arg);
    return bw_store_meta_put(tx, "audit.syslog.forwarded", v);
}

enum bw_rc bw_audit_forward(struct bw_store *st, const struct bw_audit_settings *s)
{
    struct fwd f = {.fd = -1};
    int64_t cursor = 0;
    if (s->syslog == NULL || s->syslog[0] == '\0')
        return BW_OK;
    enum bw_rc rc = bw_store_read(st, fwd_cursor_get, &cursor);
    if (rc != BW_OK)
        return rc;
    f.fd = syslog_connect(s->syslog);
    if (f.fd < 0)
        return BW_ERR_IO;
    gethostname(f.host, sizeof(f.host) - 1);
    bw_buf_init(&f.line, 1 << 20);
    f.last = cursor;
    rc = bw_audit_scan_after(st, cursor, fwd_event, &f);
    if (f.last > cursor) {
        enum bw_rc rc2 = bw_store_write(st, fwd_cursor_put, &f.last);
        if (rc == BW_OK)
            rc = rc2;
    }
    bw_buf_free(&f.line, false);
    close(f.fd);
    return rc;
}
