/* A writer the test drives, for checks that must not depend on how fast
 * anything runs: it changes its fields only when told, on stdin, and says
 * when it has.
 *
 *   tool_step
 *
 * Fields: counter "step.ticks" (ticks), histogram "step.work" (ns). Prints
 * "pid PID PATH" once the file exists, then for each line read:
 *
 *   add N V    add N to step.ticks and record V in step.work N times;
 *              answers "ok TOTAL" (step.ticks now)
 *
 * At the end of its input (or SIGTERM, or its parent ending) it closes
 * the file (marked finished) and exits. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <mmstats/mmstats.h>

int main(void)
{
    mms_writer *w;
    mms_field *ticks, *work;
    int rc = mms_writer_open(&w, NULL);
    if (rc < 0) {
        fprintf(stderr, "tool_step: %s\n", mms_strerror(rc));
        return 1;
    }
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (mms_counter_new(w, "step.ticks", "ticks", &ticks) < 0 ||
        mms_timer_new(w, "step.work", &work) < 0)
        return 1;
    printf("pid %ld %s\n", (long)getpid(), mms_writer_path(w));
    fflush(stdout);
    char line[256];
    unsigned long long total = 0;
    while (fgets(line, sizeof line, stdin)) {
        unsigned long long n, v;
        if (sscanf(line, "add %llu %llu", &n, &v) != 2) {
            printf("bad %s", line);
            fflush(stdout);
            continue;
        }
        mms_counter_add(ticks, n);
        for (unsigned long long i = 0; i < n; i++)
            mms_hist_record(work, v);
        total += n;
        printf("ok %llu\n", total);
        fflush(stdout);
    }
    return mms_writer_close(w) < 0;
}
