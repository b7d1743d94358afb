/* A condition-variable ping-pong, for test_sync_cond.sh: two threads
 * take turns ROUNDS times each, each waiting on one condition variable
 * until it is its turn, counting its own pthread_cond_wait calls.
 *
 *   sync_cond ROUNDS
 * Prints "waits N" (the calls of pthread_cond_wait both threads made). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
static int turn, rounds;
static long waits[2];

static void *player(void *arg)
{
    int me = (int)(long)arg;
    for (int i = 0; i < rounds; i++) {
        pthread_mutex_lock(&m);
        while (turn != me) {
            waits[me]++;
            pthread_cond_wait(&c, &m);
        }
        turn = !me;
        pthread_cond_broadcast(&c);
        pthread_mutex_unlock(&m);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    rounds = atoi(argv[1]);
    pthread_t t[2];
    for (long i = 0; i < 2; i++)
        if (pthread_create(&t[i], NULL, player, (void *)i) != 0)
            return 1;
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    printf("waits %ld\n", waits[0] + waits[1]);
    return 0;
}
