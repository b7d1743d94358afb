/* spawnloop: the start-up cost of a program under several environments,
 * interleaved (ABAB...) so that a noisy machine slows every variant alike.
 *
 *   spawnloop ROUNDS VARIANTS... -- PROGRAM [ARGS...]
 *
 * Each VARIANT is a space-separated list of NAME=VALUE assignments added
 * to the environment ("-" for none; "NAME=" removes NAME). Every round
 * runs PROGRAM once per variant, in order, with posix_spawn, and takes
 * its wall time and its CPU time (user + system, from wait4: the
 * kernel's precise run time, not the scheduler tick) and its minor page
 * faults (from wait4 too). Prints one line per variant:
 * "variant K wall_us MEDIAN cpu_us MEDIAN minflt MEDIAN". */
#define _GNU_SOURCE
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define MAX_VARIANTS 16
#define MAX_ENV 4096

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The environment with SPEC's assignments applied: a copy of environ
 * without the names SPEC sets, then SPEC's non-empty ones. */
static char **env_of(const char *spec)
{
    char **env = calloc(MAX_ENV, sizeof *env);
    char *sets[64];
    int nsets = 0;
    char *copy = strdup(spec);
    if (!env || !copy)
        return NULL;
    for (char *save = NULL, *t = strtok_r(copy, " ", &save); t && nsets < 64;
         t = strtok_r(NULL, " ", &save))
        if (strchr(t, '='))
            sets[nsets++] = t;
    int n = 0;
    for (char **e = environ; *e && n < MAX_ENV - 65; e++) {
        int overridden = 0;
        for (int k = 0; k < nsets && !overridden; k++) {
            size_t len = (size_t)(strchr(sets[k], '=') - sets[k]) + 1;
            overridden = !strncmp(*e, sets[k], len);
        }
        if (!overridden)
            env[n++] = *e;
    }
    for (int k = 0; k < nsets; k++)
        if (strchr(sets[k], '=')[1])
            env[n++] = sets[k];
    return env;
}

/* One run: wall and CPU microseconds and minor faults, or -1 if PROGRAM
 * failed. */
static int run_once(char **argv, char **env, double *wall, double *cpu,
                    double *minflt)
{
    pid_t pid;
    double t0 = now_us();
    if (posix_spawn(&pid, argv[0], NULL, NULL, argv, env) != 0)
        return -1;
    int st;
    struct rusage ru;
    if (wait4(pid, &st, 0, &ru) != pid)
        return -1;
    *wall = now_us() - t0;
    *cpu = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
    *minflt = (double)ru.ru_minflt;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    int sep = 0;
    for (int i = 1; i < argc && !sep; i++)
        if (!strcmp(argv[i], "--"))
            sep = i;
    int rounds = argc > 1 ? atoi(argv[1]) : 0;
    int nv = sep - 2;
    if (!sep || sep + 1 >= argc || rounds < 1 || rounds > 1000000 || nv < 1 ||
        nv > MAX_VARIANTS) {
        fprintf(stderr,
                "usage: spawnloop ROUNDS VARIANT... -- PROGRAM [ARGS]\n");
        return 2;
    }
    char **envs[MAX_VARIANTS];
    double *wall[MAX_VARIANTS], *cpu[MAX_VARIANTS], *flt[MAX_VARIANTS];
    for (int v = 0; v < nv; v++) {
        envs[v] = env_of(argv[2 + v]);
        wall[v] = calloc((size_t)rounds, sizeof(double));
        cpu[v] = calloc((size_t)rounds, sizeof(double));
        flt[v] = calloc((size_t)rounds, sizeof(double));
        if (!envs[v] || !wall[v] || !cpu[v] || !flt[v])
            return 1;
    }
    for (int r = 0; r < rounds; r++)
        for (int v = 0; v < nv; v++)
            if (run_once(argv + sep + 1, envs[v], &wall[v][r], &cpu[v][r],
                         &flt[v][r])) {
                fprintf(stderr, "spawnloop: %s failed (variant %d)\n",
                        argv[sep + 1], v);
                return 1;
            }
    for (int v = 0; v < nv; v++) {
        qsort(wall[v], (size_t)rounds, sizeof(double), cmp);
        qsort(cpu[v], (size_t)rounds, sizeof(double), cmp);
        qsort(flt[v], (size_t)rounds, sizeof(double), cmp);
        printf("variant %d wall_us %.1f cpu_us %.1f minflt %.0f\n", v,
               wall[v][rounds / 2], cpu[v][rounds / 2], flt[v][rounds / 2]);
    }
    return 0;
}
