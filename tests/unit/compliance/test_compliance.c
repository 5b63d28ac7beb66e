/*
 * Unit tests for src/compliance on a real data directory built in a
 * temporary directory (keys, self-signed certificate, SQLite store at
 * db/bulwark.db, or PostgreSQL when BW_TEST_PG_URL names a fresh database):
 * the table against docs/COMPLIANCE.md and CONTROLS.md, configuration
 * checks with overrides (a weaker value fails naming key and value),
 * chmod'ed key and database files, accounts without MFA or with foreign
 * hashes, a real backup aged by the test clock, drill records, an overdue
 * vulnerability, an edited audit row, and stored assessments.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/audit.h"
#include "backup/backup.h"
#include "compliance/compliance.h"
#include "crypto/crypto.h"
#include "store/store.h"
#include "sys/sys.h"
#include "vuln/vuln.h"

static char dir[256], db[300], bk[300], bk2[300];
static struct bw_store *st;
static struct bw_keyring *kr;
static struct bw_config cfg;
static const char *pg;
static const struct bw_audit_ctx actx = {.remote = "127.0.0.1", .request_id = "test"};

static void path(char *out, size_t cap, const char *rel)
{
    assert_int_equal(bw_sys_path(out, cap, dir, rel), BW_OK);
}

static int setup(void **state)
{
    char why[256], p[300], k[300];
    struct bw_store_opts o = {.pool_size = 2, .busy_timeout_ms = 5000, .create = true};
    int v = 0;
    (void)state;
    pg = getenv("BW_TEST_PG_URL");
    snprintf(dir, sizeof(dir), "/tmp/bw-test-compliance-XXXXXX");
    if (mkdtemp(dir) == NULL || bw_crypto_init() != BW_OK || bw_config_init(&cfg) != BW_OK)
        return -1;
    json_set_alloc_funcs(bw_malloc, bw_free);
    snprintf(k, sizeof(k), "%s/keys", dir);
    snprintf(p, sizeof(p), "%s/db", dir);
    if (bw_sys_mkdir_private(k, why, sizeof(why)) != BW_OK ||
        bw_sys_mkdir_private(p, why, sizeof(why)) != BW_OK ||
        bw_keyring_generate(k, why, sizeof(why)) != BW_OK ||
        bw_keyring_load(k, &kr, why, sizeof(why)) != BW_OK)
        return -1;
    snprintf(p, sizeof(p), "%s/tls", dir);
    char cert[320], key[320];
    snprintf(cert, sizeof(cert), "%s/cert.pem", p);
    snprintf(key, sizeof(key), "%s/key.pem", p);
    if (bw_sys_mkdir_private(p, why, sizeof(why)) != BW_OK ||
        bw_tls_generate_selfsigned(cert, key, "localhost", 365, why, sizeof(why)) != BW_OK)
        return -1;
    snprintf(p, sizeof(p), "%s/bulwark.conf", dir);
    if (bw_sys_write_private(p, "# test\n", 7, false, why, sizeof(why)) != BW_OK)
        return -1;
    snprintf(db, sizeof(db), "%s/db/bulwark.db", dir);
    snprintf(bk, sizeof(bk), "%s/backups", dir);
    snprintf(bk2, sizeof(bk2), "%s/copy", dir);
    if (mkdir(bk, 0700) != 0 || mkdir(bk2, 0700) != 0)
        return -1;
    if (bw_store_open(pg != NULL && pg[0] ? pg : db, &o, &st, why, sizeof(why)) != BW_OK ||
        bw_store_migrate(st, &v) != BW_OK)
        return -1;
    if (pg != NULL && pg[0]) {
        char a[600];
        snprintf(a, sizeof(a), "database.url=%s", pg);
        if (bw_config_set_arg(&cfg, a, &(struct bw_config_err){{0}}) != BW_OK)
            return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    char cmd[300];
    (void)state;
    bw_store_close(st);
    bw_keyring_free(kr);
    bw_config_cleanup(&cfg);
    bw_time_set_offset(0);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void set(const char *assignment)
{
    struct bw_config_err err = {{0}};
    assert_int_equal(bw_config_set_arg(&cfg, assignment, &err), BW_OK);
}

/* Runs one control; returns its status text and copies the detail. */
static const char *run1(const char *id, char *detail, size_t cap, json_t **evidence)
{
    static char status[32];
    const char *only[] = {id};
    json_t *run = NULL;
    struct bw_compliance_env env = {.cfg = &cfg, .store = st, .kr = kr, .data_dir = dir};
    assert_int_equal(bw_compliance_run(&env, only, 1, &run), BW_OK);
    json_t *it = json_array_get(json_object_get(run, "items"), 0);
    assert_non_null(it);
    assert_string_equal(json_string_value(json_object_get(it, "id")), id);
    snprintf(status, sizeof(status), "%s", json_string_value(json_object_get(it, "status")));
    if (detail != NULL)
        snprintf(detail, cap, "%s", json_string_value(json_object_get(it, "detail")));
    if (evidence != NULL)
        *evidence = json_incref(json_object_get(it, "evidence"));
    json_decref(run);
    return status;
}

