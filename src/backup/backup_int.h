/*
 * backup_int.h - shared by the files of src/backup/: the target interface
 * (a function-pointer table, like the store's drivers), the chunk codec,
 * the chunker and the manifest structure.
 */
#ifndef BW_BACKUP_INT_H
#define BW_BACKUP_INT_H

#include "backup/backup.h"
#include "crypto/crypto.h"

#include <pthread.h>

/* Object names on a target: "chunks/<keyid>/<idhex>", "backups/<name>.manifest",
 * "log/<stream>/<first>-<last>.seg", "log/<stream>/head". */
#define BW_BK_NAME_MAX 256
#define BW_BK_KEYID_LEN 16      /* hex characters of a data-key id */
#define BW_BK_CHUNK_MIN (64u * 1024)
#define BW_BK_CHUNK_MASK ((1u << 18) - 1) /* average ~ 320 KiB */
#define BW_BK_CHUNK_MAX (1024u * 1024)
#define BW_BK_OBJECT_MAX (BW_BK_CHUNK_MAX + 4096)
#define BW_BK_MANIFEST_MAX (256u * 1024 * 1024)
#define BW_BK_SEGMENT_MAX (512u * 1024 * 1024)
#define BW_BK_FILE_NAME_MAX 64 /* names of files of DATA/audit/ (files.c) */
#define BW_BK_FILE_MAX ((uint64_t)1 << 40) /* bytes of one such file */

typedef enum bw_rc (*bw_target_list_fn)(void *arg, const char *name);

struct bw_target_ops {
    const char *scheme;
    /* durable: fsync file and directory before returning; otherwise the
     * caller calls sync() before publishing anything that refers to it. */
    enum bw_rc (*put)(void *impl, const char *name, const void *data, size_t len, bool durable,
                      char *why, size_t whylen);
    enum bw_rc (*get)(void *impl, const char *name, struct bw_buf *out, char *why,
                      size_t whylen);
    /* Files directly under dir (names relative to dir), temporaries skipped. */
    enum bw_rc (*list)(void *impl, const char *dir, bw_target_list_fn fn, void *arg);
    enum bw_rc (*remove)(void *impl, const char *name);
    enum bw_rc (*sync)(void *impl, char *why, size_t whylen);
    void (*close)(void *impl);
};

struct bw_backup_target {
    const struct bw_target_ops *ops;
    void *impl;
    char *local; /* dir: targets */
    pthread_mutex_t mu; /* SFTP sessions are not thread-safe */
    bool serialize;
};

BW_MUST_CHECK enum bw_rc bw_target_put(struct bw_backup_target *t, const char *name,
                                       const void *data, size_t len, bool durable, char *why,
                                       size_t whylen);
BW_MUST_CHECK enum bw_rc bw_target_get(struct bw_backup_target *t, const char *name,
                                       struct bw_buf *out, char *why, size_t whylen);
BW_MUST_CHECK enum bw_rc bw_target_list(struct bw_backup_target *t, const char *dir,
                                        bw_target_list_fn fn, void *arg);
BW_MUST_CHECK enum bw_rc bw_target_remove(struct bw_backup_target *t, const char *name);
BW_MUST_CHECK enum bw_rc bw_target_sync(struct bw_backup_target *t, char *why, size_t whylen);

extern const struct bw_target_ops bw_target_dir_ops;
BW_MUST_CHECK enum bw_rc bw_target_dir_open(const char *path, void **impl, char *why,
                                            size_t whylen);
BW_MUST_CHECK enum bw_rc bw_target_sftp_open(const char *url, const char *data_dir, void **impl,
                                             char *why, size_t whylen);
extern const struct bw_target_ops bw_target_sftp_ops;

/* ---- chunker (archive.c): content-defined cut points, keyed gear table ---- */
struct bw_chunker {
    uint64_t gear[256];
};
/* Length of the next chunk at p[0..len). */
size_t bw_chunker_next(const struct bw_chunker *c, const uint8_t *p, size_t len);

