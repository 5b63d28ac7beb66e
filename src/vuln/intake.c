/*
 * intake.c - the researchers' disclosure channel (CONTROL: VUL-07, VUL-08):
 * POST /api/v1/vulnerability-reports takes {description, title?, contact?,
 * component?} from anyone (the router throttles per address and caps the
 * body), stores the whole report sealed under the master key (AES-256-GCM,
 * AAD "vuln-report:<id>") and opens an untriaged vulnerability whose due
 * time is the triage clock; the answer is the tracking id.
 *
 * Trusts nothing in the body: members are checked here (known names, types,
 * sizes, text without control characters other than newlines). The report
 * text is never logged, never in an audit event, and never in the finding's
 * title.
 */
#include "audit/audit.h"
#include "crypto/crypto.h"
#include "store/store.h"
#include "vuln/vuln.h"

#include <jansson.h>
#include <sodium.h>
#include <string.h>

static const struct {
    const char *name;
    size_t max;
    bool required, multiline;
} members[] = {
    {"description", 30000, true, true},
    {"title", 200, false, false},
    {"contact", 254, false, false},
    {"component", 200, false, false},
};

enum bw_rc bw_vuln_report_check(const json_t *body, struct bw_reg_err *err)
{
    const char *k;
    json_t *v;
    if (!json_is_object(body)) {
        bw_reg_err_set(err, "body", "must be a JSON object");
        return BW_ERR_INVALID;
    }
    json_object_foreach((json_t *)body, k, v) {
        size_t i = 0;
        while (i < BW_ARRAY_LEN(members) && strcmp(members[i].name, k) != 0)
            i++;
        if (i == BW_ARRAY_LEN(members)) {
            bw_reg_err_set(err, "body", "unknown member");
            return BW_ERR_INVALID;
        }
        if (!json_is_string(v) ||
            strlen(json_string_value(v)) != json_string_length(v) ||
            !bw_inc_text_ok(json_string_value(v), members[i].max, members[i].multiline)) {
            bw_reg_err_set(err, members[i].name, "must be text within its size limit");
            return BW_ERR_INVALID;
        }
    }
    for (size_t i = 0; i < BW_ARRAY_LEN(members); i++) {
        if (members[i].required && json_object_get(body, members[i].name) == NULL) {
            bw_reg_err_set(err, members[i].name, "required");
            return BW_ERR_INVALID;
        }
    }
    return BW_OK;
}

struct intake_job {
    const struct bw_config *cfg;
    const struct bw_audit_ctx *ctx;
    const uint8_t *sealed;
    size_t sealed_len;
    const char *rid;
    struct bw_reg_err *err;
};

static enum bw_rc intake_fn(struct bw_tx *tx, void *arg)
{
    struct intake_job *j = arg;
    char vid[BW_ID_LEN + 1], title[80], ref[40];
    bw_why(title, sizeof(title), "Researcher report %s (awaiting triage)", j->rid);
    bw_why(ref, sizeof(ref), "report:%s", j->rid);
    struct bw_vuln_new in = {title, "unknown", NULL, NULL, "untriaged", "product", 0, "report",
                             ref};
    enum bw_rc rc = bw_vuln_add_tx(tx, j->cfg, j->ctx, "anonymous", &in, vid, j->err);
    struct bw_val p[] = {BW_VTEXT(j->rid), BW_VINT(bw_time_now()), BW_VTEXT(j->ctx->remote),
                         BW_VBLOB(j->sealed, j->sealed_len), BW_VTEXT(vid)};
    if (rc == BW_OK)
        rc = bw_tx_exec(tx, BW_STMT_VREPORT_INSERT, p, BW_ARRAY_LEN(p), NULL);
    if (rc == BW_OK)
        rc = bw_audit_append(tx, j->ctx, "anonymous", "vuln.report.received", j->rid,
                             BW_AUDIT_SUCCESS,
                             json_pack("{s:s, s:I}", "vulnerability", vid, "bytes",
                                       (json_int_t)(j->sealed_len - BW_SEAL_OVERHEAD)));
    return rc;
}