static void expect(const char *id, const char *status, const char *detail_has)
{
    char d[400];
    const char *got = run1(id, d, sizeof(d), NULL);
    if (strcmp(got, status) != 0 || (detail_has != NULL && strstr(d, detail_has) == NULL))
        fail_msg("%s: got %s (%s), want %s containing '%s'", id, got, d, status,
                 detail_has ? detail_has : "");
}

/* Inverts one byte of the first manifest under the backup target. */
static void flip_manifest_byte(long at)
{
    char cmd[400], f[512];
    snprintf(cmd, sizeof(cmd), "ls '%s'/backups/*.manifest | head -1", bk);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(f, sizeof(f), p));
    assert_int_equal(pclose(p), 0);
    f[strcspn(f, "\n")] = '\0';
    FILE *m = fopen(f, "r+b");
    assert_non_null(m);
    assert_int_equal(fseek(m, at, SEEK_SET), 0);
    int c = fgetc(m);
    assert_true(c != EOF);
    assert_int_equal(fseek(m, at, SEEK_SET), 0);
    assert_int_equal(fputc(c ^ 0xff, m), c ^ 0xff);
    assert_int_equal(fclose(m), 0);
}

/* ---- the table ------------------------------------------------------------------ */

static void ids_of(const char *file, const char *prefix_re_hint, char ***out, size_t *n)
{
    FILE *f = fopen(file, "re");
    char line[4096];
    (void)prefix_re_hint;
    assert_non_null(f);
    *out = NULL;
    *n = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        /* rows look like "| ID | ..." where ID is LETTERS-DIGITS */
        if (strncmp(line, "| ", 2) != 0)
            continue;
        size_t k = 2, letters = 0, digits = 0;
        while (line[k] >= 'A' && line[k] <= 'Z')
            k++, letters++;
        if (letters == 0 || line[k++] != '-')
            continue;
        while (line[k] >= '0' && line[k] <= '9')
            k++, digits++;
        if (digits == 0 || line[k] != ' ')
            continue;
        *out = realloc(*out, (*n + 1) * sizeof(char *));
        assert_non_null(*out);
        (*out)[(*n)++] = strndup(line + 2, k - 2);
    }
    fclose(f);
}

static void same_ids(const char *file)
{
    char **ids = NULL;
    size_t n = 0, nt = 0;
    const struct bw_control *t = bw_compliance_controls(&nt);
    ids_of(file, NULL, &ids, &n);
    if (n != nt)
        fail_msg("%s lists %zu controls, the code table %zu", file, n, nt);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(ids[i], t[i].id) != 0)
            fail_msg("%s row %zu is %s, the code table has %s", file, i + 1, ids[i], t[i].id);
        free(ids[i]);
    }
    free(ids);
}

static void test_table(void **state)
{
    (void)state;
    size_t n = 0;
    const struct bw_control *t = bw_compliance_controls(&n);
    assert_true(n > 100);
    for (size_t i = 0; i < n; i++) {
        assert_non_null(t[i].check);
        assert_true(t[i].title[0] != '\0' && t[i].source[0] != '\0');
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(t[i].id, t[j].id);
        assert_ptr_equal(bw_compliance_find(t[i].id), &t[i]);
    }
    assert_null(bw_compliance_find("AUTH-99"));
    same_ids(BW_SOURCE_DIR "/docs/COMPLIANCE.md");
    if (access(BW_SOURCE_DIR "/../shared/CONTROLS.md", R_OK) == 0)
        same_ids(BW_SOURCE_DIR "/../shared/CONTROLS.md");
    const char *only[] = {"NOPE-1"};
    json_t *run = NULL;
    struct bw_compliance_env env = {.cfg = &cfg, .store = st, .kr = kr, .data_dir = dir};
    assert_int_equal(bw_compliance_run(&env, only, 1, &run), BW_ERR_NOTFOUND);
}

