/* The one list of the calls the shim hooks: X(family, name, shape).
 * It declares the per-call stats (shim.c), the families and the fields;
 * the hooks themselves live in hook_<family>.c. Tools never need this
 * table: the fields' names are in every stats file's descriptors.
 *
 * Shapes, and the fields each gets ("<family>.<name>.<field>"):
 *   XFER  calls errors requested_bytes bytes   (moves data)
 *   CALL  calls errors
 *   WAIT  calls errors ready                   (poll family: fds ready)
 *   ALLOC calls errors                         (memory; bytes in mem.*)
 * With MMSTATS_TIMING on, each call also gets a "latency" histogram (ns),
 * created the first time the call is made. */
#ifndef MMP_CALLS_H
#define MMP_CALLS_H

#define MMP_FAMILIES(X)                                                        \
    X(io, "read/write in every form, copy_file_range, sendfile, splice")       \
    X(fs,                                                                      \
      "open, close, dup, seek, sync, truncate, stat, unlink, rename, mkdir")   \
    X(net, "sockets: connect, accept, send, recv, poll, select, epoll")        \
    X(stdio, "FILE streams: fopen, fread, fwrite, fgets, fputs, fflush")       \
    X(mem, "malloc, free and the other allocation calls")

#define MMP_CALLS(X)                                                           \
    X(io, read, XFER)                                                          \
    X(io, write, XFER)                                                         \
    X(io, pread, XFER)                                                         \
    X(io, pread64, XFER)                                                       \
    X(io, pwrite, XFER)                                                        \
    X(io, pwrite64, XFER)                                                      \
    X(io, readv, XFER)                                                         \
    X(io, writev, XFER)                                                        \
    X(io, preadv, XFER)                                                        \
    X(io, preadv64, XFER)                                                      \
    X(io, pwritev, XFER)                                                       \
    X(io, pwritev64, XFER)                                                     \
    X(io, preadv2, XFER)                                                       \
    X(io, preadv64v2, XFER)                                                    \
    X(io, pwritev2, XFER)                                                      \
    X(io, pwritev64v2, XFER)                                                   \
    X(io, __read_chk, XFER)                                                    \
    X(io, __pread_chk, XFER)                                                   \
    X(io, __pread64_chk, XFER)                                                 \
    X(io, copy_file_range, XFER)                                               \
    X(io, sendfile, XFER)                                                      \
    X(io, sendfile64, XFER)                                                    \
    X(io, splice, XFER)                                                        \
    X(fs, open, CALL)                                                          \
    X(fs, open64, CALL)                                                        \
    X(fs, openat, CALL)                                                        \
    X(fs, openat64, CALL)                                                      \
    X(fs, creat, CALL)                                                         \
    X(fs, creat64, CALL)                                                       \
    X(fs, __open_2, CALL)                                                      \
    X(fs, __open64_2, CALL)                                                    \
    X(fs, __openat_2, CALL)                                                    \
    X(fs, __openat64_2, CALL)                                                  \
    X(fs, close, CALL)                                                         \
    X(fs, dup, CALL)                                                           \
    X(fs, dup2, CALL)                                                          \
    X(fs, dup3, CALL)                                                          \
    X(fs, lseek, CALL)                                                         \
    X(fs, lseek64, CALL)                                                       \
    X(fs, fsync, CALL)                                                         \
    X(fs, fdatasync, CALL)                                                     \
    X(fs, ftruncate, CALL)                                                     \
    X(fs, ftruncate64, CALL)                                                   \
    X(fs, stat, CALL)                                                          \
    X(fs, stat64, CALL)                                                        \
    X(fs, fstat, CALL)                                                         \
    X(fs, fstat64, CALL)                                                       \
    X(fs, lstat, CALL)                                                         \
    X(fs, lstat64, CALL)                                                       \
    X(fs, fstatat, CALL)                                                       \
    X(fs, fstatat64, CALL)                                                     \
    X(fs, statx, CALL)                                                         \
    X(fs, __xstat, CALL)                                                       \
    X(fs, __xstat64, CALL)                                                     \
    X(fs, __fxstat, CALL)                                                      \
    X(fs, __fxstat64, CALL)                                                    \
    X(fs, __lxstat, CALL)                                                      \
    X(fs, __lxstat64, CALL)                                                    \
    X(fs, __fxstatat, CALL)                                                    \
    X(fs, __fxstatat64, CALL)                                                  \
    X(fs, unlink, CALL)                                                        \
    X(fs, unlinkat, CALL)                                                      \
    X(fs, rename, CALL)                                                        \
    X(fs, renameat, CALL)                                                      \
    X(fs, mkdir, CALL)                                                         \
    X(fs, mkdirat, CALL)                                                       \
    X(net, socket, CALL)                                                       \
    X(net, connect, CALL)                                                      \
    X(net, accept, CALL)                                                       \
    X(net, accept4, CALL)                                                      \
    X(net, send, XFER)                                                         \
    X(net, sendto, XFER)                                                       \
    X(net, sendmsg, XFER)                                                      \
    X(net, recv, XFER)                                                         \
    X(net, recvfrom, XFER)                                                     \
    X(net, recvmsg, XFER)                                                      \
    X(net, __recv_chk, XFER)                                                   \
    X(net, __recvfrom_chk, XFER)                                               \
    X(net, poll, WAIT)                                                         \
    X(net, ppoll, WAIT)                                                        \
    X(net, select, WAIT)                                                       \
    X(net, pselect, WAIT)                                                      \
    X(net, epoll_wait, WAIT)                                                   \
    X(net, epoll_pwait, WAIT)                                                  \
    X(stdio, fopen, CALL)                                                      \
    X(stdio, fopen64, CALL)                                                    \
    X(stdio, fdopen, CALL)                                                     \
    X(stdio, fclose, CALL)                                                     \
    X(stdio, fread, XFER)                                                      \
    X(stdio, fwrite, XFER)                                                     \
    X(stdio, fgets, XFER)                                                      \
    X(stdio, fputs, XFER)                                                      \
    X(stdio, fread_unlocked, XFER)                                             \
    X(stdio, fwrite_unlocked, XFER)                                            \
    X(stdio, fgets_unlocked, XFER)                                             \
    X(stdio, fputs_unlocked, XFER)                                             \
    X(stdio, fflush, CALL)                                                     \
    X(mem, malloc, ALLOC)                                                      \
    X(mem, free, ALLOC)                                                        \
    X(mem, calloc, ALLOC)                                                      \
    X(mem, realloc, ALLOC)                                                     \
    X(mem, reallocarray, ALLOC)                                                \
    X(mem, posix_memalign, ALLOC)                                              \
    X(mem, aligned_alloc, ALLOC)                                               \
    X(mem, memalign, ALLOC)                                                    \
    X(mem, valloc, ALLOC)                                                      \
    X(mem, pvalloc, ALLOC)

#endif /* MMP_CALLS_H */
