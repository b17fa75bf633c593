/* conformance: kernel behaviour that outside conformance programs and a
 * syscall fuzzer found different from Linux.  Fixed, named calls only (no
 * random ones: the fuzzer itself, sysfuzz.c, runs under unshare --user --pid).
 *
 *   times     utime, utimes, futimesat and utimensat with NULL times set the
 *             file's times to now (a NULL path with a descriptor: that file)
 *   restart   restart_syscall with nothing to restart returns EINTR
 *   signals   every signal number 1.._NSIG is valid (64; 128 on MIPS), and
 *             the last one can be caught, blocked, queued, waited for and
 *             read from a signalfd; 0 and _NSIG + 1 are not
 *   dontneed  madvise(MADV_DONTNEED) on a private file mapping brings back
 *             the file's content; on a private anonymous one, zeros
 *   fuzzed    what the syscall fuzzer found: mremap with old_size 0 (was a
 *             traceback), clock_nanosleep on a thread CPU clock (slept),
 *             msgrcv with a bad id and a huge size, a FIFO's open
 *             interrupted by a signal (never returned)
 *
 * Usage: conformance SCENARIO...   (each runs in turn)
 *
 * The output is the same on every architecture: the reference is Linux's own
 * run of the i386 build (qemu-user 7.2 answers restart_syscall with ENOSYS
 * and refuses to send MIPS signals above 64).  The calls are made with
 * syscall() because glibc's wrappers use other calls (utimes is utimensat)
 * or refuse signal numbers itself (MIPS glibc stops at 127).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *err(long r)
{
    return r < 0 ? strerrorname_np(errno) : "ok";
}

/* ------------------------------------------------------------------ times */
static const char *FILE_NAME = "conformance.tmp";

static void make_old(void)
{
    struct timespec old[2] = {{1, 0}, {1, 0}};
    utimensat(AT_FDCWD, FILE_NAME, old, 0);
}

static const char *is_now(void)
{
    struct stat st;
    if (stat(FILE_NAME, &st) != 0)
        return "stat failed";
    time_t now = time(NULL);
    return st.st_mtime >= now - 60 && st.st_atime >= now - 60 ? "yes" : "no";
}

static int times_(void)
{
    int fd = open(FILE_NAME, O_CREAT | O_RDWR | O_TRUNC, 0644);
    long r;
    /* the 64-bit generic ABIs (aarch64, riscv64) have only utimensat: the
     * line is printed from it there, so that every arch prints the same */
    make_old();
#ifdef SYS_utime
    r = syscall(SYS_utime, FILE_NAME, NULL);
#else
    r = syscall(SYS_utimensat, AT_FDCWD, FILE_NAME, NULL, 0);
#endif
    printf("utime(path, NULL): %ld %s, times now: %s\n", r, err(r), is_now());
    make_old();
#ifdef SYS_utimes
    r = syscall(SYS_utimes, FILE_NAME, NULL);
#else
    r = syscall(SYS_utimensat, AT_FDCWD, FILE_NAME, NULL, 0);
#endif
    printf("utimes(path, NULL): %ld %s, times now: %s\n", r, err(r), is_now());
    make_old();
#ifdef SYS_futimesat
    r = syscall(SYS_futimesat, AT_FDCWD, FILE_NAME, NULL);
#else
    r = syscall(SYS_utimensat, AT_FDCWD, FILE_NAME, NULL, 0);
#endif
    printf("futimesat(AT_FDCWD, path, NULL): %ld %s, times now: %s\n", r, err(r), is_now());
    make_old();
#ifdef SYS_futimesat
    r = syscall(SYS_futimesat, fd, NULL, NULL);
#else
    r = syscall(SYS_utimensat, fd, NULL, NULL, 0);
#endif
    printf("futimesat(fd, NULL, NULL): %ld %s, times now: %s\n", r, err(r), is_now());
#ifdef SYS_utimes
    r = syscall(SYS_utimes, NULL, NULL);
#else
    r = syscall(SYS_utimensat, AT_FDCWD, NULL, NULL, 0);
#endif
    printf("utimes(NULL, NULL): %ld %s\n", r, err(r));
    make_old();
    r = syscall(SYS_utimensat, AT_FDCWD, FILE_NAME, NULL, 0);
    printf("utimensat(AT_FDCWD, path, NULL, 0): %ld %s, times now: %s\n", r, err(r), is_now());
    make_old();
    r = syscall(SYS_utimensat, fd, NULL, NULL, 0);
    printf("utimensat(fd, NULL, NULL, 0): %ld %s, times now: %s\n", r, err(r), is_now());
    close(fd);
    unlink(FILE_NAME);
    return 0;
}