/* ---- chunk objects (archive.c) ----------------------------------------------
 * Object = "BWC1" || nonce || AES-256-GCM(flag || payload) || tag, AAD
 * "bwchunk1:<keyid>:<idhex>"; flag 0 = stored, 1 = zstd. */
/* One per thread that seals or opens chunks: zstd contexts and a scratch
 * buffer reused from chunk to chunk (a fresh 1 MiB buffer and compression
 * context per chunk cost page faults on every chunk), and the key of the
 * content addresses. The scratch is wiped after each use. */
struct bw_chunk_ctx;
BW_MUST_CHECK enum bw_rc bw_chunk_ctx_new(const struct bw_keyring *kr,
                                          enum bw_backup_id_scheme scheme,
                                          struct bw_chunk_ctx **out);
void bw_chunk_ctx_free(struct bw_chunk_ctx *c); /* accepts NULL */
/* The content address of a chunk under the context's scheme. */
BW_MUST_CHECK enum bw_rc bw_chunk_id(const struct bw_chunk_ctx *c, const uint8_t *plain,
                                     size_t len, uint8_t id[BW_BACKUP_ID_BYTES]);
BW_MUST_CHECK enum bw_rc bw_chunk_seal(struct bw_chunk_ctx *c, const struct bw_backup_key *k,
                                       const char *keyid, const char *idhex,
                                       const uint8_t *plain, size_t len, struct bw_buf *out);
/* Opens, decompresses, checks the length and the content address. */
BW_MUST_CHECK enum bw_rc bw_chunk_open(struct bw_chunk_ctx *c, const struct bw_backup_key *k,
                                       const char *keyid, const char *idhex,
                                       const uint8_t *obj, size_t objlen, size_t plain_len,
                                       uint8_t *out);

/* Sealed blobs under the backup key: magic(4) || sealed; aad = prefix + name. */
BW_MUST_CHECK enum bw_rc bw_blob_seal(const struct bw_keyring *kr, const char *magic,
                                      const char *aad, const void *plain, size_t len,
                                      struct bw_buf *out);
BW_MUST_CHECK enum bw_rc bw_blob_open(const struct bw_keyring *kr, const char *magic,
                                      const char *aad, const void *obj, size_t len,
                                      struct bw_buf *out);

/* ---- manifest (manifest.c) ---------------------------------------------- */
struct bw_mchunk {
    uint8_t id[BW_BACKUP_ID_BYTES];
    uint32_t key;  /* index into keys[] */
    uint32_t len;  /* plaintext length */
};
/* A file of DATA/audit/ (format 3): its chunks are fchunks[first ..
 * first + nchunks), in order; the files' runs are consecutive, so fchunks
 * concatenated is every file's bytes, file after file. */
struct bw_mfile {
    char name[BW_BK_FILE_NAME_MAX]; /* bw_files_name_ok */
    uint64_t size;
    size_t first, nchunks;
};
struct bw_mkey {
    char id[BW_BK_KEYID_LEN + 1];
    uint8_t wrapped[BW_BACKUP_KEY_WRAPPED_BYTES];
};
/* The manifest format written (manifest.c; 1 to 3 are still read). */
#define BW_MANIFEST_FORMAT 4

