/*
 * totp.c - time-based one-time passwords (RFC 6238; CONTROL: AUTH-02) and
 * what an authenticator app needs to enrol: the base32 secret, the
 * otpauth:// Key URI and a QR code of it drawn as SVG.
 *
 * Codes are computed and checked by liboath (HMAC-SHA-1, 6 digits, 30 s
 * steps from the epoch), initialised once per process; the time comes from
 * the caller (bw_time_now), so tests can move the clock. Candidate codes are
 * compared in constant time. Trusts the seed it is given; knows nothing of
 * users, replay or storage (mfa.c holds those rules).
 * Never: keep a seed, log a code or a seed, or leave a copy of either in
 * memory it allocated without wiping it first.
 */
#include "auth/auth.h"

#include <liboath/oath.h>
#include <pthread.h>
#include <qrencode.h>
#include <sodium.h>
#include <string.h>

#define QR_QUIET 4 /* modules of light margin the QR specification requires */
#define QR_SCALE 4 /* rendered pixels per module */

static pthread_once_t oath_once = PTHREAD_ONCE_INIT;
static int oath_status = OATH_CRYPTO_ERROR;

static void oath_start(void)
{
    oath_status = oath_init();
}

static enum bw_rc totp_ready(void)
{
    pthread_once(&oath_once, oath_start);
    return oath_status == OATH_OK ? BW_OK : BW_ERR_CRYPTO;
}

static bool code_shape(const char *code, unsigned digits)
{
    if (code == NULL || digits < 6 || digits > 8 || strlen(code) != digits)
        return false;
    for (unsigned i = 0; i < digits; i++) {
        if (code[i] < '0' || code[i] > '9')
            return false;
    }
    return true;
}

struct candidate {
    const char *code;
    unsigned digits;
};

/* liboath's strcmp-like hook: 0 = match. sodium_memcmp is constant-time. */
static int compare_code(void *handle, const char *test_otp)
{
    const struct candidate *c = handle;
    if (strlen(test_otp) != c->digits)
        return 1;
    return sodium_memcmp(c->code, test_otp, c->digits) == 0 ? 0 : 1;
}

enum bw_rc bw_totp_verify(const uint8_t *seed, size_t seed_len, unsigned digits,
                          const char *code, int64_t now, unsigned window, int64_t *step)
{
    int pos = 0;
    uint64_t counter = 0;
    struct candidate c = {code, digits};
    if (!code_shape(code, digits) || now < 0)
        return BW_ERR_INVALID;
    enum bw_rc rc = totp_ready();
    if (rc != BW_OK)
        return rc;
    int r = oath_totp_validate4_callback((const char *)seed, seed_len, (time_t)now,
                                         BW_TOTP_PERIOD, OATH_TOTP_DEFAULT_START_TIME, digits,
                                         window, &pos, &counter, 0, compare_code, &c);
    if (r == OATH_INVALID_OTP)
        return BW_ERR_PERM;
    if (r < 0 || counter > (uint64_t)INT64_MAX)
        return BW_ERR_CRYPTO;
    *step = (int64_t)counter;
    return BW_OK;
}

enum bw_rc bw_totp_generate(const uint8_t *seed, size_t seed_len, unsigned digits, int64_t now,
                            char out[9])
{
    char tmp[9];
    if (digits < 6 || digits > 8 || now < 0)
        return BW_ERR_INVALID;
    enum bw_rc rc = totp_ready();
    if (rc != BW_OK)
        return rc;
    if (oath_totp_generate2((const char *)seed, seed_len, (time_t)now, BW_TOTP_PERIOD,
                            OATH_TOTP_DEFAULT_START_TIME, digits, 0, tmp) != OATH_OK)
        rc = BW_ERR_CRYPTO;
    if (rc == BW_OK)
        memcpy(out, tmp, digits + 1);
    sodium_memzero(tmp, sizeof(tmp));
    return rc;
}

enum bw_rc bw_base32_encode(const uint8_t *bin, size_t len, char *out, size_t cap)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    size_t need = (len * 8 + 4) / 5;
    if (len > SIZE_MAX / 8 || need >= cap)
        return BW_ERR_TOOBIG;
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        acc = (acc << 8) | bin[i];
        bits += 8;
        while (bits >= 5) {
            out[o++] = alphabet[(acc >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    if (bits > 0)
        out[o++] = alphabet[(acc << (5 - bits)) & 31];
    out[o] = '\0';
    sodium_memzero(&acc, sizeof(acc)); /* held seed bits */
    return BW_OK;
}

/* RFC 3986 percent-encoding of everything but the unreserved characters. */
static enum bw_rc append_pct(struct bw_buf *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    enum bw_rc rc = BW_OK;
    for (const unsigned char *p = (const unsigned char *)s; rc == BW_OK && *p != '\0'; p++) {
        unsigned char c = *p;
        bool keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == '_' || c == '~';
        char enc[3] = {'%', hex[c >> 4], hex[c & 15]};
        rc = keep ? bw_buf_append(out, p, 1) : bw_buf_append(out, enc, 3);
    }
    return rc;
}

enum bw_rc bw_totp_uri(const char *email, const char *secret_b32, struct bw_buf *out)
{
    enum bw_rc rc = bw_buf_appends(out, "otpauth://totp/Bulwark:");
    if (rc == BW_OK)
        rc = append_pct(out, email);
    if (rc == BW_OK)
        rc = bw_buf_appendf(out, "?secret=%s&issuer=Bulwark&algorithm=SHA1&digits=%d&period=%d",
                            secret_b32, BW_TOTP_DIGITS, BW_TOTP_PERIOD);
    return rc;
}

/* One <rect> per horizontal run of dark modules, offset by the quiet zone. */
static enum bw_rc svg_modules(const QRcode *qr, struct bw_buf *out)
{
    enum bw_rc rc = BW_OK;
    int w = qr->width;
    for (int y = 0; rc == BW_OK && y < w; y++) {
        for (int x = 0; rc == BW_OK && x < w;) {
            if ((qr->data[y * w + x] & 1) == 0) {
                x++;
                continue;
            }
            int start = x;
            while (x < w && (qr->data[y * w + x] & 1) != 0)
                x++;
            rc = bw_buf_appendf(out, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"1\"/>",
                                start + QR_QUIET, y + QR_QUIET, x - start);
        }
    }
    return rc;
}

enum bw_rc bw_qr_svg(const char *text, struct bw_buf *out)
{
    QRcode *qr = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
    if (qr == NULL)
        return BW_ERR_NOMEM; /* also for text beyond a version-40 code: ours are short */
    int n = qr->width + 2 * QR_QUIET;
    enum bw_rc rc = bw_buf_appendf(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" viewBox=\"0 0 %d %d\" "
        "width=\"%d\" height=\"%d\" shape-rendering=\"crispEdges\">"
        "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#ffffff\"/><g fill=\"#000000\">",
        n, n, n * QR_SCALE, n * QR_SCALE, n, n);
    if (rc == BW_OK)
        rc = svg_modules(qr, out);
    if (rc == BW_OK)
        rc = bw_buf_appends(out, "</g></svg>");
    sodium_memzero(qr->data, (size_t)qr->width * (size_t)qr->width); /* encodes the secret */
    QRcode_free(qr);
    return rc;
}
