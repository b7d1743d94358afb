/* mmstat-read: list the stats files of a directory, or dump the stats of
 * processes by pid or path. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"

static void usage(FILE *out)
{
    fputs("Usage: mmstat-read [OPTIONS] [PID|PATH]...\n"
          "List the processes that keep mmstats files, or print their stats.\n"
          "\n"
          "  -d, --dir DIR       stats directory (default: $MMSTATS_DIR,\n"
          "                      $XDG_RUNTIME_DIR/mmstats or /tmp/mmstats-UID)\n"
          "  -f, --filter GLOB   only fields whose name matches GLOB\n"
          "  -h, --help          show this help\n"
          "  -V, --version       show the version\n"
          "\n"
          "Examples:\n"
          "  mmstat-read                   list stats files\n"
          "  mmstat-read 1234              dump the stats of pid 1234\n"
          "  mmstat-read -f 'app.*' x.mmstats\n"
          "\n"
          "Exit status: 0 ok, 1 a file could not be read, 2 bad usage.\n",
          out);
}

static int list_dir(const char *dir)
{
    char **paths;
    int n = stats_files(dir, &paths);
    if (n < 0) {
        fprintf(stderr, "mmstat-read: %s: %s\n", dir, strerror(-n));
        return EXIT_FAIL;
    }
    int rc = EXIT_OK;
    printf("%8s %-16s %-18s %8s %10s %6s  %s\n", "PID", "EXE", "STATE", "AGE",
           "SIZE", "FIELDS", "PATH");
    int64_t now = (int64_t)time(NULL);
    for (int i = 0; i < n; i++) {
        mms_reader *r;
        int e = mms_reader_open(&r, paths[i]);
        if (e < 0) {
            fprintf(stderr, "mmstat-read: %s: %s\n", paths[i],
                    mms_strerror(e));
            rc = EXIT_FAIL;
            continue;
        }
        struct mms_proc_info pi;
        mms_reader_info(r, &pi);
        printf("%8d %-16s %-18s %7" PRId64 "s %9" PRIu64 "K %6zu  %s\n",
               pi.pid, pi.exe, liveness_word(mms_reader_liveness(r)),
               now - pi.created_ns / 1000000000, pi.file_size / 1024,
               mms_reader_nfields(r), paths[i]);
        mms_reader_close(r);
    }
    paths_free(paths, n);
    return rc;
}

static int open_target(const char *arg, const char *dir, mms_reader **r)
{
    char *end;
    long pid = strtol(arg, &end, 10);
    if (*arg && !*end && pid > 0)
        return mms_reader_open_pid(r, dir, (pid_t)pid);
    return mms_reader_open(r, arg);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"filter", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0}};
    const char *dir = NULL, *filter = NULL;
    char dbuf[PATH_MAX];
    int c;
    while ((c = getopt_long(argc, argv, "d:f:hV", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            dir = optarg;
            break;
        case 'f':
            filter = optarg;
            break;
        case 'h':
            usage(stdout);
            return EXIT_OK;
        case 'V':
            printf("mmstat-read %s\n", MMS_VERSION_STRING);
            return EXIT_OK;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (!dir) {
        int e = mms_default_dir(dbuf, sizeof dbuf);
        if (e < 0) {
            fprintf(stderr, "mmstat-read: stats directory: %s\n",
                    mms_strerror(e));
            return EXIT_FAIL;
        }
        dir = dbuf;
    }
    if (optind == argc)
        return list_dir(dir);
    int rc = EXIT_OK;
    for (int i = optind; i < argc; i++) {
        mms_reader *r;
        mms_snapshot *s;
        int e = open_target(argv[i], dir, &r);
        if (e < 0) {
            fprintf(stderr, "mmstat-read: %s: %s\n", argv[i],
                    e == -ENOENT ? "no stats file found" : mms_strerror(e));
            rc = EXIT_FAIL;
            continue;
        }
        e = mms_snapshot_take(r, &s);
        if (e < 0) {
            fprintf(stderr, "mmstat-read: %s: %s\n", mms_reader_path(r),
                    mms_strerror(e));
            rc = EXIT_FAIL;
        } else {
            text_dump(stdout, r, s, filter);
            mms_snapshot_free(s);
        }
        mms_reader_close(r);
    }
    return rc;
}
