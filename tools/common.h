/* Shared by the command-line tools: the stats directory, listing files,
 * liveness words and the text output of a snapshot. Tools use only the
 * public reader API of libmmstats. */
#ifndef MMS_TOOLS_COMMON_H
#define MMS_TOOLS_COMMON_H

#include <stdbool.h>
#include <stdio.h>

#include <mmstats/mmstats.h>

/* Exit codes, as for ps/vmstat: 0 ok, 1 a failed operation, 2 bad usage. */
enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

const char *liveness_word(int liveness);

/* Paths of the *.mmstats files in DIR, sorted; returns the count or -errno.
 * Free with paths_free. */
int stats_files(const char *dir, char ***out);
void paths_free(char **paths, int n);

/* Print every field of S (names matching FILTER, a glob, if not NULL). */
void text_dump(FILE *out, mms_reader *r, const mms_snapshot *s,
               const char *filter);

#endif
