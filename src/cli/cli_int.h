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
/* records feature: `bulwark key rotate|list` (cmd_key.c) */
enum bw_rc bw_cmd_key(struct bw_cli *cli, int argc, char **argv);

#endif
