/* stdio_malloc: formatted output and the heap.
 *
 * Exercises: printf's integer, floating-point (VFP + libc's conversion code),
 * string and padding formats; snprintf truncation; malloc/free/realloc of
 * many sizes (brk for small blocks, mmap/munmap for big ones, mremap when a
 * big block grows), a 64 MiB block, calloc zeroing, qsort.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t lcg_state = 12345;

static uint32_t lcg(void)
{
    lcg_state = lcg_state * 1103515245u + 12345u;
    return lcg_state >> 1;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static void formats(void)
{
    volatile double pi = 3.14159265358979323846, big = 6.02214076e23, tiny = 1.5e-7;
    volatile float f = 2.5f;
    long long ll = -1234567890123LL;
    unsigned long long ull = 18446744073709551615ULL;

    printf("int: [%d] [%i] [%5d] [%-5d] [%05d] [%+d] [% d]\n", 42, -42, 42, 42, 42, 42, 42);
    printf("unsigned: [%u] [%x] [%X] [%#x] [%o] [%#o]\n", 3000000000u, 48879u, 48879u,
           255u, 8u, 8u);
    printf("long long: [%lld] [%llu] [%llx]\n", ll, ull, 0x123456789abcdefULL);
    printf("char/str: [%c] [%s] [%10s] [%-10s] [%.3s] [%*s]\n", 'A', "str", "right",
           "left", "truncate", 6, "star");
    printf("double: [%f] [%.2f] [%10.4f] [%-10.1f] [%e] [%E] [%.3e]\n", pi, pi, pi, pi, big,
           big, tiny);
    printf("g: [%g] [%g] [%g] [%G] [%.10g]\n", pi, big, tiny, 1e-10, pi);
    printf("float promoted: [%f] [%.1f]\n", f, (double)f * 3);
    volatile double zero = 0.0;
    printf("special: [%f] [%f] [%f] [%.0f] [%.0f] [%.0f]\n", 1.0 / zero, -1.0 / zero, zero / zero,
           0.5, 1.5, 2.5);
    printf("negative zero: [%f] [%g]\n", -0.0, -0.0);
    printf("pointer null: [%p] percent: [%%]\n", (void *)0);
    printf("hex float: [%a] [%a]\n", 1.0, 0.1);

    char buf[16];
    volatile size_t bufsize = sizeof buf; /* hide the intended truncation from -Wformat */
    int n = snprintf(buf, bufsize, "%s-%d-%s", "abcdefgh", 123456, "tail");
    printf("snprintf: ret=%d buf=\"%s\"\n", n, buf);
    n = snprintf(NULL, 0, "%08.3f", -pi);
    printf("snprintf(NULL,0): ret=%d\n", n);
}

static void heap(void)
{
    /* Many sizes, interleaved frees, contents checked after realloc. */
    enum { N = 200 };
    unsigned char *blocks[N];
    size_t sizes[N];
    unsigned long sum = 0;
    for (int i = 0; i < N; i++) {
        sizes[i] = 1 + (lcg() % 5000) * (i % 7 == 0 ? 100 : 1);
        blocks[i] = malloc(sizes[i]);
        if (!blocks[i]) {
            printf("malloc failed\n");
            exit(1);
        }
        memset(blocks[i], i & 0xff, sizes[i]);
    }
    for (int i = 0; i < N; i += 2) {
        free(blocks[i]);
        blocks[i] = NULL;
    }
    for (int i = 1; i < N; i += 2) {
        size_t ns = sizes[i] * 3 + 17;
        blocks[i] = realloc(blocks[i], ns);
        for (size_t k = 0; k < sizes[i]; k++)
            if (blocks[i][k] != (i & 0xff)) {
                printf("realloc lost data in block %d\n", i);
                exit(1);
            }
        memset(blocks[i] + sizes[i], 0x5a, ns - sizes[i]);
        for (size_t k = 0; k < ns; k += 97)
            sum += blocks[i][k];
        sizes[i] = ns;
    }
    for (int i = 0; i < N; i++)
        free(blocks[i]);
    printf("heap: %d blocks, checksum %lu\n", N, sum);

    /* 64 MiB: far above the mmap threshold, so malloc maps it directly. */
    size_t big = 64u << 20;
    unsigned char *p = malloc(big);
    if (!p) {
        printf("64 MiB malloc failed\n");
        exit(1);
    }
    for (size_t k = 0; k < big; k += 4096)
        p[k] = (unsigned char)(k >> 12);
    p[big - 1] = 0xee;
    unsigned long bsum = 0;
    for (size_t k = 0; k < big; k += 4096)
        bsum += p[k];
    printf("64 MiB block: first=%u last=%#x page-sum=%lu\n", p[0], p[big - 1], bsum);
    /* Growing a mapped block goes through mremap. */
    p = realloc(p, big + (16u << 20));
    printf("grown to 80 MiB: data kept: %s\n",
           (p && p[4096 * 3] == 3 && p[big - 1] == 0xee) ? "yes" : "no");
    free(p);

    /* calloc must hand out zeroed memory, also when reusing freed chunks. */
    for (int round = 0; round < 3; round++) {
        unsigned char *d = malloc(100000);
        memset(d, 0xff, 100000);
        free(d);
        unsigned char *z = calloc(25000, 4);
        int nonzero = 0;
        for (int k = 0; k < 100000; k++)
            nonzero |= z[k];
        printf("calloc round %d zeroed: %s\n", round, nonzero ? "no" : "yes");
        free(z);
    }
    unsigned char *zb = calloc(1, 8u << 20);
    int nz = 0;
    for (size_t k = 0; k < (8u << 20); k += 509)
        nz |= zb[k];
    printf("calloc 8 MiB zeroed: %s\n", nz ? "no" : "yes");
    free(zb);
}

static void sorting(void)
{
    enum { N = 20000 };
    int *a = malloc(N * sizeof *a);
    for (int i = 0; i < N; i++)
        a[i] = (int)(lcg() % 1000000) - 500000;
    qsort(a, N, sizeof *a, cmp_int);
    int sorted = 1;
    unsigned long long weighted = 0;
    for (int i = 0; i < N; i++) {
        if (i && a[i - 1] > a[i])
            sorted = 0;
        weighted += (unsigned long long)(i + 1) * (unsigned)(a[i] + 500000);
    }
    printf("qsort %d ints: sorted=%s min=%d max=%d weighted=%llu\n", N, sorted ? "yes" : "no",
           a[0], a[N - 1], weighted);
    free(a);
}

int main(void)
{
    formats();
    heap();
    sorting();
    printf("done\n");
    return 0;
}
