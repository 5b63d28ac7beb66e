/*
 * cert.c - the server's self-signed certificate, made with GnuTLS at
 * `bulwark init`: ECDSA P-256 key, SHA-256 signature, subject alternative
 * names for the host name, 127.0.0.1 and ::1, TLS server usage only. The
 * private key PEM is wiped from memory after it is written (0600).
 */
#include "crypto/crypto.h"
#include "sys/sys.h"

#include <arpa/inet.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <sodium.h>
#include <string.h>
#include <time.h>

static enum bw_rc fill_cert(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key,
                            const char *hostname, unsigned days)
{
    unsigned char serial[16];
    unsigned char v4[4], v6[16];
    time_t now = time(NULL);
    randombytes_buf(serial, sizeof(serial));
    serial[0] &= 0x7f; /* positive INTEGER */
    inet_pton(AF_INET, "127.0.0.1", v4);
    inet_pton(AF_INET6, "::1", v6);
    int r = gnutls_x509_crt_set_version(crt, 3);
    if (r >= 0)
        r = gnutls_x509_crt_set_serial(crt, serial, sizeof(serial));
    if (r >= 0)
        r = gnutls_x509_crt_set_activation_time(crt, now - 3600);
    if (r >= 0)
        r = gnutls_x509_crt_set_expiration_time(crt, now + (time_t)days * 86400);
    if (r >= 0)
        r = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, hostname,
                                          (unsigned)strlen(hostname));
    if (r >= 0)
        r = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_ORGANIZATION_NAME, 0,
                                          "Bulwark self-signed", 19);
    if (r >= 0)
        r = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, hostname,
                                                 (unsigned)strlen(hostname), GNUTLS_FSAN_APPEND);
    if (r >= 0)
        r = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, v4, sizeof(v4),
                                                 GNUTLS_FSAN_APPEND);
    if (r >= 0)
        r = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, v6, sizeof(v6),
                                                 GNUTLS_FSAN_APPEND);
    if (r >= 0)
        r = gnutls_x509_crt_set_key(crt, key);
    if (r >= 0)
        r = gnutls_x509_crt_set_basic_constraints(crt, 0, -1);
    if (r >= 0)
        r = gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE);
    if (r >= 0)
        r = gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0);
    if (r >= 0)
        r = gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0);
    return r < 0 ? BW_ERR_TLS : BW_OK;
}

enum bw_rc bw_tls_generate_selfsigned(const char *cert_path, const char *key_path,
                                      const char *hostname, unsigned days, char *why,
                                      size_t whylen)
{
    enum bw_rc rc = BW_ERR_TLS;
    gnutls_x509_privkey_t key = NULL;
    gnutls_x509_crt_t crt = NULL;
    gnutls_datum_t key_pem = {NULL, 0}, crt_pem = {NULL, 0};
    if (gnutls_x509_privkey_init(&key) < 0 || gnutls_x509_crt_init(&crt) < 0)
        goto out;
    if (gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
                                     GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0) < 0)
        goto out;
    if (fill_cert(crt, key, hostname, days) != BW_OK)
        goto out;
    if (gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN,
                                          &key_pem) < 0 ||
        gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &crt_pem) < 0)
        goto out;
    rc = bw_sys_write_private(key_path, key_pem.data, key_pem.size, false, why, whylen);
    if (rc == BW_OK)
        rc = bw_sys_write_private(cert_path, crt_pem.data, crt_pem.size, false, why, whylen);
out:
    if (rc == BW_ERR_TLS)
        bw_why(why, whylen, "cannot generate the TLS certificate");
    if (key_pem.data != NULL) {
        sodium_memzero(key_pem.data, key_pem.size);
        gnutls_free(key_pem.data);
    }
    gnutls_free(crt_pem.data);
    gnutls_x509_crt_deinit(crt);
    gnutls_x509_privkey_deinit(key);
    return rc;
}
