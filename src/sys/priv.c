/*
 * priv.c - run-time privilege reduction (STYLE rule 10). `bulwark serve`
 * binds its port and loads its keys first, then calls these: drop from root
 * to the service user, forbid regaining privileges (no-new-privs), make the
 * process non-dumpable (no ptrace by same-uid processes, no core files with
 * key material). Each step is verified, not assumed.
 */
#include "sys/sys.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

enum bw_rc bw_sys_lookup_user(const char *name, uid_t *uid, gid_t *gid, char *why, size_t whylen)
{
    struct passwd pw, *res = NULL;
    char buf[4096];
    int e = getpwnam_r(name, &pw, buf, sizeof(buf), &res);
    if (e != 0 || res == NULL) {
        bw_why(why, whylen, "unknown user '%s'", name);
        return BW_ERR_NOTFOUND;
    }
    *uid = pw.pw_uid;
    *gid = pw.pw_gid;
    return BW_OK;
}

enum bw_rc bw_sys_drop_privileges(uid_t uid, gid_t gid, char *why, size_t whylen)
{
    if (uid == 0) {
        bw_why(why, whylen, "refusing to run as root: choose an unprivileged --user");
        return BW_ERR_PERM;
    }
    if (setgroups(0, NULL) != 0 || setresgid(gid, gid, gid) != 0 ||
        setresuid(uid, uid, uid) != 0) {
        bw_why(why, whylen, "cannot drop privileges: %s", strerror(errno));
        return BW_ERR_PERM;
    }
    if (setuid(0) == 0 || seteuid(0) == 0) {
        bw_why(why, whylen, "privileges could be regained after dropping them");
        return BW_ERR_PERM;
    }
    return BW_OK;
}

enum bw_rc bw_sys_harden(char *why, size_t whylen)
{
    struct rlimit no_core = {0, 0};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 ||
        setrlimit(RLIMIT_CORE, &no_core) != 0) {
        bw_why(why, whylen, "cannot harden process: %s", strerror(errno));
        return BW_ERR_PERM;
    }
    return BW_OK;
}

unsigned bw_sys_ncpu(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}
