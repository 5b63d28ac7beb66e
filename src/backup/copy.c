/*
 * copy.c - the second target (BCK-02, BCK-04: "primary + off-site"). After a
 * backup is published on the primary target, every object its manifest
 * names (snapshot, change and file chunks) that the copy target lacks is
 * copied there as it is (sealed bytes: nothing is decrypted), read back
 * and compared by SHA-256; then the
 * manifest itself, last, the same way. A copy is therefore complete or not
 * listed at all, and an interrupted or failed copy is finished by the next
 * one (objects already there are checked by name only; `backup verify
 * --target COPY` re-reads them all). Each copy is audited (backup.copied)
 * with the manifest's SHA-256, and so is each failure (backup.failed).
 *
 * Trusts: the primary's objects only as sealed bytes (they are authenticated
 * by whoever restores from the copy). Never: writes a manifest to the copy
 * before every object it names is there and read back.
 */
#include "backup/backup_int.h"

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum bw_rc have_add(void *arg, const char *name)
{
    return bw_names_add(arg, name, strlen(name));
}

/* Copies one object and reads it back from the copy: same SHA-256 or an error. */
static enum bw_rc copy_object(struct bw_backup_target *from, struct bw_backup_target *to,
                              const char *path, bool durable, struct bw_buf *a,
                              struct bw_buf *b, uint8_t sha[32], char *why, size_t whylen)
{
    uint8_t got[32];
    enum bw_rc rc = bw_target_get(from, path, a, why, whylen);
    if (rc != BW_OK) {
        bw_why(why, whylen, "cannot read %s from the primary target", path);
        return rc;
    }
    crypto_hash_sha256(sha, (const uint8_t *)a->data, a->len);
    if ((rc = bw_target_put(to, path, a->data, a->len, durable, why, whylen)) != BW_OK)
        return rc;
    if (!durable && (rc = bw_target_sync(to, why, whylen)) != BW_OK)
        return rc;
    if ((rc = bw_target_get(to, path, b, why, whylen)) != BW_OK) {
        bw_why(why, whylen, "cannot read %s back from the copy target", path);
        return rc;
    }
    crypto_hash_sha256(got, (const uint8_t *)b->data, b->len);
    if (sodium_memcmp(got, sha, 32) != 0) {
        bw_why(why, whylen, "%s reads back differently from the copy target", path);
        return BW_ERR_IO;
    }
    return BW_OK;
}

/* The objects of m missing on `to` (sorted listing per data key). */
static enum bw_rc copy_refs(struct bw_backup_target *from, struct bw_backup_target *to,
                            const struct bw_manifest *m, const struct bw_mchunk *refs, size_t n,
                            struct bw_names *keys_seen, uint64_t *copied, uint64_t *bytes,
                            char *why, size_t whylen)
{
    struct bw_buf a, b;
    char path[BW_BK_NAME_MAX];
    uint8_t sha[32];
    enum bw_rc rc = BW_OK;
    bw_buf_init(&a, BW_BK_OBJECT_MAX);
    bw_buf_init(&b, BW_BK_OBJECT_MAX);
    for (size_t i = 0; rc == BW_OK && i < n; i++) {
        const char *keyid = m->keys[refs[i].key].id;
        rc = bw_chunk_path(path, sizeof(path), keyid, refs[i].id);
        const char *file = path + strlen("chunks/") + BW_BK_KEYID_LEN + 1;
        if (rc == BW_OK && bw_names_has(keys_seen, file))
            continue; /* the copy holds it already */
        if (rc == BW_OK)
            rc = copy_object(from, to, path, false, &a, &b, sha, why, whylen);
        if (rc == BW_OK) {
            (*copied)++;
            *bytes += a.len;
        }
    }
    bw_buf_free(&a, false);
    bw_buf_free(&b, false);
    return rc;
}

/* Lists chunks/<keyid>/ on the copy for every data key of m (sorted names). */
static enum bw_rc listing(struct bw_backup_target *to, const struct bw_manifest *m,
                          struct bw_names *h)
{
    char dir[BW_BK_NAME_MAX];
    enum bw_rc rc = BW_OK;
    for (size_t k = 0; rc == BW_OK && k < m->nkeys; k++) {
        snprintf(dir, sizeof(dir), "chunks/%s", m->keys[k].id);
        rc = bw_target_list(to, dir, have_add, h);
    }
    if (rc == BW_OK)
        bw_names_sort(h);
    return rc;
}

enum bw_rc bw_backup_copy(const struct bw_backup_env *env, struct bw_backup_target *from,
                          struct bw_backup_target *to, const char *name, json_t **out,
                          char *why, size_t whylen)
{
    struct bw_manifest *m = NULL;
    struct bw_names h = {0};
    struct bw_buf a, b;
    char path[BW_BK_NAME_MAX], hex[65];
    uint8_t sha[32];
    uint64_t copied = 0, bytes = 0;
    bw_buf_init(&a, BW_BK_MANIFEST_MAX);
    bw_buf_init(&b, BW_BK_MANIFEST_MAX);
    enum bw_rc rc = bw_manifest_load(env->kr, from, name, &m, why, whylen);
    if (rc == BW_OK)
        rc = listing(to, m, &h);
    if (rc == BW_OK)
        rc = copy_refs(from, to, m, m->chunks, m->nchunks, &h, &copied, &bytes, why, whylen);
    if (rc == BW_OK)
        rc = copy_refs(from, to, m, m->changes, m->nchanges, &h, &copied, &bytes, why, whylen);
    if (rc == BW_OK) /* format 3: the chunks of the DATA/audit/ files */
        rc = copy_refs(from, to, m, m->fchunks, m->nfchunks, &h, &copied, &bytes, why, whylen);
    snprintf(path, sizeof(path), "backups/%s.manifest", name);
    if (rc == BW_OK) /* last: the copy lists the backup only when it is complete */
        rc = copy_object(from, to, path, true, &a, &b, sha, why, whylen);
    if (rc == BW_OK) {
        bw_hex(sha, sizeof(sha), hex);
        *out = json_pack("{s:s, s:s, s:I, s:I, s:s}", "name", name, "target", to->ops->scheme,
                         "objects_copied", (json_int_t)(copied + 1), "bytes_copied",
                         (json_int_t)(bytes + a.len), "manifest_sha256", hex);
        if (*out == NULL)
            rc = BW_ERR_NOMEM;
    }
    if (rc == BW_OK) {
        json_incref(*out);
        (void)bw_backup_audit(env, "backup.copied", name, true, *out);
    } else {
        if (why[0] == '\0')
            bw_why(why, whylen, "%s", bw_rc_str(rc));
        (void)bw_backup_audit(env, "backup.failed", name, false,
                              json_pack("{s:s, s:s}", "step", "copy", "reason", why));
    }
    bw_names_free(h.v, h.n);
    bw_buf_free(&a, false);
    bw_buf_free(&b, false);
    bw_manifest_free(m);
    return rc;
}
