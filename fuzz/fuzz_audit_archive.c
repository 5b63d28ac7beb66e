/*
 * fuzz_audit_archive.c - the readers of audit trail bytes that come from
 * disk or other machines (issue 5): archive files (header, chunk table,
 * signature), export/archive JSON lines and checkpoint lines.
 * Properties: the archive reader never reports an archive intact unless its
 * signature verifies under the key - here a key whose secret nobody has, so
 * never; a failure always names an event (first_bad >= 1); a JSON line that
 * parses formats back and parses again to the same event (same canonical
 * hash); a parsed checkpoint never verifies under that key.
 */
#include "fuzz_util.h"

#include "audit/audit.h"
#include "crypto/crypto.h"

#include <jansson.h>
#include <sodium.h>

static uint8_t pk[32];

static void fuzz_init(void)
{
    static int done;
    uint8_t seed[32], sk[64];
    if (done)
        return;
    if (bw_crypto_init() != BW_OK)
        abort();
    memset(seed, 0x42, sizeof(seed));
    crypto_sign_seed_keypair(pk, sk, seed);
    sodium_memzero(sk, sizeof(sk));
    pk[0] ^= 1; /* no secret key exists for this public key in practice */
    done = 1;
}

static void check_line(const uint8_t *data, size_t size)
{
    struct bw_audit_event ev, again;
    json_t *keep = NULL, *keep2 = NULL;
    uint8_t zero[32] = {0}, h1[32], h2[32];
    if (bw_audit_parse_line((const char *)data, size, &ev, &keep) != BW_OK)
        return;
    struct bw_buf out;
    bw_buf_init(&out, 1 << 22);
    enum bw_rc rc = bw_audit_format_event(&ev, BW_AUDIT_JSONL, NULL, &out);
    FUZZ_CHECK(rc == BW_OK || rc == BW_ERR_INVALID || rc == BW_ERR_NOMEM || rc == BW_ERR_TOOBIG);
    if (rc == BW_OK) {
        FUZZ_CHECK(memchr(out.data, '\n', out.len) == NULL);
        FUZZ_CHECK(bw_audit_parse_line(out.data, out.len, &again, &keep2) == BW_OK);
        FUZZ_CHECK(bw_audit_event_hash(&ev, zero, h1) == BW_OK);
        FUZZ_CHECK(bw_audit_event_hash(&again, zero, h2) == BW_OK);
        FUZZ_CHECK(memcmp(h1, h2, 32) == 0 && again.seq == ev.seq && again.ts == ev.ts);
        FUZZ_CHECK(memcmp(again.hash, ev.hash, 32) == 0);
    }
    bw_buf_reset(&out);
    rc = bw_audit_format_event(&ev, BW_AUDIT_SYSLOG, "h", &out);
    if (rc == BW_OK)
        for (size_t i = 0; i < out.len; i++)
            FUZZ_CHECK((unsigned char)out.data[i] >= 0x20 && out.data[i] != 0x7f);
    bw_buf_free(&out, false);
    json_decref(keep);
    json_decref(keep2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct bw_audit_report rep;
    struct bw_audit_checkpoint cp;
    fuzz_init();
    enum bw_rc rc = bw_audit_verify_archive_mem(data, size, pk, NULL, &rep);
    FUZZ_CHECK(rc == BW_OK || rc == BW_ERR_NOMEM || rc == BW_ERR_TOOBIG);
    if (rc == BW_OK) {
        FUZZ_CHECK(!rep.ok);
        FUZZ_CHECK(rep.first_bad >= 1 && memchr(rep.reason, '\0', sizeof(rep.reason)) != NULL);
    }
    check_line(data, size);
    if (bw_audit_checkpoint_parse((const char *)data, size, &cp) == BW_OK)
        FUZZ_CHECK(bw_audit_checkpoint_verify(&cp, pk) != BW_OK);
    return 0;
}
