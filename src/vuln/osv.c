/*
 * osv.c - the offline advisory feed scan (CONTROL: SUP-02): an OSV JSON
 * document (one advisory, an array of advisories, or {"vulns": [...]}) is
 * parsed with jansson and matched against the SBOM's components by package
 * name (the pkg-config module name, or a purl pkg:generic/<name>); a
 * component is affected when its version is listed in `versions` or falls
 * in a range (ECOSYSTEM or SEMVER events: introduced, fixed,
 * last_affected). Each new match opens a product-scope finding with the due
 * time of its severity; the run is stored with its counts.
 *
 * Trusts nothing in the feed: every member is type-checked, lengths are
 * capped, and text copied into findings is stripped of control characters.
 * Severity comes from database_specific.severity or the affected entry's
 * ecosystem_specific.severity; without either the finding is "high"
 * (documented: no CVSS vector arithmetic here).
 */
#include "audit/audit.h"
#include "store/store.h"
#include "sys/sys.h"
#include "vuln/vuln.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define FEED_MAX (32u << 20)

/* Segment by segment: digit runs numerically, other runs by byte. */
int bw_version_cmp(const char *a, const char *b)
{
    while (*a != '\0' || *b != '\0') {
        while (*a != '\0' && !isalnum((unsigned char)*a))
            a++;
        while (*b != '\0' && !isalnum((unsigned char)*b))
            b++;
        if (*a == '\0' || *b == '\0')
            return (*a != '\0') - (*b != '\0');
        bool da = isdigit((unsigned char)*a), db = isdigit((unsigned char)*b);
        if (da != db)
            return da ? 1 : -1; /* 1.0.1 > 1.0.rc1 */
        const char *ea = a, *eb = b;
        while (*ea != '\0' && (da ? isdigit((unsigned char)*ea) : isalpha((unsigned char)*ea)))
            ea++;
        while (*eb != '\0' && (db ? isdigit((unsigned char)*eb) : isalpha((unsigned char)*eb)))
            eb++;
        if (da) {
            while (*a == '0' && a + 1 < ea)
                a++;
            while (*b == '0' && b + 1 < eb)
                b++;
            if (ea - a != eb - b)
                return ea - a < eb - b ? -1 : 1;
        }
        size_t la = (size_t)(ea - a), lb = (size_t)(eb - b);
        int c = memcmp(a, b, la < lb ? la : lb);
        if (c != 0)
            return c < 0 ? -1 : 1;
        if (la != lb)
            return la < lb ? -1 : 1;
        a = ea;
        b = eb;
    }
    return 0;
}

static const char *jstr(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s != NULL && strlen(s) < 256 ? s : NULL;
}

/* OSV range semantics over sorted events. */
static bool in_range(const json_t *range, const char *v)
{
    const char *type = jstr(range, "type");
    json_t *events = json_object_get(range, "events");
    bool affected = false;
    size_t i;
    json_t *e;
    if (type == NULL || (strcmp(type, "ECOSYSTEM") != 0 && strcmp(type, "SEMVER") != 0) ||
        !json_is_array(events))
        return false;
    json_array_foreach(events, i, e) {
        const char *intro = jstr(e, "introduced"), *fixed = jstr(e, "fixed");
        const char *last = jstr(e, "last_affected");
        if (intro != NULL && (strcmp(intro, "0") == 0 || bw_version_cmp(v, intro) >= 0))
            affected = true;
        if (fixed != NULL && bw_version_cmp(v, fixed) >= 0)
            affected = false;
        if (last != NULL && bw_version_cmp(v, last) > 0)
            affected = false;
    }
    return affected;
}

static bool affects(const json_t *aff, const char *v)
{
    json_t *versions = json_object_get(aff, "versions"), *ranges = json_object_get(aff, "ranges");
    size_t i;
    json_t *x;
    json_array_foreach(versions, i, x) {
        if (json_is_string(x) && strcmp(json_string_value(x), v) == 0)
            return true;
    }
    json_array_foreach(ranges, i, x) {
        if (in_range(x, v))
            return true;
    }
    return false;
}

