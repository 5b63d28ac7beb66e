/*
 * files.c - the files of DATA/audit/ that a backup carries besides the
 * store (format 3, docs/BACKUP-FORMAT.md): the signed retention archives
 * DATA/audit/archive/audit-<first>-<last>.bwa and the checkpoint copy
 * DATA/audit/checkpoints.jsonl. Without them a restored directory whose
 * store lists archived events fails `audit verify`, and it loses the copy
 * of the checkpoints that detects deletion of the newest events.
 *
 * Reading (backup run): only regular files whose names match those two
 * patterns are taken; a symlink or anything else under a known name is
 * refused (O_NOFOLLOW, fstat), other names (temporaries) are skipped. The
 * two directories may be symlinks (shared storage), as for the audit code.
 * Writing (restore): only names the manifest parser accepted, into the new
 * directory, 0600 files in 0700 directories, durably; checkpoints.jsonl
 * keeps only the lines that name events of the restored chain. Archives the
 * restored store lists beyond what the backup carries (written after it and
 * reached by replaying the change log, or a backup of format 1 or 2) are
 * copied from the live data directory when it holds them; verify checks
 * each against the file hash the index records.
 *
 * Trusts: the manifest's names only after bw_files_name_ok (no '/', no
 * '..': a name can only ever land in DATA/audit/ or DATA/audit/archive/).
 * Never: follows a symlink, or writes outside the new data directory.
 */
#include "backup/backup_int.h"
#include "audit/audit.h"
#include "sys/sys.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define CKPT_NAME      "checkpoints.jsonl"
#define ARCHIVE_PREFIX "audit-"
#define ARCHIVE_SUFFIX ".bwa"
enum { SEQ_DIGITS = 20, ARCHIVE_NAME_LEN = 6 + SEQ_DIGITS + 1 + SEQ_DIGITS + 4 };

static bool digits(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
    }
    return true;
}

static bool is_archive(const char *name)
{
    return strlen(name) == ARCHIVE_NAME_LEN && memcmp(name, ARCHIVE_PREFIX, 6) == 0 &&
           digits(name + 6, SEQ_DIGITS) && name[6 + SEQ_DIGITS] == '-' &&
           digits(name + 7 + SEQ_DIGITS, SEQ_DIGITS) &&
           strcmp(name + 7 + 2 * SEQ_DIGITS, ARCHIVE_SUFFIX) == 0;
}

bool bw_files_name_ok(const char *name)
{
    return strcmp(name, CKPT_NAME) == 0 || is_archive(name);
}

/* The directory (relative to the data directory) a file of this name lives in. */
static const char *subdir(const char *name)
{
    return is_archive(name) ? "audit/archive" : "audit";
}

/* ---- reading the live directory (backup run) ------------------------------------ */

struct srcs {
    struct bw_file_src *v;
    size_t n, cap;
};

void bw_files_release(struct bw_file_src *v, size_t n)
{
    for (size_t i = 0; v != NULL && i < n; i++) {
        if (v[i].map != NULL)
            munmap(v[i].map, v[i].maplen);
    }
    bw_free(v);
}

/* Maps dirfd/name (a regular file, never a symlink); checkpoints.jsonl only
 * up to its last newline (a checkpoint being appended is not yet whole). */
static enum bw_rc take(struct srcs *s, int dirfd, const char *rel, const char *name, char *why,
                       size_t whylen)
{
    struct stat st;
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    int e = fd < 0 ? errno : 0;
    if (fd < 0 && e != ELOOP) {
        bw_why(why, whylen, "cannot read %s/%s: %s", rel, name, strerror(e));
        return BW_ERR_IO;
    }
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        bw_why(why, whylen, "%s/%s is not a regular file: refusing to back it up", rel, name);
        if (fd >= 0)
            close(fd);
        return BW_ERR_PERM;
    }
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 64;
        struct bw_file_src *nv = bw_realloc(s->v, nc * sizeof(*nv));
        if (nv == NULL) {
            close(fd);
            return BW_ERR_NOMEM;
        }
        s->v = nv;
        s->cap = nc;
    }
    struct bw_file_src *f = &s->v[s->n];
    *f = (struct bw_file_src){.maplen = (size_t)st.st_size};
    assert(strlen(name) < sizeof(f->name)); /* a known name */
    memcpy(f->name, name, strlen(name) + 1);
    if (f->maplen > 0) {
        void *m = mmap(NULL, f->maplen, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            bw_why(why, whylen, "cannot read %s/%s: %s", rel, name, strerror(errno));
            close(fd);
            return BW_ERR_IO;
        }
        f->map = m;
    }
    close(fd);
    f->data = f->map;
    f->len = f->maplen;
    if (strcmp(name, CKPT_NAME) == 0) {
        const uint8_t *nl = f->len > 0 ? memrchr(f->data, '\n', f->len) : NULL;
        f->len = nl != NULL ? (size_t)(nl - f->data) + 1 : 0;
    }
    s->n++;
    return BW_OK;
}

