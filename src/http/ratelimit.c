/*
 * ratelimit.c - per-address throttling of the unauthenticated
 * authentication routes (CONTROL: AUTH-07, NET-02): a token bucket per
 * client address in a fixed table (no allocation, bounded memory whatever
 * the number of addresses; colliding addresses share a bucket, which can
 * only make the limit stricter). In-process by design: it sheds load before
 * any hashing happens; the lockout counters that must hold across processes
 * live in the store.
 */
#include "http/http_int.h"

#include <pthread.h>
#include <sodium.h>
#include <string.h>

enum { SLOTS = 4096 };
#define BURST 20.0 /* attempts an address may make at once */
#define RATE 5.0   /* attempts per second refilled */

struct bucket {
    double tokens;
    uint64_t last_ms;
};

static struct bucket buckets[SLOTS];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static uint8_t key[crypto_shorthash_KEYBYTES];
static bool keyed;

/* Keyed hash so clients cannot aim collisions at someone else's bucket. */
static size_t slot_of(const char *addr)
{
    uint8_t h[crypto_shorthash_BYTES];
    if (!keyed) {
        randombytes_buf(key, sizeof(key));
        keyed = true;
    }
    crypto_shorthash(h, (const unsigned char *)addr, strlen(addr), key);
    uint64_t v;
    memcpy(&v, h, sizeof(v));
    return (size_t)(v % SLOTS);
}

bool bw_ratelimit_take(const char *addr, unsigned *retry_after)
{
    uint64_t now = (uint64_t)bw_time_now_ms();
    bool ok;
    pthread_mutex_lock(&mu);
    struct bucket *b = &buckets[slot_of(addr)];
    if (b->last_ms == 0) {
        b->tokens = BURST;
    } else {
        b->tokens += (double)(now - b->last_ms) / 1000.0 * RATE;
        if (b->tokens > BURST)
            b->tokens = BURST;
    }
    b->last_ms = now;
    ok = b->tokens >= 1.0;
    if (ok)
        b->tokens -= 1.0;
    else
        *retry_after = (unsigned)((1.0 - b->tokens) / RATE) + 1;
    pthread_mutex_unlock(&mu);
    return ok;
}
