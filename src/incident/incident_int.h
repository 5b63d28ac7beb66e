/*
 * incident_int.h - shared by the files of src/incident/: the row of an
 * incident as read from the store, its column order, and helpers.
 */
#ifndef BW_INCIDENT_INT_H
#define BW_INCIDENT_INT_H

#include "incident/incident.h"

#include <jansson.h>

/* Columns of BW_STMT_INC_BY_ID / _LIST, in this order. */
enum bw_inc_col {
    BW_ICOL_ID, BW_ICOL_TITLE, BW_ICOL_SEVERITY, BW_ICOL_STATUS, BW_ICOL_SIGNIFICANT,
    BW_ICOL_PERSONAL_DATA, BW_ICOL_AWARE_AT, BW_ICOL_CREATED_AT, BW_ICOL_CREATED_BY,
    BW_ICOL_DETECT_KEY, BW_ICOL_RESPOND_BY, BW_ICOL_RESPONDED_AT, BW_ICOL_ROOT_CAUSE,
    BW_ICOL_LESSONS, BW_ICOL_FACTS, BW_ICOL_UPDATED_AT, BW_ICOL_CLOSED_AT,
};

struct bw_inc_row {
    bool found;
    char id[BW_ID_LEN + 1];
    char title[BW_INC_TITLE_MAX + 1];
    char severity[4];
    char status[16];
    int significant;   /* -1 not assessed */
    int personal_data; /* -1 not assessed */
    int64_t aware_at;
    int64_t created_at;
    char created_by[128];
    char detect_key[256];
    int64_t respond_by;
    int64_t responded_at; /* 0 = not yet */
    bool has_review;
    char *root_cause; /* owned, NULL unless has_review */
    char *lessons;
    json_t *facts; /* owned object */
    int64_t updated_at;
    int64_t closed_at;
};

/* Loads one incident; BW_ERR_NOTFOUND when absent. Release with cleanup. */
BW_MUST_CHECK enum bw_rc bw_inc_load(struct bw_tx *tx, const char *id, struct bw_inc_row *r);
void bw_inc_row_cleanup(struct bw_inc_row *r);
/* The SPEC 5 JSON of an incident with its deadlines (new reference). */
BW_MUST_CHECK enum bw_rc bw_inc_json(struct bw_tx *tx, const struct bw_inc_row *r, json_t **out);
/* Adds the NIS2 / GDPR deadlines the flags call for (existing ones stay). */
BW_MUST_CHECK enum bw_rc bw_inc_flag_deadlines(struct bw_tx *tx, const struct bw_config *cfg,
                                               const char *id, int64_t aware_at,
                                               int significant, int personal_data);
/* Sets the process-wide read-only flag (after the stored one committed). */
void bw_readonly_set_local(bool on);

#endif
