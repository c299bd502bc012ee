/* heapdig — MIT licence.
 *
 * main.c: the `heapdig` command: dispatches to one cmd_<verb>.c per
 * subcommand and owns the shared error/usage printing.
 */
#include "cli.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    /* the synopsis only: the description is for heapdig help CMD */
    const char *more = strstr(cmd->usage, "\n\n");
    int n = more ? (int)(more - cmd->usage) : (int)strlen(cmd->usage);
    fprintf(stderr, "\nusage: heapdig %s %.*s\n%s%s%s", cmd->name, n,
            cmd->usage, more ? "(heapdig help " : "", more ? cmd->name : "",
            more ? " says more)\n" : "");
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

/* Interrupted (Ctrl-C, kill): a load's half-written database goes, then
 * the signal does what it would have done. */
static void
on_fatal_signal(int sig)
{
    const char *tmp;
    for (int i = 0; (tmp = hd_load_temp(i)) != NULL; i++)
        unlink(tmp);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void
cleanup_on_signals(void)
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_fatal_signal;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        struct sigaction old;
        /* a signal the caller ignores (nohup) stays ignored */
        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
            continue;
        sigaction(sigs[i], &sa, NULL);
    }
}

static void
command_help(const hd_cmd *cmd)
{
    printf("usage: heapdig %s %s\n\n%s\n", cmd->name, cmd->usage,
           cmd->summary);
}

/* -h or --help among a command's arguments (before a "--") */
static int
asks_for_help(int argc, char **argv)
{
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--"))
            return 0;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            return 1;
    }
    return 0;
}

/* Every write to stdout must have reached it (a full disk, a closed pipe
 * reader): a command whose output was lost has failed. */
static int
finish_output(int rc)
{
    int lost = ferror(stdout);
    if (fflush(stdout) != 0)
        lost = 1;
    if (lost && rc == HD_EXIT_OK) {
        fprintf(stderr, "heapdig: writing the output failed: %s\n",
                errno ? strerror(errno) : "write error");
        return HD_EXIT_ERROR;
    }
    return rc;
}

/* The spellings people expect from other tools: "--format=json" is
 * "--format json" and "-n5" is "-n 5" (up to a "--", after which every
 * word is an argument).  Returns a new argv (freed at exit) or NULL. */
static char **
normalize_args(int argc, char **argv, int *argc_out)
{
    char **out = malloc(((size_t)argc * 2 + 1) * sizeof(*out));
    int n = 0, plain = 0;
    if (out == NULL)
        return NULL;
    for (int i = 0; i < argc; i++) {
        char *a = argv[i], *eq;
        if (!plain && !strcmp(a, "--"))
            plain = 1;
        if (!plain && i >= 2 && a[0] == '-' && a[1] == '-' &&
            (eq = strchr(a, '=')) != NULL && eq > a + 2) {
            *eq = 0; /* argv's own storage: "--format\0json" */
            out[n++] = a;
            out[n++] = eq + 1;
        } else if (!plain && i >= 2 && a[0] == '-' &&
                   (a[1] == 'n' || a[1] == 'o') && a[2]) {
            static char flag[2][3] = {"-n", "-o"};
            out[n++] = flag[a[1] == 'o'];
            out[n++] = a + 2;
        } else {
            out[n++] = a;
        }
    }
    out[n] = NULL;
    *argc_out = n;
    return out;
}

static int dispatch(int argc, char **argv);

int
main(int argc, char **argv)
{
    int n_args, rc;
    char **args = normalize_args(argc, argv, &n_args);
    if (args == NULL) {
        fprintf(stderr, "heapdig: out of memory\n");
        return HD_EXIT_ERROR;
    }
    rc = dispatch(n_args, args);
    free(args);
    return rc;
}

static int
dispatch(int argc, char **argv)
{
    if (argc < 2) {
        help(stderr);
        return HD_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
        (!strcmp(argv[1], "help") &&
         (argc == 2 || (argc == 3 && !strcmp(argv[2], "help"))))) {
        help(stdout);
        return finish_output(HD_EXIT_OK);
    }
    if (!strcmp(argv[1], "--version")) {
        printf("heapdig %s\n", HD_CLI_VERSION);
        return finish_output(HD_EXIT_OK);
    }
    if (!strcmp(argv[1], "help")) {
        for (size_t i = 0; i < N_COMMANDS; i++)
            if (argc == 3 && !strcmp(argv[2], commands[i]->name)) {
                command_help(commands[i]);
                return finish_output(HD_EXIT_OK);
            }
        fprintf(stderr, "heapdig help: no command '%s' (heapdig help lists "
                        "them)\n", argc > 2 ? argv[2] : "");
        return HD_EXIT_USAGE;
    }
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (!strcmp(argv[1], commands[i]->name)) {
            if (asks_for_help(argc, argv)) {
                command_help(commands[i]);
                return finish_output(HD_EXIT_OK);
            }
            cleanup_on_signals();
            errno = 0;
            return finish_output(commands[i]->run(argc - 1, argv + 1));
        }
    fprintf(stderr, "heapdig: unknown command '%s' (heapdig help lists "
                    "them)\n", argv[1]);
    return HD_EXIT_USAGE;
}
