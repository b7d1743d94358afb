/* Thread exit: pf_threads2k N [MODE] creates N short-lived threads one
 * after another. MODE "write" (the default): each does one write; "idle":
 * each does nothing (glibc still frees through the hook as it exits);
 * "handoff": each allocates 3000 bytes that main frees after the join.
 * Each thread's shard must be handed back at its exit (so a few shards
 * serve them all) with its counts kept, and the live bytes it gathered
 * published. Under the shim, reads its own stats file at the end and
 * prints the number of shards ever used and still active. */
#include <pthread.h>

#include "pf_common.h"

static int devnull;

static const char *mode = "write";

static void *worker(void *arg)
{
    if (!strcmp(mode, "write"))
        pf_writes(devnull, 1);
    else if (!strcmp(mode, "handoff"))
        return pf_keep(malloc(3000));
    return NULL;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 2000;
    if (argc > 2)
        mode = argv[2];
    devnull = pf_devnull();
    for (int i = 0; i < n; i++) {
        pthread_t t;
        void *block;
        if (pthread_create(&t, NULL, worker, NULL))
            pf_die("pthread_create");
        pthread_join(t, &block);
        free(block);
    }
    printf("%d threads done\n", n);
    mms_reader *r;
    struct mms_proc_info pi;
    int rc = mms_reader_open_pid(&r, NULL, getpid());
    if (rc == 0) {
        rc = mms_reader_info(r, &pi);
        if (rc == 0)
            printf("shards used %u active %u\n", pi.shards_used,
                   pi.shards_active);
        mms_reader_close(r);
    }
    if (rc != 0) /* said, so that the test's failure says why */
        fprintf(stderr, "pf_threads2k: reading its own stats: %s\n",
                mms_strerror(rc));
    return 0;
}
