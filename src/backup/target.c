/*
 * target.c - where backups go: the dispatch over target drivers and the
 * directory driver (a mounted disk, NFS, ...).
 *
 * Writes are atomic: a temporary name in the same directory, write, fsync
 * (for durable puts), rename, fsync of the directory. Chunks are written
 * without per-file fsync and made durable by one syncfs() before the
 * manifest that refers to them is published, so an interrupted run never
 * shows as a complete backup. Names come from this module (hex, fixed
 * prefixes), never from outside input; the driver still refuses "..".
 * Trusts: nothing in the files it reads (the callers authenticate them).
 */
#include "backup/backup_int.h"
#include "sys/sys.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct dir_target {
    char *root;
};

static bool name_ok(const char *name)
{
    return name[0] != '\0' && name[0] != '/' && strstr(name, "..") == NULL;
}

static enum bw_rc mkdirs(const char *root, const char *name)
{
    char path[4096];
    if (bw_sys_path(path, sizeof(path), root, name) != BW_OK)
        return BW_ERR_TOOBIG;
    for (char *p = path + strlen(root) + 1; (p = strchr(p, '/')) != NULL; p++) {
        *p = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST)
            return BW_ERR_IO;
        *p = '/';
    }
    return BW_OK;
}

static enum bw_rc write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return BW_ERR_IO;
        p += w;
        len -= (size_t)w;
    }
    return BW_OK;
}

static enum bw_rc dir_put(void *impl, const char *name, const void *data, size_t len,
                          bool durable, char *why, size_t whylen)
{
    struct dir_target *d = impl;
    char path[4096], tmp[4200], dir[4096];
    enum bw_rc rc = BW_OK;
    if (!name_ok(name) || bw_sys_path(path, sizeof(path), d->root, name) != BW_OK)
        return BW_ERR_INVALID;
    snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", path);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) { /* the first object of its directory */
        if (mkdirs(d->root, name) != BW_OK) {
            bw_why(why, whylen, "cannot create directories for %s: %s", path, strerror(errno));
            return BW_ERR_IO;
        }
        snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", path);
        fd = mkostemp(tmp, O_CLOEXEC);
    }
    if (fd < 0) {
        bw_why(why, whylen, "cannot create %s: %s", tmp, strerror(errno));
        return BW_ERR_IO;
    }
    if (fchmod(fd, 0600) != 0 || write_all(fd, data, len) != BW_OK ||
        (durable && fsync(fd) != 0)) {
        bw_why(why, whylen, "cannot write %s: %s", path, strerror(errno));
        rc = BW_ERR_IO;
    }
    if (close(fd) != 0 && rc == BW_OK) {
        bw_why(why, whylen, "cannot write %s: %s", path, strerror(errno));
        rc = BW_ERR_IO;
    }
    if (rc == BW_OK && rename(tmp, path) != 0) {
        bw_why(why, whylen, "cannot rename into %s: %s", path, strerror(errno));
        rc = BW_ERR_IO;
    }
    if (rc != BW_OK) {
        unlink(tmp);
        return rc;
    }
    snprintf(dir, sizeof(dir), "%s", path);
    *strrchr(dir, '/') = '\0';
    if (durable && bw_sys_fsync_dir(dir) != BW_OK) {
        bw_why(why, whylen, "cannot sync %s: %s", dir, strerror(errno));
        return BW_ERR_IO;
    }
    return BW_OK;
}

static enum bw_rc dir_get(void *impl, const char *name, struct bw_buf *out, char *why,
                          size_t whylen)
{
    struct dir_target *d = impl;
    char path[4096], chunk[65536];
    if (!name_ok(name) || bw_sys_path(path, sizeof(path), d->root, name) != BW_OK)
        return BW_ERR_INVALID;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        bw_why(why, whylen, "cannot read %s: %s", name, strerror(e));
        return e == ENOENT ? BW_ERR_NOTFOUND : BW_ERR_IO;
    }
    bw_buf_reset(out);
    enum bw_rc rc = BW_OK;
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            bw_why(why, whylen, "cannot read %s: %s", name, strerror(errno));
            rc = BW_ERR_IO;
            break;
        }
        if (n == 0)
            break;
        if ((rc = bw_buf_append(out, chunk, (size_t)n)) != BW_OK) {
            bw_why(why, whylen, "%s is larger than any object Bulwark writes", name);
            break;
        }
    }
    close(fd);
    return rc;
}

static enum bw_rc dir_list(void *impl, const char *sub, bw_target_list_fn fn, void *arg)
{
    struct dir_target *d = impl;
    char path[4096];
    if (!name_ok(sub) || bw_sys_path(path, sizeof(path), d->root, sub) != BW_OK)
        return BW_ERR_INVALID;
    DIR *dir = opendir(path);
    if (dir == NULL)
        return errno == ENOENT ? BW_OK : BW_ERR_IO;
    enum bw_rc rc = BW_OK;
    struct dirent *e;
    while (rc == BW_OK && (e = readdir(dir)) != NULL) {
        if (e->d_name[0] == '.' || strstr(e->d_name, ".tmp-") != NULL)
            continue;
        rc = fn(arg, e->d_name);
    }
    closedir(dir);
    return rc;
}

