/* mmap: anonymous memory management.
 *
 * Exercises: mmap (anonymous private, fixed placement inside a reserved
 * range, PROT_NONE reservations), munmap of a part of a mapping, mprotect,
 * mremap (grow in place or move, shrink), madvise(MADV_DONTNEED) zeroing
 * private anonymous pages, brk/sbrk growth and shrink, mmap errors, mincore.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static const char *yesno(int b)
{
    return b ? "yes" : "no";
}

int main(void)
{
    long page = sysconf(_SC_PAGESIZE);
    printf("page size: %ld\n", page);

    size_t len = 16 * page;
    unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("mmap anon: %s, page aligned: %s\n", yesno(p != MAP_FAILED),
           yesno(((uintptr_t)p & (page - 1)) == 0));
    int zero = 1;
    for (size_t i = 0; i < len; i++)
        zero &= p[i] == 0;
    printf("fresh anonymous memory is zero: %s\n", yesno(zero));
    memset(p, 0xab, len);

    /* Punch a hole in the middle, then map a fixed page into it. */
    printf("munmap middle page: %d\n", munmap(p + 4 * page, page));
    unsigned char *q =
        mmap(p + 4 * page, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
             -1, 0);
    printf("MAP_FIXED into the hole lands there: %s, zeroed: %s, neighbours kept: %s\n",
           yesno(q == p + 4 * page), yesno(q[0] == 0 && q[page - 1] == 0),
           yesno(p[4 * page - 1] == 0xab && p[5 * page] == 0xab));

    printf("mprotect read-only: %d\n", mprotect(p, page, PROT_READ));
    printf("read after mprotect: %#x\n", p[10]);
    printf("mprotect back to rw: %d\n", mprotect(p, page, PROT_READ | PROT_WRITE));
    p[10] = 0x11;
    printf("write after mprotect rw: %#x\n", p[10]);

    printf("madvise DONTNEED: %d\n", madvise(p + page, page, MADV_DONTNEED));
    printf("page after DONTNEED is zero: %s\n", yesno(p[page] == 0 && p[2 * page - 1] == 0));

    unsigned char *g = mremap(p, len, 64 * page, MREMAP_MAYMOVE);
    printf("mremap grow: %s, data kept: %s\n", yesno(g != MAP_FAILED),
           yesno(g[10] == 0x11 && g[len - 1] == 0xab));
    int zero_tail = 1;
    for (size_t i = len; i < 64 * (size_t)page; i += 64)
        zero_tail &= g[i] == 0;
    printf("grown part is zero: %s\n", yesno(zero_tail));
    unsigned char *s = mremap(g, 64 * page, 2 * page, 0);
    printf("mremap shrink in place: %s\n", yesno(s == g));
    printf("munmap: %d\n", munmap(s, 2 * page));

    /* A PROT_NONE reservation with a usable window inside it. */
    unsigned char *res = mmap(NULL, 256 * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    unsigned char *win = mmap(res + 100 * page, 4 * page, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    win[0] = 1;
    win[4 * page - 1] = 2;
    printf("window in PROT_NONE reservation: %s %d %d\n", yesno(win == res + 100 * page), win[0],
           win[4 * page - 1]);
    munmap(res, 256 * page);

    errno = 0;
    void *bad = mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("mmap length 0: %s EINVAL: %s\n", yesno(bad == MAP_FAILED), yesno(errno == EINVAL));
    errno = 0;
    bad = mmap(NULL, page, PROT_READ, MAP_PRIVATE, 12345, 0);
    printf("mmap bad fd: %s EBADF: %s\n", yesno(bad == MAP_FAILED), yesno(errno == EBADF));
    errno = 0;
    printf("munmap unaligned: %d EINVAL: %s\n", munmap((char *)res + 1, page), yesno(errno == EINVAL));

    /* brk: grow by 1 MiB, touch it, shrink back. */
    char *b0 = sbrk(0);
    char *b1 = sbrk(1 << 20);
    printf("sbrk grow: %s\n", yesno(b1 == b0));
    memset(b1, 0x5a, 1 << 20);
    printf("sbrk memory usable: %s\n", yesno(b1[0] == 0x5a && b1[(1 << 20) - 1] == 0x5a));
    printf("sbrk(0) after grow: +%ld\n", (long)((char *)sbrk(0) - b0));
    sbrk(-(1 << 20));
    printf("sbrk shrink back: %s\n", yesno(sbrk(0) == b0));

    /* mincore: touched pages are resident (whether untouched ones are depends
     * on the host's transparent huge pages); the guest's holes are ENOMEM */
    char *m = mmap(NULL, 4 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    m[0] = 1;
    m[2 * page] = 1;
    unsigned char vec[4];
    int r = mincore(m, 4 * page, vec);
    printf("mincore: %d, touched pages resident: %s\n", r, yesno((vec[0] & 1) && (vec[2] & 1)));
    munmap(m + 3 * page, page);
    errno = 0;
    r = mincore(m, 4 * page, vec);
    printf("mincore over an unmapped page: %d %s\n", r, errno == ENOMEM ? "ENOMEM" : "?");
    errno = 0;
    r = mincore(m + 1, page, vec);
    printf("mincore unaligned: %d %s\n", r, errno == EINVAL ? "EINVAL" : "?");
    errno = 0;
    r = mincore(m, page, (unsigned char *)8);
    printf("mincore into a bad vector: %d %s\n", r, errno == EFAULT ? "EFAULT" : "?");
    return 0;
}
