/*
 * csrf.c - the browser mode of authentication (CONTROL: APP-04). Login sets
 * the session token as a __Host- cookie (Secure, HttpOnly, SameSite=Strict)
 * and returns a CSRF token: HMAC-SHA-256 of the session token under a
 * keyring subkey, so it is bound to that session, needs no storage and
 * cannot be computed by anyone who lacks the master key. Every non-GET
 * request authenticated by the cookie must echo it in X-CSRF-Token;
 * bearer-token requests need none (a browser never adds that header).
 */
#include "crypto/crypto.h"
#include "http/http_int.h"

#include <sodium.h>
#include <string.h>

#define B64 sodium_base64_VARIANT_URLSAFE_NO_PADDING

enum bw_rc bw_csrf_token(const struct bw_keyring *kr, const char *session_token,
                         char out[BW_CSRF_LEN + 1])
{
    uint8_t mac[BW_MAC_BYTES];
    enum bw_rc rc = bw_keyring_mac(kr, "csrf", session_token, strlen(session_token), mac);
    if (rc != BW_OK)
        return rc;
    sodium_bin2base64(out, BW_CSRF_LEN + 1, mac, sizeof(mac), B64);
    sodium_memzero(mac, sizeof(mac));
    return BW_OK;
}

bool bw_csrf_valid(const struct bw_keyring *kr, const char *session_token, const char *header)
{
    char want[BW_CSRF_LEN + 1];
    if (header == NULL || strlen(header) != BW_CSRF_LEN ||
        bw_csrf_token(kr, session_token, want) != BW_OK)
        return false;
    bool ok = sodium_memcmp(want, header, BW_CSRF_LEN) == 0;
    sodium_memzero(want, sizeof(want));
    return ok;
}

enum bw_rc bw_session_cookie(struct bw_resp *resp, const char *token, int64_t max_age)
{
    char cookie[160];
    if (token == NULL)
        snprintf(cookie, sizeof(cookie),
                 BW_SESSION_COOKIE "=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0");
    else
        snprintf(cookie, sizeof(cookie),
                 BW_SESSION_COOKIE "=%s; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=%lld",
                 token, (long long)max_age);
    enum bw_rc rc = bw_resp_header(resp, "Set-Cookie", cookie);
    sodium_memzero(cookie, sizeof(cookie));
    return rc;
}
