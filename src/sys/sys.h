/*
 * sys.h - the operating-system boundary: private files and directories,
 * atomic writes, and the run-time privilege reduction of `bulwark serve`.
 * Every path function refuses symlinks at the final component (O_NOFOLLOW)
 * and reports failures in `why` as one lowercase line naming the path.
 */
#ifndef BW_SYS_H
#define BW_SYS_H

#include "core/core.h"

#include <sys/types.h>

/* Creates a directory with mode 0700; BW_ERR_EXISTS if it exists. */
BW_MUST_CHECK enum bw_rc bw_sys_mkdir_private(const char *path, char *why, size_t whylen);
/* Writes a file with mode 0600 atomically: temp file, fsync, rename, fsync dir.
 * Refuses to replace an existing file unless `replace`. */
BW_MUST_CHECK enum bw_rc bw_sys_write_private(const char *path, const void *data, size_t len,
                                              bool replace, char *why, size_t whylen);
/* Reads a whole file of at most `cap` bytes into out (caller-owned, e.g.
 * sodium_malloc memory). When `require_private` the file must be a regular
 * file not accessible by group or others (SPEC 2: the server refuses keys
 * readable by others). */
BW_MUST_CHECK enum bw_rc bw_sys_read_file(const char *path, void *out, size_t cap, size_t *len,
                                          bool require_private, char *why, size_t whylen);
/* Checks that path is a directory owned by us and not accessible by others. */
BW_MUST_CHECK enum bw_rc bw_sys_check_private_dir(const char *path, char *why, size_t whylen);
/* Joins dir and a relative name into out[cap]; BW_ERR_TOOBIG on overflow. */
BW_MUST_CHECK enum bw_rc bw_sys_path(char *out, size_t cap, const char *dir, const char *name);
/* fsyncs a directory so a rename inside it is durable. */
BW_MUST_CHECK enum bw_rc bw_sys_fsync_dir(const char *dir);

/* Looks up a user; fills uid/gid. */
BW_MUST_CHECK enum bw_rc bw_sys_lookup_user(const char *name, uid_t *uid, gid_t *gid, char *why,
                                            size_t whylen);
/* Drops from root to uid/gid (supplementary groups cleared); verifies that
 * root cannot be regained. */
BW_MUST_CHECK enum bw_rc bw_sys_drop_privileges(uid_t uid, gid_t gid, char *why, size_t whylen);
/* no-new-privs, not dumpable, no core files (STYLE rule 10). */
BW_MUST_CHECK enum bw_rc bw_sys_harden(char *why, size_t whylen);
/* Number of online CPUs, at least 1. */
unsigned bw_sys_ncpu(void);

#endif
