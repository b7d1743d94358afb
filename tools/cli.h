/* A tool's command line in one table: each option's names, argument and
 * help text. getopt_long's option array and short-option string, the
 * --help text and the error messages (with the program's own name, never
 * argv[0]) all come from it, so the help cannot leave an option out (and
 * a man page can be made from the same table). */
#ifndef MMS_TOOLS_CLI_H
#define MMS_TOOLS_CLI_H

#include <stdbool.h>
#include <stdio.h>

enum cli_arg { CLI_NONE, CLI_REQUIRED, CLI_OPTIONAL };

struct cli_opt {
    int id;              /* the short option's letter, or >= 256: long only */
    enum cli_arg arg;    /* whether it takes an argument */
    const char *name;    /* the long name, without "--" */
    const char *metavar; /* the argument's name in the help, e.g. "DIR" */
    const char *help;    /* one or more lines ('\n' between them) */
};

struct cli {
    const char *prog;     /* "mmstat-read": every message starts with it */
    const char *synopsis; /* after "Usage: PROG ", e.g. "[OPTIONS] PID" */
    const char *about;    /* paragraphs before the options */
    const struct cli_opt *opts;
    unsigned nopts;
    const char *after; /* paragraphs after them: examples, exit status */
    bool stop_at_arg;  /* stop at the first non-option (a command) */
};

/* The two entries every tool's table ends with: --help and --version,
 * answered by cli_help_version. */
// clang-format off
#define CLI_HELP_VERSION                                  \
    {'h', CLI_NONE, "help", NULL, "show this help"},      \
    {'V', CLI_NONE, "version", NULL, "show the version"}
// clang-format on

#define CLI_NOPTS(a) ((unsigned)(sizeof(a) / sizeof *(a)))

/* Print the help: usage line, about, the options, after. */
void cli_usage(const struct cli *c, FILE *out);

/* --help (ID 'h': the help on stdout) or --version (ID 'V': "PROG
 * VERSION"): printed; 1, the tool is done. */
int cli_help_version(const struct cli *c, int id);

/* The next option of ARGV: its id (*ARG its argument, NULL if none), -1
 * at the end (optind then indexes the first operand), or '?' after an
 * unknown option or a missing argument, with the message printed. */
int cli_next(const struct cli *c, int argc, char **argv, const char **arg);

/* "PROG: MESSAGE\n" on stderr. */
void cli_error(const struct cli *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* "Try 'PROG --help'." on stderr: after a usage error. */
void cli_try_help(const struct cli *c);

#endif
