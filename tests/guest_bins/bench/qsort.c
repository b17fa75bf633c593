/* qsort: libc qsort of pseudo-random ints through a comparison callback.
 *
 * Usage: qsort [COUNT]   (default 1000000 ints, 4 MB)
 * Prints a checksum of the sorted array.  Measures calls, branches and
 * memory traffic inside libc.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static int cmp(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000UL;
    int32_t *v = malloc(n * sizeof *v);
    if (!v) {
        printf("out of memory\n");
        return 1;
    }
    uint32_t s = 2463534242u;
    for (unsigned long i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        v[i] = (int32_t)s;
    }
    qsort(v, n, sizeof *v, cmp);
    uint32_t sum = 0;
    int sorted = 1;
    for (unsigned long i = 0; i < n; i++) {
        sum = sum * 31 + (uint32_t)v[i];
        if (i && v[i - 1] > v[i])
            sorted = 0;
    }
    printf("qsort %lu ints sorted=%s checksum %08x\n", n, sorted ? "yes" : "no", sum);
    free(v);
    return 0;
}
