/*
 * event.c - appends audit events in the caller's transaction. Details are
 * serialised by jansson (compact, key order kept); callers guarantee they
 * hold no secrets. The catalogue of action names is docs/AUDIT.md.
 */
#include "audit/audit.h"
#include "store/store.h"

#include <jansson.h>

static const char *const outcome_name[] = {"success", "failure", "denied"};

enum bw_rc bw_audit_append(struct bw_tx *tx, const struct bw_audit_ctx *ctx, const char *actor,
                           const char *action, const char *target,
                           enum bw_audit_outcome outcome, json_t *details)
{
    if (details == NULL)
        details = json_object();
    char *text = details != NULL ? json_dumps(details, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(details);
    if (text == NULL)
        return BW_ERR_NOMEM;
    struct bw_val p[] = {
        BW_VINT(bw_time_now()),
        BW_VTEXT(actor),
        BW_VTEXT(action),
        BW_VTEXT(target != NULL ? target : "-"),
        BW_VTEXT(outcome_name[outcome]),
        BW_VTEXT(ctx != NULL && ctx->remote != NULL ? ctx->remote : "-"),
        BW_VTEXT(ctx != NULL && ctx->request_id != NULL ? ctx->request_id : "-"),
        BW_VTEXT(text),
    };
    enum bw_rc rc = bw_tx_exec(tx, BW_STMT_AUDIT_INSERT, p, BW_ARRAY_LEN(p), NULL);
    bw_free(text);
    return rc;
}