/* ---------------------------------------------------------------- restart */
static int restart(void)
{
    long r = syscall(SYS_restart_syscall);
    printf("restart_syscall with nothing to restart: %ld %s\n", r, err(r));
    return 0;
}

/* ---------------------------------------------------------------- signals */
#ifdef __mips__
#define KERNEL_NSIG 128
#else
#define KERNEL_NSIG 64
#endif
#define KSIGSET_BYTES (KERNEL_NSIG / 8)

typedef struct {
    unsigned long words[KERNEL_NSIG / (8 * sizeof(unsigned long))];
} ksigset;

static void ksig_add(ksigset *set, int signo)
{
    unsigned bits = 8 * sizeof(unsigned long);
    set->words[(signo - 1) / bits] |= 1UL << ((signo - 1) % bits);
}

static int ksig_has(const ksigset *set, int signo)
{
    unsigned bits = 8 * sizeof(unsigned long);
    return !!(set->words[(signo - 1) / bits] & (1UL << ((signo - 1) % bits)));
}

static volatile sig_atomic_t hits, last_signo, last_code, last_value;

static void on_signal(int signo, siginfo_t *info, void *context)
{
    (void)context;
    hits++;
    last_signo = signo;
    last_code = info->si_code;
    last_value = info->si_value.sival_int;
}

/* A handler for `signo` (glibc's sigaction where glibc allows the number;
 * MIPS glibc stops at 127, so 128 gets the kernel's struct directly). */
static long catch_signal(int signo)
{
#ifdef __mips__
    if (signo > 127) {
        struct {
            unsigned int flags;
            void (*handler)(int, siginfo_t *, void *);
            ksigset mask;
        } ksa = {SA_SIGINFO, on_signal, {{0}}};
        return syscall(SYS_rt_sigaction, signo, &ksa, NULL, KSIGSET_BYTES);
    }
#endif
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO;
    return sigaction(signo, &sa, NULL);
}

static long set_blocked(int how, int signo)
{
    ksigset set = {{0}};
    ksig_add(&set, signo);
    return syscall(SYS_rt_sigprocmask, how, &set, NULL, KSIGSET_BYTES);
}

static const char *handled_once(int signo)
{
    static char out[64];
    snprintf(out, sizeof out, "hits %d, signo %s", (int)hits,
             last_signo == signo ? "right" : "wrong");
    hits = 0;
    last_signo = 0;
    return out;
}

