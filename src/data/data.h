/*
 * data.h - the data the vendors' applications keep in Bulwark: collections
 * with a classification and typed fields, validated records, envelope
 * encryption of confidential and restricted bodies, the deletion lifecycle
 * (soft delete, restore, purge with crypto-shredding) and the organisation
 * export (CONTROL: AC-01, AC-06, CRY-01, DATA-01..05, DATA-08, APP-01..03,
 * G-09; SPEC 5 and invariants 4-6).
 *
 * Trust boundary: field definitions and record bodies come from clients and
 * are validated here (fields.c, pure, fuzzed) before anything is stored.
 * Every store statement touching tenant data takes the organisation id as
 * a bound parameter (org scoping in the store statements themselves, not only
 * in handlers): an id of another organisation matches no row and answers
 * BW_ERR_NOTFOUND exactly like a random id. Key material never passes
 * through this module: it hands wrapped keys and bodies to the keyring
 * (crypto/keyring.c) and gets plaintext bodies back.
 *
 * Ownership: functions borrow their arguments; JSON results are new
 * references the caller releases. Out-parameters are set only on BW_OK.
 */
#ifndef BW_DATA_H
#define BW_DATA_H

#include "auth/auth.h"
#include "core/core.h"

struct bw_store;
struct bw_tx;
struct bw_keyring;
struct bw_audit_ctx;
struct json_t;

/* ---- classification and fields (fields.c) -------------------------------- */

enum bw_class { BW_CLASS_PUBLIC, BW_CLASS_INTERNAL, BW_CLASS_CONFIDENTIAL, BW_CLASS_RESTRICTED };

enum bw_ftype {
    BW_FT_STRING,
    BW_FT_TEXT,
    BW_FT_INTEGER,
    BW_FT_NUMBER,
    BW_FT_BOOLEAN,
    BW_FT_DATE,
    BW_FT_DATETIME,
    BW_FT_EMAIL,
    BW_FT_ENUM,
    BW_FT_JSON,
};

#define BW_NAME_MAX 64           /* collection and field names: [a-z][a-z0-9_]{0,63} */
#define BW_FIELDS_MAX 64         /* fields per collection */
#define BW_ENUM_VALUES_MAX 64    /* values per enum field */
#define BW_ENUM_VALUE_MAX 128    /* bytes per enum value */
#define BW_STRING_DEFAULT 1024   /* max_length of a string without one */
#define BW_TEXT_DEFAULT 65536    /* max_length of text/json without one */
#define BW_LENGTH_MAX (1u << 20) /* largest max_length accepted */

struct bw_field {
    char name[BW_NAME_MAX + 1];
    enum bw_ftype type;
    bool required;
    bool has_max_length, has_min, has_max;
    uint64_t max_length; /* bytes (string, text, email, json serialised) */
    double min, max;     /* integer, number */
    size_t nvalues;      /* enum */
    char **values;       /* enum values, owned */
};

struct bw_schema {
    size_t n;
    struct bw_field *f; /* owned */
};

/* Errors about the client's input, collected for a 400 answer (STYLE rule 3).
 * Same shape as the HTTP layer's field errors; never holds record content
 * beyond the field's name. */
#define BW_DATA_ERRORS_MAX 16
struct bw_data_errors {
    size_t n;
    struct {
        char field[64];
        char message[128];
    } e[BW_DATA_ERRORS_MAX];
};
void bw_data_error(struct bw_data_errors *de, const char *field, const char *message);

const char *bw_class_name(enum bw_class c);
BW_MUST_CHECK enum bw_rc bw_class_parse(const char *s, enum bw_class *out);
const char *bw_ftype_name(enum bw_ftype t);
/* A collection or field name: [a-z][a-z0-9_]{0,63}. */
bool bw_name_valid(const char *s);

/* Parses a field-definition array (SPEC 5: [{name,type,required?,
 * max_length?,min?,max?,values?}]). BW_ERR_INVALID with de filled when it
 * is not valid; *out (owned, free with bw_schema_free) on success. */
BW_MUST_CHECK enum bw_rc bw_schema_parse(const struct json_t *fields, struct bw_schema **out,
                                         struct bw_data_errors *de);
void bw_schema_free(struct bw_schema *s); /* accepts NULL */
/* The definition as JSON (new reference; what bw_schema_parse accepts). */
struct json_t *bw_schema_json(const struct bw_schema *s);
const struct bw_field *bw_schema_find(const struct bw_schema *s, const char *name);

/* Validates a record's `data` object against the schema (CONTROL: APP-01,
 * DATA-08): unknown fields, missing required fields, wrong types, values out
 * of range, oversize values and enum values not listed are errors, one per
 * field. BW_OK or BW_ERR_INVALID with de filled. */
BW_MUST_CHECK enum bw_rc bw_record_validate(const struct bw_schema *s, const struct json_t *data,
                                            struct bw_data_errors *de);
/* Turns a query-string filter value into the JSON value the field holds
 * (integers, numbers, booleans parsed; others as strings). BW_ERR_INVALID
 * when the text is not a valid value of the field. */
