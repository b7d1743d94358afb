/* The external program test_install.sh and test_package.sh build
 * against an installed mmstats: one counter, its file's path printed. */
#include <stdio.h>
#include <mmstats/mmstats.h>

int main(void)
{
    mms_writer *w;
    mms_field *hits;
    int rc = mms_writer_open(&w, NULL);
    if (rc < 0 || mms_counter_new(w, "ext.hits", "hits", &hits) < 0) {
        fprintf(stderr, "hits: %s\n", mms_strerror(rc));
        return 1;
    }
    mms_counter_add(hits, 42);
    printf("%s\n", mms_writer_path(w));
    return mms_writer_close(w) < 0;
}