static int signals(void)
{
    int max = KERNEL_NSIG;
    struct { const char *name; int signo; } bad[] = {{"0", 0}, {"_NSIG + 1", max + 1}};
    for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int s = bad[i].signo;
        long r1 = syscall(SYS_rt_sigaction, s, NULL, NULL, KSIGSET_BYTES);
        int e1 = errno;
        long r2 = s ? syscall(SYS_kill, getpid(), s) : 0;
        int e2 = errno;
        long r3 = s ? syscall(SYS_tgkill, getpid(), gettid(), s) : 0;
        int e3 = errno;
        siginfo_t si;
        memset(&si, 0, sizeof si);
        si.si_code = SI_QUEUE;
        long r4 = syscall(SYS_rt_sigqueueinfo, getpid(), s, &si);
        int e4 = errno;
        printf("signal %s: rt_sigaction %ld %s", bad[i].name, r1, r1 < 0 ? strerrorname_np(e1) : "ok");
        if (s)
            printf(", kill %ld %s, tgkill %ld %s", r2, r2 < 0 ? strerrorname_np(e2) : "ok",
                   r3, r3 < 0 ? strerrorname_np(e3) : "ok");
        printf(", rt_sigqueueinfo %ld %s\n", r4, r4 < 0 ? strerrorname_np(e4) : "ok");
    }
    for (int s = max - 1; s <= max; s++) {
        const char *name = s == max ? "_NSIG" : "_NSIG - 1";
        long r = syscall(SYS_rt_sigaction, s, NULL, NULL, KSIGSET_BYTES);
        printf("signal %s: rt_sigaction(query) %ld %s", name, r, err(r));
        r = catch_signal(s);
        printf(", handler installed %ld %s\n", r, err(r));
    }

    /* the last signal, every way it can come */
    long r = set_blocked(SIG_BLOCK, max);
    printf("block _NSIG: %ld %s\n", r, err(r));
    r = syscall(SYS_kill, getpid(), max);
    ksigset pending = {{0}};
    long rp = syscall(SYS_rt_sigpending, &pending, KSIGSET_BYTES);
    printf("kill(self, _NSIG) while blocked: %ld %s, pending %s (%ld), hits %d\n", r, err(r),
           ksig_has(&pending, max) ? "yes" : "no", rp, (int)hits);
    set_blocked(SIG_UNBLOCK, max);
    printf("unblocked: %s\n", handled_once(max));

    r = syscall(SYS_tgkill, getpid(), gettid(), max);
    printf("tgkill(self, _NSIG): %ld %s, %s\n", r, err(r), handled_once(max));

    siginfo_t si;
    memset(&si, 0, sizeof si);
    si.si_signo = max;
    si.si_code = SI_QUEUE;
    si.si_pid = getpid();
    si.si_uid = getuid();
    si.si_value.sival_int = 42;
    r = syscall(SYS_rt_sigqueueinfo, getpid(), max, &si);
    printf("rt_sigqueueinfo(self, _NSIG, value 42): %ld %s, value %d, code %s, %s\n", r,
           err(r), (int)last_value, last_code == SI_QUEUE ? "SI_QUEUE" : "other",
           handled_once(max));

    set_blocked(SIG_BLOCK, max);
    syscall(SYS_kill, getpid(), max);
    ksigset wanted = {{0}};
    ksig_add(&wanted, max);
    siginfo_t got;
    memset(&got, 0, sizeof got);
    struct timespec zero = {0, 0};
#if defined(SYS_rt_sigtimedwait_time64) && !defined(__x86_64__)
    /* a 32-bit target's time64 call, as glibc makes it (the timespec is 64-bit) */
    long long zero64[2] = {0, 0};
    (void)zero;
    r = syscall(SYS_rt_sigtimedwait_time64, &wanted, &got, zero64, KSIGSET_BYTES);
#else
    r = syscall(SYS_rt_sigtimedwait, &wanted, &got, &zero, KSIGSET_BYTES);
#endif
    printf("rt_sigtimedwait for _NSIG: %s, si_signo %s\n", r == max ? "_NSIG" : err(r),
           got.si_signo == max ? "right" : "wrong");

    int sfd = syscall(SYS_signalfd4, -1, &wanted, KSIGSET_BYTES, 0);
    syscall(SYS_kill, getpid(), max);
    uint32_t record[32] = {0};
    ssize_t n = sfd >= 0 ? read(sfd, record, sizeof record) : -1;
    printf("signalfd for _NSIG: read %zd bytes, ssi_signo %s\n", n,
           record[0] == (uint32_t)max ? "right" : "wrong");
    if (sfd >= 0)
        close(sfd);
    set_blocked(SIG_UNBLOCK, max);
    printf("hits after all: %d\n", (int)hits);
    return 0;
}

