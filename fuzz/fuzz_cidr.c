/*
 * fuzz_cidr.c - the network parsers behind API-key allow-lists and
 * server.trusted_proxies (src/core/strparse.c: bw_parse_cidr_list,
 * bw_cidr_parse_list, bw_ip_parse) and the X-Forwarded-For client rule
 * (src/http/server.c: bw_client_address). Input: "LIST\nPEER\nXFF".
 *
 * Properties:
 *  - bw_parse_cidr_list and bw_cidr_parse_list agree, and both accept
 *    exactly when a reference written here (tokens split on ", ", each
 *    inet_pton-valid with an optional decimal prefix in range) accepts;
 *  - every parsed network has its prefix in range, no host bits set,
 *    contains its own address, and its canonical text parses back to the
 *    identical network;
 *  - bw_client_address returns the peer unless the peer is a trusted proxy,
 *    and always returns a parsable address when the peer is one.
 */
#include "core/core.h"
#include "fuzz_util.h"
#include "http/http_int.h"

#include <arpa/inet.h>
#include <string.h>

#define MAX_NETS 256

static bool ref_token(const char *t, size_t len)
{
    char tmp[64], *slash;
    unsigned char addr[16];
    if (len == 0 || len >= sizeof(tmp))
        return false;
    memcpy(tmp, t, len);
    tmp[len] = '\0';
    slash = strchr(tmp, '/');
    if (slash != NULL)
        *slash = '\0';
    bool v6 = strchr(tmp, ':') != NULL;
    if (inet_pton(v6 ? AF_INET6 : AF_INET, tmp, addr) != 1)
        return false;
    if (slash == NULL)
        return true;
    const char *d = slash + 1;
    unsigned v = 0;
    if (*d == '\0' || strlen(d) > 20)
        return false;
    for (; *d != '\0'; d++) {
        if (*d < '0' || *d > '9' || v > 1000)
            return false;
        v = v * 10 + (unsigned)(*d - '0');
    }
    return v <= (v6 ? 128u : 32u);
}

static bool ref_list(const char *s, size_t *count)
{
    *count = 0;
    if (strlen(s) > 4096)
        return false;
    while (*s != '\0') {
        while (*s == ' ' || *s == ',')
            s++;
        size_t len = strcspn(s, ", ");
        if (len == 0)
            break;
        if (!ref_token(s, len))
            return false;
        (*count)++;
        s += len;
    }
    return true;
}

static void check_net(const struct bw_cidr *c)
{
    char text[64];
    struct bw_cidr back;
    size_t n = 0;
    FUZZ_CHECK(c->bits <= (c->v6 ? 128 : 32));
    for (unsigned i = 0; i < 16; i++) {
        unsigned keep = c->bits > i * 8 ? c->bits - i * 8 : 0;
        uint8_t mask = keep >= 8 ? 0xff : (uint8_t)(0xff00u >> keep);
        FUZZ_CHECK((c->addr[i] & (uint8_t)~mask) == 0);
    }
    FUZZ_CHECK(bw_cidr_contains(c, c));
    bw_cidr_format(c, text, sizeof(text));
    FUZZ_CHECK(bw_cidr_parse_list(text, &back, 1, &n) == BW_OK && n == 1);
    FUZZ_CHECK(memcmp(&back, c, sizeof(back)) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct bw_cidr nets[MAX_NETS];
    char *s = fuzz_strdup(data, size);
    if (s == NULL)
        return 0;
    char *peer = strchr(s, '\n'), *xff = NULL;
    if (peer != NULL) {
        *peer++ = '\0';
        xff = strchr(peer, '\n');
        if (xff != NULL)
            *xff++ = '\0';
    }
    size_t ref_n = 0, n = 0;
    bool ref_ok = ref_list(s, &ref_n);
    enum bw_rc rc = bw_cidr_parse_list(s, nets, MAX_NETS, &n);
    FUZZ_CHECK((bw_parse_cidr_list(s) == BW_OK) == ref_ok);
    if (ref_ok && ref_n > MAX_NETS) {
        FUZZ_CHECK(rc == BW_ERR_TOOBIG);
    } else {
        FUZZ_CHECK((rc == BW_OK) == ref_ok);
        FUZZ_CHECK(rc != BW_OK || n == ref_n);
    }
    for (size_t i = 0; rc == BW_OK && i < n; i++)
        check_net(&nets[i]);
    if (peer != NULL && rc == BW_OK) {
        char out[64];
        struct bw_cidr p, o;
        bool peer_ok = strlen(peer) < 64 && bw_ip_parse(peer, &p) == BW_OK;
        bw_client_address(peer, xff, nets, n, out, sizeof(out));
        if (peer_ok && !bw_cidr_list_contains(nets, n, &p))
            FUZZ_CHECK(strcmp(out, peer) == 0);
        if (peer_ok)
            FUZZ_CHECK(bw_ip_parse(out, &o) == BW_OK);
    }
    free(s);
    return 0;
}
