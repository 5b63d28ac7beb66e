/*
 * compliance_int.h - shared by the files of src/compliance/: evidence
 * helpers, the policy-rule accumulator used by the configuration checks,
 * and the check functions the table in controls.c points at.
 */
#ifndef BW_COMPLIANCE_INT_H
#define BW_COMPLIANCE_INT_H

#include "compliance/compliance.h"

#include <jansson.h>

/* Evidence members (a failed allocation leaves the member out; the result
 * is still honest, only shorter). */
void bw_ev_str(struct bw_ctl_out *o, const char *key, const char *value);
void bw_ev_int(struct bw_ctl_out *o, const char *key, int64_t value);
void bw_ev_bool(struct bw_ctl_out *o, const char *key, bool value);
void bw_ev_dur(struct bw_ctl_out *o, const char *key, int64_t seconds); /* "15m" */
void bw_ev_time(struct bw_ctl_out *o, const char *key, int64_t t);      /* RFC 3339 */
/* Appends "; "-separated text to out->detail (never overflows: cut at the cap). */
void bw_detail_add(struct bw_ctl_out *o, const char *fmt, ...) BW_PRINTF(2, 3);

/* Compares configured values with the adopted policy (SPEC 3). Each rule
 * records "section.key" = value in the evidence; a weaker value is named in
 * the detail and makes the control fail. */
struct bw_rules {
    struct bw_ctl_out *o;
    bool weaker;
};
void bw_rule_dur_max(struct bw_rules *r, const char *key, int64_t v, int64_t policy);
void bw_rule_dur_min(struct bw_rules *r, const char *key, int64_t v, int64_t policy);
void bw_rule_u64_max(struct bw_rules *r, const char *key, uint64_t v, uint64_t policy);
void bw_rule_u64_min(struct bw_rules *r, const char *key, uint64_t v, uint64_t policy);
void bw_rule_yes(struct bw_rules *r, const char *key, bool v);
enum bw_ctl_status bw_rules_status(struct bw_rules *r);

/* Policy values (SPEC 3, CONTROLS.md); never the configuration's. */
#define BW_POL_MIN  60
#define BW_POL_HOUR 3600
#define BW_POL_DAY  86400

/* ---- checks (controls.c: generic; check_config.c; check_host.c;
 * check_store.c; check_backup.c) -------------------------------------------- */
#define BW_CHECK(name)                                                                             \
    enum bw_ctl_status name(const struct bw_compliance_env *env, const struct bw_control *ctl,     \
                            struct bw_ctl_out *o)
BW_CHECK(bw_chk_register); /* R/N rows: no register in this version */
BW_CHECK(bw_chk_code);     /* fixed in code, verified by tests: ctl->where */
BW_CHECK(bw_chk_pending);  /* waits for a module not in this build: ctl->where */

BW_CHECK(bw_chk_auth01);
BW_CHECK(bw_chk_auth02);
BW_CHECK(bw_chk_auth03);
BW_CHECK(bw_chk_auth04);
BW_CHECK(bw_chk_auth05);
BW_CHECK(bw_chk_auth06);
BW_CHECK(bw_chk_auth07);
BW_CHECK(bw_chk_auth08);
BW_CHECK(bw_chk_sess01);
BW_CHECK(bw_chk_sess02);
BW_CHECK(bw_chk_ac02);
BW_CHECK(bw_chk_ac04);
BW_CHECK(bw_chk_ac05);
BW_CHECK(bw_chk_cry02);
BW_CHECK(bw_chk_cry03);
BW_CHECK(bw_chk_cry04);
BW_CHECK(bw_chk_cry05);
BW_CHECK(bw_chk_data06);
BW_CHECK(bw_chk_data07);
BW_CHECK(bw_chk_log06);
BW_CHECK(bw_chk_bck01);
BW_CHECK(bw_chk_bck02);
BW_CHECK(bw_chk_bck03);
BW_CHECK(bw_chk_bck04);
BW_CHECK(bw_chk_bck05);
BW_CHECK(bw_chk_bck06);
BW_CHECK(bw_chk_bck07);
BW_CHECK(bw_chk_bck08);
BW_CHECK(bw_chk_sup01);
BW_CHECK(bw_chk_sup02);
BW_CHECK(bw_chk_vul01);
BW_CHECK(bw_chk_vul02);
BW_CHECK(bw_chk_vul03);
BW_CHECK(bw_chk_vul04);
BW_CHECK(bw_chk_vul05);
BW_CHECK(bw_chk_vul07);
BW_CHECK(bw_chk_inc01);
BW_CHECK(bw_chk_inc03);
BW_CHECK(bw_chk_inc04);
BW_CHECK(bw_chk_inc05);
BW_CHECK(bw_chk_g01);
BW_CHECK(bw_chk_g02);
BW_CHECK(bw_chk_g03);
BW_CHECK(bw_chk_g05);
BW_CHECK(bw_chk_g06);
BW_CHECK(bw_chk_g07);
BW_CHECK(bw_chk_g08);
BW_CHECK(bw_chk_g09);
BW_CHECK(bw_chk_g10);
BW_CHECK(bw_chk_g11);
BW_CHECK(bw_chk_g14);

/* Facts gathered once per run and shared by several checks (the backup
 * target is listed once, the users read once). Owned by bw_compliance_run. */
struct bw_compliance_cache {
    bool backups_done;
    enum bw_rc backups_rc;
    char backups_why[256];
    json_t *backups; /* array of backup summaries from bw_backup_list */
    bool copy_done;
    enum bw_rc copy_rc;
    char copy_why[256];
    json_t *copy_backups; /* the same from backup.copy_target */
};
void bw_compliance_cache_free(struct bw_compliance_cache *c);

#endif
