/*
 * files.c - private files for keys, certificates and configuration. Files
 * are created 0600 and directories 0700 regardless of umask; writes are
 * atomic (a crash leaves the old file or the new one, never half of one);
 * reads of key files refuse anything readable by group or others.
 * Never follows a symlink at the final path component.
 */
#include "sys/sys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static enum bw_rc errno_rc(int e)
{
    switch (e) {
    case ENOENT:
        return BW_ERR_NOTFOUND;
    case EEXIST:
        return BW_ERR_EXISTS;
    case EACCES:
    case EPERM:
    case ELOOP:
        return BW_ERR_PERM;
    case ENOMEM:
        return BW_ERR_NOMEM;
    default:
        return BW_ERR_IO;
    }
}

enum bw_rc bw_sys_path(char *out, size_t cap, const char *dir, const char *name)
{
    int n = snprintf(out, cap, "%s/%s", dir, name);
    return n < 0 || (size_t)n >= cap ? BW_ERR_TOOBIG : BW_OK;
}

enum bw_rc bw_sys_mkdir_private(const char *path, char *why, size_t whylen)
{
    if (mkdir(path, 0700) != 0) {
        int e = errno;
        bw_why(why, whylen, "cannot create %s: %s", path, strerror(e));
        return errno_rc(e);
    }
    if (chmod(path, 0700) != 0) { /* umask may have removed bits we want exact */
        int e = errno;
        bw_why(why, whylen, "cannot set mode of %s: %s", path, strerror(e));
        return errno_rc(e);
    }
    return BW_OK;
}

enum bw_rc bw_sys_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return errno_rc(errno);
    int r = fsync(fd);
    close(fd);
    return r == 0 ? BW_OK : BW_ERR_IO;
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

enum bw_rc bw_sys_write_private(const char *path, const void *data, size_t len, bool replace,
                                char *why, size_t whylen)
{
    char tmp[4096], dir[4096];
    enum bw_rc rc = BW_OK;
    int fd = -1;
    if (snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", path) >= (int)sizeof(tmp) ||
        snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir)) {
        bw_why(why, whylen, "path too long: %s", path);
        return BW_ERR_TOOBIG;
    }
    char *slash = strrchr(dir, '/');
    if (slash != NULL)
        *slash = '\0';
    else
        memcpy(dir, ".", 2);
    if (!replace && access(path, F_OK) == 0) {
        bw_why(why, whylen, "refusing to overwrite %s", path);
        return BW_ERR_EXISTS;
    }
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        bw_why(why, whylen, "cannot create %s: %s", tmp, strerror(e));
        return errno_rc(e);
    }
    if (fchmod(fd, 0600) != 0 || write_all(fd, data, len) != BW_OK || fsync(fd) != 0) {
        int e = errno;
        bw_why(why, whylen, "cannot write %s: %s", path, strerror(e));
        rc = BW_ERR_IO;
        goto out;
    }
    if (close(fd) != 0) {
        fd = -1;
        rc = BW_ERR_IO;
        bw_why(why, whylen, "cannot write %s: %s", path, strerror(errno));
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        int e = errno;
        bw_why(why, whylen, "cannot rename into %s: %s", path, strerror(e));
        rc = errno_rc(e);
        goto out;
    }
    rc = bw_sys_fsync_dir(dir);
    if (rc != BW_OK)
        bw_why(why, whylen, "cannot sync directory %s", dir);
    return rc;
out:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return rc;
}

enum bw_rc bw_sys_read_file(const char *path, void *out, size_t cap, size_t *len,
                            bool require_private, char *why, size_t whylen)
{
    enum bw_rc rc = BW_OK;
    struct stat st;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        bw_why(why, whylen, "cannot read %s: %s", path, strerror(e));
        return errno_rc(e);
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        bw_why(why, whylen, "cannot read %s: not a regular file", path);
        rc = BW_ERR_PERM;
        goto out;
    }
    if (require_private && (st.st_mode & 077) != 0) {
        bw_why(why, whylen, "%s is accessible by group or others (mode %03o): chmod 600 it",
                path, (unsigned)(st.st_mode & 0777));
        rc = BW_ERR_PERM;
        goto out;
    }
    if ((uint64_t)st.st_size > cap) {
        bw_why(why, whylen, "cannot read %s: larger than %zu bytes", path, cap);
        rc = BW_ERR_TOOBIG;
        goto out;
    }
    size_t got = 0;
    while (got < cap) {
        ssize_t r = read(fd, (char *)out + got, cap - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            bw_why(why, whylen, "cannot read %s: %s", path, strerror(errno));
            rc = BW_ERR_IO;
            goto out;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    *len = got;
out:
    close(fd);
    return rc;
}

enum bw_rc bw_sys_check_private_dir(const char *path, char *why, size_t whylen)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        int e = errno;
        if (e == ENOENT)
            bw_why(why, whylen, "data directory %s does not exist: run 'bulwark init' first",
                    path);
        else
            bw_why(why, whylen, "cannot access data directory %s: %s", path, strerror(e));
        return errno_rc(e);
    }
    if (!S_ISDIR(st.st_mode)) {
        bw_why(why, whylen, "%s is not a directory", path);
        return BW_ERR_PERM;
    }
    if ((st.st_mode & 077) != 0) {
        bw_why(why, whylen, "%s is accessible by group or others (mode %03o): chmod 700 it", path,
                (unsigned)(st.st_mode & 0777));
        return BW_ERR_PERM;
    }
    return BW_OK;
}
