/* core_hold: a library writer that holds its stats file open until told.
 * It records a counter, a scalar and a keyed table's record, prints
 * "ready PID PATH" and waits for a line (or end of file) on stdin, then
 * exits normally (the file becomes FINISHED). The directory is
 * $MMSTATS_DIR. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <mmstats/mmstats.h>

int main(void)
{
    mms_writer *w;
    int rc = mms_writer_open(&w, NULL);
    if (rc < 0) {
        fprintf(stderr, "core_hold: %s\n", mms_strerror(rc));
        return 1;
    }
    mms_field *c, *port;
    mms_counter_new(w, "hold.count", NULL, &c);
    mms_u16_new(w, "hold.port", NULL, &port);
    mms_counter_add(c, 42);
    mms_u16_set(port, 8080);
    struct mms_table_member m = {.name = "n", .kind = MMS_MK_SUM};
    struct mms_table_spec ts = {
        .name = "hold.keys", .capacity = 4, .members = &m, .nmembers = 1};
    mms_table *t;
    uint32_t rec;
    if (mms_table_new(w, &ts, &t) == 0 &&
        mms_record_get(t, "/hold", 5, &rec) >= 0)
        mms_record_update(t, rec, 0, 7);
    printf("ready %ld %s\n", (long)getpid(), mms_writer_path(w));
    fflush(stdout);
    char line[64];
    if (!fgets(line, sizeof line, stdin))
        line[0] = '\0';
    mms_writer_close(w);
    return 0;
}
