/*
 * cli.c - argument handling and the command table (STYLE rule 7). Global
 * options come before the command; each command parses its own options.
 * Errors are one line on stderr ("bulwark: what: why"); bw_rc becomes an
 * exit status only in exit_status().
 */
#include "cli/cli_int.h"
#include "crypto/crypto.h"
#include "store/store.h"
#include "sys/sys.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const struct bw_cli_cmd commands[] = {
    {"init", "create a new data directory (keys, certificate, configuration, schema)",
     "Options:\n"
     "  --database URL     use PostgreSQL instead of the embedded SQLite store\n"
     "                     (postgresql://…?sslmode=require or stronger)\n"
     "  --hostname NAME    host name for the self-signed certificate (default localhost)\n"
     "  --listen ADDR      listen address written to bulwark.conf (default 127.0.0.1:8443)\n"
     "Refuses to touch an existing data directory.\n",
     bw_cmd_init},
    {"serve", "run the HTTPS server",
     "Options:\n"
     "  --listen ADDR      override server.listen (ADDRESS:PORT)\n"
     "  --user USER        when started as root: drop to USER after binding and loading keys\n"
     "Stops gracefully on SIGTERM or SIGINT.\n",
     bw_cmd_serve},
    {"user", "manage user accounts",
     "Subcommands:\n"
     "  user add --email E [--password-file F] [--platform-admin]\n"
     "                     create a user with an initial password (from F, or generated and\n"
     "                     printed once) that expires in 24 hours and must be changed\n"
     "  user list          list users\n"
     "  user show E        one user's state: status, locks, password expiry, MFA, recovery\n"
     "                     codes left (with --json as one JSON object); never secrets\n"
     "  user lock E | unlock E | disable E | enable E\n"
     "                     lock/disable also end every session of the user; unlock also\n"
     "                     clears a lock-out of one-time codes\n"
     "  user reset-mfa E   clear the user's TOTP second factor and recovery codes and end\n"
     "                     every session of the user (they enrol again at next login)\n"
     "  user set-role E --platform-admin yes|no\n"
     "                     grant or withdraw platform administration (ends the user's\n"
     "                     sessions); refused for members of an organisation\n"
     "  user set-role E --org ORG --role owner|admin|editor|viewer|auditor|none\n"
     "                     add the user to ORG, change the role, or remove (none)\n",
     bw_cmd_user},
    {"migrate", "apply pending database migrations",
     "Applies the numbered schema migrations this binary carries and prints the version.\n",
     bw_cmd_migrate},
    {"config", "print the effective configuration (secrets masked)",
     "Prints every key after applying bulwark.conf, BULWARK_<SECTION>_<KEY> variables\n"
     "and -o flags; exits 1 naming file, line and key if any of them is invalid.\n",
     bw_cmd_config},
    /* tenants */
    {"org", "manage organisations (tenants)",
     "Subcommands:\n"
     "  org create --name N --owner E\n"
     "                     create an organisation whose first owner is the user E\n"
     "                     (not a platform administrator)\n"
     "  org list           list organisations\n"
     "  org show ORG       one organisation and its members with their roles\n"
     "Member roles are changed with 'bulwark user set-role E --org ORG --role R'.\n",
     bw_cmd_org},
    {"apikey", "manage API keys of organisations",
     "Subcommands:\n"
     "  apikey create --org ORG --role R --allow CIDR[,CIDR...] [--expires DATE] [--name N]\n"
     "                     a key for machines of organisation ORG with role editor, viewer\n"
     "                     or auditor, usable only from the listed IPv4/IPv6 networks,\n"
     "                     until DATE (YYYY-MM-DD or RFC 3339 UTC); printed once\n"
     "  apikey list [--org ORG]\n"
     "                     keys (never their secrets), with last use\n"
     "  apikey revoke ID   the key stops working at once\n",
     bw_cmd_apikey},
    /* audit trail (issue 5) */
    {"audit", "verify, search and export the tamper-evident audit trail",
     "Subcommands:\n"
     "  audit verify       check the chain, archives, signed checkpoints and head; exit 1\n"
     "                     naming the first bad event when anything was modified, deleted,\n"
     "                     inserted, reordered or truncated (the result is itself an event)\n"
     "  audit verify --archive FILE --pubkey KEY\n"
     "                     check one archive file anywhere with only the public key\n"
     "                     (keys/audit-signing.pub)\n"
     "  audit search [--actor A] [--action A] [--target T] [--since T] [--until T]\n"
     "               [--limit N] [--cursor SEQ]\n"
     "                     matching events, newest first, one JSON line each\n"
     "  audit export [--format jsonl|syslog] [--since T]\n"
     "                     every live event, oldest first (syslog: RFC 5424, one per line)\n"
     "  audit checkpoint   sign a checkpoint of the chain head now\n"
     "  audit retention [--max-events N]\n"
     "                     move events older than retention.audit into signed, encrypted\n"
     "                     archives (bulwark serve does this hourly)\n"
     "  audit clock        is the system clock synchronised? (exit 1 when not)\n"
     "Times are RFC 3339 UTC. Nothing here edits or deletes an event.\n",
     bw_cmd_audit},
    /* incidents, vulnerabilities, SBOM (issue 7) */
    {"incident", "incidents: open, steps, assessment, clocks, containment, reports",
     "Subcommands (ID = incident id; output is JSON):\n"
     "  incident open --title T --severity P1..P4 [--aware-at RFC3339] [--significant yes|no]\n"
     "                [--personal-data yes|no] [--note N]\n"
     "  incident list | show ID | overdue | notifications\n"
     "  incident transition ID --to STATUS --note N [--root-cause T --lessons T]\n"
     "                     statuses in order: detected contained investigating remediated\n"
     "                     reported closed; closing needs root cause and lessons learned\n"
     "  incident assess ID --body '{\"significant\":true,\"facts\":{...}}'\n"
     "  incident submit ID --kind K --content TEXT [--delay-reason T]\n"
     "                     K: nis2_early_warning nis2_notification nis2_intermediate nis2_final\n"
     "                        gdpr_authority gdpr_subjects\n"
     "  incident contain ID --action revoke_sessions|disable_account --user EMAIL\n"
     "  incident contain ID --action read_only --enabled yes|no\n"
     "  incident contain ID --action revoke_org_apikeys|revoke_org_sessions --org ORG_ID\n"
     "  incident report ID --kind gdpr_authority|nis2_early_warning|nis2_notification\n"
     "  incident detect | sweep | deliver\n"
     "                     one round of the serve worker: detection rules, clocks, delivery\n"
     "  incident review | reviews\n"
     "                     run the recurring-incident review of the last quarter (null when\n"
     "                     it exists) | list the stored reviews\n",
     bw_cmd_incident},
    {"vuln", "vulnerabilities: register, triage, close, feed scan",
     "Subcommands (ID = vulnerability id; output is JSON):\n"
     "  vuln add --title T --component C --severity critical|high|medium|low\n"
     "           [--scope product|infrastructure] [--version V] [--cve CVE-…] [--found-at T]\n"
     "  vuln list | show ID\n"
     "  vuln rate ID --severity S [--scope product|infrastructure]\n"
     "  vuln close ID --fixed-release R | --exception TEXT\n"
     "  vuln report ID     open a researcher's sealed report (needs the keys)\n"
     "  vuln scan --feed FILE\n"
     "                     match the SBOM against an OSV advisory file; opens findings\n",
     bw_cmd_vuln},
    {"sbom", "print the software bill of materials (CycloneDX 1.5 JSON)",
     "Options:\n"
     "  --format cyclonedx  the only format\n"
     "Lists the libraries this binary was built against with the exact versions pinned in\n"
     "cmake/deps.lock, and the versions the loaded libraries report.\n",
     bw_cmd_sbom},
    /* backups (issue 6) */
    {"backup", "encrypted backups: run, list, verify, restore (also to a point in time), drill, "
               "prune",
     "Subcommands:\n"
     "  backup run [--full|--incremental] [--copy-to TARGET]\n"
     "                     back up the whole store (default incremental: only chunks the\n"
     "                     previous backup lacks); --copy-to writes a second copy and reads\n"
     "                     it back (off-site)\n"
     "  backup list        complete backups, oldest first\n"
     "  backup verify [NAME]\n"
     "                     re-read every chunk (and log segment): authentication, structure,\n"
     "                     content; names the first damaged object\n"
     "  backup restore --to DIR [--at RFC3339 | --backup NAME] [--database URL]\n"
     "                     build a NEW data directory (keys copied from this one); --at\n"
     "                     replays the change log up to that second; PostgreSQL backups\n"
     "                     restore into the EMPTY database --database\n"
     "  backup drill       restore the latest point into a scratch directory, check it,\n"
     "                     record RPO and RTO as evidence, remove it\n"
     "  backup prune       apply [retention] full_backups, incremental_backups, backup_log\n"
     "  backup restore --to DIR --target SPEC --recovery-kit FILE [--passphrase-file F]\n"
     "                     on a new machine: keys from the recovery kit, no data directory\n"
     "                     needed (docs/RESTORE.md)\n"
     "[backup] copy_target (or --copy-to): each backup is copied there and read back.\n"
     "Options: --target SPEC overrides [backup] target (dir:/PATH or sftp://USER@HOST/PATH).\n",
     bw_cmd_backup},
    /* records feature */
    {"key", "rotate the master key of record data; the key inventory; a recovery kit",
     "Subcommands:\n"
     "  key rotate         write a new master key version (keys/master-N.key) and rewrap\n"
     "                     every organisation key under it, audited as key.rotated; safe\n"
     "                     while `bulwark serve` runs. Older versions stay, retired.\n"
     "  key list           the key inventory: kind, scope, version, activated, retired,\n"
     "                     destroyed (with --json as an array); never key material\n"
     "  key export-recovery [--passphrase-file F] [--output FILE]\n"
     "                     print (or write, 0600) a recovery kit: the master key and the\n"
     "                     audit-signing key sealed under a passphrase (Argon2id), with what\n"
     "                     a restore on a new machine needs; the passphrase is read from F\n"
     "                     or asked twice on the terminal (at least 12 characters)\n",
     bw_cmd_key},
    /* compliance (check) */
    {"check", "run every control check against the live installation",
     "Options:\n"
     "  --control ID[,ID...]  run only these controls (e.g. AUTH-03,BCK-01)\n"
     "  --json                the whole result as one JSON object\n"
     "Each control of the catalogue (docs/COMPLIANCE.md) is checked against the effective\n"
     "configuration, the data directory, the store, the backup target and the clock, and\n"
     "reported as pass, fail, warning, not_applicable, error or not_checked with its\n"
     "evidence. A full run is stored as a dated assessment (GET /api/v1/compliance/history).\n"
     "Exit status 1 when any control fails or its check could not run; warnings do not fail.\n",
     bw_cmd_check},
};

