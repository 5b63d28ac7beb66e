/*
 * fuzz_backup_manifest.c - bw_manifest_parse, the parser of a decrypted
 * backup manifest (src/backup/manifest.c). Properties:
 *  - accepted manifests are internally consistent: every chunk's key index
 *    is in range, lengths are 1..BW_BK_CHUNK_MAX and add up to the size
 *    (chunks: size; change chunks of format 2: changes_size; each file of
 *    format 3: its size), the files' chunk runs tile fchunks in order, and
 *    every file name is a known one, in strictly ascending order;
 *  - render(parse(x)) parses again to the same rendering (a fixed point).
 */
#include "backup/backup_int.h"
#include "fuzz_util.h"

#include <jansson.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct bw_manifest *m = NULL, *m2 = NULL;
    char *t1 = NULL, *t2 = NULL;
    size_t l1 = 0, l2 = 0;
    json_set_alloc_funcs(bw_malloc, bw_free);
    if (bw_manifest_parse((const char *)data, size, &m) != BW_OK)
        return 0;
    uint64_t total = 0;
    for (size_t i = 0; i < m->nchunks; i++) {
        FUZZ_CHECK(m->chunks[i].key < m->nkeys);
        FUZZ_CHECK(m->chunks[i].len >= 1 && m->chunks[i].len <= BW_BK_CHUNK_MAX);
        total += m->chunks[i].len;
    }
    FUZZ_CHECK(total == m->size);
    total = 0;
    for (size_t i = 0; i < m->nchanges; i++) { /* format 2: change chunks likewise */
        FUZZ_CHECK(m->changes[i].key < m->nkeys);
        FUZZ_CHECK(m->changes[i].len >= 1 && m->changes[i].len <= BW_BK_CHUNK_MAX);
        total += m->changes[i].len;
    }
    FUZZ_CHECK(total == m->changes_size);
    size_t next = 0; /* format 3: the files of DATA/audit/ */
    uint64_t files = 0;
    for (size_t i = 0; i < m->nfiles; i++) {
        const struct bw_mfile *f = &m->files[i];
        FUZZ_CHECK(bw_files_name_ok(f->name) && strchr(f->name, '/') == NULL);
        FUZZ_CHECK(i == 0 || strcmp(m->files[i - 1].name, f->name) < 0);
        FUZZ_CHECK(f->first == next && f->first + f->nchunks <= m->nfchunks);
        total = 0;
        for (size_t j = f->first; j < f->first + f->nchunks; j++) {
            FUZZ_CHECK(m->fchunks[j].key < m->nkeys);
            FUZZ_CHECK(m->fchunks[j].len >= 1 && m->fchunks[j].len <= BW_BK_CHUNK_MAX);
            total += m->fchunks[j].len;
        }
        FUZZ_CHECK(total == f->size);
        files += f->size;
        next += f->nchunks;
    }
    FUZZ_CHECK(next == m->nfchunks && files == m->files_size);
    FUZZ_CHECK(bw_manifest_render(m, &t1, &l1) == BW_OK);
    FUZZ_CHECK(bw_manifest_parse(t1, l1, &m2) == BW_OK);
    FUZZ_CHECK(bw_manifest_render(m2, &t2, &l2) == BW_OK);
    FUZZ_CHECK(l1 == l2 && memcmp(t1, t2, l1) == 0);
    bw_free(t1);
    bw_free(t2);
    bw_manifest_free(m);
    bw_manifest_free(m2);
    return 0;
}