enum bw_rc bw_vuln_report_intake(struct bw_store *st, const struct bw_config *cfg,
                                 const struct bw_keyring *kr, const struct bw_audit_ctx *ctx,
                                 const json_t *body, char id[BW_ID_LEN + 1],
                                 struct bw_reg_err *err)
{
    char rid[BW_ID_LEN + 1], aad[64];
    enum bw_rc rc = bw_vuln_report_check(body, err);
    if (rc != BW_OK)
        return rc;
    char *plain = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
    if (plain == NULL)
        return BW_ERR_NOMEM;
    size_t len = strlen(plain), cap = len + BW_SEAL_OVERHEAD, slen = 0;
    uint8_t *sealed = bw_malloc(cap);
    bw_id_new(rid);
    bw_why(aad, sizeof(aad), "vuln-report:%s", rid);
    rc = sealed != NULL ? bw_keyring_seal(kr, aad, (const uint8_t *)plain, len, sealed, cap, &slen)
                        : BW_ERR_NOMEM;
    sodium_memzero(plain, len);
    bw_free(plain);
    struct intake_job j = {cfg, ctx, sealed, slen, rid, err};
    if (rc == BW_OK)
        rc = bw_store_write(st, intake_fn, &j);
    bw_free(sealed);
    if (rc == BW_OK)
        memcpy(id, rid, sizeof(rid));
    return rc;
}

struct open_job {
    const struct bw_keyring *kr;
    const char *id;
    json_t *out;
};

static enum bw_rc open_row(void *arg, const struct bw_row *row)
{
    struct open_job *j = arg;
    size_t len = 0, plen = 0;
    char aad[64];
    const uint8_t *sealed = bw_row_blob(row, 2, &len);
    if (len < BW_SEAL_OVERHEAD)
        return BW_ERR_CRYPTO;
    char *plain = sodium_malloc(len - BW_SEAL_OVERHEAD + 1);
    if (plain == NULL)
        return BW_ERR_NOMEM;
    bw_why(aad, sizeof(aad), "vuln-report:%s", j->id);
    enum bw_rc rc = bw_keyring_open(j->kr, aad, sealed, len, (uint8_t *)plain,
                                    len - BW_SEAL_OVERHEAD, &plen);
    if (rc == BW_OK) {
        char when[21];
        bw_time_format(bw_row_int(row, 0), when);
        json_t *report = json_loadb(plain, plen, 0, NULL);
        j->out = json_pack("{s:s, s:s, s:s, s:s, s:o}", "id", j->id, "received_at", when,
                           "remote", bw_row_text(row, 1, NULL), "vulnerability",
                           bw_row_text(row, 3, NULL), "report",
                           report != NULL ? report : json_null());
        rc = j->out != NULL ? BW_OK : BW_ERR_NOMEM;
    }
    sodium_free(plain);
    return rc;
}

static enum bw_rc open_fn(struct bw_tx *tx, void *arg)
{
    struct open_job *j = arg;
    struct bw_val p[] = {BW_VTEXT(j->id)};
    return bw_tx_query(tx, BW_STMT_VREPORT_BY_ID, p, 1, open_row, j);
}

enum bw_rc bw_vuln_report_open(struct bw_store *st, const struct bw_keyring *kr, const char *id,
                               json_t **out)
{
    struct open_job j = {kr, id, NULL};
    if (!bw_id_valid(id))
        return BW_ERR_NOTFOUND;
    enum bw_rc rc = bw_store_read(st, open_fn, &j);
    if (rc == BW_OK && j.out == NULL)
        rc = BW_ERR_NOTFOUND;
    if (rc == BW_OK)
        *out = j.out;
    else
        json_decref(j.out);
    return rc;
}