struct bw_manifest {
    int format;           /* as read; BW_MANIFEST_FORMAT for a new one */
    char name[96];
    char kind[16];        /* "full" | "incremental" */
    char parent[96];      /* "" for none */
    char store[16];       /* "sqlite" | "postgresql" */
    int64_t created_ms;   /* the snapshot's point in time */
    int64_t finished_ms;
    int schema_version;
    char stream[BW_ID_LEN + 1]; /* change-log stream, "" for none */
    uint64_t log_seq;
    uint64_t size;        /* snapshot bytes */
    char *config;         /* bulwark.conf text (may hold the database password) */
    struct bw_mkey *keys;
    size_t nkeys;
    struct bw_mchunk *chunks;
    size_t nchunks;
    /* format 2: change chunks. Their plaintexts, concatenated in order, are
     * change-log records (seq, ts, changeset) log_seq of the base snapshot
     * + 1 ... log_seq, applied to the snapshot by a restore. Empty for a
     * backup whose chunks are the whole snapshot at log_seq. */
    struct bw_mchunk *changes;
    size_t nchanges;
    uint64_t changes_size;
    /* format 3: the files of DATA/audit/ (audit archives, checkpoints.jsonl)
     * in name order, read after the snapshot was pinned; empty for formats
     * 1 and 2. files_size is the sum of their sizes (not a member). */
    struct bw_mfile *files;
    size_t nfiles;
    struct bw_mchunk *fchunks;
    size_t nfchunks;
    uint64_t files_size;
};

/* How the chunks of m are addressed: format 4 on, HMAC-SHA-256. */
enum bw_backup_id_scheme bw_manifest_id_scheme(const struct bw_manifest *m);
/* Name of a chunk object. */
BW_MUST_CHECK enum bw_rc bw_chunk_path(char *out, size_t cap, const char *keyid,
                                       const uint8_t id[BW_BACKUP_ID_BYTES]);
/* Reads and opens backups/<name>.manifest. */
BW_MUST_CHECK enum bw_rc bw_manifest_load(const struct bw_keyring *kr,
                                          struct bw_backup_target *t, const char *name,
                                          struct bw_manifest **out, char *why, size_t whylen);
/* Seals and writes it durably (the publishing step of a backup). */
BW_MUST_CHECK enum bw_rc bw_manifest_store(const struct bw_keyring *kr,
                                           struct bw_backup_target *t,
                                           const struct bw_manifest *m, uint8_t sha256[32],
                                           uint64_t *bytes, char *why, size_t whylen);
/* Names of complete backups, sorted (oldest first); caller frees each + array. */
BW_MUST_CHECK enum bw_rc bw_manifest_names(struct bw_backup_target *t, char ***names, size_t *n);
void bw_names_free(char **names, size_t n);
/* A growable list of owned strings (target listings, sets of paths; {0} is
 * empty): add copies s[0..len), sort orders by strcmp, has searches a sorted
 * list. Release with bw_names_free(ns.v, ns.n). */
struct bw_names {
    char **v;
    size_t n, cap;
};
BW_MUST_CHECK enum bw_rc bw_names_add(struct bw_names *ns, const char *s, size_t len);
void bw_names_sort(struct bw_names *ns);
bool bw_names_has(const struct bw_names *ns, const char *s);

/* ---- audit helper (run.c) ---------------------------------------------------
 * Records an event in its own store transaction (the change it records is
 * on the target); a failure is logged as an error and returned. Steals
 * details. */
enum bw_rc bw_backup_audit(const struct bw_backup_env *env, const char *action,
                                         const char *target, bool ok, struct json_t *details);

/* ---- change log (changelog.c) ----------------------------------------------- */
struct bw_log_point {
    int64_t until_ms; /* every commit up to here is shipped */
    uint64_t last_seq;
};
/* Reads the stream's head; BW_ERR_NOTFOUND when the stream has none. */
BW_MUST_CHECK enum bw_rc bw_log_head(const struct bw_keyring *kr, struct bw_backup_target *t,
                                     const char *stream, struct bw_log_point *out);
/* Applies the stream's changes with from_seq < seq, ts <= until_ms to st.
 * BW_ERR_CONFLICT (why says so) when a gap or missing segment is in range. */
BW_MUST_CHECK enum bw_rc bw_log_replay(const struct bw_keyring *kr, struct bw_backup_target *t,
                                       const char *stream, uint64_t from_seq, int64_t until_ms,
                                       struct bw_store *st, uint64_t *applied, char *why,
                                       size_t whylen);
