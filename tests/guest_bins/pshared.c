/* pshared: futexes shared between processes (MAP_SHARED memory).
 *
 * A process-shared semaphore and a process-shared mutex/condition variable in
 * an anonymous shared mapping, used by a parent and its forked child: their
 * FUTEX_WAIT/FUTEX_WAKE (not FUTEX_PRIVATE) must reach the other process, as
 * multiprocessing's semaphores and pshared pthread objects need.
 */
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct shared {
    sem_t ready;
    sem_t done;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int value;
};

int main(void)
{
    struct shared *s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE,
                            MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    sem_init(&s->ready, 1, 0);
    sem_init(&s->done, 1, 0);
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
    pthread_mutex_init(&s->lock, &ma);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
    pthread_cond_init(&s->changed, &ca);
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        sem_wait(&s->ready); /* blocks until the parent posts */
        printf("child: semaphore posted by the parent\n");
        fflush(stdout);
        pthread_mutex_lock(&s->lock);
        while (s->value == 0)
            pthread_cond_wait(&s->changed, &s->lock);
        printf("child: condition signalled, value %d\n", s->value);
        fflush(stdout);
        pthread_mutex_unlock(&s->lock);
        sem_post(&s->done);
        _exit(0);
    }
    struct timespec pause = {0, 100 * 1000 * 1000};
    nanosleep(&pause, NULL); /* let the child block first */
    sem_post(&s->ready);
    nanosleep(&pause, NULL);
    pthread_mutex_lock(&s->lock);
    s->value = 42;
    pthread_cond_broadcast(&s->changed);
    pthread_mutex_unlock(&s->lock);
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 10;
    int got = sem_timedwait(&s->done, &deadline);
    int status = 0;
    waitpid(child, &status, 0);
    printf("parent: child done %s, exit status %d\n", got == 0 ? "yes" : "no",
           WEXITSTATUS(status));
    return 0;
}