/* The known names directly in the directory dirfd (named rel in messages);
 * `archives` selects which pattern. Other names are skipped. */
static enum bw_rc scan(struct srcs *s, int dirfd, const char *rel, bool archives, char *why,
                       size_t whylen)
{
    int fd = dup(dirfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *e;
    enum bw_rc rc = BW_OK;
    if (d == NULL) {
        if (fd >= 0)
            close(fd);
        bw_why(why, whylen, "cannot list %s: %s", rel, strerror(errno));
        return BW_ERR_IO;
    }
    while (rc == BW_OK && (e = readdir(d)) != NULL) {
        if (archives ? is_archive(e->d_name) : strcmp(e->d_name, CKPT_NAME) == 0)
            rc = take(s, dirfd, rel, e->d_name, why, whylen);
    }
    closedir(d);
    return rc;
}

/* Opens data_dir/rel as a directory; -1 and BW_OK when absent. A symlink
 * to a directory is followed, as the audit code that writes and verifies
 * the archives does (docs/OPERATIONS.md: archive/ on shared storage); the
 * files in it never are. */
static enum bw_rc open_dir(int at, const char *name, const char *rel, int *out, char *why,
                           size_t whylen)
{
    int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int e = fd < 0 ? errno : 0;
    if (fd < 0 && e == ENOENT) {
        *out = -1;
        return BW_OK;
    }
    if (fd < 0) {
        bw_why(why, whylen, "cannot open %s: %s", rel,
               e == ENOTDIR ? "not a directory" : strerror(e));
        return e == ENOTDIR ? BW_ERR_PERM : BW_ERR_IO;
    }
    *out = fd;
    return BW_OK;
}

static int src_cmp(const void *a, const void *b)
{
    return strcmp(((const struct bw_file_src *)a)->name, ((const struct bw_file_src *)b)->name);
}

enum bw_rc bw_files_collect(const char *data_dir, struct bw_file_src **out, size_t *n, char *why,
                            size_t whylen)
{
    struct srcs s = {0};
    int root = -1, audit = -1, archive = -1;
    enum bw_rc rc = BW_OK;
    root = open(data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root < 0) {
        bw_why(why, whylen, "cannot open %s: %s", data_dir, strerror(errno));
        return BW_ERR_IO;
    }
    rc = open_dir(root, "audit", "audit", &audit, why, whylen);
    if (rc == BW_OK && audit >= 0)
        rc = open_dir(audit, "archive", "audit/archive", &archive, why, whylen);
    if (rc == BW_OK && archive >= 0)
        rc = scan(&s, archive, "audit/archive", true, why, whylen);
    if (rc == BW_OK && audit >= 0)
        rc = scan(&s, audit, "audit", false, why, whylen);
    if (rc == BW_OK && s.n > 1)
        qsort(s.v, s.n, sizeof(*s.v), src_cmp);
    if (archive >= 0)
        close(archive);
    if (audit >= 0)
        close(audit);
    close(root);
    if (rc != BW_OK) {
        bw_files_release(s.v, s.n);
        return rc;
    }
    *out = s.v;
    *n = s.n;
    return BW_OK;
}

/* ---- writing a restored directory ------------------------------------------------- */

/* checkpoints.jsonl without the lines naming events beyond keep_seq; lines
 * that do not parse are kept as they are (verify reports them). */
static enum bw_rc trim_checkpoints(const uint8_t *p, size_t len, int64_t keep_seq,
                                   struct bw_buf *out, uint64_t *dropped)
{
    size_t off = 0;
    enum bw_rc rc = BW_OK;
    while (rc == BW_OK && off < len) {
        const uint8_t *nl = memchr(p + off, '\n', len - off);
        size_t n = nl != NULL ? (size_t)(nl - (p + off)) : len - off;
        size_t with_nl = nl != NULL ? n + 1 : n;
        struct bw_audit_checkpoint cp;
        if (n > 0 && bw_audit_checkpoint_parse((const char *)p + off, n, &cp) == BW_OK &&
            cp.seq > keep_seq)
            (*dropped)++;
        else
            rc = bw_buf_append(out, p + off, with_nl);
        off += with_nl;
    }
    return rc;
}

static enum bw_rc make_dir(const char *dir, const char *rel, char *why, size_t whylen)
{
    char p[4096];
    enum bw_rc rc = bw_sys_path(p, sizeof(p), dir, rel);
    if (rc == BW_OK)
        rc = bw_sys_mkdir_private(p, why, whylen);
    return rc == BW_ERR_EXISTS ? BW_OK : rc;
}

enum bw_rc bw_files_install(const char *dir, const struct bw_manifest *m, const uint8_t *plain,
                            int64_t keep_seq, uint64_t *dropped, char *why, size_t whylen)
{
    char rel[128], path[4096];
    struct bw_buf ck;
    uint64_t off = 0, gone = 0;
    bool archives = false;
    enum bw_rc rc = make_dir(dir, "audit", why, whylen);
    bw_buf_init(&ck, BW_BK_FILE_MAX);
    for (size_t i = 0; rc == BW_OK && i < m->nfiles; i++)
        archives = archives || is_archive(m->files[i].name);
    if (rc == BW_OK && archives)
        rc = make_dir(dir, "audit/archive", why, whylen);
    for (size_t i = 0; rc == BW_OK && i < m->nfiles; i++) {
        const struct bw_mfile *f = &m->files[i];
        const uint8_t *p = plain + off;
        size_t len = (size_t)f->size;
        assert(bw_files_name_ok(f->name)); /* the parser accepted only these */
        off += f->size;
        snprintf(rel, sizeof(rel), "%s/%s", subdir(f->name), f->name);
        if ((rc = bw_sys_path(path, sizeof(path), dir, rel)) != BW_OK)
            break;
        if (strcmp(f->name, CKPT_NAME) == 0) {
            rc = trim_checkpoints(p, len, keep_seq, &ck, &gone);
            p = (const uint8_t *)ck.data;
            len = ck.len;
        }
        if (rc == BW_OK)
            rc = bw_sys_write_private(path, p, len, false, why, whylen);
    }
    if (rc == BW_OK && archives && (rc = bw_sys_path(path, sizeof(path), dir, "audit")) == BW_OK)
        rc = bw_sys_fsync_dir(path); /* the new archive/ entry */
    if (rc == BW_OK)
        rc = bw_sys_fsync_dir(dir); /* the new audit/ entry */
    if (rc != BW_OK && why[0] == '\0')
        bw_why(why, whylen, "cannot write the audit files of %s: %s", dir, bw_rc_str(rc));
    bw_buf_free(&ck, false);
    if (rc == BW_OK)
        *dropped = gone;
    return rc;
}

/* ---- archives the backup does not carry ------------------------------------------ */

struct wanted {
    const struct bw_manifest *m;
    struct bw_names names;
};

static int file_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const struct bw_mfile *)elem)->name);
}

