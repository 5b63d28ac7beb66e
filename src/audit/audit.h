/*
 * audit.h - the audit trail interface every module writes through. An event
 * is appended inside the caller's transaction, so the change and its record
 * commit together or not at all (SPEC 6.2). Today the events land in a plain
 * table; the audit issue adds the hash chain, signed checkpoints, retention
 * and verification behind this same interface.
 */
#ifndef BW_AUDIT_H
#define BW_AUDIT_H

#include "core/core.h"

struct bw_tx;

/* Who and where, from the request that causes the event. Borrowed. */
struct bw_audit_ctx {
    const char *remote;     /* client address or "-" */
    const char *request_id; /* or "-" for the command line */
};

enum bw_audit_outcome { BW_AUDIT_SUCCESS, BW_AUDIT_FAILURE, BW_AUDIT_DENIED };

/* Appends one event. `actor` is "user:<id>", "system" or "anonymous";
 * `details` is a JSON object (stolen, may be NULL) that must not hold
 * secrets: no passwords, tokens, keys or record content. */
BW_MUST_CHECK enum bw_rc bw_audit_append(struct bw_tx *tx, const struct bw_audit_ctx *ctx,
                                         const char *actor, const char *action,
                                         const char *target, enum bw_audit_outcome outcome,
                                         struct json_t *details);

#endif
