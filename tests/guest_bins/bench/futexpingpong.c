/* futexpingpong: two threads hand a turn back and forth through two POSIX
 * semaphores (futex wait and wake underneath), ROUNDS times each way.  Every
 * hand-off is a real wait: the cost of a futex wait and wake pair between
 * guest threads, and of the CPU changing hands.
 *
 * Usage: futexpingpong [ROUNDS]   (default 20000)
 */
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>

static sem_t ping, pong;
static int rounds;

static void *partner(void *arg)
{
    (void)arg;
    for (int i = 0; i < rounds; i++) {
        sem_wait(&ping);
        sem_post(&pong);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    rounds = argc > 1 ? atoi(argv[1]) : 20000;
    pthread_t t;
    sem_init(&ping, 0, 0);
    sem_init(&pong, 0, 0);
    if (pthread_create(&t, NULL, partner, NULL) != 0) {
        perror("pthread_create");
        return 1;
    }
    for (int i = 0; i < rounds; i++) {
        sem_post(&ping);
        sem_wait(&pong);
    }
    pthread_join(t, NULL);
    printf("%d rounds\n", rounds);
    return 0;
}
