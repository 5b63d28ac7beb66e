/*
 * Unit tests for src/auth/totp.c, src/auth/mfa.c and the keyring's
 * seal/open (src/crypto/keyring.c): seal round trips and refusals, the
 * RFC 6238 SHA-1 test vectors, the ±1 step window, and the MFA flow on a
 * real store (enrol, confirm, verify, replay, recovery codes, OTP lockout,
 * reset, seeds bound to their owner). The store cases run on a temporary
 * SQLite database, and also on PostgreSQL when BW_TEST_PG_URL names a fresh
 * database (scripts/pg-test-server newdb DIR).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit/audit.h"
#include "auth/auth.h"
#include "crypto/crypto.h"
#include "store/store.h"
#include "sys/sys.h"

static char dir[256];
static struct bw_keyring *kr;
static struct bw_keyring *kr_other; /* another installation's master key */
static const char *target;          /* store of the current group */
static struct bw_store *st;
static struct bw_config cfg;
static const struct bw_audit_ctx actx = {.remote = "127.0.0.1", .request_id = "test"};
static const char *const password = "Vq7-Lm2x-Rt9pZ";

static int setup(void **state)
{
    char why[256], keys[300], other[300];
    snprintf(dir, sizeof(dir), "/tmp/bw-test-mfa-XXXXXX");
    if (mkdtemp(dir) == NULL || bw_crypto_init() != BW_OK)
        return -1;
    if (bw_sys_path(keys, sizeof(keys), dir, "keys") != BW_OK ||
        bw_sys_path(other, sizeof(other), dir, "other") != BW_OK)
        return -1;
    if (bw_sys_mkdir_private(keys, why, sizeof(why)) != BW_OK ||
        bw_sys_mkdir_private(other, why, sizeof(why)) != BW_OK)
        return -1;
    if (bw_keyring_generate(keys, why, sizeof(why)) != BW_OK ||
        bw_keyring_generate(other, why, sizeof(why)) != BW_OK ||
        bw_keyring_load(keys, &kr, why, sizeof(why)) != BW_OK ||
        bw_keyring_load(other, &kr_other, why, sizeof(why)) != BW_OK)
        return -1;
    return bw_config_init(&cfg) == BW_OK ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[300];
    bw_keyring_free(kr);
    bw_keyring_free(kr_other);
    bw_config_cleanup(&cfg);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- seal / open ------------------------------------------------------------ */

static void test_seal_round_trip(void **state)
{
    static const size_t lens[] = {0, 1, BW_TOTP_SEED_BYTES, 100};
    uint8_t plain[100], sealed[200], sealed2[200], opened[100];
    for (size_t i = 0; i < sizeof(plain); i++)
        plain[i] = (uint8_t)(i * 7 + 1);
    for (size_t i = 0; i < BW_ARRAY_LEN(lens); i++) {
        size_t slen = 0, slen2 = 0, olen = 0;
        assert_int_equal(bw_keyring_seal(kr, "totp:a", plain, lens[i], sealed, sizeof(sealed),
                                         &slen),
                         BW_OK);
        assert_int_equal(slen, lens[i] + BW_SEAL_OVERHEAD);
        assert_int_equal(bw_keyring_open(kr, "totp:a", sealed, slen, opened, sizeof(opened),
                                         &olen),
                         BW_OK);
        assert_int_equal(olen, lens[i]);
        if (lens[i] > 0)
            assert_memory_equal(opened, plain, lens[i]);
        /* a fresh nonce every time: the same secret never seals the same way */
        assert_int_equal(bw_keyring_seal(kr, "totp:a", plain, lens[i], sealed2, sizeof(sealed2),
                                         &slen2),
                         BW_OK);
        assert_memory_not_equal(sealed, sealed2, BW_SEAL_NONCE_BYTES);
    }
}

static void test_seal_refusals(void **state)
{
    enum { NO_FLIP = -1 };
    static const struct {
        const char *name;
        const char *aad;
        int flip; /* byte of the sealed form to change */
        bool other_key;
        enum bw_rc want;
    } cases[] = {
        {"same owner", "totp:user-a", NO_FLIP, false, BW_OK},
        {"another owner", "totp:user-b", NO_FLIP, false, BW_ERR_CRYPTO},
        {"another purpose", "note:user-a", NO_FLIP, false, BW_ERR_CRYPTO},
        {"no owner", "", NO_FLIP, false, BW_ERR_CRYPTO},
        {"nonce byte", "totp:user-a", 0, false, BW_ERR_CRYPTO},
        {"last nonce byte", "totp:user-a", BW_SEAL_NONCE_BYTES - 1, false, BW_ERR_CRYPTO},
        {"ciphertext byte", "totp:user-a", BW_SEAL_NONCE_BYTES + 3, false, BW_ERR_CRYPTO},
        {"tag byte", "totp:user-a", BW_SEAL_OVERHEAD + BW_TOTP_SEED_BYTES - 1, false,
         BW_ERR_CRYPTO},
        {"another master key", "totp:user-a", NO_FLIP, true, BW_ERR_CRYPTO},
    };
    uint8_t seed[BW_TOTP_SEED_BYTES], sealed[64], opened[64];
    size_t slen = 0;
    memset(seed, 0x5a, sizeof(seed));
    assert_int_equal(bw_keyring_seal(kr, "totp:user-a", seed, sizeof(seed), sealed,
                                     sizeof(sealed), &slen),
                     BW_OK);
    for (size_t i = 0; i < BW_ARRAY_LEN(cases); i++) {
        uint8_t copy[64];
        size_t olen = 12345;
        memcpy(copy, sealed, slen);
        if (cases[i].flip != NO_FLIP)
            copy[cases[i].flip] ^= 0x01;
        enum bw_rc rc = bw_keyring_open(cases[i].other_key ? kr_other : kr, cases[i].aad, copy,
                                        slen, opened, sizeof(opened), &olen);
        if (rc != cases[i].want)
            fail_msg("%s: got %s", cases[i].name, bw_rc_str(rc));
        if (rc != BW_OK)
            assert_int_equal(olen, 12345); /* out-parameters untouched on failure */
    }
    size_t olen = 0;
    assert_int_equal(bw_keyring_open(kr, "totp:user-a", sealed, BW_SEAL_OVERHEAD - 1, opened,
                                     sizeof(opened), &olen),
                     BW_ERR_INVALID);
    assert_int_equal(bw_keyring_open(kr, "totp:user-a", sealed, slen, opened, 4, &olen),
                     BW_ERR_TOOBIG);
    assert_int_equal(bw_keyring_seal(kr, "totp:user-a", seed, sizeof(seed), opened,
                                     sizeof(seed) + BW_SEAL_OVERHEAD - 1, &olen),
                     BW_ERR_TOOBIG);
}

/* ---- TOTP --------------------------------------------------------------------- */

static const uint8_t rfc_seed[] = "12345678901234567890";

static void test_totp_rfc6238_vectors(void **state)
{
    /* RFC 6238 appendix B, SHA-1 */
    static const struct {
        int64_t t;
        const char *code8;
    } vectors[] = {
        {59, "94287082"},         {1111111109, "07081804"}, {1111111111, "14050471"},
        {1234567890, "89005924"}, {2000000000, "69279037"}, {20000000000, "65353130"},
    };
    for (size_t i = 0; i < BW_ARRAY_LEN(vectors); i++) {
        char out[9];
        int64_t step = -1;
        const char *code6 = vectors[i].code8 + 2;
        assert_int_equal(bw_totp_generate(rfc_seed, 20, 8, vectors[i].t, out), BW_OK);
        assert_string_equal(out, vectors[i].code8);
        assert_int_equal(bw_totp_generate(rfc_seed, 20, 6, vectors[i].t, out), BW_OK);
        assert_string_equal(out, code6);
        assert_int_equal(bw_totp_verify(rfc_seed, 20, 8, vectors[i].code8, vectors[i].t, 0,
                                        &step),
                         BW_OK);
        assert_int_equal(step, vectors[i].t / 30);
        step = -1;
        assert_int_equal(bw_totp_verify(rfc_seed, 20, 6, code6, vectors[i].t, 1, &step), BW_OK);
        assert_int_equal(step, vectors[i].t / 30);
    }
}

static void test_totp_window(void **state)
{
    const int64_t t0 = 1111111110; /* the first second of step 37037037 */
    static const struct {
        int64_t offset;
        unsigned window;
        enum bw_rc want;
    } cases[] = {
        {-31, 1, BW_ERR_PERM}, {-30, 1, BW_OK},       {-1, 1, BW_OK},  {0, 1, BW_OK},
        {29, 1, BW_OK},        {59, 1, BW_OK},        {60, 1, BW_ERR_PERM},
        {-1, 0, BW_ERR_PERM},  {0, 0, BW_OK},         {29, 0, BW_OK},  {30, 0, BW_ERR_PERM},
    };
    char code[9];
    assert_int_equal(bw_totp_generate(rfc_seed, 20, 6, t0, code), BW_OK);
    for (size_t i = 0; i < BW_ARRAY_LEN(cases); i++) {
        int64_t step = -1;
        enum bw_rc rc =
            bw_totp_verify(rfc_seed, 20, 6, code, t0 + cases[i].offset, cases[i].window, &step);
        if (rc != cases[i].want)
            fail_msg("offset %lld window %u: got %s", (long long)cases[i].offset,
                     cases[i].window, bw_rc_str(rc));
        if (rc == BW_OK)
            assert_int_equal(step, t0 / 30); /* the code's own step, whenever checked */
        else
            assert_int_equal(step, -1);
    }
}

static void test_totp_malformed(void **state)
{
    static const char *const bad[] = {"", "12345", "1234567", "12a456", " 12345", "12345\n",
                                      "\xef\xbc\x91\xef\xbc\x92", "-12345"};
    int64_t step = 0;
    for (size_t i = 0; i < BW_ARRAY_LEN(bad); i++)
        assert_int_equal(bw_totp_verify(rfc_seed, 20, 6, bad[i], 59, 1, &step), BW_ERR_INVALID);
}

static void test_enrolment_text(void **state)
{
    struct bw_buf uri, svg;
    char b32[40];
    bw_buf_init(&uri, 4096);
    bw_buf_init(&svg, 1 << 20);
    assert_int_equal(bw_base32_encode(rfc_seed, 20, b32, sizeof(b32)), BW_OK);
    assert_string_equal(b32, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    assert_int_equal(bw_base32_encode(rfc_seed, 20, b32, 32), BW_ERR_TOOBIG);
    assert_int_equal(bw_totp_uri("a.b+c@example.com", b32, &uri), BW_OK);
    assert_string_equal(uri.data, "otpauth://totp/Bulwark:a.b%2Bc%40example.com?secret="
                                  "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Bulwark&"
                                  "algorithm=SHA1&digits=6&period=30");
    assert_int_equal(bw_qr_svg(uri.data, &svg), BW_OK);
    assert_true(strncmp(svg.data, "<svg xmlns=\"http://www.w3.org/2000/svg\"", 39) == 0);
    assert_non_null(strstr(svg.data, "<rect x="));
    assert_null(strstr(svg.data, "script"));
    assert_null(strstr(svg.data, "href"));
    assert_string_equal(svg.data + svg.len - 10, "</g></svg>");
    bw_buf_free(&uri, true);
    bw_buf_free(&svg, true);
}

/* ---- the flow on a real store ----------------------------------------------------- */

static int store_setup(void **state)
{
    static char path[300];
    char why[512] = "";
    int version = 0;
    struct bw_store_opts opts = {.pool_size = 2, .busy_timeout_ms = 5000, .create = true};
    if (strcmp(target, "sqlite") == 0) {
        if (bw_sys_path(path, sizeof(path), dir, "mfa.db") != BW_OK)
            return -1;
        target = path;
    }
    if (bw_store_open(target, &opts, &st, why, sizeof(why)) != BW_OK) {
        fprintf(stderr, "cannot open %s: %s\n", target, why);
        return -1;
    }
    return bw_store_migrate(st, &version) == BW_OK && version >= 2 ? 0 : -1;
}

static int store_teardown(void **state)
{
    bw_store_close(st);
    st = NULL;
    bw_time_set_offset(0);
    return 0;
}

/* Pins the clock 5 s into a time step, so a test's codes stay current. */
static void pin_clock(int64_t extra)
{
    int64_t real = (int64_t)time(NULL);
    int64_t want = (real / 30 + 1) * 30 + 5 + extra;
    bw_time_set_offset(want - real);
}

static void advance(int64_t seconds)
{
    int64_t real = (int64_t)time(NULL);
    bw_time_set_offset(bw_time_now() - real + seconds);
}

static void user_new(const char *email, struct bw_user *u)
{
    struct bw_password_errors pe = {.n = 0};
    struct bw_user_new nu = {email, password, strlen(password), false, false};
    assert_int_equal(bw_user_create(st, &cfg, &actx, "test", &nu, &pe, u), BW_OK);
}

static void session_new(const char *email, struct bw_login *login, struct bw_principal *p)
{
    assert_int_equal(bw_auth_login(st, &cfg, &actx, email, password, strlen(password), login),
                     BW_OK);
    assert_int_equal(bw_session_authenticate(st, &cfg, login->token, p), BW_OK);
}

static void refresh(const struct bw_login *login, struct bw_principal *p)
{
    assert_int_equal(bw_session_authenticate(st, &cfg, login->token, p), BW_OK);
}

static void base32_decode(const char *in, uint8_t *out, size_t n)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (const char *p = in; *p != '\0' && o < n; p++) {
        const char *c = strchr(alphabet, *p);
        assert_non_null(c);
        acc = (acc << 5) | (uint32_t)(c - alphabet);
        bits += 5;
        if (bits >= 8) {
            out[o++] = (uint8_t)(acc >> (bits - 8));
            bits -= 8;
        }
    }
    assert_int_equal(o, n);
}

/* The current code, `steps` time steps away. */
static void code_at(const uint8_t *seed, int steps, char out[9])
{
    assert_int_equal(bw_totp_generate(seed, BW_TOTP_SEED_BYTES, 6, bw_time_now() + steps * 30,
                                      out),
                     BW_OK);
}

static void wrong(const char *code, char out[9])
{
    memcpy(out, code, 7);
    out[0] = out[0] == '9' ? '0' : (char)(out[0] + 1);
}

/* Enrols and confirms for a fresh user; returns the seed and recovery codes. */
static void enrol(const char *email, struct bw_login *login, struct bw_principal *p,
                  uint8_t seed[BW_TOTP_SEED_BYTES], struct bw_recovery_codes *codes)
{
    struct bw_user u;
    struct bw_mfa_enrolment e;
    char code[9];
    user_new(email, &u);
    session_new(email, login, p);
    assert_false(login->mfa_required);
    assert_int_equal(bw_mfa_enroll(st, kr, &actx, p, &e), BW_OK);
    assert_int_equal(strlen(e.secret), BW_TOTP_B32_LEN);
    assert_non_null(strstr(e.uri.data, e.secret));
    assert_true(strncmp(e.svg.data, "<svg xmlns=", 11) == 0);
    base32_decode(e.secret, seed, BW_TOTP_SEED_BYTES);
    bw_mfa_enrolment_cleanup(&e);
    code_at(seed, 0, code);
    assert_int_equal(bw_mfa_confirm(st, &cfg, kr, &actx, p, code, codes), BW_OK);
    refresh(login, p);
    assert_true(p->mfa_enabled);
    assert_true(p->mfa_verified);
}

/* State the flow's two halves share (cmocka runs a group in order). */
static struct {
    uint8_t seed[BW_TOTP_SEED_BYTES];
    struct bw_recovery_codes codes;
    char confirmed[9]; /* the code that confirmed the enrolment */
} flow;

static void test_flow_enrolment(void **state)
{
    struct bw_user u;
    struct bw_login l1;
    struct bw_principal p1;
    struct bw_mfa_enrolment e;
    struct bw_recovery_codes *codes = &flow.codes;
    char bad[9];
    bool recovery = true;
    pin_clock(0);
    user_new("flow@example.com", &u);
    session_new("flow@example.com", &l1, &p1);
    assert_false(p1.mfa_enabled);
    assert_int_equal(bw_mfa_verify(st, &cfg, kr, &actx, &p1, "123456", &recovery),
                     BW_ERR_NOTFOUND);
    assert_int_equal(bw_mfa_confirm(st, &cfg, kr, &actx, &p1, "123456", codes),
                     BW_ERR_NOTFOUND);
    assert_int_equal(bw_mfa_enroll(st, kr, &actx, &p1, &e), BW_OK);
    bw_mfa_enrolment_cleanup(&e);
    assert_int_equal(bw_mfa_enroll(st, kr, &actx, &p1, &e), BW_OK); /* a restart replaces it */
    base32_decode(e.secret, flow.seed, sizeof(flow.seed));
    bw_mfa_enrolment_cleanup(&e);
    code_at(flow.seed, 0, flow.confirmed);
    wrong(flow.confirmed, bad);
    assert_int_equal(bw_mfa_confirm(st, &cfg, kr, &actx, &p1, bad, codes), BW_ERR_PERM);
    assert_int_equal(bw_mfa_confirm(st, &cfg, kr, &actx, &p1, "RC7K2-9XQ4M", codes),
                     BW_ERR_INVALID);
    assert_int_equal(bw_mfa_confirm(st, &cfg, kr, &actx, &p1, flow.confirmed, codes), BW_OK);
    for (size_t i = 0; i < BW_RECOVERY_CODES; i++) {
        assert_int_equal(strlen(codes->code[i]), BW_RECOVERY_CODE_LEN);
        assert_int_equal(codes->code[i][5], '-');
        for (size_t k = 0; k < i; k++)
            assert_string_not_equal(codes->code[i], codes->code[k]);
    }
    refresh(&l1, &p1);
    assert_true(p1.mfa_verified);
    assert_int_equal(bw_mfa_enroll(st, kr, &actx, &p1, &e), BW_ERR_EXISTS);
    p1.mfa_enabled = false; /* a stale principal: the store refuses too */
    assert_int_equal(bw_mfa_enroll(st, kr, &actx, &p1, &e), BW_ERR_EXISTS);
    assert_int_equal(bw_mfa_confirm(st, &cfg, kr, &actx, &p1, flow.confirmed, codes),
                     BW_ERR_EXISTS);
}

static void test_flow_verification(void **state)
{
    struct bw_login l2;
    struct bw_principal p2;
    char code[9], prev[9], upper[BW_RECOVERY_CODE_LEN + 1];
    bool recovery = true;
    /* a new session starts without its second factor */
    session_new("flow@example.com", &l2, &p2);
    assert_true(l2.mfa_required);
    assert_true(p2.mfa_enabled);
    assert_false(p2.mfa_verified);
    /* the confirming code and older ones are spent (CONTROL: AUTH-02) */
    assert_int_equal(bw_mfa_verify(st, &cfg, kr, &actx, &p2, flow.confirmed, &recovery),
                     BW_ERR_PERM);
    code_at(flow.seed, -1, prev);
    assert_int_equal(bw_mfa_verify(st, &cfg, kr, &actx, &p2, prev, &recovery), BW_ERR_PERM);
    advance(30);
    code_at(flow.seed, 0, code);
    assert_int_equal(bw_mfa_verify(st, &cfg, kr, &actx, &p2, code, &recovery), BW_OK);
    assert_false(recovery);
    refresh(&l2, &p2);
    assert_true(p2.mfa_verified);
    assert_int_equal(bw_mfa_verify(st, &cfg, kr, &actx, &p2, code, &recovery), BW_ERR_PERM);
    assert_int_equal(bw_mfa_verify(st, &cfg, kr, &actx, &p2, "12345", &recovery),
                     BW_ERR_INVALID);
    /* recovery codes: any case, with or without the hyphen, once each */
    size_t n = 0;
    for (const char *c = flow.codes.code[1]; *c != '\0'; c++) {
        if (*c != '-')
            upper[n++] = (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : *c);
    }
    upper[n] = '\0';
    recovery = false;
    assert_int_equal(bw_mfa_verify(st, &cfg, kr, &actx, &p2, flow.codes.code[0], &recovery),
                     BW_OK);
    assert_true(recovery);
    assert_int_equal(bw_mfa_verify(st, &cfg, kr, &actx, &p2, flow.codes.code[0], &recovery),
                     BW_ERR_PERM);
    assert_int_equal(bw_mfa_verify(st, &cfg, kr, &actx, &p2, upper, &recovery), BW_OK);
    assert_int_equal(bw_mfa_verify(st, &cfg, kr, &actx, &p2, "zzzzz-zzzzz", &recovery),
                     BW_ERR_PERM);
}

static void test_otp_lockout(void **state)
{
    struct bw_login l1, l2;
    struct bw_principal p1, p2;
    struct bw_recovery_codes codes;
    uint8_t seed[BW_TOTP_SEED_BYTES];
    char code[9], bad[9];
    bool recovery = false;
    pin_clock(0);
    enrol("lock@example.com", &l1, &p1, seed, &codes);
    session_new("lock@example.com", &l2, &p2);
    advance(30);
    code_at(seed, 0, code);
    wrong(code, bad);
    for (uint64_t i = 0; i < cfg.lockout_max_failures; i++)
        assert_int_equal(bw_mfa_verify(st, &cfg, kr, &actx, &p2, bad, &recovery), BW_ERR_PERM);
    /* locked: the right code and a recovery code fail the same way */
    assert_int_equal(bw_mfa_verify(st, &cfg, kr, &actx, &p2, code, &recovery), BW_ERR_PERM);
    assert_int_equal(bw_mfa_verify(st, &cfg, kr, &actx, &p2, codes.code[0], &recovery),
                     BW_ERR_PERM);
    /* passwords are counted apart: login still works */
    session_new("lock@example.com", &l2, &p2);
    advance(cfg.lockout_duration + 30);
    code_at(seed, 0, code);
    assert_int_equal(bw_mfa_verify(st, &cfg, kr, &actx, &p2, code, &recovery), BW_OK);
    /* the refused recovery code was not spent */
    assert_int_equal(bw_mfa_verify(st, &cfg, kr, &actx, &p2, codes.code[0], &recovery), BW_OK);
}

struct keys_copy {
    const char *from, *to;
    uint8_t sealed[64];
    size_t len;
};

static enum bw_rc keys_row(void *arg, const struct bw_row *row)
{
    struct keys_copy *k = arg;
    const void *b = bw_row_blob(row, 1, &k->len);
    if (b == NULL || k->len > sizeof(k->sealed))
        return BW_ERR_STORE;
    memcpy(k->sealed, b, k->len);
    return BW_OK;
}

/* Plants one user's sealed seed as another's pending enrolment. */
static enum bw_rc plant_fn(struct bw_tx *tx, void *arg)
{
    struct keys_copy *k = arg;
    struct bw_val from[] = {BW_VTEXT(k->from)};
    enum bw_rc rc = bw_tx_query(tx, BW_STMT_USER_MFA_KEYS, from, 1, keys_row, k);
    struct bw_val set[] = {BW_VTEXT(k->to), BW_VBLOB(k->sealed, k->len)};
    if (rc == BW_OK)
        rc = bw_tx_exec(tx, BW_STMT_USER_MFA_SET_PENDING, set, 2, NULL);
    return rc;
}

static void test_seed_bound_to_owner(void **state)
{
    struct bw_login la, lb;
    struct bw_principal pa, pb;
    struct bw_recovery_codes codes;
    struct bw_mfa_enrolment e;
    uint8_t seed[BW_TOTP_SEED_BYTES];
    char code[9];
    pin_clock(0);
    enrol("owner-a@example.com", &la, &pa, seed, &codes);
    struct bw_user ub;
    user_new("owner-b@example.com", &ub);
    session_new("owner-b@example.com", &lb, &pb);
    assert_int_equal(bw_mfa_enroll(st, kr, &actx, &pb, &e), BW_OK);
    bw_mfa_enrolment_cleanup(&e);
    struct keys_copy k = {pa.user_id, pb.user_id, {0}, 0};
    assert_int_equal(bw_store_write(st, plant_fn, &k), BW_OK);
    advance(30);
    code_at(seed, 0, code);
    assert_int_equal(bw_mfa_confirm(st, &cfg, kr, &actx, &pb, code, &codes), BW_ERR_CRYPTO);
}

static enum bw_rc left_fn(struct bw_tx *tx, void *arg)
{
    struct bw_user u;
    enum bw_rc rc = bw_user_by_email(tx, "reset@example.com", &u);
    return rc == BW_OK ? bw_mfa_recovery_left(tx, u.id, arg) : rc;
}

static void test_reset(void **state)
{
    struct bw_login l1, l2;
    struct bw_principal p1, p2;
    struct bw_recovery_codes codes;
    uint8_t seed[BW_TOTP_SEED_BYTES];
    int64_t left = -1;
    pin_clock(0);
    enrol("reset@example.com", &l1, &p1, seed, &codes);
    assert_int_equal(bw_store_read(st, left_fn, &left), BW_OK);
    assert_int_equal(left, BW_RECOVERY_CODES);
    assert_int_equal(bw_mfa_reset(st, &actx, "test", "Reset@Example.com"), BW_OK);
    assert_int_equal(bw_session_authenticate(st, &cfg, l1.token, &p1), BW_ERR_PERM);
    session_new("reset@example.com", &l2, &p2);
    assert_false(l2.mfa_required);
    assert_false(p2.mfa_enabled);
    assert_int_equal(bw_store_read(st, left_fn, &left), BW_OK);
    assert_int_equal(left, 0);
    assert_int_equal(bw_mfa_reset(st, &actx, "test", "nobody@example.com"), BW_ERR_NOTFOUND);
}

int main(void)
{
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(test_seal_round_trip),     cmocka_unit_test(test_seal_refusals),
        cmocka_unit_test(test_totp_rfc6238_vectors), cmocka_unit_test(test_totp_window),
        cmocka_unit_test(test_totp_malformed),      cmocka_unit_test(test_enrolment_text),
    };
    const struct CMUnitTest stored[] = {
        cmocka_unit_test(test_flow_enrolment),
        cmocka_unit_test(test_flow_verification),
        cmocka_unit_test(test_otp_lockout),
        cmocka_unit_test(test_seed_bound_to_owner),
        cmocka_unit_test(test_reset),
    };
    const char *pg = getenv("BW_TEST_PG_URL");
    int failed = 0;
    if (setup(NULL) != 0) {
        fprintf(stderr, "test_mfa: set-up failed\n");
        return 1;
    }
    failed += cmocka_run_group_tests_name("mfa", pure, NULL, NULL);
    target = "sqlite";
    failed += cmocka_run_group_tests_name("mfa_sqlite", stored, store_setup, store_teardown);
    if (pg != NULL && pg[0] != '\0') {
        target = pg;
        failed += cmocka_run_group_tests_name("mfa_pg", stored, store_setup, store_teardown);
    }
    return teardown(NULL) == 0 && failed == 0 ? 0 : 1;
}
