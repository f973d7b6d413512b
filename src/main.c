/*
 * main.c - the `maplexp` binary: dispatch to a subcommand. Wiring only; every subcommand lives
 * in src/cli/ and every computation in src/domain/.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

typedef int (*command_fn)(int argc, char **argv);

static const struct {
    const char *name;
    command_fn fn;
} COMMANDS[] = {
    {"calc", cmd_calc},
    {"starforce", cmd_starforce},
    {"cube", cmd_cube},
    {"tables", cmd_tables},
    {"serve", cmd_serve},
};

int main(int argc, char **argv)
{
    if (argc < 2) {
        cli_help(NULL, stderr);
        return CLI_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        cli_help(NULL, stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
        printf("maplexp %s\n", MAPLEXP_VERSION);
        return CLI_EXIT_OK;
    }
    if (strcmp(cmd, "help") == 0) {
        if (argc > 3) {
            cli_error("help", "expected at most one COMMAND");
            return CLI_EXIT_USAGE;
        }
        if (!cli_help(argc == 3 ? argv[2] : NULL, stdout)) {
            cli_error("help", "unknown command '%s'", argv[2]);
            return CLI_EXIT_USAGE;
        }
        return CLI_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        if (strcmp(COMMANDS[i].name, cmd) == 0)
            return COMMANDS[i].fn(argc - 1, argv + 1);
    cli_error(NULL, "unknown command '%s' (see maplexp --help)", cmd);
    return CLI_EXIT_USAGE;
}
