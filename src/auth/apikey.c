/*
 * apikey.c - API keys for machines (CONTROL: AC-04): "bwk_" keys with 256
 * random bits, shown once and stored only as their SHA-256; each bound to
 * one organisation, one non-administrative role and a non-empty list of
 * IPv4/IPv6 networks, optionally an expiry; revocable; every use from
 * outside the list refused and audited (apikey.denied); the last use (time,
 * address) recorded, throttled like session touches.
 *
 * Trusts the client address the HTTP layer determined (the TCP peer, or
 * X-Forwarded-For from a trusted proxy). Never logs, audits or returns a
 * key after creation; compares keys only through their hashes.
 */
#include "audit/audit.h"
#include "auth/auth.h"
#include "store/store.h"

#include <stdio.h>

void bw_principal_actor(const struct bw_principal *p, char out[BW_ACTOR_LEN])
{
    if (p->apikey_id[0] != '\0')
        snprintf(out, BW_ACTOR_LEN, "apikey:%s", p->apikey_id);
    else if (p->user_id[0] != '\0')
        snprintf(out, BW_ACTOR_LEN, "user:%s", p->user_id);
    else
        snprintf(out, BW_ACTOR_LEN, "anonymous");
}
