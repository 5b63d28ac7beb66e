/* Unit tests for src/backup/archive.c, manifest.c and the change-log record
 * codec of changelog.c: round trips, every flipped byte refused, bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup/backup_int.h"
#include "crypto/crypto.h"

static char dir[256];
static struct bw_keyring *kr;

static int setup(void **state)
{
    char why[256];
    snprintf(dir, sizeof(dir), "/tmp/bw-test-backup-XXXXXX");
    if (mkdtemp(dir) == NULL || bw_crypto_init() != BW_OK ||
        bw_keyring_generate(dir, why, sizeof(why)) != BW_OK ||
        bw_keyring_load(dir, &kr, why, sizeof(why)) != BW_OK)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    char cmd[300];
    bw_keyring_free(kr);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_chunker_bounds(void **state)
{
    struct bw_chunker c;
    size_t n = 8u << 20, pos = 0, k = 0;
    uint8_t *p = malloc(n);
    assert_non_null(p);
    uint64_t x = 88172645463325252ull; /* xorshift: reproducible, not periodic */
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (uint8_t)x;
    }
    assert_int_equal(bw_keyring_backup_gear(kr, c.gear), BW_OK);
    while (pos < n) {
        size_t len = bw_chunker_next(&c, p + pos, n - pos);
        assert_true(len <= BW_BK_CHUNK_MAX);
        assert_true(len >= BW_BK_CHUNK_MIN || pos + len == n);
        pos += len;
        k++;
    }
    assert_true(k > 8 && k < n / BW_BK_CHUNK_MIN);
    /* content-defined: a byte inserted at the start moves only nearby cuts */
    size_t first = bw_chunker_next(&c, p, n);
    size_t second = bw_chunker_next(&c, p + first, n - first);
    memmove(p + 1, p, n - 1);
    size_t f2 = bw_chunker_next(&c, p, n);
    size_t s2 = bw_chunker_next(&c, p + f2, n - f2);
    assert_int_equal(f2 + s2, first + second + 1);
    free(p);
}

