/*
 * cli_int.h - shared by the files of src/cli/: the context every command
 * receives and the helpers for errors, usage and loading configuration.
 */
#ifndef BW_CLI_INT_H
#define BW_CLI_INT_H

#include "cli/cli.h"

#include <stdio.h>

struct bw_cli {
    const char *data_dir;
    bool json;
    char **envp;
    const char *overrides[32]; /* -o section.key=value, applied last */
    size_t noverrides;
    bool usage_error;
    const struct bw_cli_cmd *cmd;
};

struct bw_cli_cmd {
    const char *name;
    const char *summary;
    const char *usage; /* full --help text after the synopsis line */
    enum bw_rc (*run)(struct bw_cli *cli, int argc, char **argv);
};

/* Prints "bulwark: <message>" as one line on stderr. */
void bw_cli_error(const char *fmt, ...) BW_PRINTF(1, 2);
/* Reports a usage problem for the current command; returns BW_ERR_INVALID. */
enum bw_rc bw_cli_usage(struct bw_cli *cli, const char *fmt, ...) BW_PRINTF(2, 3);
/* Matches "--name VALUE" or "--name=VALUE" at argv[*i], advancing *i past it.
 * 1 = matched (val set), 0 = another option, -1 = value missing. */
int bw_cli_take(int argc, char **argv, int *i, const char *name, const char **val);
/* Prints the command's help to `out`. */
void bw_cli_help(const struct bw_cli_cmd *cmd, FILE *out);
/* Loads data_dir/bulwark.conf, then the environment, then -o overrides. */
BW_MUST_CHECK enum bw_rc bw_cli_load_config(struct bw_cli *cli, struct bw_config *cfg);
/* Path of the SQLite database inside the data directory. */
BW_MUST_CHECK enum bw_rc bw_cli_db_target(const struct bw_cli *cli, const struct bw_config *cfg,
                                          char *out, size_t cap);

/* Opens the configured store (pool of `pool` connections, busy timeout from
 * the configuration). With `check_schema`, refuses a schema of another
 * version than this binary's. Prints the reason on failure. */
struct bw_store;
BW_MUST_CHECK enum bw_rc bw_cli_open_store(const struct bw_cli *cli, const struct bw_config *cfg,
                                           unsigned pool, bool check_schema,
                                           struct bw_store **out);

enum bw_rc bw_cmd_init(struct bw_cli *cli, int argc, char **argv);
enum bw_rc bw_cmd_serve(struct bw_cli *cli, int argc, char **argv);
enum bw_rc bw_cmd_migrate(struct bw_cli *cli, int argc, char **argv);
enum bw_rc bw_cmd_config(struct bw_cli *cli, int argc, char **argv);
enum bw_rc bw_cmd_user(struct bw_cli *cli, int argc, char **argv);
/* backups (issue 6) */
enum bw_rc bw_cmd_backup(struct bw_cli *cli, int argc, char **argv);

/* tenants: organisations, API keys, `user set-role` (cmd_org.c, cmd_apikey.c) */
enum bw_rc bw_cmd_org(struct bw_cli *cli, int argc, char **argv);
enum bw_rc bw_cmd_apikey(struct bw_cli *cli, int argc, char **argv);
enum bw_rc bw_cli_set_role(struct bw_cli *cli, int argc, char **argv);
/* audit trail (issue 5) */
enum bw_rc bw_cmd_audit(struct bw_cli *cli, int argc, char **argv);
struct bw_audit_settings;
/* Fills the audit module's settings from the configuration (borrowed). */
void bw_cli_audit_settings(const struct bw_cli *cli, const struct bw_config *cfg,
                           struct bw_audit_settings *s);
/* Incidents, vulnerabilities, SBOM (cmd_incident.c, cmd_vuln.c, cmd_sbom.c: issue 7). */
struct json_t;
struct bw_reg_err;
#define BW_CLI_MAX_OPTS 20
struct bw_cli_opts {
    const char *v[BW_CLI_MAX_OPTS]; /* values of the named options, NULL when absent */
    const char *pos[4];             /* positional arguments */
    size_t npos;
};
/* Parses argv[1..] against `names` (each "--name VALUE" or "--name=VALUE"). */
enum bw_rc bw_cli_opts(struct bw_cli *cli, int argc, char **argv, const char *const *names,
                       size_t nnames, struct bw_cli_opts *o);
/* Loads configuration and opens the store at this binary's schema. */
BW_MUST_CHECK enum bw_rc bw_cli_open(struct bw_cli *cli, struct bw_config *cfg,
                                     struct bw_store **st);
/* Prints (and releases) a JSON document: compact with --json, else indented. */
void bw_cli_print_json(const struct bw_cli *cli, struct json_t *o);
/* One line for a register's refusal; returns rc. */
enum bw_rc bw_cli_reg_error(const char *what, enum bw_rc rc, const struct bw_reg_err *err);
enum bw_rc bw_cmd_incident(struct bw_cli *cli, int argc, char **argv);
enum bw_rc bw_cmd_vuln(struct bw_cli *cli, int argc, char **argv);
enum bw_rc bw_cmd_sbom(struct bw_cli *cli, int argc, char **argv);
/* records feature: `bulwark key rotate|list` (cmd_key.c) */
enum bw_rc bw_cmd_key(struct bw_cli *cli, int argc, char **argv);
/* compliance (cmd_check.c) */
enum bw_rc bw_cmd_check(struct bw_cli *cli, int argc, char **argv);

/* cfgaudit.c: records the effective configuration; a change since the last
 * start is one config.changed audit event (old/new values, secrets masked). */
struct bw_store;
struct bw_keyring;
BW_MUST_CHECK enum bw_rc bw_cli_audit_config(struct bw_store *st, const struct bw_keyring *kr,
                                             const struct bw_config *cfg);

/* backup2 (issue 6): the recovery kit (cmd_key_recovery.c) */
enum bw_rc bw_cmd_key_recovery(struct bw_cli *cli, int argc, char **argv);
/* Reads a passphrase from `file` or the terminal (twice with `confirm`);
 * *out is sodium_malloc memory the caller frees with sodium_free. */
BW_MUST_CHECK enum bw_rc bw_cli_read_passphrase(struct bw_cli *cli, const char *file,
                                                bool confirm, char **out, size_t *len);

#endif