static const char *norm_severity(const char *s)
{
    if (s == NULL)
        return NULL;
    if (strcasecmp(s, "critical") == 0)
        return "critical";
    if (strcasecmp(s, "high") == 0 || strcasecmp(s, "important") == 0)
        return "high";
    if (strcasecmp(s, "medium") == 0 || strcasecmp(s, "moderate") == 0)
        return "medium";
    if (strcasecmp(s, "low") == 0)
        return "low";
    return NULL;
}

static bool names_component(const json_t *pkg, const char *name)
{
    const char *n = jstr(pkg, "name"), *purl = jstr(pkg, "purl");
    char want[300];
    snprintf(want, sizeof(want), "pkg:generic/%s", name);
    return (n != NULL && strcmp(n, name) == 0) ||
           (purl != NULL && strncmp(purl, want, strlen(want)) == 0 &&
            (purl[strlen(want)] == '\0' || purl[strlen(want)] == '@'));
}

static enum bw_rc advisory(const json_t *adv, const struct bw_sbom_component *comps,
                           size_t ncomps, bw_osv_match_fn fn, void *arg)
{
    const char *id = jstr(adv, "id");
    json_t *affected = json_object_get(adv, "affected"), *aliases = json_object_get(adv, "aliases");
    const char *cve = NULL;
    size_t i;
    json_t *x;
    if (id == NULL || id[0] == '\0' || !json_is_array(affected))
        return BW_ERR_INVALID;
    json_array_foreach(aliases, i, x) {
        const char *a = json_string_value(x);
        if (cve == NULL && a != NULL && strncmp(a, "CVE-", 4) == 0 && strlen(a) <= 20)
            cve = a;
    }
    if (cve == NULL && strncmp(id, "CVE-", 4) == 0 && strlen(id) <= 20)
        cve = id;
    const char *dbsev = norm_severity(jstr(json_object_get(adv, "database_specific"), "severity"));
    enum bw_rc rc = BW_OK;
    json_array_foreach(affected, i, x) {
        json_t *pkg = json_object_get(x, "package");
        if (!json_is_object(pkg))
            continue;
        const char *sev = dbsev != NULL ? dbsev
                                        : norm_severity(jstr(json_object_get(x, "ecosystem_specific"),
                                                             "severity"));
        for (size_t c = 0; rc == BW_OK && c < ncomps; c++) {
            if (!names_component(pkg, comps[c].name) || !affects(x, comps[c].version))
                continue;
            struct bw_osv_match m = {id, cve, jstr(adv, "summary"), sev ? sev : "high",
                                     comps[c].name, comps[c].version};
            rc = fn(arg, &m);
        }
    }
    return rc;
}

enum bw_rc bw_osv_scan(const char *text, size_t len, const struct bw_sbom_component *comps,
                       size_t ncomps, bw_osv_match_fn fn, void *arg, size_t *advisories)
{
    json_error_t jerr;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    json_t *list = doc;
    size_t i, n = 0;
    json_t *adv;
    enum bw_rc rc = BW_OK;
    if (doc == NULL)
        return BW_ERR_INVALID;
    if (json_is_object(doc) && json_object_get(doc, "vulns") != NULL)
        list = json_object_get(doc, "vulns");
    if (json_is_object(list)) {
        rc = advisory(list, comps, ncomps, fn, arg);
        n = 1;
    } else if (json_is_array(list)) {
        json_array_foreach(list, i, adv) {
            if (rc != BW_OK)
                break;
            rc = json_is_object(adv) ? advisory(adv, comps, ncomps, fn, arg) : BW_ERR_INVALID;
            n++;
        }
    } else {
        rc = BW_ERR_INVALID;
    }
    json_decref(doc);
    if (rc == BW_OK)
        *advisories = n;
    return rc;
}