static void test_chunk_roundtrip_and_flips(void **state)
{
    struct bw_backup_key *k = NULL, *k2 = NULL;
    uint8_t wrapped[BW_BACKUP_KEY_WRAPPED_BYTES], id[BW_BACKUP_ID_BYTES];
    uint8_t plain[5000], out[5000];
    char hex[65];
    struct bw_buf obj;
    for (size_t i = 0; i < sizeof(plain); i++)
        plain[i] = (uint8_t)(i % 7 == 0 ? i : 'a');
    assert_int_equal(bw_keyring_backup_key_new(kr, "bwkey1:0123456789abcdef", &k, wrapped),
                     BW_OK);
    assert_int_equal(bw_keyring_backup_key_unwrap(kr, "bwkey1:0123456789abcdef", wrapped,
                                                  sizeof(wrapped), &k2),
                     BW_OK);
    bw_backup_key_free(k2);
    k2 = NULL;
    assert_int_equal(bw_keyring_backup_key_unwrap(kr, "bwkey1:other", wrapped, sizeof(wrapped),
                                                  &k2),
                     BW_ERR_CRYPTO);
    struct bw_chunk_ctx *cx = NULL;
    uint8_t id2[BW_BACKUP_ID_BYTES];
    assert_int_equal(bw_chunk_ctx_new(kr, BW_BACKUP_ID_BLAKE2B, &cx), BW_OK);
    assert_int_equal(bw_keyring_backup_id(kr, plain, sizeof(plain), id), BW_OK);
    assert_int_equal(bw_chunk_id(cx, plain, sizeof(plain), id2), BW_OK);
    assert_memory_equal(id, id2, sizeof(id)); /* the context's key is the keyring's */
    bw_hex(id, sizeof(id), hex);
    bw_buf_init(&obj, BW_BK_OBJECT_MAX);
    assert_int_equal(bw_chunk_seal(cx, k, "0123456789abcdef", hex, plain, sizeof(plain), &obj),
                     BW_OK);
    assert_true(obj.len < sizeof(plain)); /* compressed */
    assert_null(memmem(obj.data, obj.len, "aaaaaaaa", 8));
    assert_int_equal(bw_chunk_open(cx, k, "0123456789abcdef", hex, (uint8_t *)obj.data,
                                   obj.len, sizeof(plain), out),
                     BW_OK);
    assert_memory_equal(out, plain, sizeof(plain));
    for (size_t i = 0; i < obj.len; i++) {
        obj.data[i] ^= 0x40;
        assert_int_not_equal(bw_chunk_open(cx, k, "0123456789abcdef", hex,
                                           (uint8_t *)obj.data, obj.len, sizeof(plain), out),
                             BW_OK);
        obj.data[i] ^= 0x40;
    }
    /* another address (a swapped chunk) is refused */
    hex[0] = hex[0] == '0' ? '1' : '0';
    assert_int_not_equal(bw_chunk_open(cx, k, "0123456789abcdef", hex, (uint8_t *)obj.data,
                                       obj.len, sizeof(plain), out),
                         BW_OK);
    /* the context carries nothing from one chunk to the next: a second,
     * incompressible chunk round-trips through the same one */
    uint8_t noise[70000], back[70000];
    randombytes_buf(noise, sizeof(noise));
    assert_int_equal(bw_chunk_id(cx, noise, sizeof(noise), id), BW_OK);
    bw_hex(id, sizeof(id), hex);
    assert_int_equal(bw_chunk_seal(cx, k, "0123456789abcdef", hex, noise, sizeof(noise), &obj),
                     BW_OK);
    assert_int_equal(bw_chunk_open(cx, k, "0123456789abcdef", hex, (uint8_t *)obj.data,
                                   obj.len, sizeof(noise), back),
                     BW_OK);
    assert_memory_equal(noise, back, sizeof(noise));
    /* format 4 addresses by HMAC-SHA-256 under the same subkey: another id,
     * and a chunk sealed under one scheme does not open under the other */
    struct bw_chunk_ctx *cx4 = NULL;
    assert_int_equal(bw_chunk_ctx_new(kr, BW_BACKUP_ID_HMAC_SHA256, &cx4), BW_OK);
    assert_int_equal(bw_chunk_id(cx4, noise, sizeof(noise), id2), BW_OK);
    assert_memory_not_equal(id, id2, sizeof(id));
    assert_int_not_equal(bw_chunk_open(cx4, k, "0123456789abcdef", hex, (uint8_t *)obj.data,
                                       obj.len, sizeof(noise), back),
                         BW_OK);
    bw_hex(id2, sizeof(id2), hex);
    assert_int_equal(bw_chunk_seal(cx4, k, "0123456789abcdef", hex, noise, sizeof(noise), &obj),
                     BW_OK);
    assert_int_equal(bw_chunk_open(cx4, k, "0123456789abcdef", hex, (uint8_t *)obj.data,
                                   obj.len, sizeof(noise), back),
                     BW_OK);
    assert_memory_equal(noise, back, sizeof(noise));
    bw_chunk_ctx_free(cx4);
    bw_chunk_ctx_free(cx);
    bw_buf_free(&obj, false);
    bw_backup_key_free(k);
}

static void test_manifest_roundtrip(void **state)
{
    struct bw_manifest m = {.name = "20260101T000000Z-000-abc", .kind = "full", .parent = "",
                            .store = "sqlite", .created_ms = 1000, .finished_ms = 1001,
                            .schema_version = 6, .stream = "", .log_seq = 3, .size = 300,
                            .config = "[server]\n"};
    struct bw_mkey keys[1] = {{.id = "0123456789abcdef"}};
    struct bw_mchunk chunks[2] = {{.key = 0, .len = 100}, {.key = 0, .len = 200}};
    char *text = NULL, *text2 = NULL;
    size_t len = 0, len2 = 0;
    struct bw_manifest *p = NULL;
    m.keys = keys;
    m.nkeys = 1;
    m.chunks = chunks;
    m.nchunks = 2;
    chunks[1].id[0] = 7;
    assert_int_equal(bw_manifest_render(&m, &text, &len), BW_OK);
    assert_int_equal(bw_manifest_parse(text, len, &p), BW_OK);
    assert_int_equal(bw_manifest_render(p, &text2, &len2), BW_OK);
    assert_int_equal(len, len2);
    assert_memory_equal(text, text2, len);
    bw_manifest_free(p);
    bw_free(text2);
    /* lengths that do not add up, a key index out of range, a bad name */
    chunks[1].len = 201;
    bw_free(text);
    assert_int_equal(bw_manifest_render(&m, &text, &len), BW_OK);
    assert_int_equal(bw_manifest_parse(text, len, &p), BW_ERR_INVALID);
    chunks[1].len = 200;
    chunks[1].key = 1;
    bw_free(text);
    assert_int_equal(bw_manifest_render(&m, &text, &len), BW_OK);
    assert_int_equal(bw_manifest_parse(text, len, &p), BW_ERR_INVALID);
    chunks[1].key = 0;
    snprintf(m.name, sizeof(m.name), "../etc");
    bw_free(text);
    assert_int_equal(bw_manifest_render(&m, &text, &len), BW_OK);
    assert_int_equal(bw_manifest_parse(text, len, &p), BW_ERR_INVALID);
    bw_free(text);
}