BW_MUST_CHECK enum bw_rc bw_field_filter_value(const struct bw_field *f, const char *text,
                                               struct json_t **out);

/* ---- collections (collection.c) ------------------------------------------ */

struct bw_collection {
    char org_id[BW_ID_LEN + 1];
    char name[BW_NAME_MAX + 1];
    enum bw_class cls;
    struct bw_schema *schema; /* owned */
    int64_t created_at, updated_at;
};
void bw_collection_cleanup(struct bw_collection *c);
/* The collection as {name,classification,fields,created_at,updated_at}. */
struct json_t *bw_collection_json(const struct bw_collection *c);

/* Within a transaction: the collection `name` of `org_id`. BW_ERR_NOTFOUND
 * for unknown names and names of other organisations alike. */
BW_MUST_CHECK enum bw_rc bw_collection_get(struct bw_tx *tx, const char *org_id,
                                           const char *name, struct bw_collection *out);
/* Within a write transaction: creates it and audits collection.created.
 * BW_ERR_EXISTS when the name is taken in this organisation. */
BW_MUST_CHECK enum bw_rc bw_collection_create(struct bw_tx *tx, const struct bw_audit_ctx *ctx,
                                              const char *actor, struct bw_collection *c);
/* Within a transaction: the organisation's collections as a JSON array. */
BW_MUST_CHECK enum bw_rc bw_collection_list(struct bw_tx *tx, const char *org_id,
                                            struct json_t **out);

/* ---- records (record.c) --------------------------------------------------- */

/* The key handshake (decision C6). Keys live in a key store apart from the
 * data (SQLite: db/keys.db; PostgreSQL: schema bulwark_keys). On SQLite a
 * transaction over both files commits file by file, so a key is NEVER
 * created inside a record transaction: an operation that needs a key the
 * store lacks notes it here, sets `pending` and returns BW_ERR_BUSY (its
 * transaction must be rolled back); the caller then runs
 * bw_data_keys_prepare, which commits the key in a transaction of its own,
 * and runs the operation again with the same bw_keyneed (a create reuses
 * `record_id`). A key without its record is an orphan the purge job
 * destroys; a record without its key cannot arise. */
struct bw_keyneed {
    bool pending;
    bool all;                        /* every record of `collection` lacking a key */
    char collection[BW_NAME_MAX + 1];
    char record_id[BW_ID_LEN + 1];   /* one record's data key; a create's id */
};

/* What a record operation needs from its caller (borrowed). */
struct bw_data_ctx {
    const struct bw_config *cfg;
    const struct bw_keyring *kr;
    const struct bw_audit_ctx *audit;
    const char *actor;  /* "user:<id>", "apikey:<id>", "cli", "system" */
    const char *org_id; /* already authorized by the caller */
    struct bw_keyneed *keys; /* the key handshake; NULL: a missing key is BW_ERR_BUSY */
};

struct bw_record {
    char id[BW_ID_LEN + 1];
    int64_t version;
    int64_t created_at, updated_at, deleted_at; /* deleted_at 0: live */
    struct json_t *data;                         /* owned; NULL until opened */
};
void bw_record_cleanup(struct bw_record *r);
/* {id,version,created_at,updated_at,data} (new reference). */
struct json_t *bw_record_json(const struct bw_record *r);

/* All below run inside a WRITE transaction: reads of confidential and
 * restricted records are audited (record.read, ids only) in the same
 * transaction, so nothing is returned unless its audit event commits.
 * BW_ERR_NOTFOUND: no such live record in this organisation's collection.
 * BW_ERR_CRYPTO: the stored body failed authentication (moved, edited or
 * its key destroyed); the caller must still COMMIT, because a
 * crypto.integrity_fail event has been appended - see *integrity_fail. */
BW_MUST_CHECK enum bw_rc bw_record_create(struct bw_tx *tx, const struct bw_data_ctx *dc,
                                          const struct bw_collection *c,
                                          const struct json_t *data, struct bw_record *out);
BW_MUST_CHECK enum bw_rc bw_record_read(struct bw_tx *tx, const struct bw_data_ctx *dc,
                                        const struct bw_collection *c, const char *id,
                                        struct bw_record *out, bool *integrity_fail);
/* Replaces the data when the stored version equals `if_version`
 * (BW_ERR_CONFLICT otherwise: HTTP 412). */
BW_MUST_CHECK enum bw_rc bw_record_replace(struct bw_tx *tx, const struct bw_data_ctx *dc,
                                           const struct bw_collection *c, const char *id,
                                           int64_t if_version, const struct json_t *data,
                                           struct bw_record *out);
/* Soft delete (record.deleted); restorable for retention.deleted_records. */
BW_MUST_CHECK enum bw_rc bw_record_delete(struct bw_tx *tx, const struct bw_data_ctx *dc,
                                          const struct bw_collection *c, const char *id);
