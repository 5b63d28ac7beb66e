/*
 * http.h - the HTTPS front door: libmicrohttpd with GnuTLS, TLS 1.3 only, no
 * plaintext listener. The server owns a listening socket bound beforehand
 * (so it can be bound as root and served after dropping privileges), a
 * worker pool, the route table and the request limits.
 */
#ifndef BW_HTTP_H
#define BW_HTTP_H

#include "core/core.h"

struct bw_store;
struct bw_keyring;
struct bw_http_server;

/* Borrowed by the server for its whole life. */
struct bw_http_deps {
    const struct bw_config *cfg;
    struct bw_store *store;
    struct bw_keyring *keyring;
    const char *data_dir;
};

/* Binds and listens on host:port (literal address). A port in use is
 * BW_ERR_BUSY with `why` saying so. */
BW_MUST_CHECK enum bw_rc bw_http_bind(const char *host, uint16_t port, int *fd, char *why,
                                      size_t whylen);
/* Starts serving on `fd` (taken over). cert/key are PEM text; the caller may
 * wipe key_pem once this returns. */
BW_MUST_CHECK enum bw_rc bw_http_start(const struct bw_http_deps *deps, int fd,
                                       const char *cert_pem, const char *key_pem,
                                       struct bw_http_server **out, char *why, size_t whylen);
/* Stops accepting, lets requests in flight finish for up to grace_ms, then
 * closes everything and frees the server. Accepts NULL. */
void bw_http_stop(struct bw_http_server *srv, unsigned grace_ms);

#endif