/* ---- the scan ------------------------------------------------------------------------------ */

struct found {
    char ref[300];
    char title[BW_VULN_TEXT_MAX + 1];
    char cve[24];
    char severity[16];
    char component[64];
    char version[64];
};

struct collect {
    struct found *f;
    size_t n, cap;
};

/* Copies text without control characters, cut at a UTF-8 boundary. */
static void clean_copy(char *dst, size_t cap, const char *src)
{
    size_t n = 0;
    for (const char *p = src; *p != '\0' && n + 1 < cap; p++)
        dst[n++] = (unsigned char)*p < 0x20 || *p == 0x7f ? ' ' : *p;
    while (n > 0 && ((unsigned char)dst[n - 1] & 0xc0) == 0x80)
        n--; /* drop a trailing continuation run ... */
    if (n > 0 && ((unsigned char)dst[n - 1] & 0xc0) == 0xc0)
        n--; /* ... and its lead byte: a possibly cut character */
    dst[n] = '\0';
    if (!bw_utf8_valid(dst, n))
        dst[0] = '\0';
}

static enum bw_rc collect_fn(void *arg, const struct bw_osv_match *m)
{
    struct collect *c = arg;
    if (c->n == c->cap)
        return BW_ERR_TOOBIG;
    struct found *f = &c->f[c->n++];
    memset(f, 0, sizeof(*f));
    snprintf(f->ref, sizeof(f->ref), "osv:%s:%s", m->advisory, m->component);
    char title[BW_VULN_TEXT_MAX * 2];
    snprintf(title, sizeof(title), "%s in %s %s%s%s", m->advisory, m->component, m->version,
             m->summary ? ": " : "", m->summary ? m->summary : "");
    clean_copy(f->title, sizeof(f->title), title);
    if (f->title[0] == '\0')
        snprintf(f->title, sizeof(f->title), "advisory for %s", m->component);
    if (m->cve != NULL)
        snprintf(f->cve, sizeof(f->cve), "%s", m->cve);
    snprintf(f->severity, sizeof(f->severity), "%s", m->severity);
    snprintf(f->component, sizeof(f->component), "%s", m->component);
    snprintf(f->version, sizeof(f->version), "%s", m->version);
    return BW_OK;
}

struct scan_job {
    const struct bw_config *cfg;
    const struct bw_audit_ctx *ctx;
    const char *actor, *feed;
    struct collect *c;
    struct bw_scan_stats stats;
};

static bool cve_shape(const char *s)
{
    size_t n = strlen(s);
    if (n < 13 || s[8] != '-')
        return false;
    for (size_t i = 4; i < n; i++) {
        if (i != 8 && !isdigit((unsigned char)s[i]))
            return false;
    }
    return true;
}

static enum bw_rc scan_fn(struct bw_tx *tx, void *arg)
{
    struct scan_job *j = arg;
    char rid[BW_ID_LEN + 1];
    j->stats.opened = 0;
    enum bw_rc rc = BW_OK;
    for (size_t i = 0; rc == BW_OK && i < j->c->n; i++) {
        struct found *f = &j->c->f[i];
        char id[BW_ID_LEN + 1];
        struct bw_reg_err err;
        struct bw_vuln_new in = {f->title, f->component, f->version,
                                 f->cve[0] && cve_shape(f->cve) ? f->cve : NULL, f->severity,
                                 "product", 0, "scan", f->ref};
        rc = bw_vuln_add_tx(tx, j->cfg, j->ctx, j->actor, &in, id, &err);
        if (rc == BW_OK)
            j->stats.opened++;
        else if (rc == BW_ERR_EXISTS)
            rc = BW_OK; /* known from an earlier run */
    }
    bw_id_new(rid);
    struct bw_val p[] = {BW_VTEXT(rid),
                         BW_VINT(bw_time_now()),
                         BW_VTEXT(j->feed),
                         BW_VINT(j->stats.components),
                         BW_VINT(j->stats.advisories),
                         BW_VINT(j->stats.matches),
                         BW_VINT(j->stats.opened)};
    if (rc == BW_OK)
        rc = bw_tx_exec(tx, BW_STMT_SCAN_RUN_INSERT, p, BW_ARRAY_LEN(p), NULL);
    if (rc == BW_OK)
        rc = bw_audit_append(tx, j->ctx, j->actor, "vuln.scan", rid, BW_AUDIT_SUCCESS,
                             json_pack("{s:I, s:I, s:I, s:I}", "components",
                                       (json_int_t)j->stats.components, "advisories",
                                       (json_int_t)j->stats.advisories, "matches",
                                       (json_int_t)j->stats.matches, "opened",
                                       (json_int_t)j->stats.opened));
    return rc;
}

