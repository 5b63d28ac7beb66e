/*
 * manifest.c - the manifest of one backup: what the snapshot was (store,
 * schema, time, change-log position), its configuration file, the wrapped
 * data keys and the ordered list of chunks. Sealed as a whole under the
 * backup key (AAD binds the object name), written last and durably.
 *
 * Format 3 adds the files of DATA/audit/ (files.c), each a run of chunks
 * in the same object format as the snapshot's.
 *
 * Trusts: nothing in the text it parses - bw_manifest_parse is fuzzed
 * (fuzz/fuzz_backup_manifest.c) and checks every field, every reference,
 * that the chunk lengths add up to the snapshot (and each file's) size, and
 * that file names are the known ones, in order, each once.
 */
#include "backup/backup_int.h"

#include <assert.h>
#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define MANIFEST_MAGIC "BWM1"
#define MAX_KEYS 4096
#define MAX_CONFIG (1024 * 1024)
#define MAX_FILES (1u << 20)
#define FORMAT BW_MANIFEST_FORMAT

void bw_manifest_free(struct bw_manifest *m)
{
    if (m == NULL)
        return;
    if (m->config != NULL) {
        sodium_memzero(m->config, strlen(m->config));
        bw_free(m->config);
    }
    bw_free(m->keys);
    bw_free(m->chunks);
    bw_free(m->changes);
    bw_free(m->files);
    bw_free(m->fchunks);
    bw_free(m);
}

static bool name_chars_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n >= max)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-'))
            return false;
    }
    return true;
}

static enum bw_rc copy_str(json_t *o, const char *key, char *out, size_t cap, bool may_be_empty)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_string(v) || json_string_length(v) >= cap)
        return BW_ERR_INVALID;
    const char *s = json_string_value(v);
    if (strlen(s) != json_string_length(v))
        return BW_ERR_INVALID;
    if (s[0] == '\0' ? !may_be_empty : !name_chars_ok(s, cap))
        return BW_ERR_INVALID;
    memcpy(out, s, json_string_length(v) + 1);
    return BW_OK;
}

static enum bw_rc get_int(json_t *o, const char *key, int64_t min, int64_t max, int64_t *out)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return BW_ERR_INVALID;
    *out = json_integer_value(v);
    return BW_OK;
}

