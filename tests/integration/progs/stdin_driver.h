/* The stdin protocol of the test programs that hold their threads alive
 * while a test reads their stats (threads_many.c, threads_named.c):
 *
 *   the program does its work, prints "ready PID", reads a line;
 *   lets its threads end and joins them, prints "joined failed N";
 *   exits at the end of its input.
 *
 * A test drives it through a pipe (coproc), so each step is an event it
 * waits for, never a sleep. */
#ifndef STDIN_DRIVER_H
#define STDIN_DRIVER_H

#include <stdio.h>
#include <unistd.h>

/* Says "ready PID" and waits for the test's line: 0, or -1 when the
 * input ended first. */
static inline int driver_ready(void)
{
    char line[64];
    printf("ready %ld\n", (long)getpid());
    fflush(stdout);
    return fgets(line, sizeof line, stdin) ? 0 : -1;
}

/* Says "joined failed FAILED" and waits for the end of the input. */
static inline void driver_joined(long failed)
{
    char line[64];
    printf("joined failed %ld\n", failed);
    fflush(stdout);
    while (fgets(line, sizeof line, stdin))
        ;
}

#endif
