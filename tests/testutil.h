/* Helpers for the tests: private temporary directories and writers that
 * write into them, so tests never touch the user's stats directory. */
#ifndef MMS_TESTUTIL_H
#define MMS_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <mmstats/mmstats.h>

/* A fresh 0700 directory under $TMPDIR (or /tmp); removed with its
 * contents by tu_rmdir. Returns a static-lifetime string to free(). */
char *tu_mkdtemp(void);
void tu_rmdir(const char *dir);

/* Open a writer whose file is DIR/NAME, with the given options (NULL for
 * defaults) and the environment ignored. Fails the test on error. */
mms_writer *tu_writer(const char *dir, const char *name,
                      const struct mms_writer_options *o);

/* Snapshot helpers: the value of NAME in a fresh snapshot of R. Fail the
 * test if the field is missing. */
uint64_t tu_counter(mms_reader *r, const char *name);
int64_t tu_gauge(mms_reader *r, const char *name);

/* Path of a build product relative to the build dir ($MMS_BUILD_DIR). */
const char *tu_build_path(const char *rel);

#endif
