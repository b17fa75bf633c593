/* threadchurn: create and join one thread at a time, many times over (what a
 * thread pool that does not pool, or a test driver, does).  The host cost of
 * a guest thread that came and went, in time and in memory.
 *
 * Usage: threadchurn [COUNT]   (default 300)
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static void *work(void *arg)
{
    return (void *)((uintptr_t)arg * 3 + 1);
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 300;
    unsigned long sum = 0;
    for (int i = 0; i < n; i++) {
        pthread_t t;
        void *result;
        if (pthread_create(&t, NULL, work, (void *)(uintptr_t)i) != 0) {
            perror("pthread_create");
            return 1;
        }
        pthread_join(t, &result);
        sum += (uintptr_t)result;
    }
    printf("%d threads, sum %lu\n", n, sum);
    return 0;
}