/* ---- configuration against the policy ------------------------------------------- */

static void test_config(void **state)
{
    (void)state;
    static const struct {
        const char *id, *set, *status, *detail;
    } cases[] = {
        {"AUTH-03", NULL, "pass", NULL},
        {"AUTH-03", "password.min_length=6", "fail", "password.min_length = 6 is weaker"},
        {"AUTH-03", "password.min_length=8", "pass", NULL},
        {"AUTH-03", "password.reject_common=no", "fail", "password.reject_common = no"},
        {"AUTH-03", "password.reject_common=yes", "pass", NULL},
        {"AUTH-04", "password.require_digit=no", "fail", "password.require_digit = no"},
        {"AUTH-04", "password.profile=modern", "warning", "decision C2"},
        {"AUTH-05", NULL, "warning", "no periodic expiry"},
        {"AUTH-04", "password.profile=policy", "fail", "require_digit"},
        {"AUTH-04", "password.require_digit=yes", "pass", NULL},
        {"AUTH-05", "password.max_age=120d", "fail", "password.max_age = 120d"},
        {"AUTH-05", "password.max_age=90d", "pass", NULL},
        {"AUTH-06", "password.history=3", "fail", "password.history = 3"},
        {"AUTH-06", "password.history=5", "pass", NULL},
        {"AUTH-07", "lockout.max_failures=10", "fail", "lockout.max_failures = 10"},
        {"AUTH-07", "lockout.duration=60s", "fail", "lockout.duration = 1m"},
        {"AUTH-07", "lockout.max_failures=5", "fail", NULL},
        {"AUTH-07", "lockout.duration=15m", "pass", NULL},
        {"SESS-01", "session.idle_timeout=2h", "fail", "session.idle_timeout = 2h"},
        {"SESS-01", "session.idle_timeout=30m", "pass", NULL},
        {"SESS-02", "session.max_concurrent=10", "fail", "session.max_concurrent = 10"},
        {"SESS-02", "session.max_concurrent=3", "pass", NULL},
        {"DATA-06", "retention.audit=1y", "fail", "retention.audit = 1y"},
        {"DATA-06", "retention.audit=2y", "pass", NULL},
        {"DATA-07", "retention.full_backups=30d", "fail", "retention.full_backups"},
        {"DATA-07", "retention.full_backups=1y", "warning", "decision C6"},
        {"DATA-07", "retention.full_backups=90d", "pass", NULL},
        {"BCK-03", "backup.full=monthly", "fail", "backup.full (interval) = 30d"},
        {"BCK-03", "backup.full=weekly", "pass", NULL},
        {"BCK-04", "backup.incremental=off", "fail", "= off"},
        {"BCK-04", "backup.incremental=daily", "pass", NULL},
        {"VUL-07", NULL, "fail", "placeholder"},
        {"VUL-07", "server.security_contact=mailto:security@bulwark.test", "warning",
         "security_policy"},
        {"INC-05", NULL, "fail", "notify.emergency_phone is empty"},
        {"INC-05", "notify.security_contacts=oncall@bulwark.test", "fail", "emergency_phone"},
        {"INC-05", "notify.emergency_phone=+49 30 1234567", "pass", NULL},
        {"G-05", "incident.lockout_wave_threshold=100", "fail", "lockout_wave_threshold = 100"},
        {"G-05", "incident.lockout_wave_threshold=20", "pass", NULL},
        {"INC-01", "incident.p2_response=8h", "fail", "incident.p2_response = 8h"},
        {"INC-01", "incident.p2_response=4h", "pass", NULL},
        {"G-01", "incident.nis2_early_warning=48h", "fail", "nis2_early_warning = 2d"},
        {"G-01", "incident.nis2_early_warning=24h", "pass", NULL},
        {"BCK-07", "incident.rpo=48h", "fail", NULL},
    };
    for (size_t i = 0; i < BW_ARRAY_LEN(cases); i++) {
        if (cases[i].set != NULL)
            set(cases[i].set);
        expect(cases[i].id, cases[i].status, cases[i].detail);
    }
    set("incident.rpo=24h");
    expect("CRY-04", pg != NULL && pg[0] ? "warning" : "not_applicable", NULL);
}

/* ---- files ------------------------------------------------------------------------ */

