/*
 * sftp.c - the SFTP backup target (libssh): sftp://USER@HOST[:PORT]/PATH.
 *
 * The server's host key is pinned: it must be listed in
 * DATA/backup/known_hosts (no system files, no trust on first use), else the
 * connection is refused. Authentication is by the private key
 * DATA/backup/id_ed25519 (0600). Writes are atomic like the directory
 * driver's: a temporary name, write, fsync (fsync@openssh.com), rename
 * (posix-rename@openssh.com), so an interrupted upload never shows.
 * Trusts: nothing the server sends (objects are authenticated by callers).
 * One SFTP session is not thread-safe: target.c serialises calls.
 */
#include "backup/backup_int.h"
#include "sys/sys.h"

#include <fcntl.h>
#include <libssh/libssh.h>
#include <libssh/sftp.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

struct sftp_target {
    ssh_session ssh;
    sftp_session sftp;
    char *root;
};

static void sftp_close_target(void *impl)
{
    struct sftp_target *s = impl;
    if (s == NULL)
        return;
    if (s->sftp != NULL)
        sftp_free(s->sftp);
    if (s->ssh != NULL) {
        ssh_disconnect(s->ssh);
        ssh_free(s->ssh);
    }
    bw_free(s->root);
    bw_free(s);
}

static enum bw_rc full_path(const struct sftp_target *s, const char *name, char *out, size_t cap)
{
    if (name[0] == '\0' || name[0] == '/' || strstr(name, "..") != NULL)
        return BW_ERR_INVALID;
    return bw_sys_path(out, cap, s->root, name);
}

static void mkdirs(struct sftp_target *s, const char *path)
{
    char p[4096];
    snprintf(p, sizeof(p), "%s", path);
    for (char *q = p + strlen(s->root) + 1; (q = strchr(q, '/')) != NULL; q++) {
        *q = '\0';
        (void)sftp_mkdir(s->sftp, p, 0700); /* exists: fine */
        *q = '/';
    }
}