/* Format 2: change chunks (an incremental from the change log) round-trip;
 * their lengths must add up to changes_size and their keys exist; a
 * format-1 manifest (no change members) still parses. */
static void test_manifest_changes(void **state)
{
    struct bw_manifest m = {.name = "20260101T000000Z-000-inc", .kind = "incremental",
                            .parent = "20260101T000000Z-000-abc", .store = "sqlite",
                            .created_ms = 1000, .finished_ms = 1000, .schema_version = 6,
                            .stream = "", .log_seq = 9, .size = 100, .config = "",
                            .changes_size = 50};
    struct bw_mkey keys[2] = {{.id = "0123456789abcdef"}, {.id = "fedcba9876543210"}};
    struct bw_mchunk chunks[1] = {{.key = 0, .len = 100}};
    struct bw_mchunk changes[2] = {{.key = 1, .len = 20}, {.key = 1, .len = 30}};
    char *text = NULL, *text2 = NULL;
    size_t len = 0, len2 = 0;
    struct bw_manifest *p = NULL;
    (void)state;
    m.keys = keys;
    m.nkeys = 2;
    m.chunks = chunks;
    m.nchunks = 1;
    m.changes = changes;
    m.nchanges = 2;
    assert_int_equal(bw_manifest_render(&m, &text, &len), BW_OK);
    assert_int_equal(bw_manifest_parse(text, len, &p), BW_OK);
    assert_int_equal(p->nchanges, 2);
    assert_int_equal(p->changes[1].len, 30);
    assert_int_equal(p->changes_size, 50);
    assert_int_equal(bw_manifest_render(p, &text2, &len2), BW_OK);
    assert_int_equal(len, len2);
    assert_memory_equal(text, text2, len);
    bw_manifest_free(p);
    bw_free(text2);
    bw_free(text);
    static const struct {
        uint32_t len, key;
        uint64_t size;
    } bad[] = {{31, 1, 50}, {30, 2, 50}, {30, 1, 49}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        changes[1].len = bad[i].len;
        changes[1].key = bad[i].key;
        m.changes_size = bad[i].size;
        assert_int_equal(bw_manifest_render(&m, &text, &len), BW_OK);
        assert_int_equal(bw_manifest_parse(text, len, &p), BW_ERR_INVALID);
        bw_free(text);
    }
    /* format 1, as written before change chunks existed */
    static const char v1[] =
        "{\"format\":1,\"name\":\"n1\",\"kind\":\"full\",\"parent\":\"\","
        "\"store\":\"sqlite\",\"created_ms\":1,\"finished_ms\":2,\"schema_version\":6,"
        "\"stream\":\"\",\"log_seq\":0,\"size\":0,\"config\":\"\",\"keys\":[{\"id\":"
        "\"0123456789abcdef\",\"wrapped\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}],\"chunks\":[]}";
    assert_int_equal(bw_manifest_parse(v1, sizeof(v1) - 1, &p), BW_OK);
    assert_int_equal(p->nchanges, 0);
    bw_manifest_free(p);
}

