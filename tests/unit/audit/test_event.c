/* Unit tests for src/audit/event.c, export.c and checkpoint.c: the canonical
 * hash covers every field unambiguously, exports stay on one line whatever
 * the values hold, jsonl lines parse back to the same event, checkpoints
 * verify only under their key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "audit/audit.h"
#include "crypto/crypto.h"

#define S(x) ((struct bw_audit_str){(x), sizeof(x) - 1})

static struct bw_audit_event base(void)
{
    struct bw_audit_event ev = {
        .seq = 7, .ts = 1700000000, .actor = S("user:abc"), .action = S("auth.login.failed"),
        .target = S("-"), .outcome = S("failure"), .remote = S("127.0.0.1"),
        .request_id = S("r1"), .details = S("{\"reason\":\"bad_password\"}"), .org = S("-")};
    return ev;
}

static void test_hash_covers_every_field(void **state)
{
    uint8_t prev[32] = {0}, h0[32], h[32];
    struct bw_audit_event ev = base();
    assert_int_equal(bw_audit_event_hash(&ev, prev, h0), BW_OK);
    struct bw_audit_str *fields[] = {&ev.actor,  &ev.action,     &ev.target,  &ev.outcome,
                                     &ev.remote, &ev.request_id, &ev.details, &ev.org};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        struct bw_audit_str keep = *fields[i];
        *fields[i] = S("changed");
        assert_int_equal(bw_audit_event_hash(&ev, prev, h), BW_OK);
        assert_memory_not_equal(h, h0, 32);
        *fields[i] = keep;
    }
    ev.seq++;
    assert_int_equal(bw_audit_event_hash(&ev, prev, h), BW_OK);
    assert_memory_not_equal(h, h0, 32);
    ev = base();
    ev.ts++;
    assert_int_equal(bw_audit_event_hash(&ev, prev, h), BW_OK);
    assert_memory_not_equal(h, h0, 32);
    ev = base();
    prev[31] = 1;
    assert_int_equal(bw_audit_event_hash(&ev, prev, h), BW_OK);
    assert_memory_not_equal(h, h0, 32);
    /* deterministic */
    prev[31] = 0;
    assert_int_equal(bw_audit_event_hash(&ev, prev, h), BW_OK);
    assert_memory_equal(h, h0, 32);
}

static void test_hash_length_prefixed(void **state)
{
    /* moving a byte between adjacent fields must change the hash */
    uint8_t prev[32] = {0}, a[32], b[32];
    struct bw_audit_event ev = base();
    ev.actor = S("ab");
    ev.action = S("c");
    assert_int_equal(bw_audit_event_hash(&ev, prev, a), BW_OK);
    ev.actor = S("a");
    ev.action = S("bc");
    assert_int_equal(bw_audit_event_hash(&ev, prev, b), BW_OK);
    assert_memory_not_equal(a, b, 32);
}

/* Known answers computed independently (Python hashlib over the encoding
 * documented in audit.h): v2 SHA-256, v1 BLAKE2b-256 below the boundary,
 * and an event beyond the 4 KiB stack buffer (the allocating path). */
static void hex_eq(const uint8_t h[32], const char *want)
{
    char hex[65];
    bw_hex(h, 32, hex);
    assert_string_equal(hex, want);
}

static void test_hash_known_answers(void **state)
{
    uint8_t prev[32] = {0}, h[32];
    struct bw_audit_event ev = base();
    assert_int_equal(bw_audit_event_hash(&ev, prev, h), BW_OK);
    hex_eq(h, "b807d1153622219d715d27a9502ab4052a0a870b8539d65bb3553d97294bc8d7");
    assert_int_equal(bw_audit_event_hash_at(&ev, prev, 7, h), BW_OK);
    hex_eq(h, "b807d1153622219d715d27a9502ab4052a0a870b8539d65bb3553d97294bc8d7");
    assert_int_equal(bw_audit_event_hash_at(&ev, prev, 8, h), BW_OK);
    hex_eq(h, "f14c0c87ffe5c24bb25f82802d950fbadc5b240f8042b398b1a3eb1b9ddde702");
    static char big[5009];
    memcpy(big, "{\"k\":\"", 6);
    memset(big + 6, 'x', 5000);
    memcpy(big + 5006, "\"}", 2);
    ev.details = (struct bw_audit_str){big, 5008};
    assert_int_equal(bw_audit_event_hash(&ev, prev, h), BW_OK);
    hex_eq(h, "d1bbdddadfdf4df90a8201a54118c3d79406fa824082589b79b89afebd3eec3f");
}

