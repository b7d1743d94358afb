/* A program with known calls, run under the shim by the mmstat-run tests.
 * Every option is done in this order, with plain write(2)/read(2):
 *
 *   -e TEXT   write TEXT and a newline to stderr
 *   -w N      write N bytes (a pattern) to stdout, 1000 per call
 *   -c        copy stdin to stdout (4096-byte reads) until EOF
 *   -m N      N times malloc(100) then free
 *   -f K      fork K children; each opens /dev/null, writes 100 bytes to
 *             it 5 times, closes it and exits 0; all are waited for
 *   -k SIG    end by raising SIG
 *   -x CODE   exit with CODE (default 0) */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k <= 0)
            exit(111);
        p += k;
        n -= (size_t)k;
    }
}

int main(int argc, char **argv)
{
    const char *text = NULL;
    long nwrite = 0, nmalloc = 0, nfork = 0;
    int copy = 0, sig = 0, code = 0, c;
    while ((c = getopt(argc, argv, "e:w:cm:f:k:x:")) != -1) {
        switch (c) {
        case 'e':
            text = optarg;
            break;
        case 'w':
            nwrite = atol(optarg);
            break;
        case 'c':
            copy = 1;
            break;
        case 'm':
            nmalloc = atol(optarg);
            break;
        case 'f':
            nfork = atol(optarg);
            break;
        case 'k':
            sig = atoi(optarg);
            break;
        case 'x':
            code = atoi(optarg);
            break;
        default:
            return 2;
        }
    }
    if (text) {
        write_all(2, text, strlen(text));
        write_all(2, "\n", 1);
    }
    char buf[4096];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (char)('a' + i % 26);
    while (nwrite > 0) {
        size_t n = nwrite < 1000 ? (size_t)nwrite : 1000;
        write_all(1, buf, n);
        nwrite -= (long)n;
    }
    if (copy) {
        ssize_t n;
        while ((n = read(0, buf, sizeof buf)) > 0)
            write_all(1, buf, (size_t)n);
    }
    for (long i = 0; i < nmalloc; i++) {
        void *volatile p = malloc(100);
        free(p);
    }
    for (long i = 0; i < nfork; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            int fd = open("/dev/null", O_WRONLY);
            for (int k = 0; k < 5; k++)
                write_all(fd, buf, 100);
            close(fd);
            _exit(0);
        }
    }
    while (nfork > 0 && wait(NULL) > 0)
        ;
    if (sig)
        raise(sig);
    return code;
}