static char *replace(const char *text, const char *from, const char *to)
{
    const char *at = strstr(text, from);
    size_t n = strlen(text) - strlen(from) + strlen(to);
    char *out = at != NULL ? malloc(n + 1) : NULL;
    if (out != NULL)
        snprintf(out, n + 1, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
    return out;
}

/* Format 3: the files of DATA/audit/ round-trip; names are the known ones
 * only, in order, each once; every file's chunk lengths add up to its size;
 * the member counts of formats 2 and 3 are exact. */
static void test_manifest_files(void **state)
{
#define ARCH "audit-00000000000000000001-00000000000000000300.bwa"
    struct bw_manifest m = {.name = "20260101T000000Z-000-abc",
                            .kind = "full",
                            .parent = "",
                            .store = "sqlite",
                            .created_ms = 1000,
                            .finished_ms = 1001,
                            .schema_version = 6,
                            .stream = "",
                            .log_seq = 3,
                            .size = 100,
                            .config = ""};
    struct bw_mkey keys[1] = {{.id = "0123456789abcdef"}};
    struct bw_mchunk chunks[1] = {{.key = 0, .len = 100}};
    struct bw_mchunk fchunks[3] = {
        {.key = 0, .len = 70}, {.key = 0, .len = 30}, {.key = 0, .len = 9}};
    struct bw_mfile files[2] = {{.name = ARCH, .size = 100, .first = 0, .nchunks = 2},
                                {.name = "checkpoints.jsonl", .size = 9, .first = 2, .nchunks = 1}};
    char *text = NULL, *text2 = NULL, *bad = NULL;
    size_t len = 0, len2 = 0;
    struct bw_manifest *p = NULL;
    (void)state;
    m.keys = keys;
    m.nkeys = 1;
    m.chunks = chunks;
    m.nchunks = 1;
    m.files = files;
    m.nfiles = 2;
    m.fchunks = fchunks;
    m.nfchunks = 3;
    fchunks[1].id[0] = 1;
    assert_int_equal(bw_manifest_render(&m, &text, &len), BW_OK);
    assert_int_equal(bw_manifest_parse(text, len, &p), BW_OK);
    assert_int_equal(p->format, 4);
    assert_int_equal(bw_manifest_id_scheme(p), BW_BACKUP_ID_HMAC_SHA256);
    assert_int_equal(p->nfiles, 2);
    assert_int_equal(p->nfchunks, 3);
    assert_int_equal(p->files_size, 109);
    assert_string_equal(p->files[1].name, "checkpoints.jsonl");
    assert_int_equal(p->files[1].first, 2);
    assert_int_equal(p->fchunks[1].id[0], 1);
    assert_int_equal(bw_manifest_render(p, &text2, &len2), BW_OK);
    assert_int_equal(len, len2);
    assert_memory_equal(text, text2, len);
    bw_manifest_free(p);
    bw_free(text2);
    /* format 3: the same members, chunks addressed by keyed BLAKE2b */
    bad = replace(text, "\"format\":4", "\"format\":3");
    assert_non_null(bad);
    assert_int_equal(bw_manifest_parse(bad, strlen(bad), &p), BW_OK);
    assert_int_equal(bw_manifest_id_scheme(p), BW_BACKUP_ID_BLAKE2B);
    bw_manifest_free(p);
    p = NULL;
    free(bad);
    /* the text, changed one way at a time: each is refused */
    static const struct {
        const char *from, *to;
    } cases[] = {
        {ARCH, "../" ARCH},                                                           /* a path */
        {ARCH, "archive/" ARCH},                                                      /* a '/' */
        {ARCH, "audit-1-300.bwa"},                                                    /* digits */
        {ARCH, "audit-00000000000000000001-0000000000000000030x.bwa"},                /* digits */
        {"checkpoints.jsonl", "checkpoints.json"},                                    /* unknown */
        {"checkpoints.jsonl", "audit-00000000000000000000-00000000000000000000.bwa"}, /* order */
        {"checkpoints.jsonl", ARCH},                                                  /* twice */
        {"\"size\":9", "\"size\":10"},                                                /* lengths */
        {"\"size\":100", "\"size\":99"},                                              /* lengths */
        {"\"size\":9", "\"size\":9,\"mode\":384"},                                    /* a member */
        {"\"format\":4", "\"format\":2"}, /* 17 members */
        {"\"format\":4", "\"format\":5"}, /* unknown */
        {",\"files\":[", ",\"filez\":["}, /* unknown */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bad = replace(text, cases[i].from, cases[i].to);
        assert_non_null(bad);
        p = NULL;
        assert_int_equal(bw_manifest_parse(bad, strlen(bad), &p), BW_ERR_INVALID);
        assert_null(p);
        free(bad);
    }
    /* a key index out of range */
    fchunks[2].key = 1;
    bw_free(text);
    assert_int_equal(bw_manifest_render(&m, &text, &len), BW_OK);
    assert_int_equal(bw_manifest_parse(text, len, &p), BW_ERR_INVALID);
    bw_free(text);
#undef ARCH
}

static void test_log_records(void **state)
{
    struct bw_buf b;
    struct bw_log_rec r;
    size_t pos = 0;
    bw_buf_init(&b, 1 << 20);
    assert_int_equal(bw_log_record_append(&b, 1, 10, "abc", 3), BW_OK);
    assert_int_equal(bw_log_record_append(&b, 2, 11, NULL, 0), BW_OK);
    assert_int_equal(bw_log_record_next((uint8_t *)b.data, b.len, &pos, &r), BW_OK);
    assert_int_equal(r.seq, 1);
    assert_int_equal(r.len, 3);
    assert_memory_equal(r.data, "abc", 3);
    assert_int_equal(bw_log_record_next((uint8_t *)b.data, b.len, &pos, &r), BW_OK);
    assert_null(r.data);
    assert_int_equal(bw_log_record_next((uint8_t *)b.data, b.len, &pos, &r), BW_ERR_NOTFOUND);
    for (size_t cut = 1; cut < b.len; cut++) { /* every truncation is refused or clean */
        size_t q = 0;
        enum bw_rc rc;
        while ((rc = bw_log_record_next((uint8_t *)b.data, cut, &q, &r)) == BW_OK)
            ;
        assert_true(rc == BW_ERR_INVALID || (rc == BW_ERR_NOTFOUND && q == cut));
    }
    bw_buf_free(&b, false);
}

static void test_blob_flips(void **state)
{
    struct bw_buf obj, out;
    bw_buf_init(&obj, 1 << 20);
    bw_buf_init(&out, 1 << 20);
    assert_int_equal(bw_blob_seal(kr, "BWM1", "aad:x", "hello manifest", 14, &obj), BW_OK);
    assert_int_equal(bw_blob_open(kr, "BWM1", "aad:x", obj.data, obj.len, &out), BW_OK);
    assert_string_equal(out.data, "hello manifest");
    assert_int_equal(bw_blob_open(kr, "BWM1", "aad:y", obj.data, obj.len, &out), BW_ERR_CRYPTO);
    for (size_t i = 0; i < obj.len; i++) {
        obj.data[i] ^= 1;
        assert_int_not_equal(bw_blob_open(kr, "BWM1", "aad:x", obj.data, obj.len, &out), BW_OK);
        obj.data[i] ^= 1;
    }
    bw_buf_free(&obj, false);
    bw_buf_free(&out, false);
}

static void test_parse_every(void **state)
{
    int64_t s = -1;
    assert_int_equal(bw_backup_parse_every("weekly", &s), BW_OK);
    assert_int_equal(s, 7 * 86400);
    assert_int_equal(bw_backup_parse_every("off", &s), BW_OK);
    assert_int_equal(s, 0);
    assert_int_equal(bw_backup_parse_every("6h", &s), BW_OK);
    assert_int_equal(s, 6 * 3600);
    assert_int_equal(bw_backup_parse_every("soon", &s), BW_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chunker_bounds),     cmocka_unit_test(test_chunk_roundtrip_and_flips),
        cmocka_unit_test(test_manifest_roundtrip), cmocka_unit_test(test_manifest_changes),
        cmocka_unit_test(test_manifest_files),     cmocka_unit_test(test_log_records),
        cmocka_unit_test(test_blob_flips),         cmocka_unit_test(test_parse_every),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