enum bw_rc bw_vuln_scan(struct bw_store *st, const struct bw_config *cfg,
                        const struct bw_audit_ctx *ctx, const char *actor, const char *feed_path,
                        struct bw_scan_stats *out, char *why, size_t whylen)
{
    size_t ncomps = 0, len = 0, nadv = 0;
    const struct bw_sbom_component *comps = bw_sbom_components(&ncomps);
    char *text = bw_malloc(FEED_MAX + 1);
    struct collect c = {bw_calloc(1000, sizeof(struct found)), 0, 1000};
    enum bw_rc rc = text != NULL && c.f != NULL ? BW_OK : BW_ERR_NOMEM;
    if (rc == BW_OK)
        rc = bw_sys_read_file(feed_path, text, FEED_MAX, &len, false, why, whylen);
    if (rc == BW_OK && (rc = bw_osv_scan(text, len, comps, ncomps, collect_fn, &c, &nadv)) != BW_OK)
        bw_why(why, whylen, "%s: not an OSV advisory document (or more than 1000 matches)",
               feed_path);
    struct scan_job j = {cfg, ctx, actor, feed_path, &c, {ncomps, nadv, c.n, 0}};
    if (rc == BW_OK)
        rc = bw_store_write(st, scan_fn, &j);
    bw_free(text);
    bw_free(c.f);
    if (rc == BW_OK && out != NULL)
        *out = j.stats;
    return rc;
}

struct last {
    bool found;
    int64_t at;
};

static enum bw_rc last_row(void *arg, const struct bw_row *row)
{
    struct last *l = arg;
    l->found = true;
    l->at = bw_row_int(row, 0);
    return BW_OK;
}

static enum bw_rc last_fn(struct bw_tx *tx, void *arg)
{
    return bw_tx_query(tx, BW_STMT_SCAN_RUN_LAST, NULL, 0, last_row, arg);
}

enum bw_rc bw_vuln_scan_if_due(struct bw_store *st, const struct bw_config *cfg,
                               const char *data_dir)
{
    static const struct bw_audit_ctx sys = {.remote = "-", .request_id = "-"};
    struct last l = {false, 0};
    char path[4096], why[512] = "";
    if (cfg->vuln_feed == NULL || cfg->vuln_feed[0] == '\0')
        return BW_OK;
    enum bw_rc rc = bw_store_read(st, last_fn, &l);
    if (rc != BW_OK || (l.found && bw_time_now() - l.at < cfg->vuln_scan_interval))
        return rc;
    if (cfg->vuln_feed[0] == '/')
        rc = snprintf(path, sizeof(path), "%s", cfg->vuln_feed) < (int)sizeof(path) ? BW_OK
                                                                                     : BW_ERR_TOOBIG;
    else
        rc = bw_sys_path(path, sizeof(path), data_dir, cfg->vuln_feed);
    if (rc == BW_OK)
        rc = bw_vuln_scan(st, cfg, &sys, "system", path, NULL, why, sizeof(why));
    if (rc != BW_OK && why[0] != '\0')
        bw_log(BW_LOG_ERROR, "vuln.scan", "%s", why);
    return rc;
}
