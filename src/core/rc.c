/*
 * rc.c - text for result codes. The table is indexed by enum bw_rc and must
 * grow with it; a static assertion keeps the two in step.
 */
#include "core.h"

#include <stdio.h>

static const char *const rc_text[] = {
    [BW_OK] = "ok",
    [BW_ERR_NOMEM] = "out of memory",
    [BW_ERR_INVALID] = "invalid input",
    [BW_ERR_TOOBIG] = "input too large",
    [BW_ERR_NOTFOUND] = "not found",
    [BW_ERR_EXISTS] = "already exists",
    [BW_ERR_IO] = "input/output error",
    [BW_ERR_PERM] = "permission denied",
    [BW_ERR_CRYPTO] = "cryptographic operation failed",
    [BW_ERR_STORE] = "database error",
    [BW_ERR_CONFLICT] = "conflict",
    [BW_ERR_UNSUPPORTED] = "not supported",
    [BW_ERR_INTERNAL] = "internal error",
    [BW_ERR_BUSY] = "busy",
    [BW_ERR_TLS] = "tls error",
    [BW_ERR_SCHEMA] = "database schema mismatch",
};

_Static_assert(BW_ARRAY_LEN(rc_text) == BW_ERR__COUNT, "rc_text must cover enum bw_rc");

const char *bw_rc_str(enum bw_rc rc)
{
    if ((unsigned)rc >= BW_ERR__COUNT || rc_text[rc] == NULL)
        return "unknown error";
    return rc_text[rc];
}

void bw_why(char *why, size_t whylen, const char *fmt, ...)
{
    if (why == NULL || whylen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
}
