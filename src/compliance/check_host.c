/*
 * check_host.c - controls decided by the machine and the files of the data
 * directory: modes and owners of keys/, db/ and tls/ (AC-02, G-09), the
 * server certificate (CRY-02), whether the data directory sits on dm-crypt
 * (CRY-05, read from /sys, never a shell), the kernel clock (G-03) and the
 * hardening of the running binary itself (G-14, from its own program
 * headers).
 *
 * Trusts: the data directory path and configuration. Reads files and /sys
 * only (lstat, never following a symlink for the modes it reports); reads
 * the certificate (public) but never a private key's bytes.
 */
#include "audit/audit.h"
#include "compliance/compliance_int.h"
#include "sys/sys.h"

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <gnutls/x509.h>
#include <link.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

enum { PEM_MAX = 64 * 1024 };

/* Inspects one path: must exist (when required), be of the right type, owned
 * by the service user and closed to group and others. Records "path":
 * "0600" (or "missing"/"symlink") in a nested evidence object `files`. */
static bool private_path(struct bw_ctl_out *o, const char *data_dir, const char *rel, bool dir,
                         bool required)
{
    char path[4096], mode[16];
    struct stat s;
    json_t *files = json_object_get(o->evidence, "files");
    if (files == NULL) {
        files = json_object();
        (void)json_object_set_new(o->evidence, "files", files);
    }
    if (bw_sys_path(path, sizeof(path), data_dir, rel) != BW_OK || lstat(path, &s) != 0) {
        (void)json_object_set_new(files, rel, json_string("missing"));
        if (required)
            bw_detail_add(o, "%s is missing", rel);
        return !required;
    }
    if (S_ISLNK(s.st_mode) || (dir ? !S_ISDIR(s.st_mode) : !S_ISREG(s.st_mode))) {
        (void)json_object_set_new(files, rel, json_string("wrong type"));
        bw_detail_add(o, "%s is not a %s", rel, dir ? "directory" : "regular file");
        return false;
    }
    snprintf(mode, sizeof(mode), "%04o", (unsigned)(s.st_mode & 07777));
    (void)json_object_set_new(files, rel, json_string(mode));
    bool ok = true;
    if ((s.st_mode & 077) != 0) {
        bw_detail_add(o, "%s is mode %s (group/other have access; want %s)", rel, mode,
                      dir ? "0700" : "0600");
        ok = false;
    }
    if (s.st_uid != geteuid()) {
        bw_detail_add(o, "%s is owned by uid %u, not the service user (uid %u)", rel,
                      (unsigned)s.st_uid, (unsigned)geteuid());
        ok = false;
    }
    return ok;
}

static bool sqlite_store(const struct bw_config *c)
{
    return c->database_url == NULL || c->database_url[0] == '\0';
}

/* CONTROL: AC-02 */
BW_CHECK(bw_chk_ac02)
{
    (void)ctl;
    bool ok = private_path(o, env->data_dir, ".", true, true);
    ok &= private_path(o, env->data_dir, "keys", true, true);
    ok &= private_path(o, env->data_dir, "keys/master.key", false, true);
    if (sqlite_store(env->cfg)) {
        bw_ev_str(o, "driver", "sqlite");
        bw_ev_str(o, "network_port", "none (embedded store)");
        ok &= private_path(o, env->data_dir, "db", true, true);
        ok &= private_path(o, env->data_dir, "db/bulwark.db", false, true);
        ok &= private_path(o, env->data_dir, "db/bulwark.db-wal", false, false);
        ok &= private_path(o, env->data_dir, "db/bulwark.db-shm", false, false);
    } else {
        bw_ev_str(o, "driver", "postgresql");
        bw_ev_str(o, "authentication",
                  "password or certificate: the store refuses to start "
                  "without TLS (CRY-04)");
    }
    return ok ? BW_CTL_PASS : BW_CTL_FAIL;
}

/* CONTROL: G-09 - the key inventory: files, modes, ages. */
BW_CHECK(bw_chk_g09)
{
    (void)ctl;
    static const char *const keys[] = {"keys/master.key", "keys/audit-signing.key"};
    bool ok = private_path(o, env->data_dir, "keys", true, true);
    json_t *ages = json_object();
    for (size_t i = 0; i < BW_ARRAY_LEN(keys); i++) {
        char path[4096];
        struct stat s;
        ok &= private_path(o, env->data_dir, keys[i], false, true);
        if (ages != NULL && bw_sys_path(path, sizeof(path), env->data_dir, keys[i]) == BW_OK &&
            lstat(path, &s) == 0)
            (void)json_object_set_new(
                ages, keys[i], json_integer((json_int_t)((bw_time_now() - s.st_mtime) / 86400)));
    }
    (void)json_object_set_new(o->evidence, "age_days", ages);
    if (!ok)
        return BW_CTL_FAIL;
    bw_ev_bool(o, "rotation_available", false);
    bw_detail_add(o, "keys present and private; rotation ('bulwark key rotate') is not in this "
                     "version");
    return BW_CTL_WARNING;
}