/* Undo a soft delete (record.restored). BW_ERR_CONFLICT when not deleted. */
BW_MUST_CHECK enum bw_rc bw_record_restore(struct bw_tx *tx, const struct bw_data_ctx *dc,
                                           const struct bw_collection *c, const char *id,
                                           struct bw_record *out, bool *integrity_fail);

/* Within a write transaction: sets the collection's class to `to` and
 * re-encodes its records (sealed when raised to confidential/restricted,
 * opened when lowered to public/internal); c->cls becomes `to`. Callers
 * decide who may lower a class and audit the change. */
BW_MUST_CHECK enum bw_rc bw_collection_reclassify(struct bw_tx *tx, const struct bw_data_ctx *dc,
                                                  struct bw_collection *c, enum bw_class to,
                                                  bool *integrity_fail);

/* One page of live records ordered by id, after `after` (exclusive; "" =
 * from the start), at most `limit`. `filter_field` (may be NULL) with
 * `filter_value` keeps records whose field equals the value (public and
 * internal collections only: BW_ERR_PERM otherwise). Items are record JSON;
 * *next is the last id when more may follow, "" otherwise. */
struct bw_record_page {
    struct json_t *items;
    char last[BW_ID_LEN + 1];
    bool more;
    bool integrity_fail; /* a record failed to open: audited, left out; fail the answer */
};
BW_MUST_CHECK enum bw_rc bw_record_list(struct bw_tx *tx, const struct bw_data_ctx *dc,
                                        const struct bw_collection *c, const char *after,
                                        size_t limit, const char *filter_field,
                                        const struct json_t *filter_value,
                                        struct bw_record_page *out);

/* The whole organisation as JSON (GDPR Art. 20): its collections with
 * their live records, audited org.exported. Within a write transaction. */
BW_MUST_CHECK enum bw_rc bw_data_export(struct bw_tx *tx, const struct bw_data_ctx *dc,
                                        struct json_t **out, bool *integrity_fail);

/* Opaque list cursors bound to organisation and collection by a MAC: a
 * cursor of another organisation or collection, or any invented one, fails
 * to verify (BW_ERR_NOTFOUND) exactly like a random one. */
#define BW_CURSOR_MAX 96
BW_MUST_CHECK enum bw_rc bw_cursor_make(const struct bw_keyring *kr, const char *org_id,
                                        const char *collection, const char *last_id,
                                        char out[BW_CURSOR_MAX]);
BW_MUST_CHECK enum bw_rc bw_cursor_open(const struct bw_keyring *kr, const char *org_id,
                                        const char *collection, const char *cursor,
                                        char last_id[BW_ID_LEN + 1]);

/* ---- retention (retention.c) --------------------------------------------- */

/* One purge pass (CONTROL: DATA-05, C6): records deleted longer than
 * retention.deleted_records ago lose their row and their data key
 * (crypto-shredding), organisations deleted that long ago lose their key
 * and data; each audited data.purged; then the store's log is checkpointed
 * so no old page lingers in the SQLite WAL. *purged counts records. */
BW_MUST_CHECK enum bw_rc bw_retention_purge(struct bw_store *st, const struct bw_config *cfg,
                                            unsigned *purged);
/* After a restore (decision C6): sealed records whose data key no longer
 * exists in the key store - destroyed by a purge after the backup was taken
 * - are removed, each audited data.purged (reason key_destroyed), so a
 * purged record does not come back even as an unreadable row. *removed
 * counts them. */
BW_MUST_CHECK enum bw_rc bw_retention_keyless(struct bw_store *st, unsigned *removed);
/* The purge thread of `bulwark serve`: a pass every retention.purge_interval
 * until stopped. */
struct bw_retention;
BW_MUST_CHECK enum bw_rc bw_retention_start(struct bw_store *st, const struct bw_config *cfg,
                                            struct bw_retention **out);
void bw_retention_stop(struct bw_retention *r); /* joins; accepts NULL */

/* ---- keys (keys.c): the key store apart from the data (decision C6) ------- */

/* Commits what dc->keys asks for, in transactions of their own that write
 * the key store (and a new organisation key's key.created audit event, which
 * commits first on SQLite: a crash in between costs a second event when the
 * key is made again, never a key without one): the organisation key
 * (inventoried) when the organisation has none, then the data key of
 * dc->keys->record_id, or (all) of every record of the collection that
 * lacks one. Clears `pending`. */
BW_MUST_CHECK enum bw_rc bw_data_keys_prepare(struct bw_store *st, const struct bw_data_ctx *dc);

/* Rewraps every organisation key under the newest master key version of the
 * keyring (which the caller has just created), records the inventory
 * (activated/retired) and audits key.rotated; *orgs counts rewrapped keys. */
BW_MUST_CHECK enum bw_rc bw_keys_rotate(struct bw_store *st, const struct bw_keyring *kr,
                                        const struct bw_audit_ctx *ctx, unsigned *orgs,
                                        int *new_version);
/* The key inventory as a JSON array of {kind,scope,version,created_at,
 * activated_at,retired_at,destroyed_at}. */
BW_MUST_CHECK enum bw_rc bw_keys_inventory(struct bw_store *st, struct json_t **out);

#endif
