/* The command-line table (cli.h): getopt_long's arrays built from it,
 * its help text and its error messages. */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <mmstats/mmstats.h>

#include "cli.h"

/* Options of one tool, at most: the tables are small and static. */
#define CLI_MAX_OPTS 48
/* The column the help texts start at, and the widest option column. */
#define HELP_COL 27

/* "-d, --dir DIR", "    --watch[=SECONDS]": the option column. */
static void opt_names(const struct cli_opt *o, char *buf, size_t len)
{
    int n = o->id < 256 ? snprintf(buf, len, "-%c, --%s", o->id, o->name)
                        : snprintf(buf, len, "    --%s", o->name);
    if (n < 0 || (size_t)n >= len || !o->metavar)
        return;
    snprintf(buf + n, len - (size_t)n, o->arg == CLI_OPTIONAL ? "[=%s]" : " %s",
             o->metavar);
}

void cli_usage(const struct cli *c, FILE *out)
{
    fprintf(out, "Usage: %s %s\n", c->prog, c->synopsis);
    if (c->about)
        fprintf(out, "%s\n", c->about);
    fputc('\n', out);
    for (unsigned i = 0; i < c->nopts; i++) {
        const struct cli_opt *o = &c->opts[i];
        char names[128];
        opt_names(o, names, sizeof names);
        int w = (int)strlen(names) + 2;
        fprintf(out, "  %s", names);
        /* Too wide for the column: the help starts on the next line. */
        if (w + 1 > HELP_COL) {
            fputc('\n', out);
            w = 0;
        }
        for (const char *h = o->help; *h;) {
            const char *nl = strchr(h, '\n');
            size_t n = nl ? (size_t)(nl - h) : strlen(h);
            fprintf(out, "%*s%.*s\n", HELP_COL - w, "", (int)n, h);
            w = 0;
            h += n + (nl ? 1 : 0);
        }
    }
    if (c->after)
        fprintf(out, "\n%s", c->after);
}

void cli_error(const struct cli *c, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    /* clang-tidy 14 sees AP uninitialised when it analyses this file after
     * another in one run (not alone): AP was just started. */
    // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized)
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s: %s\n", c->prog, msg);
}

void cli_try_help(const struct cli *c)
{
    fprintf(stderr, "Try '%s --help'.\n", c->prog);
}

/* getopt_long's arrays for C, built once per table. */
struct cli_arrays {
    const struct cli *c;
    struct option longs[CLI_MAX_OPTS + 1];
    char shorts[3 * CLI_MAX_OPTS + 3];
};

static void build(struct cli_arrays *a, const struct cli *c)
{
    static const int has_arg[] = {no_argument, required_argument,
                                  optional_argument};
    char *s = a->shorts;
    memset(a, 0, sizeof *a);
    a->c = c;
    if (c->stop_at_arg)
        *s++ = '+';
    *s++ = ':'; /* a missing argument: ':', not '?' */
    for (unsigned i = 0; i < c->nopts && i < CLI_MAX_OPTS; i++) {
        const struct cli_opt *o = &c->opts[i];
        a->longs[i] = (struct option){o->name, has_arg[o->arg], NULL, o->id};
        if (o->id >= 256)
            continue;
        *s++ = (char)o->id;
        if (o->arg != CLI_NONE)
            *s++ = ':';
        if (o->arg == CLI_OPTIONAL)
            *s++ = ':';
    }
}

int cli_next(const struct cli *c, int argc, char **argv, const char **arg)
{
    static struct cli_arrays a;
    if (a.c != c)
        build(&a, c);
    opterr = 0;
    int prev = optind;
    int id = getopt_long(argc, argv, a.shorts, a.longs, NULL);
    *arg = optarg;
    if (id != '?' && id != ':')
        return id;
    /* The word at fault: a long option is argv[optind - 1]; a short one
     * is optopt (in a cluster such as -lz, optind may not have moved). */
    const char *word = optind > prev ? argv[optind - 1] : NULL;
    bool is_long = word && word[0] == '-' && word[1] == '-';
    if (id == ':') {
        if (is_long)
            cli_error(c, "option '%s' needs an argument", word);
        else
            cli_error(c, "option '-%c' needs an argument", optopt);
    } else if (!is_long) {
        cli_error(c, "unknown option '-%c'", optopt);
    } else if (optopt && strchr(word, '=')) {
        /* A known option without argument, given one ("--list=x"). */
        cli_error(c, "option '%.*s' takes no argument",
                  (int)(strchr(word, '=') - word), word);
    } else {
        /* getopt takes any unambiguous prefix: a word that is the prefix
         * of two names was ambiguous, not unknown. */
        size_t n = strcspn(word + 2, "=");
        unsigned matches = 0;
        for (unsigned i = 0; i < c->nopts; i++)
            matches += strncmp(c->opts[i].name, word + 2, n) == 0;
        cli_error(c, "%s option '%.*s'", matches > 1 ? "ambiguous" : "unknown",
                  (int)n + 2, word);
    }
    return '?';
}

int cli_help_version(const struct cli *c, int id)
{
    if (id == 'h')
        cli_usage(c, stdout);
    else
        printf("%s %s\n", c->prog, MMS_VERSION_STRING);
    return 1;
}
