/* core_readloop PATH: a reader that keeps its file open and takes a
 * snapshot each time a line arrives on stdin, printing "snap N" after
 * each, until a call fails: then it prints the error's name and exits 0
 * ("truncated" for MMS_ETRUNCATED). A SIGBUS would kill it instead. */
#include <stdio.h>
#include <string.h>

#include <mmstats/mmstats.h>

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    mms_reader *r;
    int rc = mms_reader_open(&r, argv[1]);
    if (rc < 0) {
        printf("open: %s\n", mms_strerror(rc));
        return 1;
    }
    char line[64];
    for (int n = 0;; n++) {
        mms_snapshot *s;
        if ((rc = mms_snapshot_take(r, &s)) < 0)
            break;
        mms_snapshot_free(s);
        printf("snap %d\n", n);
        fflush(stdout);
        if (!fgets(line, sizeof line, stdin))
            break;
    }
    struct mms_proc_info pi;
    int irc = mms_reader_info(r, &pi);
    printf("%s %s\n", rc == MMS_ETRUNCATED ? "truncated" : mms_strerror(rc),
           irc == MMS_ETRUNCATED ? "truncated" : "info-ok");
    fflush(stdout);
    mms_reader_close(r);
    return 0;
}