static enum bw_rc tls_path(const struct bw_compliance_env *env, const char *rel, char *out,
                           size_t cap)
{
    if (rel[0] == '/') {
        int n = snprintf(out, cap, "%s", rel);
        return n < 0 || (size_t)n >= cap ? BW_ERR_TOOBIG : BW_OK;
    }
    return bw_sys_path(out, cap, env->data_dir, rel);
}

/* CONTROL: CRY-02 */
BW_CHECK(bw_chk_cry02)
{
    (void)ctl;
    char path[4096], why[256] = "";
    size_t len = 0;
    gnutls_x509_crt_t crt = NULL;
    enum bw_ctl_status st = BW_CTL_PASS;
    bw_ev_str(o, "protocols", "TLS 1.3 only (fixed in src/http/server.c)");
    bw_ev_str(o, "plaintext_listener", "none");
    char *pem = bw_malloc(PEM_MAX + 1);
    if (pem == NULL)
        return BW_CTL_ERROR;
    if (tls_path(env, env->cfg->tls_cert, path, sizeof(path)) != BW_OK ||
        bw_sys_read_file(path, pem, PEM_MAX, &len, false, why, sizeof(why)) != BW_OK) {
        bw_detail_add(o, "cannot read tls.cert %s: %s", env->cfg->tls_cert, why);
        st = BW_CTL_FAIL;
        goto out;
    }
    pem[len] = '\0';
    gnutls_datum_t d = {(unsigned char *)pem, (unsigned)len};
    if (gnutls_x509_crt_init(&crt) < 0 ||
        gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM) < 0) {
        bw_detail_add(o, "tls.cert %s is not a PEM certificate", env->cfg->tls_cert);
        st = BW_CTL_FAIL;
        goto out;
    }
    int64_t nb = (int64_t)gnutls_x509_crt_get_activation_time(crt);
    int64_t na = (int64_t)gnutls_x509_crt_get_expiration_time(crt);
    int64_t now = bw_time_now();
    bw_ev_time(o, "not_before", nb);
    bw_ev_time(o, "not_after", na);
    bw_ev_int(o, "days_left", (na - now) / 86400);
    if (now < nb || now > na) {
        bw_detail_add(o, "the server certificate is %s", now > na ? "expired" : "not yet valid");
        st = BW_CTL_FAIL;
    } else if (na - now < 30 * 86400) {
        bw_detail_add(o, "the server certificate expires in less than 30 days");
        st = BW_CTL_WARNING;
    }
    if (env->cfg->tls_key[0] != '/' &&
        !private_path(o, env->data_dir, env->cfg->tls_key, false, true))
        st = BW_CTL_FAIL;
out:
    if (crt != NULL)
        gnutls_x509_crt_deinit(crt);
    bw_free(pem);
    return st;
}

/* Reads a short /sys attribute (first line) into out. */
static bool sys_attr(const char *path, char *out, size_t cap)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return false;
    bool ok = fgets(out, (int)cap, f) != NULL;
    fclose(f);
    if (ok)
        out[strcspn(out, "\n")] = '\0';
    return ok;
}

/* Is block device `dir` (a /sys/class/block/NAME or /sys/dev/block/M:m
 * directory) dm-crypt, or built on one (its slaves), up to `depth`? */
static bool on_crypt(const char *dir, int depth, char *name, size_t namecap)
{
    char p[512], uuid[128];
    if (snprintf(p, sizeof(p), "%s/dm/uuid", dir) < (int)sizeof(p) &&
        sys_attr(p, uuid, sizeof(uuid)) && strncmp(uuid, "CRYPT-", 6) == 0) {
        if (snprintf(p, sizeof(p), "%s/dm/name", dir) < (int)sizeof(p))
            (void)sys_attr(p, name, namecap);
        return true;
    }
    if (depth == 0 || snprintf(p, sizeof(p), "%s/slaves", dir) >= (int)sizeof(p))
        return false;
    DIR *d = opendir(p);
    bool found = false;
    for (struct dirent *e; d != NULL && !found && (e = readdir(d)) != NULL;) {
        char sub[512];
        if (e->d_name[0] == '.' ||
            snprintf(sub, sizeof(sub), "/sys/class/block/%s", e->d_name) >= (int)sizeof(sub))
            continue;
        found = on_crypt(sub, depth - 1, name, namecap);
    }
    if (d != NULL)
        closedir(d);
    return found;
}