void bw_cli_error(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    for (char *p = msg; *p != '\0'; p++) {
        if (*p == '\n' || *p == '\r')
            *p = ' '; /* one line, always */
    }
    fprintf(stderr, "bulwark: %s\n", msg);
}

enum bw_rc bw_cli_usage(struct bw_cli *cli, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    cli->usage_error = true;
    if (cli->cmd != NULL)
        bw_cli_error("%s: %s (see 'bulwark %s --help')", cli->cmd->name, msg, cli->cmd->name);
    else
        bw_cli_error("%s (see 'bulwark --help')", msg);
    return BW_ERR_INVALID;
}

int bw_cli_take(int argc, char **argv, int *i, const char *name, const char **val)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n) != 0)
        return 0;
    if (a[n] == '=') {
        *val = a + n + 1;
        return 1;
    }
    if (a[n] != '\0')
        return 0;
    if (*i + 1 >= argc)
        return -1;
    *val = argv[++*i];
    return 1;
}

void bw_cli_help(const struct bw_cli_cmd *cmd, FILE *out)
{
    fprintf(out, "usage: bulwark [global options] %s [options]\n\n%s.\n\n%s", cmd->name,
            cmd->summary, cmd->usage);
}

static void main_help(FILE *out)
{
    fprintf(out, "usage: bulwark [--data-dir DIR] [--json] [-o section.key=value]... COMMAND "
                 "[options]\n\n"
                 "Bulwark: a security backend that enforces an ISO 27001 / NIS2 policy.\n\n"
                 "Global options:\n"
                 "  --data-dir DIR   data directory (env BULWARK_DATA, default ./bulwark-data)\n"
                 "  --json           machine-readable output\n"
                 "  -o S.K=V         override configuration key K of section S\n"
                 "  --version        print the version\n"
                 "  --help           this help; 'bulwark COMMAND --help' for a command\n\n"
                 "Commands:\n");
    for (size_t i = 0; i < BW_ARRAY_LEN(commands); i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nExit status: 0 success, 1 failure, 2 usage error.\n");
}

enum bw_rc bw_cli_load_config(struct bw_cli *cli, struct bw_config *cfg)
{
    char path[4096];
    struct bw_config_err err = {{0}};
    enum bw_rc rc = bw_config_init(cfg);
    if (rc != BW_OK) {
        bw_cli_error("cannot initialise configuration: %s", bw_rc_str(rc));
        return rc;
    }
    rc = bw_sys_path(path, sizeof(path), cli->data_dir, "bulwark.conf");
    if (rc == BW_OK)
        rc = bw_config_load_file(cfg, path, &err);
    if (rc == BW_OK)
        rc = bw_config_load_env(cfg, cli->envp, &err);
    for (size_t i = 0; rc == BW_OK && i < cli->noverrides; i++)
        rc = bw_config_set_arg(cfg, cli->overrides[i], &err);
    if (rc != BW_OK) {
        bw_cli_error("%s", err.msg[0] ? err.msg : bw_rc_str(rc));
        bw_config_cleanup(cfg);
        return rc;
    }
    bw_log_set_level(strcmp(cfg->log_level, "debug") == 0  ? BW_LOG_DEBUG
                     : strcmp(cfg->log_level, "warn") == 0  ? BW_LOG_WARN
                     : strcmp(cfg->log_level, "error") == 0 ? BW_LOG_ERROR
                                                            : BW_LOG_INFO);
    return BW_OK;
}

enum bw_rc bw_cli_db_target(const struct bw_cli *cli, const struct bw_config *cfg, char *out,
                            size_t cap)
{
    if (cfg->database_url != NULL && cfg->database_url[0] != '\0') {
        int n = snprintf(out, cap, "%s", cfg->database_url);
        return n < 0 || (size_t)n >= cap ? BW_ERR_TOOBIG : BW_OK;
    }
    return bw_sys_path(out, cap, cli->data_dir, "db/bulwark.db");
}

enum bw_rc bw_cli_open_store(const struct bw_cli *cli, const struct bw_config *cfg,
                             unsigned pool, bool check_schema, struct bw_store **out)
{
    char target[4096], why[512] = "";
    int have = 0, want = 0;
    struct bw_store *st = NULL;
    struct bw_store_opts opts = {.pool_size = pool,
                                 .busy_timeout_ms = (unsigned)cfg->busy_timeout * 1000};
    enum bw_rc rc = bw_cli_db_target(cli, cfg, target, sizeof(target));
    if (rc == BW_OK)
        rc = bw_store_open(target, &opts, &st, why, sizeof(why));
    if (rc != BW_OK) {
        bw_cli_error("cannot open the database: %s", why[0] ? why : bw_rc_str(rc));
        return rc;
    }
    if (check_schema && (rc = bw_store_schema_version(st, &have, &want)) != BW_OK)
        bw_cli_error("cannot read the database schema version: %s", bw_rc_str(rc));
    if (rc == BW_OK && check_schema && have != want) {
        bw_cli_error("database schema is version %d but this bulwark needs %d: run 'bulwark "
                     "migrate'%s",
                     have, want, have > want ? " with a newer binary" : "");
        rc = BW_ERR_SCHEMA;
    }
    if (rc != BW_OK) {
        bw_store_close(st);
        return rc;
    }
    *out = st;
    return BW_OK;
}

/* The one mapping from results to exit status (SPEC 4). */
static int exit_status(const struct bw_cli *cli, enum bw_rc rc)
{
    if (cli->usage_error)
        return 2;
    return rc == BW_OK ? 0 : 1;
}

static bool is_help(const char *a)
{
    return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0;
}

/* Parses global options; returns the index of the command word or -1. */
static int parse_globals(struct bw_cli *cli, int argc, char **argv, bool *help)
{
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (is_help(a)) {
            *help = true;
        } else if (strcmp(a, "--version") == 0) {
            printf("bulwark %s\n", BW_VERSION);
            exit(0);
        } else if (strcmp(a, "--json") == 0) {
            cli->json = true;
        } else if (strcmp(a, "--data-dir") == 0 && i + 1 < argc) {
            cli->data_dir = argv[++i];
        } else if (strncmp(a, "--data-dir=", 11) == 0) {
            cli->data_dir = a + 11;
        } else if (strcmp(a, "-o") == 0 && i + 1 < argc) {
            if (cli->noverrides == BW_ARRAY_LEN(cli->overrides)) {
                bw_cli_usage(cli, "too many -o options");
                return -1;
            }
            cli->overrides[cli->noverrides++] = argv[++i];
        } else {
            bw_cli_usage(cli, "unknown or incomplete option '%s'", a);
            return -1;
        }
    }
    return i;
}

