/*
 * buf.c - capped, growable byte buffers (curl's dynbuf). A buffer refuses to
 * grow past its `max` and reports BW_ERR_TOOBIG; it never truncates. Used for
 * every piece of untrusted input (request bodies, config values) and for
 * building responses.
 */
#include "core.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

void bw_buf_init(struct bw_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

static enum bw_rc buf_reserve(struct bw_buf *b, size_t extra)
{
    if (extra > b->max || b->len > b->max - extra || b->len + extra == SIZE_MAX)
        return BW_ERR_TOOBIG;
    size_t need = b->len + extra + 1; /* cannot wrap: checked above */
    if (need <= b->cap)
        return BW_OK;
    size_t ncap = b->cap ? b->cap : 64;
    while (ncap < need)
        ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
    if (b->max < SIZE_MAX && ncap > b->max + 1)
        ncap = b->max + 1; /* never allocate more than the cap allows */
    char *nd = bw_realloc(b->data, ncap);
    if (nd == NULL)
        return BW_ERR_NOMEM;
    b->data = nd;
    b->cap = ncap;
    return BW_OK;
}

enum bw_rc bw_buf_append(struct bw_buf *b, const void *p, size_t n)
{
    enum bw_rc rc = buf_reserve(b, n);
    if (rc != BW_OK)
        return rc;
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return BW_OK;
}

enum bw_rc bw_buf_appends(struct bw_buf *b, const char *s)
{
    return bw_buf_append(b, s, strlen(s));
}

enum bw_rc bw_buf_appendf(struct bw_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return BW_ERR_INVALID;
    enum bw_rc rc = buf_reserve(b, (size_t)n);
    if (rc != BW_OK)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return BW_OK;
}

void bw_buf_reset(struct bw_buf *b)
{
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

void bw_buf_free(struct bw_buf *b, bool wipe)
{
    if (b->data != NULL && wipe)
        sodium_memzero(b->data, b->cap);
    bw_free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

char *bw_buf_steal(struct bw_buf *b, size_t *len)
{
    char *d = b->data;
    if (len != NULL)
        *len = b->len;
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return d;
}
