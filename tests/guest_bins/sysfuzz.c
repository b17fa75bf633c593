/* sysfuzz: random syscalls with hostile arguments, seeded and deterministic.
 *
 * Never run it outside the sandbox tools/fuzz_syscalls.py makes (unshare --user
 * --map-root-user --pid --fork --mount-proc, mounts read-only): as plain root a
 * random call can set the host's clock or kill its processes.
 *
 * Usage: sysfuzz SEED FIRST COUNT BATCH NR...
 *        sysfuzz one NR P0 P1 P2 P3 P4 P5 R
 *
 * The first form makes calls FIRST .. FIRST+COUNT-1.  Call i is a function
 * of SEED and i alone: a syscall number from the NR list and, for each of
 * its six arguments, one of the PATTERNS below (bad, huge, negative and
 * misaligned values, pointers to a scratch area, its last bytes and an
 * inaccessible page, the descriptors of a file and a pipe).  Calls run in
 * batches of BATCH in forked children; a child that dies (a call may exit,
 * sigreturn from garbage, unmap the code...) is replaced by a fresh one from
 * the next call.  Before each call the child arms a 100 ms periodic timer
 * whose SIGALRM handler (no SA_RESTART) ends a legitimately blocking call
 * with EINTR, as on Linux, and counts its runs in memory the parent sees.
 * The parent watches the child: a call that has not returned after STUCK_MS
 * is killed (the driver decides whether Linux blocks there too); the
 * child's stderr goes to the parent, which reports any Python traceback the
 * emulator wrote there.
 *
 * Every event is one line on stdout, the call given by its index I, number
 * NR, argument patterns P0..P5 and random value R (patterns 22 and 23):
 *   end I NR P0..P5 R exit S | signal S a child that ended before its batch
 *   slow I NR P0..P5 R MS E              a call that took MS >= 90 ms and
 *                                        returned errno E ("ok": success);
 *                                        EINTR: the timer's signal ended it
 *   stuck I NR P0..P5 R                  killed by the watchdog: the call had
 *                                        not returned, the child sleeps and no
 *                                        SIGALRM handler had run for a second
 *   busy I NR P0..P5 R                   killed by the watchdog, the child on
 *                                        a CPU or its handler still running:
 *                                        the guest computes (code the call
 *                                        mapped over its own, say)
 *   stopped I NR P0..P5 R                the child stopped itself (SIGSTOP)
 *   traceback I NR P0..P5 R: LINE        the emulator's traceback, last line
 * and the last line is "calls E of COUNT, children C" (E: the calls begun).
 *
 * The second form makes one call with the given number and pattern
 * indices, in a child with the same set-up, and prints
 * "one: returned R E MS" (E: R's errno, MS: the milliseconds it took) or the child's
 * end; the driver runs it natively to classify stuck and slow calls.
 *
 * Run it only inside an unprivileged user+pid+mount namespace
 * (tools/fuzz_syscalls.py does): the calls are hostile.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SCRATCH ((char *)0x30000000)
#define SCRATCH_SIZE 16384
#define STUCK_MS 5000

static long splitmix(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return (long)(z ^ (z >> 31));
}

/* Argument patterns: the value an index stands for in this process. */
#define NPATTERNS 28
static long pattern(int index, uint64_t random)
{
    switch (index) {
    case 0: return 0;
    case 1: return 1;
    case 2: return 2;
    case 3: return 3;            /* a regular file, read-write */
    case 4: return 4;            /* a pipe's read end (empty) */
    case 5: return 5;            /* the pipe's write end */
    case 6: return -1;
    case 7: return 0x7fffffff;
    case 8: return (long)0x80000000UL;
    case 9: return (long)((~0UL >> 1) + 1); /* LONG_MIN */
    case 10: return (long)0xffffffffUL;
    case 11: return 4096;
    case 12: return 0x10;        /* a low, unmapped pointer */
    case 13: return (long)SCRATCH;
    case 14: return (long)(SCRATCH + 1);
    case 15: return (long)(SCRATCH + SCRATCH_SIZE - 8);
    case 16: return (long)(SCRATCH + SCRATCH_SIZE); /* PROT_NONE */
    case 17: return (long)(SCRATCH + 64);           /* "fuzzfile" */
    case 18: return (long)(SCRATCH + 96);           /* "." */
    case 19: return (long)0xfffff000UL;
    case 20: return 100;
    case 21: return 64;
    case 22: return (long)(uint32_t)random;
    case 23: return (long)random;
    case 24: return -4096;
    case 25: return -100;        /* AT_FDCWD */
    case 26: return 1 << 20;
    default: return (long)(~0UL >> 1);
    }
}

