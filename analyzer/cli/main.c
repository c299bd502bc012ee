/* heapdig — MIT licence.
 *
 * main.c: the `heapdig` command: dispatches to one cmd_<verb>.c per
 * subcommand and owns the shared error/usage printing.
 */
#include "cli.h"

#include <stdarg.h>
#include <string.h>

#define HD_CLI_VERSION "0.1.0"

static const hd_cmd *const commands[] = {
    &hd_cmd_load,      &hd_cmd_summary,   &hd_cmd_types,    &hd_cmd_top,
    &hd_cmd_suspects,  &hd_cmd_path,      &hd_cmd_show,     &hd_cmd_referrers,
    &hd_cmd_referents, &hd_cmd_cycles,    &hd_cmd_external, &hd_cmd_graph,
    &hd_cmd_diff,      &hd_cmd_attach,    &hd_cmd_report,
    &hd_cmd_tree,      &hd_cmd_waste};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

int
cli_fail(const char *what, int err)
{
    const hd_error *e = hd_error_last();
    fprintf(stderr, "heapdig: %s: %s\n", what,
            e->code == err && e->message[0] ? e->message : hd_strerror(err));
    return HD_EXIT_ERROR;
}

int
cli_usage(const hd_cmd *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "heapdig %s: ", cmd->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nusage: heapdig %s %s\n", cmd->name, cmd->usage);
    return HD_EXIT_USAGE;
}

static void
help(FILE *fp)
{
    fprintf(fp, "heapdig %s: what is using a Python process's memory, and why "
                "is it alive?\n\nusage: heapdig <command> [options]\n\n"
                "commands:\n", HD_CLI_VERSION);
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(fp, "  %-10s %s\n", commands[i]->name, commands[i]->summary);
    fprintf(fp, "\nTake a dump inside the process with "
                "`import heapdig; heapdig.dump(\"app.hdig\")`.\n"
                "`heapdig help <command>` shows a command's options.\n");
}

int
main(int argc, char **argv)
{
    if (argc < 2) {
        help(stderr);
        return HD_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        help(stdout);
        return HD_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("heapdig %s\n", HD_CLI_VERSION);
        return HD_EXIT_OK;
    }
    if (!strcmp(argv[1], "help") && argc == 3) {
        for (size_t i = 0; i < N_COMMANDS; i++)
            if (!strcmp(argv[2], commands[i]->name)) {
                printf("usage: heapdig %s %s\n\n%s\n", commands[i]->name,
                       commands[i]->usage, commands[i]->summary);
                return HD_EXIT_OK;
            }
    }
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (!strcmp(argv[1], commands[i]->name))
            return commands[i]->run(argc - 1, argv + 1);
    fprintf(stderr, "heapdig: unknown command '%s'\n\n", argv[1]);
    help(stderr);
    return HD_EXIT_USAGE;
}