static void test_files(void **state)
{
    (void)state;
    char p[400];
    if (pg == NULL || !pg[0])
        expect("AC-02", "pass", NULL);
    expect("G-09", "warning", "rotation");
    path(p, sizeof(p), "keys/master.key");
    assert_int_equal(chmod(p, 0644), 0);
    expect("AC-02", "fail", "keys/master.key is mode 0644");
    expect("G-09", "fail", "keys/master.key is mode 0644");
    assert_int_equal(chmod(p, 0600), 0);
    path(p, sizeof(p), "keys");
    assert_int_equal(chmod(p, 0750), 0);
    expect("AC-02", "fail", "keys is mode 0750");
    assert_int_equal(chmod(p, 0700), 0);
    if (pg == NULL || !pg[0]) {
        assert_int_equal(chmod(db, 0640), 0);
        expect("AC-02", "fail", "db/bulwark.db is mode 0640");
        assert_int_equal(chmod(db, 0600), 0);
        expect("AC-02", "pass", NULL);
    }
    expect("CRY-02", "pass", NULL);
    path(p, sizeof(p), "tls/key.pem");
    assert_int_equal(chmod(p, 0644), 0);
    expect("CRY-02", "fail", "tls/key.pem is mode 0644");
    assert_int_equal(chmod(p, 0600), 0);
    bw_time_set_offset(400 * 86400); /* past the certificate's 365 days */
    expect("CRY-02", "fail", "expired");
    bw_time_set_offset(340 * 86400);
    expect("CRY-02", "warning", "less than 30 days");
    bw_time_set_offset(0);
    char why[256] = "";
    expect("G-03", bw_audit_clock_synced(why, sizeof(why)) ? "pass" : "fail", NULL);
    expect("G-14", "pass", NULL);
    const char *s = run1("CRY-05", NULL, 0, NULL);
    assert_true(strcmp(s, "pass") == 0 || strcmp(s, "warning") == 0);
}

/* ---- accounts ------------------------------------------------------------------------ */

struct user_in {
    const char *email, *hash;
    int admin;
    int64_t created, expires;
    int must_change;
};

static enum bw_rc insert_user(struct bw_tx *tx, void *arg)
{
    const struct user_in *u = arg;
    char id[BW_ID_LEN + 1];
    bw_id_new(id);
    struct bw_val p[] = {
        BW_VTEXT(id),        BW_VTEXT(u->email),  BW_VINT(u->admin),       BW_VTEXT(u->hash),
        BW_VINT(u->created), BW_VINT(u->expires), BW_VINT(u->must_change), BW_VINT(u->created)};
    return bw_tx_exec(tx, BW_STMT_USER_INSERT, p, BW_ARRAY_LEN(p), NULL);
}

static const char *good_hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$"
                               "aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";

static void test_accounts(void **state)
{
    (void)state;
    int64_t now = bw_time_now();
    expect("AUTH-08", "pass", NULL);
    expect("AUTH-02", "pass", NULL);
    struct user_in admin = {"root@bulwark.test", good_hash, 1, now, now + 86400, 0};
    assert_int_equal(bw_store_write(st, insert_user, &admin), BW_OK);
    expect("AUTH-02", "fail", "1 of 1 platform administrator(s) have no second factor");
    expect("AC-05", "fail", "have no second factor");
    struct user_in old = {
        "old@bulwark.test", "$2b$12$abcdefghijklmnopqrstuv", 0, now - 100 * 86400, now + 86400, 0};
    assert_int_equal(bw_store_write(st, insert_user, &old), BW_OK);
    expect("AUTH-08", "fail", "1 stored password(s) not Argon2id");
    expect("AUTH-01", "fail", "without an Argon2id password");
    expect("G-07", "fail", "1 active account(s) unused for more than 90 days");
    struct user_in weak = {"weak@bulwark.test",
                           "$argon2id$v=19$m=4096,t=1,p=1$c2FsdHNhbHQ$aGFzaA",
                           0,
                           now,
                           now + 7 * 86400,
                           1};
    assert_int_equal(bw_store_write(st, insert_user, &weak), BW_OK);
    expect("AUTH-08", "fail", "1 below the minimum parameters");
    expect("G-08", "fail", "1 initial password(s) valid for more than 24 hours");
    expect("AC-04", "pass", NULL);
    expect("G-06", "pass", NULL);
}

/* ---- registers -------------------------------------------------------------------------- */

