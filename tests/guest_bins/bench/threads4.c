/* threads4: the cpuloop work split over 4 threads (no sharing, no syscalls in
 * the loops), for the cost of running guest threads one at a time.
 *
 * Usage: threads4 [ITERATIONS]   (total, default 180000000)
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static unsigned long per_thread;

static void *work(void *arg)
{
    uint32_t a = 1 + (uint32_t)(uintptr_t)arg, b = 2, c = 3;
    for (unsigned long i = 0; i < per_thread; i++) {
        a += b ^ (uint32_t)i;
        b = (b << 3) ^ (b >> 5) ^ c;
        c += a * 7 + (c >> 11);
        if (a & 0x100)
            c ^= 0x5bd1e995;
    }
    return (void *)(uintptr_t)(a ^ b ^ c);
}

int main(int argc, char **argv)
{
    unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 10) : 180000000UL;
    per_thread = n / 4;
    pthread_t t[4];
    for (uintptr_t i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, work, (void *)i);
    uint32_t sum = 0;
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(t[i], &r);
        sum ^= (uint32_t)(uintptr_t)r;
    }
    printf("threads4 %lu iterations checksum %08x\n", n, sum);
    return 0;
}
