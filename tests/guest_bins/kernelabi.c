/* kernelabi: ARM kuser helpers, bad pointers (EFAULT) and unknown syscalls (ENOSYS).
 *
 * Also arguments out of range for the host's C types: negative and huge
 * descriptors (EBADF), a uid of 0xfffff000 and (uid_t)-1 for "unchanged".
 *
 * The kuser helpers are called at their fixed addresses, as old or
 * hand-written code does (Linux Documentation/arm/kernel_user_helpers);
 * they and cacheflush are ARM's only: other CPUs print the rest.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#ifdef __arm__
typedef int (*kuser_cmpxchg_t)(int oldval, int newval, volatile int *ptr);
typedef int (*kuser_cmpxchg64_t)(const int64_t *oldval, const int64_t *newval,
                                 volatile int64_t *ptr);
typedef void *(*kuser_get_tls_t)(void);
typedef void (*kuser_barrier_t)(void);

#define KUSER_VERSION (*(volatile int *)0xffff0ffc)
#define kuser_cmpxchg ((kuser_cmpxchg_t)0xffff0fc0)
#define kuser_cmpxchg64 ((kuser_cmpxchg64_t)0xffff0f60)
#define kuser_get_tls ((kuser_get_tls_t)0xffff0fe0)
#define kuser_barrier ((kuser_barrier_t)0xffff0fa0)
#endif

#ifndef SYS_fstat64
#define SYS_fstat64 SYS_fstat /* 64-bit targets */
#endif
#ifndef SYS_fchown32 /* targets whose only uid calls take 32-bit ids */
#define SYS_fchown32 SYS_fchown
#define SYS_setresuid32 SYS_setresuid
#endif
#ifndef SYS_fcntl64
#define SYS_fcntl64 SYS_fcntl
#endif

static const char *err(long r)
{
    return r < 0 ? strerrorname_np(errno) : "ok";
}

int main(void)
{
#ifdef __arm__
    printf("kuser version >= 5: %d\n", KUSER_VERSION >= 5);
    printf("get_tls == thread pointer: %d\n", kuser_get_tls() == __builtin_thread_pointer());
    volatile int word = 5;
    int r1 = kuser_cmpxchg(5, 9, &word);
    int r2 = kuser_cmpxchg(5, 11, &word);
    printf("cmpxchg: success=%d word=%d, stale=%d word=%d\n", r1 == 0, word, r2 != 0, word);
    volatile int64_t wide = 0x100000000LL;
    int64_t old = 0x100000000LL, new = 0x200000001LL;
    int r3 = kuser_cmpxchg64(&old, &new, &wide);
    int r4 = kuser_cmpxchg64(&old, &new, &wide);
    printf("cmpxchg64: success=%d wide=%#llx, stale=%d\n", r3 == 0, (unsigned long long)wide,
           r4 != 0);
    kuser_barrier();
#endif

    long r = syscall(SYS_write, 1, (void *)16, 5);
    printf("write from a bad pointer: %ld %s\n", r, err(r));
    r = syscall(SYS_read, 0, (void *)16, 5);
    printf("read into a bad pointer: %ld %s\n", r, err(r));
    r = syscall(SYS_uname, (void *)0xfffffff0);
    printf("uname into a bad pointer: %ld %s\n", r, err(r));
    r = syscall(SYS_openat, AT_FDCWD, (char *)8, 0);
    printf("open of a bad path pointer: %ld %s\n", r, err(r));
    struct stat st;
    r = syscall(SYS_fstat64, 12345, &st);
    printf("fstat of a bad fd: %ld %s\n", r, err(r));
    r = syscall(SYS_fsync, -1);
    printf("fsync(-1): %ld %s\n", r, err(r));
    r = syscall(SYS_flock, -1, 2);
    printf("flock(-1): %ld %s\n", r, err(r));
    r = syscall(SYS_lseek, 0x7fffffff, 0, 0);
    printf("lseek(0x7fffffff): %ld %s\n", r, err(r));
    r = syscall(SYS_fchown32, 12345, 0xfffff000u, 0xfffff000u);
    printf("fchown of a bad fd to uid 0xfffff000: %ld %s\n", r, err(r));
    r = syscall(SYS_setresuid32, -1, -1, -1);
    printf("setresuid(-1, -1, -1): %ld %s\n", r, err(r));
    r = syscall(SYS_ioctl, 12345, FIOCLEX, 0xfffff000u);
    printf("ioctl FIOCLEX of a bad fd, argument 0xfffff000: %ld %s\n", r, err(r));
    r = syscall(SYS_fcntl64, -1, F_GETFD);
    printf("fcntl(-1, F_GETFD): %ld %s\n", r, err(r));
    /* an int argument is its register's low half: a 64-bit kernel ignores the
     * upper one (there is none on 32-bit targets) */
    long upper_garbage = (long)((unsigned long)0xdead << 16 << 16);
    r = syscall(SYS_kill, upper_garbage | getpid(), 0);
    printf("kill(own pid with garbage in the upper half, 0): %ld %s\n", r, err(r));
    r = syscall(9999);
    printf("syscall 9999: %ld %s\n", r, err(r));
#ifdef __arm__
    r = syscall(__ARM_NR_cacheflush, (long)main, (long)main + 64, 0);
    printf("cacheflush: %ld\n", r);
#endif
    return 0;
}
