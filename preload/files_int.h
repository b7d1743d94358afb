/* Per-file records: what files.c, files_path.c and files_hooks.c share. */
#ifndef MMP_FILES_INT_H
#define MMP_FILES_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* files_path.c */
void mmp_fpath_start(void);
/* The absolute, cleaned path of PATH opened relative to DIRFD (AT_FDCWD:
 * the working directory) into OUT (PATH_MAX bytes): false if it cannot be
 * known without a system call. */
bool mmp_fpath_abs(int dirfd, const char *path, char *out);
/* After a successful chdir(PATH) or fchdir(FD) (PATH NULL). */
void mmp_fpath_chdir(const char *path, int fd);
bool mmp_fpath_excluded(const char *abs);
/* Whether PATH as the program gave it decides the exclusion of its
 * absolute, cleaned form: MMP_RAW_EXCLUDED or MMP_RAW_INCLUDED for an
 * absolute path that cleaning leaves as it is, else MMP_RAW_UNKNOWN. */
enum mmp_raw { MMP_RAW_UNKNOWN, MMP_RAW_EXCLUDED, MMP_RAW_INCLUDED };
enum mmp_raw mmp_fpath_raw(const char *path);
/* The record key of ABS: ABS itself, or its hash written into HASHED;
 * its length in *LEN. */
#define MMP_HASHED_KEY 24
const char *mmp_fpath_key(const char *abs, char hashed[MMP_HASHED_KEY],
                          size_t *len);
/* A path buffer (PATH_MAX bytes) for one event's record, or NULL if none
 * is free (files_path.c's pool): given back with mmp_fpath_put. */
char *mmp_fpath_get(void);
void mmp_fpath_put(const char *buf);
uint64_t mmp_siphash(const uint64_t key[2], const void *data, size_t len);

/* files.c */
/* The path an open descriptor was opened with, into OUT: false if FD is
 * not tracked or its path is not known. */
bool mmp_file_dir_path(int fd, char *out);
/* Per-file records are being made (the files family is on and start-up
 * is complete; not while a fork child sets up its file). */
bool mmp_files_on(void);

#endif