/* Copies the records (from_seq, to_seq] of a stream into out, unchanged;
 * BW_ERR_CONFLICT when a gap or a missing segment is in range. */
BW_MUST_CHECK enum bw_rc bw_log_collect(const struct bw_keyring *kr, struct bw_backup_target *t,
                                        const char *stream, uint64_t from_seq, uint64_t to_seq,
                                        struct bw_buf *out, char *why, size_t whylen);
/* Applies records p[0..len) to st; they must be exactly first..last. */
BW_MUST_CHECK enum bw_rc bw_log_apply(struct bw_store *st, const uint8_t *p, size_t len,
                                      uint64_t first, uint64_t last, uint64_t *applied,
                                      char *why, size_t whylen);
/* Verifies every segment of every stream; counts them. */
BW_MUST_CHECK enum bw_rc bw_log_verify(const struct bw_keyring *kr, struct bw_backup_target *t,
                                       uint64_t *segments, char *why, size_t whylen);
/* Removes segments whose newest change is older than before_ms (audited by caller). */
BW_MUST_CHECK enum bw_rc bw_log_prune(const struct bw_keyring *kr, struct bw_backup_target *t,
                                      int64_t before_ms, const char *keep_stream,
                                      uint64_t *removed);

/* Copies backup `name` from one target to another (BCK-02): every object it
 * names that `to` lacks, read back and compared by SHA-256, the manifest
 * last; audited (backup.copied / backup.failed). *out describes the copy. */
BW_MUST_CHECK enum bw_rc bw_backup_copy(const struct bw_backup_env *env,
                                        struct bw_backup_target *from,
                                        struct bw_backup_target *to, const char *name,
                                        struct json_t **out, char *why, size_t whylen);

/* ---- files of DATA/audit/ in backups (files.c) ---------------------------------
 * "checkpoints.jsonl" (DATA/audit/) and "audit-<20 digits>-<20 digits>.bwa"
 * (DATA/audit/archive/): the only names a manifest may carry. */
bool bw_files_name_ok(const char *name);
/* One file read for a backup: data[0..len) (checkpoints.jsonl up to its
 * last newline) inside a private read-only mapping. */
struct bw_file_src {
    char name[BW_BK_FILE_NAME_MAX];
    const uint8_t *data;
    size_t len;
    void *map;
    size_t maplen;
};
/* The regular files of those names under data_dir, sorted by name; a
 * symlink or other non-regular file under a known name is refused
 * (BW_ERR_PERM, why names it). Release with bw_files_release. */
BW_MUST_CHECK enum bw_rc bw_files_collect(const char *data_dir, struct bw_file_src **out, size_t *n,
                                          char *why, size_t whylen);
void bw_files_release(struct bw_file_src *v, size_t n); /* accepts NULL */
/* Writes m's files into the new data directory dir (DIR/audit 0700, files
 * 0600, durable) from plain (the fchunks' plaintexts concatenated, already
 * authenticated); checkpoints.jsonl without the lines whose checkpoint seq
 * is beyond keep_seq (the restored chain's newest event), counted in
 * *dropped. */
BW_MUST_CHECK enum bw_rc bw_files_install(const char *dir, const struct bw_manifest *m,
                                          const uint8_t *plain, int64_t keep_seq, uint64_t *dropped,
                                          char *why, size_t whylen);
/* The archives the restored store st lists that m does not carry (made
 * after the backup and reached by replaying the change log, or a backup of
 * format 1 or 2) are copied from live_dir (may be NULL) when it holds them
 * as regular files; verify then checks each against the index's file hash.
 * The others are appended to `missing` (a JSON array) by name. */
BW_MUST_CHECK enum bw_rc bw_files_complete(struct bw_store *st, const struct bw_manifest *m,
                                           const char *live_dir, const char *dir, uint64_t *copied,
                                           struct json_t *missing, char *why, size_t whylen);
