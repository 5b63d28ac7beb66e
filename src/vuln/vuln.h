/*
 * vuln.h - vulnerability handling (issue 7): the register with due times per
 * severity and scope (decision C1), closing with a fixing release or a
 * documented exception, the researchers' disclosure intake (stored sealed),
 * Bulwark's own SBOM (CycloneDX 1.5) from the versions the build linked,
 * and the offline OSV feed scan that opens findings for them.
 *
 * Ownership: arguments are borrowed; json_t out-parameters are new
 * references. Out-parameters are set only on BW_OK.
 */
#ifndef BW_VULN_H
#define BW_VULN_H

#include "incident/incident.h"

#define BW_VULN_TEXT_MAX 200
#define BW_VULN_REPORT_MAX (32 * 1024) /* intake body limit */

/* Due time of a finding (CONTROL: VUL-01..05): product critical 24 h, high
 * 7 d, medium 30 d, low 90 d; infrastructure critical 48 h; "untriaged"
 * gets vuln.triage. BW_ERR_INVALID for an unknown severity or scope. */
BW_MUST_CHECK enum bw_rc bw_vuln_due(const struct bw_config *cfg, const char *severity,
                                     const char *scope, int64_t found_at, int64_t *due);

struct bw_vuln_new {
    const char *title;
    const char *component;
    const char *version;   /* may be NULL */
    const char *cve;       /* may be NULL; CVE-YYYY-NNNN... */
    const char *severity;  /* critical|high|medium|low (untriaged only from intake) */
    const char *scope;     /* product|infrastructure */
    int64_t found_at;      /* 0 = now; never in the future */
    const char *source;    /* manual|report|scan */
    const char *source_ref; /* dedupe key or NULL */
};

/* Within a write transaction. BW_ERR_EXISTS when source_ref is known. */
BW_MUST_CHECK enum bw_rc bw_vuln_add_tx(struct bw_tx *tx, const struct bw_config *cfg,
                                        const struct bw_audit_ctx *ctx, const char *actor,
                                        const struct bw_vuln_new *in, char id[BW_ID_LEN + 1],
                                        struct bw_reg_err *err);
BW_MUST_CHECK enum bw_rc bw_vuln_add(struct bw_store *st, const struct bw_config *cfg,
                                     const struct bw_audit_ctx *ctx, const char *actor,
                                     const struct bw_vuln_new *in, char id[BW_ID_LEN + 1],
                                     struct bw_reg_err *err);
BW_MUST_CHECK enum bw_rc bw_vuln_get(struct bw_store *st, const char *id, struct json_t **out);
BW_MUST_CHECK enum bw_rc bw_vuln_list(struct bw_store *st, struct json_t **out);
/* Closes with the fixing release or a documented exception (exactly one);
 * BW_ERR_CONFLICT when already closed. */
BW_MUST_CHECK enum bw_rc bw_vuln_close(struct bw_store *st, const struct bw_audit_ctx *ctx,
                                       const char *actor, const char *id,
                                       const char *fixed_release, const char *exception,
                                       struct bw_reg_err *err);
/* Sets severity and scope after triage; the due time is recomputed from
 * the found time. */
BW_MUST_CHECK enum bw_rc bw_vuln_rate(struct bw_store *st, const struct bw_config *cfg,
                                      const struct bw_audit_ctx *ctx, const char *actor,
                                      const char *id, const char *severity, const char *scope,
                                      struct bw_reg_err *err);

/* ---- disclosure intake (intake.c; CONTROL: VUL-07, VUL-08) ---------------------------- */
/* Checks a researcher's report body ({description, title?, contact?,
 * component?}); BW_ERR_INVALID with err. Pure: used by the fuzzer. */
BW_MUST_CHECK enum bw_rc bw_vuln_report_check(const struct json_t *body, struct bw_reg_err *err);
/* Stores the report sealed (AAD "vuln-report:<id>") and opens an
 * untriaged vulnerability with the triage clock; id is the tracking id. */
BW_MUST_CHECK enum bw_rc bw_vuln_report_intake(struct bw_store *st, const struct bw_config *cfg,
                                               const struct bw_keyring *kr,
                                               const struct bw_audit_ctx *ctx,
                                               const struct json_t *body,
                                               char id[BW_ID_LEN + 1], struct bw_reg_err *err);
/* Opens a stored report for the administrators (JSON of the body). */
BW_MUST_CHECK enum bw_rc bw_vuln_report_open(struct bw_store *st, const struct bw_keyring *kr,
                                             const char *id, struct json_t **out);

/* ---- SBOM (sbom.c; CONTROL: SUP-01) ----------------------------------------------------- */
struct bw_sbom_component {
    const char *name;    /* pkg-config module */
    const char *version; /* exact version the build linked (from pkg-config) */
    const char *runtime; /* version reported by the loaded library, or NULL */
};
/* The linked libraries; the array is static. */
const struct bw_sbom_component *bw_sbom_components(size_t *n);
/* CycloneDX 1.5 JSON of Bulwark and its components. */
BW_MUST_CHECK enum bw_rc bw_sbom_cyclonedx(struct json_t **out);

/* ---- OSV feed (osv.c; CONTROL: SUP-02) ---------------------------------------------------- */
/* Compares dotted versions numerically segment by segment (then text);
 * <0, 0, >0. */
int bw_version_cmp(const char *a, const char *b);
struct bw_osv_match {
    const char *advisory;  /* OSV id */
    const char *cve;       /* first CVE alias or NULL */
    const char *summary;   /* may be NULL */
    const char *severity;  /* critical|high|medium|low */
    const char *component;
    const char *version;
};
typedef enum bw_rc (*bw_osv_match_fn)(void *arg, const struct bw_osv_match *m);
/* Parses an OSV document (one advisory, an array of them, or {"vulns":[...]})
 * of len bytes and calls fn for every component of `comps` whose version is
 * affected (explicit versions, or ECOSYSTEM/SEMVER ranges with introduced,
 * fixed and last_affected events). *advisories counts the records read.
 * BW_ERR_INVALID for malformed JSON or shapes. */
BW_MUST_CHECK enum bw_rc bw_osv_scan(const char *text, size_t len,
                                     const struct bw_sbom_component *comps, size_t ncomps,
                                     bw_osv_match_fn fn, void *arg, size_t *advisories);
struct bw_scan_stats {
    size_t components, advisories, matches, opened;
};
/* Scans the feed file against the SBOM, opens findings (scope product,
 * due by severity) for new matches, stores the run. */
BW_MUST_CHECK enum bw_rc bw_vuln_scan(struct bw_store *st, const struct bw_config *cfg,
                                      const struct bw_audit_ctx *ctx, const char *actor,
                                      const char *feed_path, struct bw_scan_stats *out,
                                      char *why, size_t whylen);
/* The scheduled scan: when vuln.feed is set and the last run is older than
 * vuln.scan_interval. A relative feed path is inside data_dir. */
BW_MUST_CHECK enum bw_rc bw_vuln_scan_if_due(struct bw_store *st, const struct bw_config *cfg,
                                             const char *data_dir);

#endif
