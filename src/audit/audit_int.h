/*
 * audit_int.h - shared by the files of src/audit/: row columns, the chain
 * append used by event.c and retention, archive format constants.
 */
#ifndef BW_AUDIT_INT_H
#define BW_AUDIT_INT_H

#include "audit/audit.h"

/* Columns of AUDIT_COLUMNS statements (store.h). */
enum bw_audit_col {
    BW_ACOL_SEQ,
    BW_ACOL_TS,
    BW_ACOL_ACTOR,
    BW_ACOL_ACTION,
    BW_ACOL_TARGET,
    BW_ACOL_OUTCOME,
    BW_ACOL_REMOTE,
    BW_ACOL_REQUEST_ID,
    BW_ACOL_DETAILS,
    BW_ACOL_ORG,
    BW_ACOL_PREV_HASH,
    BW_ACOL_HASH,
};

/* Appends ev after the locked head: fills seq, prev_hash and hash. */
BW_MUST_CHECK enum bw_rc bw_audit_chain_append(struct bw_tx *tx, struct bw_audit_event *ev);
/* Bytes the canonical encoding of ev hashes (for MB/s figures). */
size_t bw_audit_event_size(const struct bw_audit_event *ev);

/* Calls fn for every live event with seq > after_seq, oldest first. */
BW_MUST_CHECK enum bw_rc bw_audit_scan_after(struct bw_store *st, int64_t after_seq,
                                             bw_audit_event_fn fn, void *arg);

/* bw_meta key of the v1/v2 hash boundary (migration 0009). */
#define BW_AUDIT_V2_FROM_KEY "audit.hash_v2_from"

/* Paths under the data directory. */
#define BW_AUDIT_DIR "audit"
#define BW_AUDIT_CKPT_FILE "audit/checkpoints.jsonl"
#define BW_AUDIT_ARCHIVE_DIR "audit/archive"

/* The per-event walker shared by store and archive verification. */
struct bw_audit_walk {
    struct bw_audit_report *rep;
    int64_t expect_seq;                     /* next seq expected */
    uint8_t prev[BW_AUDIT_HASH_BYTES];      /* hash of expect_seq - 1 */
    const struct bw_audit_checkpoint *cps;  /* verified checkpoints, ascending */
    size_t ncps, next_cp;
    int64_t last_good_cp;                   /* seq of the newest matching checkpoint */
    const char *where;                      /* "store" or the archive's name */
    int64_t v2_from;                        /* first seq hashed with v2 */
};
/* Checks one event against the walk; on the first problem fills rep and
 * returns BW_ERR_CONFLICT (which stops the scan). */
BW_MUST_CHECK enum bw_rc bw_audit_walk_event(struct bw_audit_walk *w,
                                             const struct bw_audit_event *ev);
/* Checks one archive file's bytes and walks its events (archive.c). */
BW_MUST_CHECK enum bw_rc bw_audit_walk_archive(struct bw_audit_walk *w, const uint8_t *data,
                                               size_t len, const uint8_t pk[32],
                                               const struct bw_keyring *kr);
void bw_audit_fail(struct bw_audit_report *rep, int64_t seq, const char *fmt, ...)
    BW_PRINTF(3, 4);

#endif