struct progress {
    volatile long index;
    volatile long nr;
    volatile int patterns[6];
    volatile int done;
    volatile long alarms; /* SIGALRMs handled: the child is running guest code */
    volatile uint64_t random;
};
static struct progress *shared;
static long executed;

#define EVENT_FD 200 /* the child's line to the parent: "slow" calls */
#define SLOW_MS 90

static void on_alarm(int sig)
{
    (void)sig;
    if (shared)
        shared->alarms++;
}

/* What every call starts from: a fresh directory and scratch memory,
 * descriptors 0-2 quiet (stderr to the parent), 3 a file, 4 and 5 a pipe;
 * exit status 119-122 if that cannot be had. */
static void set_up_child(int err_fd)
{
    int devnull = open("/dev/null", O_RDWR);
    dup2(devnull, 0);
    dup2(devnull, 1);
    dup2(err_fd, 2);
    for (int fd = 3; fd < 256; fd++)
        if (fd != EVENT_FD)
            close(fd);
    /* a directory of its own, so that what a call does to "." or to
     * "fuzzfile" (chmod 0, a FIFO or a directory in its place) stays there */
    char dir[64];
    snprintf(dir, sizeof dir, "c%d", (int)getpid());
    if (mkdir(dir, 0755) != 0 || chdir(dir) != 0)
        _exit(119);
    if (open("fuzzfile", O_RDWR | O_CREAT, 0644) != 3)
        _exit(120);
    int fds[2];
    if (pipe(fds) != 0 || fds[0] != 4)
        _exit(121);
    if (mmap(SCRATCH, SCRATCH_SIZE, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != SCRATCH ||
        mmap(SCRATCH + SCRATCH_SIZE, 4096, PROT_NONE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
        _exit(122);
    for (int i = 0; i < SCRATCH_SIZE; i++)
        SCRATCH[i] = (char)(i * 7 + 3);
    strcpy(SCRATCH + 64, "fuzzfile");
    strcpy(SCRATCH + 96, ".");
}

static long make_call(long nr, const int *patterns, uint64_t random)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    sigset_t alarm_set;
    sigemptyset(&alarm_set);
    sigaddset(&alarm_set, SIGALRM);
    sigprocmask(SIG_UNBLOCK, &alarm_set, NULL);
    struct itimerval timer = {{0, 100000}, {0, 100000}};
    setitimer(ITIMER_REAL, &timer, NULL);
    pid_t pid = getpid();
    long tid = syscall(SYS_gettid);
    long a[6];
    for (int k = 0; k < 6; k++)
        a[k] = pattern(patterns[k], random ^ ((uint64_t)k * 0x9e3779b97f4a7c15ULL));
    struct timespec before, after;
    clock_gettime(CLOCK_MONOTONIC, &before);
    long r = syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
    int error = errno;
    /* a fork, vfork or clone made a copy of this harness: it ends here */
    if (syscall(SYS_getpid) != pid)
        _exit(0);
    if (syscall(SYS_gettid) != tid)
        syscall(SYS_exit, 0);
    clock_gettime(CLOCK_MONOTONIC, &after);
    long ms = (after.tv_sec - before.tv_sec) * 1000 + (after.tv_nsec - before.tv_nsec) / 1000000;
    if (ms >= SLOW_MS && shared)
        dprintf(EVENT_FD, "slow %ld %ld %d %d %d %d %d %d %llu %ld %s\n", shared->index, nr,
                patterns[0], patterns[1], patterns[2], patterns[3], patterns[4], patterns[5],
                (unsigned long long)random, ms, r < 0 ? strerrorname_np(error) : "ok");
    errno = error;
    return r;
}

static void choose(uint64_t seed, long index, const long *numbers, int count, long *nr,
                   int *patterns, uint64_t *random)
{
    uint64_t state = seed * 0x100000001b3ULL + (uint64_t)index;
    uint64_t r = (uint64_t)splitmix(&state);
    *nr = numbers[r % (uint64_t)count];
    uint64_t p = (uint64_t)splitmix(&state);
    for (int k = 0; k < 6; k++)
        patterns[k] = (int)((p >> (8 * k)) % NPATTERNS);
    *random = (uint64_t)splitmix(&state);
}

static void run_batch(uint64_t seed, long first, long end, const long *numbers, int count,
                      int err_fd)
{
    set_up_child(err_fd);
    for (long i = first; i < end; i++) {
        long nr;
        int patterns[6];
        uint64_t random;
        choose(seed, i, numbers, count, &nr, patterns, &random);
        shared->nr = nr;
        shared->random = random;
        for (int k = 0; k < 6; k++)
            shared->patterns[k] = patterns[k];
        shared->index = i;
        make_call(nr, patterns, random);
    }
    shared->done = 1;
    _exit(0);
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

static void report(const char *what, const char *detail)
{
    printf("%s %ld %ld", what, shared->index, shared->nr);
    for (int k = 0; k < 6; k++)
        printf(" %d", shared->patterns[k]);
    printf(" %llu%s\n", (unsigned long long)shared->random, detail);
    fflush(stdout);
}

/* The last line of a Python traceback in what the child wrote to stderr. */
static void report_traceback(const char *text)
{
    const char *start = strstr(text, "Traceback (most recent call last)");
    if (!start)
        return;
    const char *line = start, *last = start;
    while ((line = strchr(line, '\n')) && line[1]) {
        line++;
        if (*line != ' ')
            last = line;
    }
    char detail[512];
    snprintf(detail, sizeof detail, ": %.*s", (int)strcspn(last, "\n"), last);
    report("traceback", detail);
}

/* Is the process on a CPU (state R in /proc/PID/stat), not asleep in a call? */
static int running(pid_t pid)
{
    char path[64], stat[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, stat, sizeof stat - 1) : -1;
    if (fd >= 0)
        close(fd);
    if (n <= 0)
        return 0;
    stat[n] = 0;
    const char *end = strrchr(stat, ')'); /* the state follows "(comm)" */
    return end && end[1] == ' ' && end[2] == 'R';
}

/* Collect what a pipe has (up to the buffer's room); returns false at its end. */
static int drain(int fd, char *buf, size_t *used, size_t room)
{
    char chunk[4096];
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n <= 0)
        return 0;
    size_t keep = (size_t)n < room - *used ? (size_t)n : room - *used;
    memcpy(buf + *used, chunk, keep);
    *used += keep;
    return 1;
}

/* Pass on the complete lines of the child's event pipe. */
static void forward_events(char *buf, size_t *used)
{
    char *newline;
    while ((newline = memchr(buf, '\n', *used))) {
        size_t length = (size_t)(newline - buf) + 1;
        fwrite(buf, 1, length, stdout);
        memmove(buf, newline + 1, *used - length);
        *used -= length;
    }
    fflush(stdout);
}

/* Run one child from `first`; returns the call after the last one it began. */
static long supervise(uint64_t seed, long first, long end, const long *numbers, int count,
                      long *children)
{
    int err[2], events[2];
    if (pipe2(err, O_CLOEXEC) != 0 || pipe2(events, O_CLOEXEC) != 0) {
        perror("pipe");
        exit(1);
    }
    shared->index = first - 1;
    shared->done = 0;
    pid_t child = fork();
    if (child == 0) {
        close(err[0]);
        close(events[0]);
        dup2(events[1], EVENT_FD);
        run_batch(seed, first, end, numbers, count, err[1]);
    }
    close(err[1]);
    close(events[1]);
    (*children)++;
    static char text[1 << 16];
    static char lines[1 << 14];
    size_t used = 0, pending = 0;
    long seen = shared->index, since = now_ms(), alarms = shared->alarms, alarm_ms = since;
    int status = 0, ended = 0;
    while (!ended) {
        struct pollfd pfd[2] = {{err[0], POLLIN, 0}, {events[0], POLLIN, 0}};
        if (poll(pfd, 2, 100) > 0) {
            if (pfd[0].revents & POLLIN)
                drain(err[0], text, &used, sizeof text - 1);
            if (pfd[1].revents & POLLIN && drain(events[0], lines, &pending, sizeof lines))
                forward_events(lines, &pending);
        }
        pid_t got = waitpid(child, &status, WNOHANG | WUNTRACED);
        long now = now_ms();
        if (shared->alarms != alarms) {
            alarms = shared->alarms;
            alarm_ms = now;
        }
        if (got == child && WIFSTOPPED(status)) {
            report("stopped", "");
            kill(child, SIGKILL);
            waitpid(child, &status, 0);
            ended = 1;
        } else if (got == child) {
            ended = 1;
        } else if (shared->index != seen) {
            seen = shared->index;
            since = now;
        } else if (now - since > STUCK_MS) {
            /* handlers still running, or the child on a CPU: the guest
             * computes (busy); else the call sleeps although the timer fires */
            report(now - alarm_ms < 1000 || running(child) ? "busy" : "stuck", "");
            kill(child, SIGKILL);
            waitpid(child, &status, 0);
            ended = 1;
        }
    }
    while (used < sizeof text - 1 && drain(err[0], text, &used, sizeof text - 1))
        ;
    while (drain(events[0], lines, &pending, sizeof lines))
        forward_events(lines, &pending);
    close(err[0]);
    close(events[0]);
    text[used] = 0;
    report_traceback(text);
    if (shared->done) {
        executed += end - first;
        return end;
    }
    if (shared->index >= first)
        executed += shared->index - first + 1;
    char detail[64];
    if (WIFSIGNALED(status))
        snprintf(detail, sizeof detail, " signal %d", WTERMSIG(status));
    else
        snprintf(detail, sizeof detail, " exit %d", WEXITSTATUS(status));
    report("end", detail);
    /* on from the call after the one it died in; a child that died before
     * its first call (its set-up failed) is tried again, twice */
    static int retries;
    if (shared->index >= first) {
        retries = 0;
        return shared->index + 1;
    }
    return ++retries <= 2 ? first : (retries = 0, first + 1);
}

static int one(char **argv)
{
    long nr = atol(argv[0]);
    int patterns[6];
    for (int k = 0; k < 6; k++)
        patterns[k] = atoi(argv[1 + k]);
    uint64_t random = strtoull(argv[7], NULL, 0);
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        dup2(1, EVENT_FD);
        set_up_child(dup(2));
        struct timespec before, after;
        clock_gettime(CLOCK_MONOTONIC, &before);
        long r = make_call(nr, patterns, random);
        int e = errno;
        clock_gettime(CLOCK_MONOTONIC, &after);
        dprintf(EVENT_FD, "one: returned %ld %s %ld\n", r, r < 0 ? strerrorname_np(e) : "ok",
                (after.tv_sec - before.tv_sec) * 1000 +
                    (after.tv_nsec - before.tv_nsec) / 1000000);
        _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    if (WIFSIGNALED(status))
        printf("one: signal %d\n", WTERMSIG(status));
    else
        printf("one: exit %d\n", WEXITSTATUS(status));
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 10 && !strcmp(argv[1], "one"))
        return one(argv + 2);
    if (argc < 6) {
        fprintf(stderr, "usage: sysfuzz SEED FIRST COUNT BATCH NR... | sysfuzz one NR P0..P5 R\n");
        return 2;
    }
    uint64_t seed = strtoull(argv[1], NULL, 0);
    long first = atol(argv[2]), count = atol(argv[3]), batch = atol(argv[4]);
    int n = argc - 5;
    long *numbers = malloc(sizeof(long) * (size_t)n);
    for (int i = 0; i < n; i++)
        numbers[i] = atol(argv[5 + i]);
    shared = mmap(NULL, sizeof *shared, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                  -1, 0);
    signal(SIGPIPE, SIG_IGN);
    long end = first + count, next = first, children = 0;
    while (next < end) {
        long stop = next + batch < end ? next + batch : end;
        next = supervise(seed, next, stop, numbers, n, &children);
    }
    printf("calls %ld of %ld, children %ld\n", executed, count, children);
    return 0;
}
