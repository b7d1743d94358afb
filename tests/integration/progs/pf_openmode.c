/* open's mode reaches the real call with O_CREAT and O_TMPFILE, through
 * every open name: pf_openmode DIR. Under umask 022, prints each file's
 * permission bits (fstat of the returned descriptor). */
#include <errno.h>
#include <sys/stat.h>

#include "pf_common.h"

static void show(const char *name, int fd)
{
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        printf("%-14s error %s\n", name, strerror(errno));
        return;
    }
    printf("%-14s %04o\n", name, (unsigned)(st.st_mode & 07777));
    close(fd);
}

int main(int argc, char **argv)
{
    if (argc != 2 || chdir(argv[1]) < 0)
        return 2;
    umask(022);
    int dfd = open(".", O_RDONLY | O_DIRECTORY);
    show("open", open("a", O_WRONLY | O_CREAT | O_EXCL, 0640));
    show("open64", open64("b", O_WRONLY | O_CREAT, 0604));
    show("openat", openat(dfd, "c", O_RDWR | O_CREAT, 0666));
    show("openat64", openat64(dfd, "d", O_RDWR | O_CREAT | O_TRUNC, 0700));
    show("creat", creat("e", 0610));
    show("creat64", creat64("f", 0601));
    show("open-tmpfile", open(".", O_TMPFILE | O_WRONLY, 0620));
    show("openat-tmpfile", openat(dfd, ".", O_TMPFILE | O_RDWR, 0602));
    show("open64-tmpfile", open64(".", O_TMPFILE | O_RDWR, 0660));
    /* No O_CREAT: no mode argument at all; the file opens as it is. */
    show("open-nomode", open("a", O_RDONLY));
    show("openat-nomode", openat(dfd, "d", O_RDONLY));
    close(dfd);
    return 0;
}
