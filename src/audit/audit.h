/*
 * audit.h - the tamper-evident audit trail (issue 5; CONTROL: LOG-01..06,
 * DATA-06, G-03, G-04, G-13; SPEC 6.2-6.3). Every module writes through
 * bw_audit_append inside its own transaction, so a change and its record
 * commit together or not at all, and the store's group commit shares one
 * fsync among concurrent writers.
 *
 * The chain: events carry a contiguous sequence number from 1; each event's
 * hash is SHA-256 (v2; BLAKE2b-256 for events of chains begun before
 * migration 0009) over the previous event's hash and the event's canonical
 * encoding (event.c). The head (seq, hash) lives in the store and
 * is moved in the appending transaction (on PostgreSQL under a row lock, so
 * several servers extend one chain). Checkpoints (seq, head hash, time) are
 * signed with the Ed25519 audit key, which never enters the database, and
 * written both to the store and to the append-only file
 * DATA/audit/checkpoints.jsonl (and optionally to syslog), so deleting the
 * newest events is detected. Retention moves old events into signed,
 * zstd-compressed, AES-256-GCM-encrypted archives (archive.c); the chain
 * continues across the boundary. No function here edits or deletes an
 * event, except retention removing what an archive durably holds.
 *
 * Ownership: arguments are borrowed unless stated.
 */
#ifndef BW_AUDIT_H
#define BW_AUDIT_H

#include "core/core.h"

struct bw_tx;
struct bw_store;
struct bw_keyring;

/* Who and where, from the request that causes the event. Borrowed. New
 * fields are appended and default to NULL/0 under designated initialisers. */
struct bw_audit_ctx {
    const char *remote;     /* client address or "-" */
    const char *request_id; /* or "-" for the command line */
    const char *org;        /* organisation id the event belongs to, NULL = "-" */
};

enum bw_audit_outcome { BW_AUDIT_SUCCESS, BW_AUDIT_FAILURE, BW_AUDIT_DENIED };

/* Appends one event. `actor` is "user:<id>", "apikey:<id>", "cli", "system"
 * or "anonymous"; `details` is a JSON object (stolen, may be NULL) that must
 * not hold secrets: no passwords, tokens, keys or record content. */
BW_MUST_CHECK enum bw_rc bw_audit_append(struct bw_tx *tx, const struct bw_audit_ctx *ctx,
                                         const char *actor, const char *action,
                                         const char *target, enum bw_audit_outcome outcome,
                                         struct json_t *details);

/* Runs fn in a write transaction like bw_store_write, but every
 * bw_audit_append fn makes on that transaction is chained only after fn
 * returns BW_OK, still inside the transaction (dropped when it fails).
 * On PostgreSQL the chain head is a row lock held from the append to
 * commit; a transaction that appends and then locks other rows can
 * deadlock with one that locks those rows and then appends. Transactions
 * that lock rows after an append (or call helpers that append) run through
 * this. Events keep their order and their time of bw_audit_append. */
typedef enum bw_rc (*bw_audit_tx_fn)(struct bw_tx *tx, void *arg);
BW_MUST_CHECK enum bw_rc bw_audit_write(struct bw_store *st, bw_audit_tx_fn fn, void *arg);

/* ---- events as stored (event.c) ------------------------------------------ */
#define BW_AUDIT_HASH_BYTES 32

struct bw_audit_str {
    const char *p; /* not NUL-terminated in general */
    size_t len;
};

/* One event with its chain fields. Strings borrowed from wherever it was
 * read (a store row, an archive line). */
struct bw_audit_event {
    int64_t seq;
    int64_t ts;
    struct bw_audit_str actor, action, target, outcome, remote, request_id, details, org;
    uint8_t prev_hash[BW_AUDIT_HASH_BYTES];
    uint8_t hash[BW_AUDIT_HASH_BYTES];
    bool prev_ok, hash_ok; /* the stored hash columns had the right length */
};

/* hash = SHA-256("bulwark-audit-v2" || prev || canonical(ev)) where the
 * canonical encoding is seq and ts as 8-byte big-endian and every string as
 * a 4-byte big-endian length and its bytes, in the order actor, action,
 * target, outcome, remote, request_id, details, org. Events of chains begun
 * before migration 0009 (seq below the boundary in bw_meta
 * "audit.hash_v2_from") keep v1: BLAKE2b-256 with "bulwark-audit-v1" over
 * the same encoding. Fails only when memory runs out (an event over 4 KiB). */
BW_MUST_CHECK enum bw_rc bw_audit_event_hash(const struct bw_audit_event *ev,
                                             const uint8_t prev[BW_AUDIT_HASH_BYTES],
                                             uint8_t out[BW_AUDIT_HASH_BYTES]);
/* v1 below v2_from, v2 from it on. */
BW_MUST_CHECK enum bw_rc bw_audit_event_hash_at(const struct bw_audit_event *ev,
                                                const uint8_t prev[BW_AUDIT_HASH_BYTES],
                                                int64_t v2_from,
                                                uint8_t out[BW_AUDIT_HASH_BYTES]);