static void test_registers(void **state)
{
    (void)state;
    char id[BW_ID_LEN + 1];
    struct bw_reg_err err;
    memset(&err, 0, sizeof(err));
    expect("VUL-01", "pass", NULL);
    struct bw_vuln_new v = {.title = "overflow in parser",
                            .component = "sqlite3",
                            .severity = "critical",
                            .scope = "product",
                            .source = "manual"};
    assert_int_equal(bw_vuln_add(st, &cfg, &actx, "cli", &v, id, &err), BW_OK);
    expect("VUL-01", "pass", NULL);
    expect("VUL-05", "pass", NULL);
    bw_time_set_offset(25 * 3600);
    expect("VUL-01", "fail", "1 open finding(s) past due");
    expect("VUL-05", "pass", NULL); /* infrastructure: another clock */
    bw_time_set_offset(0);
    expect("SUP-01", "pass", NULL);
    expect("SUP-02", "fail", "vuln.feed is empty");
}

/* ---- the audit chain --------------------------------------------------------------------- */

static enum bw_rc append_some(struct bw_tx *tx, void *arg)
{
    (void)arg;
    enum bw_rc rc = BW_OK;
    for (int i = 0; rc == BW_OK && i < 5; i++)
        rc = bw_audit_append(tx, &actx, "cli", "test.event", "t", BW_AUDIT_SUCCESS, NULL);
    return rc;
}

static void test_audit(void **state)
{
    (void)state;
    struct bw_audit_settings as = {.data_dir = dir,
                                   .checkpoint_interval = 60,
                                   .checkpoint_events = 1000,
                                   .retention = 730 * 86400,
                                   .syslog = ""};
    char p[400];
    assert_int_equal(bw_store_write(st, append_some, NULL), BW_OK);
    expect("LOG-06", "warning", "no signed checkpoint yet");
    path(p, sizeof(p), "audit");
    (void)mkdir(p, 0700);
    assert_int_equal(bw_audit_checkpoint(st, kr, &as, true, NULL), BW_OK);
    expect("LOG-06", "pass", NULL);
    assert_int_equal(bw_store_write(st, append_some, NULL), BW_OK);
    if (pg != NULL && pg[0])
        return; /* the edit below uses the SQLite file directly */
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h,
                                  "UPDATE bw_audit_events SET target = 'edited' WHERE seq = "
                                  "(SELECT max(seq) FROM bw_audit_events)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(h);
    expect("LOG-06", "fail", "the audit trail is broken at event");
}

/* ---- backups ------------------------------------------------------------------------- */

static void take_backup(bool copy)
{
    char why[512] = "", spec[320];
    struct bw_backup_target *t = NULL, *c = NULL;
    json_t *out = NULL;
    struct bw_backup_env env = {
        .cfg = &cfg, .store = st, .kr = kr, .data_dir = dir, .actor = "cli"};
    snprintf(spec, sizeof(spec), "dir:%s", bk);
    assert_int_equal(bw_backup_target_open(spec, dir, &t, why, sizeof(why)), BW_OK);
    snprintf(spec, sizeof(spec), "dir:%s", bk2);
    if (copy)
        assert_int_equal(bw_backup_target_open(spec, dir, &c, why, sizeof(why)), BW_OK);
    enum bw_rc rc = bw_backup_run(&env, t, c, BW_BACKUP_FULL, &out, why, sizeof(why));
    if (rc != BW_OK)
        fail_msg("backup: %s (%s)", why, bw_rc_str(rc));
    json_decref(out);
    bw_backup_target_close(t);
    bw_backup_target_close(c);
}

struct drill_in {
    const char *text;
};

static enum bw_rc put_drill(struct bw_tx *tx, void *arg)
{
    return bw_store_meta_put(tx, "backup.last_drill", ((struct drill_in *)arg)->text);
}

