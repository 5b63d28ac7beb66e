/*
 * mem.c - the allocation funnel. Every heap allocation made by Bulwark code
 * passes through here so that tests can fail the Nth allocation and prove
 * that each error path releases what it took (curl's torture testing).
 * It never wipes memory: secrets live in sodium_malloc memory instead.
 */
#include "core.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static _Atomic long fail_after = -1;

void bw_mem_fail_after(long n)
{
    atomic_store(&fail_after, n);
}

static bool should_fail(void)
{
    long cur = atomic_load(&fail_after);
    while (cur >= 0) {
        if (cur == 0)
            return true;
        if (atomic_compare_exchange_weak(&fail_after, &cur, cur - 1))
            return false;
    }
    return false;
}

void *bw_malloc(size_t n)
{
    if (should_fail())
        return NULL;
    return malloc(n ? n : 1);
}

void *bw_calloc(size_t nmemb, size_t size)
{
    if (should_fail())
        return NULL;
    return calloc(nmemb ? nmemb : 1, size ? size : 1);
}

void *bw_realloc(void *p, size_t n)
{
    if (should_fail())
        return NULL;
    return realloc(p, n ? n : 1);
}

char *bw_strndup(const char *s, size_t n)
{
    char *d = bw_malloc(n + 1);
    if (d == NULL)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *bw_strdup(const char *s)
{
    return bw_strndup(s, strlen(s));
}

void bw_free(void *p)
{
    free(p);
}