/* --------------------------------------------------------------- dontneed */
static int dontneed(void)
{
    long page = sysconf(_SC_PAGESIZE);
    char path[] = "conformance-XXXXXX";
    int fd = mkstemp(path);
    char *content = malloc(2 * page);
    memset(content, 'f', 2 * page);
    if (fd < 0 || write(fd, content, 2 * page) != 2 * page) {
        perror("file");
        return 1;
    }
    unlink(path);
    char *file = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    char *anon = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                      -1, 0);
    char *shared = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    memset(file, 'g', 2 * page);
    memset(anon, 'a', 2 * page);
    memset(shared, 's', page);
    long r = madvise(file, page, MADV_DONTNEED);
    printf("private file mapping: madvise %ld %s, first page reads '%c', second '%c'\n", r,
           err(r), file[0], file[page]);
    r = madvise(anon + page, page, MADV_DONTNEED);
    printf("private anonymous mapping: madvise %ld %s, first page reads %d, second %d\n", r,
           err(r), anon[0], anon[page]);
    r = madvise(shared, page, MADV_DONTNEED);
    printf("shared anonymous mapping: madvise %ld %s, reads '%c'\n", r, err(r), shared[0]);
    munmap(anon + page, page);
    r = madvise(anon, 2 * page, MADV_DONTNEED);
    printf("range with a hole: madvise %ld %s, first page reads %d\n", r, err(r), anon[0]);
    r = madvise(file + 1, page, MADV_DONTNEED);
    printf("unaligned start: madvise %ld %s\n", r, err(r));
    return 0;
}

/* ------------------------------------------------------------------ fuzzed */
static void on_alarm(int sig)
{
    (void)sig;
}

/* What the syscall fuzzer found (tools/fuzz_syscalls.py). */
static int fuzzed(void)
{
    long page = sysconf(_SC_PAGESIZE);
    char *p = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    long r = syscall(SYS_mremap, p, 0, page, MREMAP_MAYMOVE, 0);
    printf("mremap of a private mapping with old_size 0: %s\n", err(r));
    struct timespec second = {1, 0};
    r = syscall(SYS_clock_nanosleep, CLOCK_THREAD_CPUTIME_ID, 0, &second, NULL);
    printf("clock_nanosleep on the thread's CPU clock: %ld %s\n", r, err(r));
    r = syscall(SYS_msgrcv, -1, p, (size_t)1 << 30, 0, 0);
    printf("msgrcv(-1, ..., 1 GiB): %ld %s\n", r, err(r));
    /* an open that waits for a FIFO's other end ends with EINTR */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    unlink("conformance.fifo");
    mkfifo("conformance.fifo", 0600);
    struct itimerval timer = {{0, 0}, {0, 200000}};
    setitimer(ITIMER_REAL, &timer, NULL);
    r = syscall(SYS_openat, AT_FDCWD, "conformance.fifo", O_WRONLY);
    printf("open of a FIFO with no reader, SIGALRM after 200 ms: %ld %s\n", r, err(r));
    unlink("conformance.fifo");
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2) {
        fprintf(stderr, "usage: conformance times|restart|signals|dontneed|fuzzed...\n");
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        const char *what = argv[i];
        int status = !strcmp(what, "times")      ? times_()
                     : !strcmp(what, "restart")  ? restart()
                     : !strcmp(what, "signals")  ? signals()
                     : !strcmp(what, "dontneed") ? dontneed()
                     : !strcmp(what, "fuzzed")   ? fuzzed()
                                                 : -1;
        if (status < 0)
            fprintf(stderr, "conformance: unknown scenario %s\n", what);
        if (status)
            return status < 0 ? 2 : status;
    }
    return 0;
}