/* The first seq hashed with v2 (bw_meta "audit.hash_v2_from"; 1 when absent). */
BW_MUST_CHECK enum bw_rc bw_audit_v2_from(struct bw_store *st, int64_t *out);
/* The seq of the chain head (the newest event; 0 for an empty chain). A
 * restore uses it to keep only the checkpoints of the restored chain. */
BW_MUST_CHECK enum bw_rc bw_audit_head_seq(struct bw_store *st, int64_t *out);
/* Fills ev from a row of AUDIT_COLUMNS (borrowing the row's memory). */
struct bw_row;
void bw_audit_event_from_row(const struct bw_row *row, struct bw_audit_event *ev);

/* Moves events of the pre-chain table (migration 0004) into the chain, in
 * their order. Idempotent; *moved (may be NULL) counts them. */
BW_MUST_CHECK enum bw_rc bw_audit_adopt_legacy(struct bw_store *st, uint64_t *moved);

/* ---- export (export.c) ----------------------------------------------------
 * One line per event, no trailing newline; CR, LF and other control bytes in
 * values are escaped, so a value can never start a new line (G-13). */
enum bw_audit_format { BW_AUDIT_JSONL, BW_AUDIT_SYSLOG };
/* jsonl: {"seq","time","actor","org","action","target","outcome","remote",
 * "request_id","details","prev_hash","hash"}; syslog: RFC 5424 with
 * structured data [bulwark@32473 ...] and the details as MSG. */
BW_MUST_CHECK enum bw_rc bw_audit_format_event(const struct bw_audit_event *ev,
                                               enum bw_audit_format fmt, const char *hostname,
                                               struct bw_buf *out);
/* The jsonl object of one event (new reference); NULL when a string is not
 * UTF-8 (a damaged row) or memory ran out. */
struct json_t *bw_audit_event_json(const struct bw_audit_event *ev);
/* Parses one jsonl line back into an event whose strings point into *keep
 * (a jansson object the caller frees with json_decref). Strict: every member
 * present with its type, hashes 64 hex digits. Used by the archive reader. */
BW_MUST_CHECK enum bw_rc bw_audit_parse_line(const char *line, size_t len,
                                             struct bw_audit_event *ev, struct json_t **keep);

struct bw_audit_filter {
    const char *actor, *action, *target; /* NULL = any */
    int64_t since, until;                /* inclusive; until 0 = no bound */
    int64_t before_seq;                  /* cursor: only seq < before_seq; 0 = newest */
    unsigned limit;                      /* 1..1000 */
    const char *org;                     /* only this organisation's events; NULL = all */
};
typedef enum bw_rc (*bw_audit_event_fn)(void *arg, const struct bw_audit_event *ev);
/* Calls fn for matching events of the live store, newest first. */
BW_MUST_CHECK enum bw_rc bw_audit_search(struct bw_store *st, const struct bw_audit_filter *f,
                                         bw_audit_event_fn fn, void *arg);
/* The same inside the caller's transaction (tenant check and search in one
 * snapshot: GET /api/v1/orgs/{org}/audit). */
BW_MUST_CHECK enum bw_rc bw_audit_search_tx(struct bw_tx *tx, const struct bw_audit_filter *f,
                                            bw_audit_event_fn fn, void *arg);
/* Calls fn for every live event with ts >= since, oldest first. */
BW_MUST_CHECK enum bw_rc bw_audit_scan(struct bw_store *st, int64_t since, bw_audit_event_fn fn,
                                       void *arg);

/* ---- checkpoints (checkpoint.c) ------------------------------------------ */
struct bw_audit_checkpoint {
    int64_t seq;
    int64_t ts;
    uint8_t hash[BW_AUDIT_HASH_BYTES];
    uint8_t sig[64];
};
/* The signed message of a checkpoint (fixed text form, see checkpoint.c). */
BW_MUST_CHECK enum bw_rc bw_audit_checkpoint_verify(const struct bw_audit_checkpoint *cp,
                                                    const uint8_t pk[32]);
/* Parses one line of checkpoints.jsonl. */
BW_MUST_CHECK enum bw_rc bw_audit_checkpoint_parse(const char *line, size_t len,
                                                   struct bw_audit_checkpoint *out);

struct bw_audit_settings {
    const char *data_dir;       /* checkpoints.jsonl and archive/ live under DATA/audit */
    int64_t checkpoint_interval; /* seconds */
    uint64_t checkpoint_events;
    int64_t retention;          /* seconds (retention.audit) */
    const char *syslog;         /* "tcp:HOST:PORT" or "" */
};
/* Signs the current head unless the newest checkpoint already covers it;
 * with `force` false, only when checkpoint_events events or
 * checkpoint_interval seconds have passed since the newest checkpoint.
 * *made (may be NULL) says whether one was written. */
