/*
 * collection.c - collections of an organisation: a name, a classification
 * (public, internal, confidential, restricted; new ones default to
 * confidential, CONTROL: DATA-03) and field definitions (CONTROL: DATA-01).
 *
 * Every statement binds the organisation id: a collection name of another
 * organisation matches no row and answers like a name never used (SPEC 6.6).
 * Trusts the caller to have authorized the principal for the organisation
 * (bw_tenant_authorize) in the same transaction.
 */
#include "audit/audit.h"
#include "data/data.h"
#include "store/store.h"

#include <jansson.h>
#include <string.h>

void bw_collection_cleanup(struct bw_collection *c)
{
    if (c == NULL)
        return;
    bw_schema_free(c->schema);
    c->schema = NULL;
}

json_t *bw_collection_json(const struct bw_collection *c)
{
    char created[21], updated[21];
    bw_time_format(c->created_at, created);
    bw_time_format(c->updated_at, updated);
    json_t *fields = bw_schema_json(c->schema);
    if (fields == NULL)
        return NULL;
    return json_pack("{s:s, s:s, s:o, s:s, s:s}", "name", c->name, "classification",
                     bw_class_name(c->cls), "fields", fields, "created_at", created,
                     "updated_at", updated);
}

/* Reads one COLL_GET row into a collection; a row the schema checks should
 * have refused (bad class, broken JSON) is a store error, never a 4xx. */
static enum bw_rc coll_from_row(const struct bw_row *row, const char *org_id,
                                struct bw_collection *out)
{
    struct bw_data_errors de = {.n = 0};
    size_t nlen = 0;
    const char *name = bw_row_text(row, 0, &nlen);
    const char *cls = bw_row_text(row, 1, NULL);
    const char *fields = bw_row_text(row, 2, NULL);
    if (name == NULL || nlen > BW_NAME_MAX || fields == NULL || cls == NULL ||
        bw_class_parse(cls, &out->cls) != BW_OK)
        return BW_ERR_STORE;
    json_t *def = json_loads(fields, JSON_REJECT_DUPLICATES, NULL);
    enum bw_rc rc = def != NULL ? bw_schema_parse(def, &out->schema, &de) : BW_ERR_STORE;
    json_decref(def);
    if (rc != BW_OK)
        return rc == BW_ERR_NOMEM ? rc : BW_ERR_STORE;
    memcpy(out->name, name, nlen + 1);
    snprintf(out->org_id, sizeof(out->org_id), "%s", org_id);
    out->created_at = bw_row_int(row, 3);
    out->updated_at = bw_row_int(row, 4);
    return BW_OK;
}

struct get_job {
    const char *org_id;
    struct bw_collection *c;
    bool found;
};

static enum bw_rc get_row(void *arg, const struct bw_row *row)
{
    struct get_job *j = arg;
    enum bw_rc rc = coll_from_row(row, j->org_id, j->c);
    j->found = rc == BW_OK;
    return rc;
}

enum bw_rc bw_collection_get(struct bw_tx *tx, const char *org_id, const char *name,
                             struct bw_collection *out)
{
    struct bw_collection c;
    memset(&c, 0, sizeof(c));
    if (!bw_id_valid(org_id) || !bw_name_valid(name))
        return BW_ERR_NOTFOUND;
    struct get_job j = {org_id, &c, false};
    struct bw_val p[] = {BW_VTEXT(org_id), BW_VTEXT(name)};
    enum bw_rc rc = bw_tx_query(tx, BW_STMT_COLL_GET, p, BW_ARRAY_LEN(p), get_row, &j);
    if (rc == BW_OK && !j.found)
        rc = BW_ERR_NOTFOUND;
    if (rc != BW_OK) {
        bw_collection_cleanup(&c);
        return rc;
    }
    *out = c;
    return BW_OK;
}

enum bw_rc bw_collection_create(struct bw_tx *tx, const struct bw_audit_ctx *ctx,
                                const char *actor, struct bw_collection *c)
{
    json_t *def = bw_schema_json(c->schema);
    char *text = def != NULL ? json_dumps(def, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(def);
    if (text == NULL)
        return BW_ERR_NOMEM;
    c->created_at = c->updated_at = bw_time_now();
    struct bw_val p[] = {BW_VTEXT(c->org_id), BW_VTEXT(c->name),
                         BW_VTEXT(bw_class_name(c->cls)), BW_VTEXT(text),
                         BW_VINT(c->created_at), BW_VTEXT(actor)};
    enum bw_rc rc = bw_tx_exec(tx, BW_STMT_COLL_INSERT, p, BW_ARRAY_LEN(p), NULL);
    bw_free(text);
    if (rc == BW_OK)
        rc = bw_audit_append(tx, ctx, actor, "collection.created", c->name, BW_AUDIT_SUCCESS,
                             json_pack("{s:s, s:s, s:i}", "org", c->org_id, "classification",
                                       bw_class_name(c->cls), "fields", (int)c->schema->n));
    return rc;
}

struct list_job {
    const char *org_id;
    json_t *items;
};

static enum bw_rc list_row(void *arg, const struct bw_row *row)
{
    struct list_job *j = arg;
    struct bw_collection c;
    memset(&c, 0, sizeof(c));
    enum bw_rc rc = coll_from_row(row, j->org_id, &c);
    json_t *o = rc == BW_OK ? bw_collection_json(&c) : NULL;
    bw_collection_cleanup(&c);
    if (rc != BW_OK)
        return rc;
    return o != NULL && json_array_append_new(j->items, o) == 0 ? BW_OK : BW_ERR_NOMEM;
}

enum bw_rc bw_collection_list(struct bw_tx *tx, const char *org_id, json_t **out)
{
    struct list_job j = {org_id, json_array()};
    if (j.items == NULL)
        return BW_ERR_NOMEM;
    struct bw_val p[] = {BW_VTEXT(org_id)};
    enum bw_rc rc = bw_tx_query(tx, BW_STMT_COLL_LIST, p, 1, list_row, &j);
    if (rc != BW_OK) {
        json_decref(j.items);
        return rc;
    }
    *out = j.items;
    return BW_OK;
}