static enum bw_rc dir_remove(void *impl, const char *name)
{
    struct dir_target *d = impl;
    char path[4096];
    if (!name_ok(name) || bw_sys_path(path, sizeof(path), d->root, name) != BW_OK)
        return BW_ERR_INVALID;
    if (unlink(path) != 0 && errno != ENOENT)
        return BW_ERR_IO;
    char *slash = strrchr(path, '/');
    if (slash != NULL) {
        *slash = '\0';
        (void)rmdir(path); /* empty key or stream directories go too */
    }
    return BW_OK;
}

static enum bw_rc dir_sync(void *impl, char *why, size_t whylen)
{
    struct dir_target *d = impl;
    int fd = open(d->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || syncfs(fd) != 0) {
        bw_why(why, whylen, "cannot sync %s: %s", d->root, strerror(errno));
        if (fd >= 0)
            close(fd);
        return BW_ERR_IO;
    }
    close(fd);
    return BW_OK;
}

static void dir_close(void *impl)
{
    struct dir_target *d = impl;
    if (d == NULL)
        return;
    bw_free(d->root);
    bw_free(d);
}

enum bw_rc bw_target_dir_open(const char *path, void **impl, char *why, size_t whylen)
{
    struct stat st;
    if (path[0] != '/') {
        bw_why(why, whylen, "backup target dir:%s must be an absolute path", path);
        return BW_ERR_INVALID;
    }
    if (stat(path, &st) != 0) { /* never created here: a missing mount must not fill / */
        bw_why(why, whylen, "cannot use backup target %s: %s (create or mount it)", path,
               strerror(errno));
        return errno == ENOENT ? BW_ERR_NOTFOUND : BW_ERR_IO;
    }
    if (!S_ISDIR(st.st_mode)) {
        bw_why(why, whylen, "backup target %s is not a directory", path);
        return BW_ERR_INVALID;
    }
    struct dir_target *d = bw_calloc(1, sizeof(*d));
    if (d == NULL || (d->root = bw_strdup(path)) == NULL) {
        bw_free(d);
        return BW_ERR_NOMEM;
    }
    *impl = d;
    return BW_OK;
}

const struct bw_target_ops bw_target_dir_ops = {
    .scheme = "dir",
    .put = dir_put,
    .get = dir_get,
    .list = dir_list,
    .remove = dir_remove,
    .sync = dir_sync,
    .close = dir_close,
};

/* ---- dispatch ------------------------------------------------------------- */

enum bw_rc bw_backup_target_open(const char *spec, const char *data_dir,
                                 struct bw_backup_target **out, char *why, size_t whylen)
{
    struct bw_backup_target *t = bw_calloc(1, sizeof(*t));
    enum bw_rc rc;
    if (t == NULL)
        return BW_ERR_NOMEM;
    pthread_mutex_init(&t->mu, NULL);
    if (strncmp(spec, "dir:", 4) == 0) {
        t->ops = &bw_target_dir_ops;
        rc = bw_target_dir_open(spec + 4, &t->impl, why, whylen);
        if (rc == BW_OK && (t->local = bw_strdup(spec + 4)) == NULL)
            rc = BW_ERR_NOMEM;
    } else if (strncmp(spec, "sftp://", 7) == 0) {
        t->ops = &bw_target_sftp_ops;
        t->serialize = true;
        rc = bw_target_sftp_open(spec, data_dir, &t->impl, why, whylen);
    } else {
        bw_why(why, whylen, "backup target must be dir:/PATH or sftp://USER@HOST/PATH");
        rc = BW_ERR_INVALID;
    }
    if (rc != BW_OK) {
        t->impl = NULL;
        bw_backup_target_close(t);
        return rc;
    }
    *out = t;
    return BW_OK;
}

void bw_backup_target_close(struct bw_backup_target *t)
{
    if (t == NULL)
        return;
    if (t->impl != NULL)
        t->ops->close(t->impl);
    pthread_mutex_destroy(&t->mu);
    bw_free(t->local);
    bw_free(t);
}

const char *bw_backup_target_local(const struct bw_backup_target *t)
{
    return t->local;
}

static void lock(struct bw_backup_target *t)
{
    if (t->serialize)
        pthread_mutex_lock(&t->mu);
}

static void unlock(struct bw_backup_target *t)
{
    if (t->serialize)
        pthread_mutex_unlock(&t->mu);
}

enum bw_rc bw_target_put(struct bw_backup_target *t, const char *name, const void *data,
                         size_t len, bool durable, char *why, size_t whylen)
{
    lock(t);
    enum bw_rc rc = t->ops->put(t->impl, name, data, len, durable, why, whylen);
    unlock(t);
    return rc;
}

enum bw_rc bw_target_get(struct bw_backup_target *t, const char *name, struct bw_buf *out,
                         char *why, size_t whylen)
{
    lock(t);
    enum bw_rc rc = t->ops->get(t->impl, name, out, why, whylen);
    unlock(t);
    return rc;
}

enum bw_rc bw_target_list(struct bw_backup_target *t, const char *dir, bw_target_list_fn fn,
                          void *arg)
{
    lock(t);
    enum bw_rc rc = t->ops->list(t->impl, dir, fn, arg);
    unlock(t);
    return rc;
}

enum bw_rc bw_target_remove(struct bw_backup_target *t, const char *name)
{
    lock(t);
    enum bw_rc rc = t->ops->remove(t->impl, name);
    unlock(t);
    return rc;
}

enum bw_rc bw_target_sync(struct bw_backup_target *t, char *why, size_t whylen)
{
    lock(t);
    enum bw_rc rc = t->ops->sync(t->impl, why, whylen);
    unlock(t);
    return rc;
}