BW_MUST_CHECK enum bw_rc bw_audit_checkpoint(struct bw_store *st, const struct bw_keyring *kr,
                                             const struct bw_audit_settings *s, bool force,
                                             bool *made);
/* Sends one line to the syslog receiver of `target` ("tcp:HOST:PORT"). */
BW_MUST_CHECK enum bw_rc bw_audit_syslog_send(const char *target, const char *line, size_t len);
/* Forwards every event after the last forwarded one (cursor in bw_meta). */
BW_MUST_CHECK enum bw_rc bw_audit_forward(struct bw_store *st, const struct bw_audit_settings *s);

/* ---- archives (archive.c) ---------------------------------------------- */
/* Moves events older than s->retention (a contiguous prefix of the chain)
 * into archive files of at most `max_events` events each, then removes
 * them from the live store, logging audit.archived. *archived may be NULL. */
BW_MUST_CHECK enum bw_rc bw_audit_retention(struct bw_store *st, const struct bw_keyring *kr,
                                            const struct bw_audit_settings *s, int64_t now,
                                            uint64_t max_events, uint64_t *archived);
/* How many archive files this process has written and committed so far; a
 * change tells the backup scheduler that events now live only in a file no
 * backup holds yet. */
uint64_t bw_audit_archives_written(void);
/* Calls fn for every archive file bw_audit_archives lists (its name under
 * DATA/audit/archive/, as stored: the caller checks it), oldest first. A
 * restore uses it to find the archives its restored store needs. */
typedef enum bw_rc (*bw_audit_archive_fn)(void *arg, const char *file, int64_t first_seq,
                                          int64_t last_seq);
BW_MUST_CHECK enum bw_rc bw_audit_archive_list(struct bw_store *st, bw_audit_archive_fn fn,
                                               void *arg);

/* ---- verification (verify.c) --------------------------------------------- */
struct bw_audit_report {
    bool ok;
    uint64_t events;          /* events whose hashes were recomputed */
    uint64_t bytes;           /* canonical bytes hashed */
    uint64_t archives;        /* archive files checked */
    uint64_t checkpoints;     /* signed checkpoints checked */
    int64_t first_seq, last_seq;
    int64_t first_bad;        /* the first bad event's seq, 0 when ok */
    char reason[256];         /* why first_bad is bad */
    int64_t newest_checkpoint_seq;
    int64_t newest_checkpoint_age; /* seconds, -1 when none */
    uint64_t unanchored;      /* events after the newest checkpoint */
    char warning[256];        /* non-fatal remarks ("" when none) */
    double seconds;
    double cpu_seconds;       /* CPU time of the verifying thread (load-independent) */
};
/* Verifies archives (under s->data_dir, decrypted with kr when not NULL),
 * the live store, the head row and every checkpoint (store and file)
 * against the public key pk. Fills *rep; BW_OK even when tampering is
 * found (rep->ok false); an error only when verification could not run. */
BW_MUST_CHECK enum bw_rc bw_audit_verify(struct bw_store *st, const struct bw_keyring *kr,
                                         const uint8_t pk[32], const struct bw_audit_settings *s,
                                         struct bw_audit_report *rep);
/* Verifies one archive file with only the public key: signature over the
 * header and every chunk, chunk hashes, and (when kr is not NULL) every
 * event's hash and link. */
BW_MUST_CHECK enum bw_rc bw_audit_verify_archive(const char *path, const uint8_t pk[32],
                                                 const struct bw_keyring *kr,
                                                 struct bw_audit_report *rep);
/* Same over bytes in memory (the fuzzer's entry point). */
BW_MUST_CHECK enum bw_rc bw_audit_verify_archive_mem(const uint8_t *data, size_t len,
                                                     const uint8_t pk[32],
                                                     const struct bw_keyring *kr,
                                                     struct bw_audit_report *rep);
/* Writes verify's outcome as an event (audit.verify.failed / audit.verified). */
BW_MUST_CHECK enum bw_rc bw_audit_record_verify(struct bw_store *st,
                                                const struct bw_audit_ctx *ctx, const char *actor,
                                                const struct bw_audit_report *rep);

/* ---- clock (clock.c; CONTROL: G-03) ---------------------------------------- */
/* True when the kernel reports the system clock synchronised (adjtimex:
 * not TIME_ERROR / STA_UNSYNC); `why` says which source answered. */
bool bw_audit_clock_synced(char *why, size_t whylen);

/* ---- the server's timer (timer.c) ---------------------------------------- */
struct bw_audit_timer;
/* Starts a thread that checkpoints, forwards to syslog and runs retention
 * (hourly) until bw_audit_timer_stop. s and the pointers are borrowed for
 * the thread's life. */
BW_MUST_CHECK enum bw_rc bw_audit_timer_start(struct bw_store *st, const struct bw_keyring *kr,
                                              const struct bw_audit_settings *s,
                                              struct bw_audit_timer **out);
void bw_audit_timer_stop(struct bw_audit_timer *t); /* accepts NULL; final checkpoint */

#endif