/* CONTROL: CRY-05 - informational (an attestation is the real evidence). */
BW_CHECK(bw_chk_cry05)
{
    (void)ctl;
    struct stat s;
    char dev[64], dir[128], name[128] = "";
    if (stat(env->data_dir, &s) != 0) {
        bw_detail_add(o, "cannot stat the data directory: %s", strerror(errno));
        return BW_CTL_ERROR;
    }
    snprintf(dev, sizeof(dev), "%u:%u", major(s.st_dev), minor(s.st_dev));
    bw_ev_str(o, "device", dev);
    snprintf(dir, sizeof(dir), "/sys/dev/block/%s", dev);
    if (access(dir, F_OK) != 0) {
        bw_ev_bool(o, "dm_crypt", false);
        bw_detail_add(o, "the data directory is not on a block device (overlay, tmpfs or "
                         "network file system): disk encryption cannot be seen from here; "
                         "record an operator attestation");
        return BW_CTL_WARNING;
    }
    bool crypt = on_crypt(dir, 4, name, sizeof(name));
    bw_ev_bool(o, "dm_crypt", crypt);
    if (crypt) {
        bw_ev_str(o, "mapping", name);
        return BW_CTL_PASS;
    }
    bw_detail_add(o,
                  "the data directory's device %s is not on dm-crypt (a recommendation: "
                  "record an operator attestation)",
                  dev);
    return BW_CTL_WARNING;
}

/* CONTROL: G-03 */
BW_CHECK(bw_chk_g03)
{
    (void)ctl;
    (void)env;
    char why[256] = "";
    bool ok = bw_audit_clock_synced(why, sizeof(why));
    bw_ev_bool(o, "synchronised", ok);
    bw_ev_str(o, "source", "adjtimex");
    bw_ev_str(o, "timestamps", "UTC RFC 3339 (src/core/time.c)");
    bw_detail_add(o, "%s", why);
    return ok ? BW_CTL_PASS : BW_CTL_FAIL;
}

/* ---- G-14: the running binary's own program headers -------------------------- */

struct harden {
    bool seen, pie, relro, now, nx;
};

static int phdr_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct harden *h = arg;
    if (h->seen)
        return 1;
    h->seen = true; /* the first object is the main program */
    for (unsigned i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *p = &info->dlpi_phdr[i];
        if (p->p_type == PT_GNU_RELRO)
            h->relro = true;
        if (p->p_type == PT_GNU_STACK)
            h->nx = (p->p_flags & PF_X) == 0;
        if (p->p_type != PT_DYNAMIC)
            continue;
        for (const ElfW(Dyn) *d = (const ElfW(Dyn) *)(info->dlpi_addr + p->p_vaddr);
             d->d_tag != DT_NULL; d++) {
            if (d->d_tag == DT_FLAGS && (d->d_un.d_val & DF_BIND_NOW) != 0)
                h->now = true;
            if (d->d_tag == DT_FLAGS_1 && (d->d_un.d_val & DF_1_NOW) != 0)
                h->now = true;
            if (d->d_tag == DT_FLAGS_1 && (d->d_un.d_val & DF_1_PIE) != 0)
                h->pie = true;
        }
    }
    return 1;
}

/* CONTROL: G-14 */
BW_CHECK(bw_chk_g14)
{
    (void)ctl;
    (void)env;
    struct harden h = {0};
    (void)dl_iterate_phdr(phdr_cb, &h);
    if (!h.seen) {
        bw_detail_add(o, "cannot read the program headers of the running binary");
        return BW_CTL_ERROR;
    }
    bw_ev_bool(o, "pie", h.pie);
    bw_ev_bool(o, "full_relro", h.relro && h.now);
    bw_ev_bool(o, "nx_stack", h.nx);
    bw_ev_str(o, "stack_protector_fortify", "checked at build time by scripts/checksec");
    if (!h.pie)
        bw_detail_add(o, "the binary is not position independent");
    if (!(h.relro && h.now))
        bw_detail_add(o, "the binary lacks full RELRO (GNU_RELRO + BIND_NOW)");
    if (!h.nx)
        bw_detail_add(o, "the binary has an executable stack");
    return h.pie && h.relro && h.now && h.nx ? BW_CTL_PASS : BW_CTL_FAIL;
}