static enum bw_rc want(void *arg, const char *file, int64_t first_seq, int64_t last_seq)
{
    struct wanted *w = arg;
    (void)first_seq;
    (void)last_seq;
    if (w->m->nfiles > 0 &&
        bsearch(file, w->m->files, w->m->nfiles, sizeof(*w->m->files), file_cmp) != NULL)
        return BW_OK; /* in the backup */
    return bw_names_add(&w->names, file, strlen(file));
}

/* Copies live_dir/audit/archive/name into dir (a regular file only);
 * BW_ERR_NOTFOUND when the live directory does not hold it. */
static enum bw_rc copy_live(const char *live_dir, const char *dir, const char *name, char *why,
                            size_t whylen)
{
    char src[4096], dst[4096], rel[128];
    struct stat st;
    void *map = MAP_FAILED;
    snprintf(rel, sizeof(rel), "audit/archive/%s", name);
    if (bw_sys_path(src, sizeof(src), live_dir, rel) != BW_OK ||
        bw_sys_path(dst, sizeof(dst), dir, rel) != BW_OK)
        return BW_ERR_TOOBIG;
    int fd = open(src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0 && errno != ENOENT && errno != ELOOP) { /* there, but unreadable */
        bw_why(why, whylen, "cannot open %s: %s", src, strerror(errno));
        return BW_ERR_IO;
    }
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        return BW_ERR_NOTFOUND;
    }
    enum bw_rc rc = BW_OK;
    if (st.st_size > 0 &&
        (map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0)) == MAP_FAILED) {
        bw_why(why, whylen, "cannot read %s: %s", src, strerror(errno));
        rc = BW_ERR_IO;
    }
    close(fd);
    if (rc == BW_OK)
        rc = make_dir(dir, "audit", why, whylen);
    if (rc == BW_OK)
        rc = make_dir(dir, "audit/archive", why, whylen);
    if (rc == BW_OK)
        rc = bw_sys_write_private(dst, map != MAP_FAILED ? map : "", (size_t)st.st_size, false, why,
                                  whylen);
    if (map != MAP_FAILED)
        munmap(map, (size_t)st.st_size);
    return rc;
}

