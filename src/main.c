/*
 * main.c - argv to the command line, nothing else.
 */
#include "cli/cli.h"

int main(int argc, char **argv, char **envp)
{
    return bw_cli_main(argc, argv, envp);
}
