/* mmap of files and many mappings.
 *
 * Exercises: MAP_PRIVATE and MAP_SHARED file mappings (writes reaching the
 * file or not), an offset in pages (mmap2), a mapping past the end of the
 * file, MAP_FIXED over a mapping, MAP_FIXED_NOREPLACE (EEXIST), MAP_NORESERVE
 * of a large range, mprotect and munmap splitting a mapping (seen in
 * /proc/self/maps), thousands of small mappings, and /proc/self/maps naming
 * the file.  Prints one line per check.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

static const char *yesno(int b)
{
    return b ? "yes" : "no";
}

/* lines of /proc/self/maps that overlap [start, end) */
static int maps_lines(void *start, void *end, const char *must_contain)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long a, b;
        if (sscanf(line, "%lx-%lx", &a, &b) != 2)
            continue;
        if (a < (uintptr_t)end && b > (uintptr_t)start &&
            (!must_contain || strstr(line, must_contain)))
            n++;
    }
    fclose(f);
    return n;
}

int main(void)
{
    long page = sysconf(_SC_PAGESIZE);
    char path[] = "/tmp/mmapfile-XXXXXX";
    int fd = mkstemp(path);
    char *data = malloc(4 * page);
    for (long i = 0; i < 4 * page; i++)
        data[i] = 'a' + i / page;
    write(fd, data, 4 * page - 100); /* the last page is partial */

    char *priv = mmap(NULL, 4 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    printf("private: %c%c%c%c, tail zero: %s\n", priv[0], priv[page], priv[2 * page],
           priv[3 * page], yesno(priv[4 * page - 1] == 0));
    priv[0] = 'X';
    char c;
    pread(fd, &c, 1, 0);
    printf("private write stays private: %s\n", yesno(c == 'a'));
    printf("maps names the file: %s\n", yesno(maps_lines(priv, priv + 4 * page, "mmapfile-") > 0));

    char *off = mmap(NULL, page, PROT_READ, MAP_PRIVATE, fd, 2 * page);
    printf("offset 2 pages: %c\n", off[0]);

    char *shared = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, page);
    shared[1] = 'Z';
    msync(shared, page, MS_SYNC);
    pread(fd, &c, 1, page + 1);
    printf("shared write reaches the file: %s\n", yesno(c == 'Z'));

    /* MAP_FIXED replaces, MAP_FIXED_NOREPLACE refuses */
    char *fixed = mmap(priv + page, page, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    printf("MAP_FIXED over the file: %s, zero: %s, neighbours kept: %c %c\n",
           yesno(fixed == priv + page), yesno(fixed[0] == 0), priv[0], priv[2 * page]);
    errno = 0;
    char *nr = mmap(priv, page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    printf("MAP_FIXED_NOREPLACE on a mapping: %s %s\n", yesno(nr == MAP_FAILED),
           strerror(errno));

    /* splitting: one anonymous mapping, protect the middle, unmap a page */
    char *a = mmap(NULL, 8 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(a, 1, 8 * page);
    mprotect(a + 2 * page, 2 * page, PROT_READ);
    munmap(a + 6 * page, page);
    printf("split into maps lines: %d\n", maps_lines(a, a + 8 * page, NULL));
    printf("kept contents: %d %d %d\n", a[0], a[2 * page], a[7 * page]);

    /* a large reservation costs nothing until touched */
    size_t big = (size_t)1 << 30;
    char *r = mmap(NULL, big, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    printf("1 GiB MAP_NORESERVE: %s\n", yesno(r != MAP_FAILED));
    if (r != MAP_FAILED) {
        r[0] = 1;
        r[big - 1] = 2;
        printf("touched both ends: %d %d\n", r[0], r[big - 1]);
        munmap(r, big);
    }

    /* many small mappings, every other one unmapped again */
    enum { N = 3000 };
    static char *many[N];
    int ok = 1;
    for (int i = 0; i < N; i++) {
        many[i] = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (many[i] == MAP_FAILED)
            ok = 0;
        else
            many[i][0] = (char)i;
    }
    for (int i = 0; i < N; i += 2)
        munmap(many[i], page);
    for (int i = 1; i < N; i += 2)
        ok &= many[i][0] == (char)i;
    printf("%d mappings, half unmapped, contents kept: %s\n", N, yesno(ok));

    munmap(priv, 4 * page);
    close(fd);
    unlink(path);
    return 0;
}