/* Removes what bw_files_install (and restore) may have left in dir. */
void bw_files_remove(const char *dir);

/* Removes a data directory built by restore (known file names only). */
enum bw_rc bw_backup_remove_dir(const char *dir);

/* record codec of log segments (exposed for the fuzzer and unit tests) */
struct bw_log_rec {
    uint64_t seq;
    int64_t ts;
    const uint8_t *data; /* NULL: gap */
    size_t len;
};
BW_MUST_CHECK enum bw_rc bw_log_record_append(struct bw_buf *b, uint64_t seq, int64_t ts,
                                              const void *data, size_t len);
/* Bounded cursor: BW_OK with *r filled, BW_ERR_NOTFOUND at the clean end,
 * BW_ERR_INVALID for malformed bytes. */
BW_MUST_CHECK enum bw_rc bw_log_record_next(const uint8_t *p, size_t len, size_t *pos,
                                            struct bw_log_rec *r);

/* the shipper: the store's change callback queues, the scheduler ships.
 * commit_times: the store stamps records with their commit times and sends
 * watermarks (seq 0; PostgreSQL), so records keep the store's stamps and a
 * head never claims past the last watermark; otherwise (SQLite) records are
 * stamped here, under the queue lock. */
BW_MUST_CHECK enum bw_rc bw_log_shipper_create(const struct bw_keyring *kr,
                                               struct bw_backup_target *t, bool commit_times,
                                               struct bw_log_shipper **out);
void bw_log_shipper_free(struct bw_log_shipper *s);
void bw_log_shipper_enqueue(void *arg, uint64_t seq, int64_t ts_ms, const void *data,
                            size_t len);
const char *bw_log_shipper_stream(const struct bw_log_shipper *s);
/* True once after a gap was queued (then the scheduler takes a backup so
 * later points are restorable again). */
bool bw_log_shipper_take_gap(struct bw_log_shipper *s);
BW_MUST_CHECK enum bw_rc bw_log_shipper_ship(struct bw_log_shipper *s, int64_t *lag_ms,
                                             char *why, size_t whylen);

/* ---- key-store backups (keystore.c; decision C6) -------------------------------
 * Objects "keys/<ms>-<id>.keys", sealed like manifests, apart from the data
 * backups and kept only [retention] key_backups. */
/* Backs the key store up (to copy too when not NULL); adds "key_backup" to res. */
BW_MUST_CHECK enum bw_rc bw_keystore_backup(const struct bw_backup_env *env,
                                            struct bw_backup_target *t,
                                            struct bw_backup_target *copy, struct json_t *res,
                                            char *why, size_t whylen);
/* Removes key-store backups older than key_backups (each audited). */
BW_MUST_CHECK enum bw_rc bw_keystore_prune(const struct bw_backup_env *env,
                                           struct bw_backup_target *t, uint64_t *removed);
/* Installs a key store for the store `target` being restored into `dir`:
 * the live one (same kind, holding organisation keys), else the newest
 * key-store backup of that kind on t; `from` names which. */
BW_MUST_CHECK enum bw_rc bw_keystore_restore(const struct bw_backup_env *env,
                                             struct bw_backup_target *t, const char *kind,
                                             const char *target, const char *dir, char *from,
                                             size_t fromcap, char *why, size_t whylen);
/* Authenticates every key-store backup on t (CONTROL: G-10); counts them. */
BW_MUST_CHECK enum bw_rc bw_keystore_verify(const struct bw_backup_env *env,
                                            struct bw_backup_target *t, uint64_t *count,
                                            char *why, size_t whylen);
/* Opens the restored store `target` and removes its sealed records whose
 * data key the installed key store does not hold (audited); counts them. */
BW_MUST_CHECK enum bw_rc bw_keystore_sweep(const char *target, unsigned *removed, char *why,
                                           size_t whylen);

#endif