static enum bw_rc parse_keys(json_t *arr, struct bw_manifest *m)
{
    size_t n = json_array_size(arr);
    if (!json_is_array(arr) || n == 0 || n > MAX_KEYS)
        return BW_ERR_INVALID;
    m->keys = bw_calloc(n, sizeof(*m->keys));
    if (m->keys == NULL)
        return BW_ERR_NOMEM;
    m->nkeys = n;
    for (size_t i = 0; i < n; i++) {
        json_t *k = json_array_get(arr, i);
        const char *w = json_string_value(json_object_get(k, "wrapped"));
        size_t bl = 0;
        if (!json_is_object(k) || json_object_size(k) != 2 ||
            copy_str(k, "id", m->keys[i].id, sizeof(m->keys[i].id), false) != BW_OK ||
            strlen(m->keys[i].id) != BW_BK_KEYID_LEN || w == NULL ||
            sodium_base642bin(m->keys[i].wrapped, sizeof(m->keys[i].wrapped), w, strlen(w), NULL,
                              &bl, NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
            bl != sizeof(m->keys[i].wrapped))
            return BW_ERR_INVALID;
        for (size_t j = 0; j < i; j++) {
            if (strcmp(m->keys[j].id, m->keys[i].id) == 0)
                return BW_ERR_INVALID;
        }
    }
    return BW_OK;
}

/* Fills v[0..n) from a chunk list [[id hex, key index, length], ...] of n
 * entries whose lengths add up to size. */
static enum bw_rc refs_into(json_t *arr, const struct bw_manifest *m, uint64_t size,
                            struct bw_mchunk *v, size_t n)
{
    uint64_t total = 0;
    if (!json_is_array(arr) || json_array_size(arr) != n)
        return BW_ERR_INVALID;
    for (size_t i = 0; i < n; i++) {
        json_t *c = json_array_get(arr, i);
        const char *hex = json_string_value(json_array_get(c, 0));
        json_t *k = json_array_get(c, 1), *l = json_array_get(c, 2);
        size_t bl = 0;
        if (!json_is_array(c) || json_array_size(c) != 3 || hex == NULL ||
            strlen(hex) != 2 * BW_BACKUP_ID_BYTES ||
            sodium_hex2bin(v[i].id, BW_BACKUP_ID_BYTES, hex, strlen(hex), NULL, &bl,
                           NULL) != 0 ||
            bl != BW_BACKUP_ID_BYTES || !json_is_integer(k) || json_integer_value(k) < 0 ||
            (size_t)json_integer_value(k) >= m->nkeys || !json_is_integer(l) ||
            json_integer_value(l) < 1 || json_integer_value(l) > BW_BK_CHUNK_MAX)
            return BW_ERR_INVALID;
        v[i].key = (uint32_t)json_integer_value(k);
        v[i].len = (uint32_t)json_integer_value(l);
        total += v[i].len;
    }
    return total == size ? BW_OK : BW_ERR_INVALID;
}

/* A chunk list whose lengths add up to size, into a new array owned by m. */
static enum bw_rc parse_refs(json_t *arr, const struct bw_manifest *m, uint64_t size,
                             struct bw_mchunk **out, size_t *nout)
{
    size_t n = json_array_size(arr);
    if (!json_is_array(arr) || n > size / 1 + 1 || n > (SIZE_MAX / sizeof(**out)))
        return BW_ERR_INVALID;
    struct bw_mchunk *v = bw_calloc(n ? n : 1, sizeof(*v));
    if (v == NULL)
        return BW_ERR_NOMEM;
    *out = v; /* owned by m from here on */
    *nout = n;
    return refs_into(arr, m, size, v, n);
}

static enum bw_rc file_name(json_t *o, char out[BW_BK_FILE_NAME_MAX])
{
    json_t *v = json_object_get(o, "name");
    if (!json_is_string(v) || json_string_length(v) >= BW_BK_FILE_NAME_MAX ||
        strlen(json_string_value(v)) != json_string_length(v) ||
        !bw_files_name_ok(json_string_value(v)))
        return BW_ERR_INVALID;
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return BW_OK;
}

/* Format 3: [{"name", "size", "chunks"}, ...], names known and strictly
 * ascending (so none twice); every file's chunks are one run of fchunks. */
static enum bw_rc parse_files(json_t *arr, struct bw_manifest *m)
{
    size_t n = json_array_size(arr), total = 0, at = 0;
    if (!json_is_array(arr) || n > MAX_FILES)
        return BW_ERR_INVALID;
    for (size_t i = 0; i < n; i++) {
        json_t *ch = json_object_get(json_array_get(arr, i), "chunks");
        if (!json_is_array(ch) || json_array_size(ch) > SIZE_MAX / sizeof(*m->fchunks) - total - 1)
            return BW_ERR_INVALID;
        total += json_array_size(ch);
    }
    m->files = bw_calloc(n ? n : 1, sizeof(*m->files));
    m->fchunks = bw_calloc(total ? total : 1, sizeof(*m->fchunks));
    if (m->files == NULL || m->fchunks == NULL)
        return BW_ERR_NOMEM;
    m->nfiles = n;
    m->nfchunks = total;
    for (size_t i = 0; i < n; i++) {
        json_t *f = json_array_get(arr, i), *ch = json_object_get(f, "chunks");
        struct bw_mfile *mf = &m->files[i];
        int64_t size = 0;
        if (!json_is_object(f) || json_object_size(f) != 3 || file_name(f, mf->name) != BW_OK ||
            get_int(f, "size", 0, (int64_t)BW_BK_FILE_MAX, &size) != BW_OK ||
            (i > 0 && strcmp(m->files[i - 1].name, mf->name) >= 0))
            return BW_ERR_INVALID;
        mf->size = (uint64_t)size;
        mf->first = at;
        mf->nchunks = json_array_size(ch);
        enum bw_rc rc = refs_into(ch, m, mf->size, m->fchunks + at, mf->nchunks);
        if (rc != BW_OK)
            return rc;
        at += mf->nchunks;
        m->files_size += mf->size;
    }
    return BW_OK;
}

static enum bw_rc parse_obj(json_t *o, struct bw_manifest *m)
{
    int64_t v = 0;
    int64_t format = 0;
    json_t *cfg = json_object_get(o, "config");
    static const size_t members[] = {0, 14, 16, 17, 17}; /* by format */
    _Static_assert(sizeof(members) / sizeof(members[0]) == FORMAT + 1, "a count per format");
    if (!json_is_object(o) || get_int(o, "format", 1, FORMAT, &format) != BW_OK ||
        json_object_size(o) != members[format] ||
        copy_str(o, "name", m->name, sizeof(m->name), false) ||
        copy_str(o, "kind", m->kind, sizeof(m->kind), false) ||
        copy_str(o, "parent", m->parent, sizeof(m->parent), true) ||
        copy_str(o, "store", m->store, sizeof(m->store), false) ||
        copy_str(o, "stream", m->stream, sizeof(m->stream), true))
        return BW_ERR_INVALID;
    m->format = (int)format;
    if (strcmp(m->kind, "full") != 0 && strcmp(m->kind, "incremental") != 0)
        return BW_ERR_INVALID;
    if (strcmp(m->store, "sqlite") != 0 && strcmp(m->store, "postgresql") != 0)
        return BW_ERR_INVALID;
    if (get_int(o, "created_ms", 0, INT64_MAX / 2, &m->created_ms) ||
        get_int(o, "finished_ms", m->created_ms, INT64_MAX / 2, &m->finished_ms) ||
        get_int(o, "schema_version", 0, 1000000, &v))
        return BW_ERR_INVALID;
    m->schema_version = (int)v;
    if (get_int(o, "log_seq", 0, INT64_MAX, &v))
        return BW_ERR_INVALID;
    m->log_seq = (uint64_t)v;
    if (get_int(o, "size", 0, INT64_MAX / 2, &v))
        return BW_ERR_INVALID;
    m->size = (uint64_t)v;
    if (!json_is_string(cfg) || json_string_length(cfg) > MAX_CONFIG ||
        strlen(json_string_value(cfg)) != json_string_length(cfg))
        return BW_ERR_INVALID;
    if ((m->config = bw_strdup(json_string_value(cfg))) == NULL)
        return BW_ERR_NOMEM;
    enum bw_rc rc = parse_keys(json_object_get(o, "keys"), m);
    if (rc == BW_OK)
        rc = parse_refs(json_object_get(o, "chunks"), m, m->size, &m->chunks, &m->nchunks);
    if (rc == BW_OK && format >= 2) {
        if (get_int(o, "changes_size", 0, INT64_MAX / 2, &v))
            return BW_ERR_INVALID;
        m->changes_size = (uint64_t)v;
        rc = parse_refs(json_object_get(o, "changes"), m, m->changes_size, &m->changes,
                        &m->nchanges);
    }
    if (rc == BW_OK && format >= 3)
        rc = parse_files(json_object_get(o, "files"), m);
    return rc;
}

enum bw_backup_id_scheme bw_manifest_id_scheme(const struct bw_manifest *m)
{
    return m->format >= 4 ? BW_BACKUP_ID_HMAC_SHA256 : BW_BACKUP_ID_BLAKE2B;
}

enum bw_rc bw_manifest_parse(const char *text, size_t len, struct bw_manifest **out)
{
    json_error_t err;
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    struct bw_manifest *m = bw_calloc(1, sizeof(*m));
    enum bw_rc rc = o == NULL ? BW_ERR_INVALID : m == NULL ? BW_ERR_NOMEM : parse_obj(o, m);
    json_decref(o);
    if (rc != BW_OK) {
        bw_manifest_free(m);
        return rc;
    }
    *out = m;
    return BW_OK;
}

static json_t *render_refs(const struct bw_mchunk *v, size_t n)
{
    char hex[2 * BW_BACKUP_ID_BYTES + 1];
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < n; i++) {
        bw_hex(v[i].id, BW_BACKUP_ID_BYTES, hex);
        if (json_array_append_new(arr, json_pack("[s, I, I]", hex, (json_int_t)v[i].key,
                                                 (json_int_t)v[i].len)) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

static json_t *render_files(const struct bw_manifest *m)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < m->nfiles; i++) {
        const struct bw_mfile *f = &m->files[i];
        assert(f->first + f->nchunks <= m->nfchunks);
        json_t *refs = render_refs(m->fchunks + f->first, f->nchunks);
        json_t *o = refs != NULL ? json_pack("{s:s, s:I, s:o}", "name", f->name, "size",
                                             (json_int_t)f->size, "chunks", refs)
                                 : NULL;
        if (o == NULL || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

static json_t *render_obj(const struct bw_manifest *m)
{
    json_t *keys = json_array(), *chunks = render_refs(m->chunks, m->nchunks),
           *changes = render_refs(m->changes, m->nchanges), *files = render_files(m);
    char b64[sodium_base64_ENCODED_LEN(BW_BACKUP_KEY_WRAPPED_BYTES,
                                       sodium_base64_VARIANT_ORIGINAL)];
    bool ok = keys != NULL && chunks != NULL && changes != NULL && files != NULL;
    for (size_t i = 0; ok && i < m->nkeys; i++) {
        sodium_bin2base64(b64, sizeof(b64), m->keys[i].wrapped, sizeof(m->keys[i].wrapped),
                          sodium_base64_VARIANT_ORIGINAL);
        ok = json_array_append_new(keys, json_pack("{s:s, s:s}", "id", m->keys[i].id,
                                                   "wrapped", b64)) == 0;
    }
    if (!ok) {
        json_decref(keys);
        json_decref(chunks);
        json_decref(changes);
        json_decref(files);
        return NULL;
    }
    return json_pack("{s:i, s:s, s:s, s:s, s:s, s:I, s:I, s:i, s:s, s:I, s:I, s:s, s:o, s:o, "
                     "s:o, s:I, s:o}",
                     "format", FORMAT, "name", m->name, "kind", m->kind, "parent", m->parent,
                     "store", m->store, "created_ms", (json_int_t)m->created_ms, "finished_ms",
                     (json_int_t)m->finished_ms, "schema_version", m->schema_version, "stream",
                     m->stream, "log_seq", (json_int_t)m->log_seq, "size", (json_int_t)m->size,
                     "config", m->config != NULL ? m->config : "", "keys", keys, "chunks", chunks,
                     "changes", changes, "changes_size", (json_int_t)m->changes_size, "files",
                     files);
}

enum bw_rc bw_manifest_render(const struct bw_manifest *m, char **out, size_t *len)
{
    json_t *o = render_obj(m);
    if (o == NULL)
        return BW_ERR_NOMEM;
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (s == NULL)
        return BW_ERR_NOMEM;
    *out = s;
    *len = strlen(s);
    return BW_OK;
}

static void manifest_aad(char *aad, size_t cap, const char *name)
{
    snprintf(aad, cap, "bwmanifest1:%s", name);
}

enum bw_rc bw_manifest_store(const struct bw_keyring *kr, struct bw_backup_target *t,
                             const struct bw_manifest *m, uint8_t sha256[32], uint64_t *bytes,
                             char *why, size_t whylen)
{
    char *text = NULL, aad[160], path[BW_BK_NAME_MAX];
    size_t len = 0;
    struct bw_buf obj;
    bw_buf_init(&obj, BW_BK_MANIFEST_MAX);
    enum bw_rc rc = bw_manifest_render(m, &text, &len);
    manifest_aad(aad, sizeof(aad), m->name);
    snprintf(path, sizeof(path), "backups/%s.manifest", m->name);
    if (rc == BW_OK)
        rc = bw_blob_seal(kr, MANIFEST_MAGIC, aad, text, len, &obj);
    if (rc == BW_OK)
        rc = bw_target_put(t, path, obj.data, obj.len, true, why, whylen);
    if (rc == BW_OK) {
        crypto_hash_sha256(sha256, (const uint8_t *)obj.data, obj.len);
        *bytes = obj.len;
    }
    if (text != NULL) {
        sodium_memzero(text, len);
        bw_free(text);
    }
    bw_buf_free(&obj, false);
    return rc;
}

enum bw_rc bw_manifest_load(const struct bw_keyring *kr, struct bw_backup_target *t,
                            const char *name, struct bw_manifest **out, char *why,
                            size_t whylen)
{
    char aad[160], path[BW_BK_NAME_MAX];
    struct bw_buf obj, text;
    struct bw_manifest *m = NULL;
    if (!name_chars_ok(name, 96)) {
        bw_why(why, whylen, "'%s' is not a backup name", name);
        return BW_ERR_INVALID;
    }
    bw_buf_init(&obj, BW_BK_MANIFEST_MAX);
    bw_buf_init(&text, BW_BK_MANIFEST_MAX);
    manifest_aad(aad, sizeof(aad), name);
    snprintf(path, sizeof(path), "backups/%s.manifest", name);
    enum bw_rc rc = bw_target_get(t, path, &obj, why, whylen);
    if (rc == BW_OK && (rc = bw_blob_open(kr, MANIFEST_MAGIC, aad, obj.data, obj.len, &text)) !=
                           BW_OK)
        bw_why(why, whylen, "%s is damaged: %s", path,
               rc == BW_ERR_CRYPTO ? "authentication failed" : "bad structure");
    if (rc == BW_OK && (rc = bw_manifest_parse(text.data, text.len, &m)) != BW_OK)
        bw_why(why, whylen, "%s is damaged: bad structure", path);
    if (rc == BW_OK && strcmp(m->name, name) != 0) {
        bw_why(why, whylen, "%s is damaged: names another backup", path);
        rc = BW_ERR_INVALID;
    }
    bw_buf_free(&obj, false);
    bw_buf_free(&text, true);
    if (rc != BW_OK) {
        bw_manifest_free(m);
        return rc;
    }
    *out = m;
    return BW_OK;
}

enum bw_rc bw_names_add(struct bw_names *ns, const char *s, size_t len)
{
    if (ns->n == ns->cap) {
        size_t nc = ns->cap ? ns->cap * 2 : 64;
        char **nv = bw_realloc(ns->v, nc * sizeof(*nv));
        if (nv == NULL)
            return BW_ERR_NOMEM;
        ns->v = nv;
        ns->cap = nc;
    }
    if ((ns->v[ns->n] = bw_strndup(s, len)) == NULL)
        return BW_ERR_NOMEM;
    ns->n++;
    return BW_OK;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void bw_names_sort(struct bw_names *ns)
{
    if (ns->n > 1)
        qsort(ns->v, ns->n, sizeof(*ns->v), name_cmp);
}

bool bw_names_has(const struct bw_names *ns, const char *s)
{
    return ns->n > 0 && bsearch(&s, ns->v, ns->n, sizeof(*ns->v), name_cmp) != NULL;
}

void bw_names_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        bw_free(names[i]);
    bw_free(names);
}

static enum bw_rc name_add(void *arg, const char *file)
{
    size_t len = strlen(file);
    if (len <= 9 || strcmp(file + len - 9, ".manifest") != 0)
        return BW_OK;
    return bw_names_add(arg, file, len - 9);
}

enum bw_rc bw_manifest_names(struct bw_backup_target *t, char ***names, size_t *n)
{
    struct bw_names ns = {0};
    enum bw_rc rc = bw_target_list(t, "backups", name_add, &ns);
    if (rc != BW_OK) {
        bw_names_free(ns.v, ns.n);
        return rc;
    }
    bw_names_sort(&ns);
    *names = ns.v;
    *n = ns.n;
    return BW_OK;
}