enum bw_rc bw_files_complete(struct bw_store *st, const struct bw_manifest *m, const char *live_dir,
                             const char *dir, uint64_t *copied, json_t *missing, char *why,
                             size_t whylen)
{
    struct wanted w = {.m = m};
    uint64_t n = 0;
    enum bw_rc rc = bw_audit_archive_list(st, want, &w);
    for (size_t i = 0; rc == BW_OK && i < w.names.n; i++) {
        enum bw_rc c = BW_ERR_NOTFOUND;
        if (live_dir != NULL && is_archive(w.names.v[i]))
            c = copy_live(live_dir, dir, w.names.v[i], why, whylen);
        if (c == BW_OK)
            n++;
        else if (c == BW_ERR_NOTFOUND)
            rc = json_array_append_new(missing, json_string(w.names.v[i])) == 0 ? BW_OK : BW_ERR_NOMEM;
        else
            rc = c;
    }
    if (rc == BW_OK && n > 0 && (rc = make_dir(dir, "audit", why, whylen)) == BW_OK) {
        char p[4096];
        rc = bw_sys_path(p, sizeof(p), dir, "audit");
        if (rc == BW_OK)
            rc = bw_sys_fsync_dir(p);
        if (rc == BW_OK)
            rc = bw_sys_fsync_dir(dir);
    }
    bw_names_free(w.names.v, w.names.n);
    if (rc == BW_OK)
        *copied = n;
    return rc;
}

/* Unlinks the known names (and their temporaries) in dir/rel, then rel. */
static void remove_known(const char *dir, const char *rel)
{
    char d[4096], p[4096], base[ARCHIVE_NAME_LEN + 1];
    if (bw_sys_path(d, sizeof(d), dir, rel) != BW_OK)
        return;
    DIR *h = opendir(d);
    struct dirent *e;
    while (h != NULL && (e = readdir(h)) != NULL) {
        const char *tmp = strstr(e->d_name, ".tmp-");
        size_t n = tmp != NULL ? (size_t)(tmp - e->d_name) : strlen(e->d_name);
        if (n >= sizeof(base))
            continue;
        memcpy(base, e->d_name, n);
        base[n] = '\0';
        if ((bw_files_name_ok(base) || strcmp(base, "restore.files") == 0) &&
            bw_sys_path(p, sizeof(p), d, e->d_name) == BW_OK)
            (void)unlink(p);
    }
    if (h != NULL)
        closedir(h);
    (void)rmdir(d);
}

void bw_files_remove(const char *dir)
{
    remove_known(dir, "audit/archive");
    remove_known(dir, "audit");
}