static enum bw_rc sftp_put(void *impl, const char *name, const void *data, size_t len,
                           bool durable, char *why, size_t whylen)
{
    struct sftp_target *s = impl;
    char path[4096], tmp[4200], rnd[17];
    uint8_t r[8];
    (void)durable; /* no syncfs over SFTP: every object is fsynced */
    if (full_path(s, name, path, sizeof(path)) != BW_OK)
        return BW_ERR_INVALID;
    randombytes_buf(r, sizeof(r));
    bw_hex(r, sizeof(r), rnd);
    snprintf(tmp, sizeof(tmp), "%s.tmp-%s", path, rnd);
    mkdirs(s, path);
    sftp_file f = sftp_open(s->sftp, tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (f == NULL) {
        bw_why(why, whylen, "cannot create %s on the SFTP target: %s", tmp,
               ssh_get_error(s->ssh));
        return BW_ERR_IO;
    }
    enum bw_rc rc = BW_OK;
    const char *p = data;
    while (rc == BW_OK && len > 0) {
        size_t n = len < 32768 ? len : 32768;
        ssize_t w = sftp_write(f, p, n);
        if (w <= 0)
            rc = BW_ERR_IO;
        else {
            p += w;
            len -= (size_t)w;
        }
    }
    if (rc == BW_OK && sftp_extension_supported(s->sftp, "fsync@openssh.com", "1") &&
        sftp_fsync(f) != 0)
        rc = BW_ERR_IO;
    if (sftp_close(f) != SSH_OK && rc == BW_OK)
        rc = BW_ERR_IO;
    if (rc == BW_OK && sftp_rename(s->sftp, tmp, path) != 0)
        rc = BW_ERR_IO;
    if (rc != BW_OK) {
        bw_why(why, whylen, "cannot write %s on the SFTP target: %s (sftp error %d)", name,
               ssh_get_error(s->ssh), sftp_get_error(s->sftp));
        (void)sftp_unlink(s->sftp, tmp);
    }
    return rc;
}

static enum bw_rc sftp_get(void *impl, const char *name, struct bw_buf *out, char *why,
                           size_t whylen)
{
    struct sftp_target *s = impl;
    char path[4096], buf[32768];
    if (full_path(s, name, path, sizeof(path)) != BW_OK)
        return BW_ERR_INVALID;
    sftp_file f = sftp_open(s->sftp, path, O_RDONLY, 0);
    if (f == NULL) {
        bw_why(why, whylen, "cannot read %s on the SFTP target", name);
        return sftp_get_error(s->sftp) == SSH_FX_NO_SUCH_FILE ? BW_ERR_NOTFOUND : BW_ERR_IO;
    }
    bw_buf_reset(out);
    enum bw_rc rc = BW_OK;
    for (;;) {
        ssize_t n = sftp_read(f, buf, sizeof(buf));
        if (n < 0) {
            rc = BW_ERR_IO;
            bw_why(why, whylen, "cannot read %s on the SFTP target", name);
            break;
        }
        if (n == 0)
            break;
        if ((rc = bw_buf_append(out, buf, (size_t)n)) != BW_OK) {
            bw_why(why, whylen, "%s is larger than any object Bulwark writes", name);
            break;
        }
    }
    sftp_close(f);
    return rc;
}

static enum bw_rc sftp_list(void *impl, const char *sub, bw_target_list_fn fn, void *arg)
{
    struct sftp_target *s = impl;
    char path[4096];
    if (full_path(s, sub, path, sizeof(path)) != BW_OK)
        return BW_ERR_INVALID;
    sftp_dir d = sftp_opendir(s->sftp, path);
    if (d == NULL)
        return sftp_get_error(s->sftp) == SSH_FX_NO_SUCH_FILE ? BW_OK : BW_ERR_IO;
    enum bw_rc rc = BW_OK;
    sftp_attributes a;
    while (rc == BW_OK && (a = sftp_readdir(s->sftp, d)) != NULL) {
        if (a->name[0] != '.' && strstr(a->name, ".tmp-") == NULL)
            rc = fn(arg, a->name);
        sftp_attributes_free(a);
    }
    sftp_closedir(d);
    return rc;
}

static enum bw_rc sftp_remove(void *impl, const char *name)
{
    struct sftp_target *s = impl;
    char path[4096];
    if (full_path(s, name, path, sizeof(path)) != BW_OK)
        return BW_ERR_INVALID;
    if (sftp_unlink(s->sftp, path) != 0 && sftp_get_error(s->sftp) != SSH_FX_NO_SUCH_FILE)
        return BW_ERR_IO;
    char *slash = strrchr(path, '/');
    if (slash != NULL) {
        *slash = '\0';
        (void)sftp_rmdir(s->sftp, path); /* only when empty */
    }
    return BW_OK;
}

static enum bw_rc sftp_sync(void *impl, char *why, size_t whylen)
{
    (void)impl;
    (void)why;
    (void)whylen;
    return BW_OK; /* every put was fsynced already */
}

const struct bw_target_ops bw_target_sftp_ops = {
    .scheme = "sftp",
    .put = sftp_put,
    .get = sftp_get,
    .list = sftp_list,
    .remove = sftp_remove,
    .sync = sftp_sync,
    .close = sftp_close_target,
};

/* sftp://USER@HOST[:PORT]/PATH -> parts (PATH keeps its leading slash). */
static enum bw_rc split_url(const char *url, char *user, size_t ucap, char *host, size_t hcap,
                            uint16_t *port, const char **path)
{
    const char *a = url + 7, *slash = strchr(a, '/'), *at;
    char auth[512], hp[300];
    if (slash == NULL || (size_t)(slash - a) >= sizeof(auth))
        return BW_ERR_INVALID;
    memcpy(auth, a, (size_t)(slash - a));
    auth[slash - a] = '\0';
    at = strchr(auth, '@');
    if (at == NULL || at == auth || (size_t)(at - auth) >= ucap)
        return BW_ERR_INVALID;
    memcpy(user, auth, (size_t)(at - auth));
    user[at - auth] = '\0';
    if (strchr(at + 1, ':') != NULL && strchr(at + 1, ']') == NULL && at[1] != '[') {
        if (bw_parse_hostport(at + 1, host, hcap, port) != BW_OK)
            return BW_ERR_INVALID;
    } else if (snprintf(hp, sizeof(hp), "%s:22", at + 1) >= (int)sizeof(hp) ||
               bw_parse_hostport(strchr(at + 1, ':') ? at + 1 : hp, host, hcap, port) !=
                   BW_OK) {
        return BW_ERR_INVALID;
    }
    *path = slash;
    return strlen(slash) > 1 ? BW_OK : BW_ERR_INVALID;
}

static enum bw_rc connect_ssh(struct sftp_target *s, const char *user, const char *host,
                              uint16_t port, const char *data_dir, char *why, size_t whylen)
{
    char kh[4096], idf[4096];
    unsigned int p = port;
    ssh_key key = NULL;
    long timeout = 15;
    if (bw_sys_path(kh, sizeof(kh), data_dir, "backup/known_hosts") != BW_OK ||
        bw_sys_path(idf, sizeof(idf), data_dir, "backup/id_ed25519") != BW_OK)
        return BW_ERR_TOOBIG;
    s->ssh = ssh_new();
    if (s->ssh == NULL)
        return BW_ERR_NOMEM;
    ssh_options_set(s->ssh, SSH_OPTIONS_HOST, host);
    ssh_options_set(s->ssh, SSH_OPTIONS_PORT, &p);
    ssh_options_set(s->ssh, SSH_OPTIONS_USER, user);
    ssh_options_set(s->ssh, SSH_OPTIONS_KNOWNHOSTS, kh);
    ssh_options_set(s->ssh, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null");
    ssh_options_set(s->ssh, SSH_OPTIONS_TIMEOUT, &timeout);
    ssh_options_set(s->ssh, SSH_OPTIONS_PROCESS_CONFIG, &(int){0});
    if (ssh_connect(s->ssh) != SSH_OK) {
        bw_why(why, whylen, "cannot connect to SFTP target %s:%u: %s", host, port,
               ssh_get_error(s->ssh));
        return BW_ERR_IO;
    }
    /* CONTROL: BCK-02 - the host key must be pinned, never learned */
    if (ssh_session_is_known_server(s->ssh) != SSH_KNOWN_HOSTS_OK) {
        bw_why(why, whylen, "SFTP target %s:%u: host key not pinned in %s (or changed)", host,
               port, kh);
        return BW_ERR_PERM;
    }
    if (ssh_pki_import_privkey_file(idf, NULL, NULL, NULL, &key) != SSH_OK) {
        bw_why(why, whylen, "cannot read the SFTP key %s", idf);
        return BW_ERR_PERM;
    }
    int r = ssh_userauth_publickey(s->ssh, NULL, key);
    ssh_key_free(key);
    if (r != SSH_AUTH_SUCCESS) {
        bw_why(why, whylen, "SFTP target %s:%u refused the key %s", host, port, idf);
        return BW_ERR_PERM;
    }
    s->sftp = sftp_new(s->ssh);
    if (s->sftp == NULL || sftp_init(s->sftp) != SSH_OK) {
        bw_why(why, whylen, "SFTP subsystem of %s:%u unavailable", host, port);
        return BW_ERR_IO;
    }
    return BW_OK;
}

enum bw_rc bw_target_sftp_open(const char *url, const char *data_dir, void **impl, char *why,
                               size_t whylen)
{
    char user[128], host[256];
    uint16_t port = 22;
    const char *path = NULL;
    if (split_url(url, user, sizeof(user), host, sizeof(host), &port, &path) != BW_OK) {
        bw_why(why, whylen, "backup target must be sftp://USER@HOST[:PORT]/PATH");
        return BW_ERR_INVALID;
    }
    struct sftp_target *s = bw_calloc(1, sizeof(*s));
    if (s == NULL || (s->root = bw_strdup(path)) == NULL) {
        bw_free(s);
        return BW_ERR_NOMEM;
    }
    enum bw_rc rc = connect_ssh(s, user, host, port, data_dir, why, whylen);
    if (rc == BW_OK)
        (void)sftp_mkdir(s->sftp, s->root, 0700);
    if (rc != BW_OK) {
        sftp_close_target(s);
        return rc;
    }
    *impl = s;
    return BW_OK;
}
