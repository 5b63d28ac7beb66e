/*
 * cli.h - the command line (SPEC 4): a table of commands, global options,
 * one-line errors on stderr and the single mapping from results to exit
 * status (0 success, 1 failure or violation, 2 usage error).
 */
#ifndef BW_CLI_H
#define BW_CLI_H

#include "core/core.h"

/* Runs the bulwark command line; returns the process exit status. */
int bw_cli_main(int argc, char **argv, char **envp);

#endif