static void test_export_one_line(void **state)
{
    struct bw_audit_event ev = base();
    ev.target = S("evil\r\n<13>1 2026-01-01T00:00:00Z forged bulwark - x [a] fake\x01\x7f");
    ev.details = S("{\"k\":\"v\\r\\n\"}\n<14>forged");
    ev.actor = S("a\"b]c\\d");
    struct bw_buf out;
    for (int f = 0; f < 2; f++) {
        bw_buf_init(&out, 1 << 16);
        assert_int_equal(bw_audit_format_event(&ev, f ? BW_AUDIT_SYSLOG : BW_AUDIT_JSONL, "host",
                                               &out),
                         BW_OK);
        for (size_t i = 0; i < out.len; i++)
            assert_true((unsigned char)out.data[i] >= 0x20 && (f == 0 || out.data[i] != 0x7f));
        if (f == 1) {
            assert_true(strncmp(out.data, "<109>1 2023-11-14T22:13:20Z host bulwark - "
                                          "auth.login.failed [bulwark@32473 seq=\"7\"",
                                63) == 0);
            assert_non_null(strstr(out.data, "actor=\"a\\\"b\\]c\\\\d\""));
            assert_non_null(strstr(out.data, "evil\\r\\n<13>"));
        }
        bw_buf_free(&out, false);
    }
}

static void test_jsonl_roundtrip(void **state)
{
    struct bw_audit_event ev = base(), back;
    uint8_t prev[32] = {0};
    ev.details = S("{\"email\":\"\xc3\xa9t\xc3\xa9@example.com\"}");
    assert_int_equal(bw_audit_event_hash(&ev, prev, ev.hash), BW_OK);
    struct bw_buf out;
    json_t *keep = NULL;
    bw_buf_init(&out, 1 << 16);
    assert_int_equal(bw_audit_format_event(&ev, BW_AUDIT_JSONL, NULL, &out), BW_OK);
    assert_int_equal(bw_audit_parse_line(out.data, out.len, &back, &keep), BW_OK);
    uint8_t h[32];
    assert_int_equal(bw_audit_event_hash(&back, prev, h), BW_OK);
    assert_memory_equal(h, ev.hash, 32);
    assert_memory_equal(back.hash, ev.hash, 32);
    json_decref(keep);
    /* malformed lines are refused */
    const char *bad[] = {"", "{}", "[1]", "{\"seq\":0}", out.data + 1};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(bw_audit_parse_line(bad[i], strlen(bad[i]), &back, &keep),
                         BW_ERR_INVALID);
    /* non-UTF-8 values are refused for export, never emitted raw */
    ev.target = S("\xff\xfe");
    bw_buf_reset(&out);
    assert_int_equal(bw_audit_format_event(&ev, BW_AUDIT_JSONL, NULL, &out), BW_ERR_INVALID);
    bw_buf_free(&out, false);
}

static void test_checkpoint_parse(void **state)
{
    const char *ok = "{\"seq\":3,\"ts\":5,\"time\":\"x\",\"hash\":\"" /* 64 hex */
                     "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\","
                     "\"sig\":\"" /* 128 hex */
                     "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
                     "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\"}";
    struct bw_audit_checkpoint cp;
    uint8_t pk[32] = {0};
    assert_int_equal(bw_audit_checkpoint_parse(ok, strlen(ok), &cp), BW_OK);
    assert_int_equal(cp.seq, 3);
    assert_int_not_equal(bw_audit_checkpoint_verify(&cp, pk), BW_OK);
    assert_int_equal(bw_audit_checkpoint_parse("{\"seq\":-1}", 10, &cp), BW_ERR_INVALID);
}

int main(void)
{
    if (bw_crypto_init() != BW_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_covers_every_field),
        cmocka_unit_test(test_hash_length_prefixed),
        cmocka_unit_test(test_hash_known_answers),
        cmocka_unit_test(test_export_one_line),
        cmocka_unit_test(test_jsonl_roundtrip),
        cmocka_unit_test(test_checkpoint_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
