/* Many processes for the exporter's scrape-time test: N processes (this
 * one and N - 1 forked children, each with a stats file of its own) with
 * F fields each, a quarter of them histograms (-H: none), the rest
 * counters, all with values. Prints "ready N" once every file is
 * written, then keeps them running until SIGTERM or SIGINT, or until -t
 * SECONDS (default 120; 0: no limit) pass, or the test that started it
 * ends; the children end with it (also if it is killed).
 *   exp_many [-H] [-t SECONDS] N F */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mmstats/mmstats.h>

static mms_field **fields;
static int nfields;
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static void record(int seed)
{
    for (int i = 0; i < nfields; i++) {
        if (!fields[i])
            continue;
        if (i % 4 == 3) {
            for (int k = 0; k < 20; k++)
                mms_hist_record(fields[i],
                                (uint64_t)(1000 + seed * 37 + i * 101 + k * k));
        } else {
            mms_counter_add(fields[i], (uint64_t)(seed + i + 1));
        }
    }
}

int main(int argc, char **argv)
{
    int hists = 1, c;
    double limit = 120;
    while ((c = getopt(argc, argv, "Ht:")) != -1) {
        if (c == 'H')
            hists = 0;
        else if (c == 't')
            limit = atof(optarg);
        else
            return 2;
    }
    if (argc - optind != 2)
        return 2;
    int nproc = atoi(argv[optind]);
    nfields = atoi(argv[optind + 1]);
    if (nproc < 1 || nfields < 1)
        return 2;
    struct mms_writer_options o;
    mms_writer_options_init(&o);
    o.max_fields = (uint32_t)nfields + 16;
    mms_writer *w;
    int rc = mms_writer_open(&w, &o);
    if (rc < 0) {
        fprintf(stderr, "exp_many: %s\n", mms_strerror(rc));
        return 1;
    }
    fields = calloc((size_t)nfields, sizeof *fields);
    for (int i = 0; i < nfields; i++) {
        char name[64];
        snprintf(name, sizeof name, "load.g%d.f%d", i / 10, i);
        rc = hists && i % 4 == 3
                 ? mms_timer_new(w, name, &fields[i])
                 : mms_counter_new(w, name, "calls", &fields[i]);
        if (rc < 0) {
            fprintf(stderr, "exp_many: %s: %s\n", name, mms_strerror(rc));
            return 1;
        }
    }
    if (!hists)
        for (int i = 3; i < nfields; i += 4)
            mms_counter_add(fields[i], 1); /* counters all the same */
    int ready[2];
    if (pipe(ready) < 0)
        return 1;
    pid_t parent = getpid();
    pid_t *kids = calloc((size_t)nproc, sizeof *kids);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    for (int k = 1; k < nproc; k++) {
        pid_t pid = fork();
        if (pid < 0) {
            perror("exp_many: fork");
            nproc = k;
            break;
        }
        if (pid == 0) {
            signal(SIGTERM, SIG_DFL);
            signal(SIGINT, SIG_DFL);
            prctl(PR_SET_PDEATHSIG, SIGTERM);
            if (getppid() != parent)
                _exit(0);
            record(k);
            char b = 1;
            if (write(ready[1], &b, 1) != 1)
                _exit(1);
            for (;;)
                pause();
        }
        kids[k] = pid;
    }
    record(0);
    /* Every child says it is ready; one that dies first is reported (its
     * end of the pipe stays open in the others: no end of file). */
    for (int k = 1; k < nproc;) {
        struct pollfd pfd = {ready[0], POLLIN, 0};
        char b;
        if (poll(&pfd, 1, 100) > 0 && read(ready[0], &b, 1) == 1) {
            k++;
            continue;
        }
        int st;
        pid_t dead = waitpid(-1, &st, WNOHANG);
        if (dead > 0) {
            if (WIFSIGNALED(st))
                fprintf(stderr, "exp_many: child %d killed by signal %d (%s)\n",
                        (int)dead, WTERMSIG(st), strsignal(WTERMSIG(st)));
            else
                fprintf(stderr, "exp_many: child %d exited with %d\n",
                        (int)dead, WEXITSTATUS(st));
            for (int j = 1; j < nproc; j++)
                kill(kids[j], SIGTERM);
            return 1;
        }
        if (stop)
            return 1;
    }
    printf("ready %d\n", nproc);
    fflush(stdout);
    for (long ms = 0; !stop && (limit == 0 || ms < (long)(limit * 1000));
         ms += 100)
        usleep(100000);
    for (int k = 1; k < nproc; k++)
        kill(kids[k], SIGTERM);
    while (wait(NULL) > 0)
        ;
    return mms_writer_close(w) < 0;
}