int bw_cli_main(int argc, char **argv, char **envp)
{
    struct bw_cli cli = {.envp = envp};
    bool help = false;
    const char *env_dir = getenv("BULWARK_DATA");
    cli.data_dir = env_dir != NULL && env_dir[0] != '\0' ? env_dir : "./bulwark-data";
    json_set_alloc_funcs(bw_malloc, bw_free);
    int ci = parse_globals(&cli, argc, argv, &help);
    if (ci < 0)
        return exit_status(&cli, BW_ERR_INVALID);
    if (ci >= argc) {
        main_help(help ? stdout : stderr);
        return help ? 0 : 2;
    }
    for (size_t i = 0; i < BW_ARRAY_LEN(commands); i++) {
        if (strcmp(argv[ci], commands[i].name) != 0)
            continue;
        cli.cmd = &commands[i];
        if (help || (ci + 1 < argc && is_help(argv[ci + 1]))) {
            bw_cli_help(cli.cmd, stdout);
            return 0;
        }
        if (bw_crypto_init() != BW_OK) {
            bw_cli_error("cannot initialise libsodium");
            return 1;
        }
        enum bw_rc rc = cli.cmd->run(&cli, argc - ci, argv + ci);
        return exit_status(&cli, rc);
    }
    bw_cli_usage(&cli, "unknown command '%s'", argv[ci]);
    return 2;
}