static void test_backups(void **state)
{
    (void)state;
    char a[400];
    snprintf(a, sizeof(a), "backup.target=dir:%s/missing", dir);
    set(a);
    expect("BCK-01", "fail", "no backup can be listed");
    snprintf(a, sizeof(a), "backup.target=dir:%s", bk);
    set(a);
    expect("BCK-01", "fail", "no readable backup");
    expect("CRY-03", "not_applicable", NULL);
    if (pg != NULL && pg[0]) /* a PostgreSQL snapshot needs pg_dump: covered by api_pg */
        return;
    take_backup(false);
    expect("BCK-01", "pass", NULL);
    expect("BCK-07", "pass", NULL);
    expect("CRY-03", "pass", NULL);
    expect("BCK-02", "fail", "on the same file system as the data directory");
    snprintf(a, sizeof(a), "backup.copy_target=dir:%s", bk2);
    set(a);
    expect("BCK-02", "fail", "copy_target is on the same file system");
    bw_time_set_offset(25 * 3600);
    expect("BCK-01", "fail", "older than 24h");
    expect("BCK-07", "fail", "restore point is older than 24h");
    bw_time_set_offset(0);
    /* a damaged manifest no longer authenticates: byte 40 is inverted, so the
     * file always changes (writing a fixed byte did nothing when it was already
     * that byte) */
    flip_manifest_byte(40);
    expect("CRY-03", "fail", "do not authenticate");
    /* the drill record */
    expect("BCK-06", "fail", "no restore drill recorded");
    char now[21], text[300];
    bw_time_format(bw_time_now(), now);
    snprintf(text, sizeof(text), "{\"result\":\"ok\",\"at\":\"%s\",\"rto_ms\":1200}", now);
    struct drill_in d = {text};
    assert_int_equal(bw_store_write(st, put_drill, &d), BW_OK);
    expect("BCK-06", "pass", NULL);
    expect("BCK-08", "pass", NULL);
    snprintf(text, sizeof(text), "{\"result\":\"ok\",\"at\":\"%s\",\"rto_ms\":%lld}", now,
             5LL * 3600 * 1000);
    assert_int_equal(bw_store_write(st, put_drill, &d), BW_OK);
    expect("BCK-08", "fail", "longer than the 4h RTO");
    bw_time_set_offset(40 * 86400);
    expect("BCK-06", "warning", "older than 30 days");
    bw_time_set_offset(0);
    expect("G-10", "fail", "no backup verification recorded");
}

/* ---- stored assessments --------------------------------------------------------------- */

static enum bw_rc count_event(void *arg, const struct bw_audit_event *ev)
{
    assert_int_equal(ev->target.len, BW_ID_LEN);
    (*(int *)arg)++;
    return BW_OK;
}

static void test_assessments(void **state)
{
    (void)state;
    struct bw_compliance_env env = {.cfg = &cfg, .store = st, .kr = kr, .data_dir = dir};
    json_t *run = NULL, *h = NULL, *one = NULL;
    char id[BW_ID_LEN + 1];
    expect("G-11", "warning", "this is the first");
    assert_int_equal(bw_compliance_run(&env, NULL, 0, &run), BW_OK);
    size_t n = 0;
    (void)bw_compliance_controls(&n);
    assert_int_equal(json_array_size(json_object_get(run, "items")), n);
    assert_true(json_is_boolean(json_object_get(run, "failed")));
    assert_int_equal(bw_compliance_record(st, &actx, "cli", "test", run, id), BW_OK);
    assert_int_equal(bw_compliance_record(st, &actx, "cli", "test", run, NULL), BW_OK);
    json_decref(run);
    expect("G-11", "pass", NULL);
    assert_int_equal(bw_compliance_history(st, 0, 1, &h), BW_OK);
    assert_int_equal(json_array_size(json_object_get(h, "items")), 1);
    const char *cur = json_string_value(json_object_get(h, "next_cursor"));
    assert_non_null(cur);
    uint64_t c = 0;
    assert_int_equal(bw_parse_u64(cur, INT64_MAX, &c), BW_OK);
    json_decref(h);
    assert_int_equal(bw_compliance_history(st, (int64_t)c, 10, &h), BW_OK);
    assert_int_equal(json_array_size(json_object_get(h, "items")), 1);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(h, "items"), 0), "id")),
        id);
    json_decref(h);
    assert_int_equal(bw_compliance_assessment(st, id, &one), BW_OK);
    assert_int_equal(json_array_size(json_object_get(one, "items")), n);
    json_decref(one);
    assert_int_equal(bw_compliance_assessment(st, "0000000000000000000000000z", &one),
                     BW_ERR_NOTFOUND);
    bw_time_set_offset(3 * 86400);
    expect("G-11", "fail", "older than twice compliance.interval");
    bw_time_set_offset(0);
    struct bw_audit_filter f = {.action = "compliance.assessed", .limit = 10};
    int count = 0;
    assert_int_equal(bw_audit_search(st, &f, count_event, &count), BW_OK);
    assert_int_equal(count, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),     cmocka_unit_test(test_config),
        cmocka_unit_test(test_files),     cmocka_unit_test(test_accounts),
        cmocka_unit_test(test_registers), cmocka_unit_test(test_audit),
        cmocka_unit_test(test_backups),   cmocka_unit_test(test_assessments),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
