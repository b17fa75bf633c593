/* threads: pthreads under the emulator; every line is deterministic.
 *
 *   mutex      8 threads x 100,000 mutex-protected increments (exact total)
 *   atomic     4 threads x 200,000 __atomic_fetch_add (exact total)
 *   condvar    producer/consumer over a bounded buffer with condition variables
 *   spin       a thread spins on an atomic flag another thread sets (needs preemption)
 *   join       pthread_join return values, thread-local variables
 *   blockread  a thread blocked in read() while another writes the pipe
 *   cancel     pthread_cancel of a thread blocked in pause()/sleep
 *   count      10 threads created and counted, each with its own gettid
 *   kill       pthread_kill of one thread: the handler runs on that thread
 *   pi         PTHREAD_PRIO_INHERIT mutex contention (FUTEX_LOCK_PI/UNLOCK_PI)
 *   membarrier the membarrier commands glibc and runtimes query
 *   sendfile   sendfile of 4 MiB into a socket another thread drains (it waits
 *              on the full socket while the reader must run)
 *   flock      a thread waits in flock(LOCK_EX) until main, which holds the
 *              lock through another open file, unlocks
 *   fifo       a thread waits in open() of a FIFO until main opens its other end
 *   churn N    N threads created and joined one after the other
 *   smc        a thread keeps calling code that main rewrites and makes visible
 *              with __builtin___clear_cache (on aarch64: dc cvau; dsb; ic ivau;
 *              isb, no syscall): the thread must run the new code
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long counter;

static void *mutex_worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100000; i++) {
        pthread_mutex_lock(&lock);
        counter++;
        pthread_mutex_unlock(&lock);
    }
    return NULL;
}

static int run_mutex(void)
{
    pthread_t t[8];
    for (int i = 0; i < 8; i++)
        pthread_create(&t[i], NULL, mutex_worker, NULL);
    for (int i = 0; i < 8; i++)
        pthread_join(t[i], NULL);
    printf("mutex counter=%ld\n", counter);
    return 0;
}

static long acounter;

static void *atomic_worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < 200000; i++)
        __atomic_fetch_add(&acounter, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static int run_atomic(void)
{
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, atomic_worker, NULL);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    printf("atomic counter=%ld\n", acounter);
    return 0;
}

#define SLOTS 4
static int buffer[SLOTS], head, tail, filled;
static pthread_cond_t not_full = PTHREAD_COND_INITIALIZER, not_empty = PTHREAD_COND_INITIALIZER;

static void *producer(void *arg)
{
    (void)arg;
    for (int i = 1; i <= 1000; i++) {
        pthread_mutex_lock(&lock);
        while (filled == SLOTS)
            pthread_cond_wait(&not_full, &lock);
        buffer[head] = i;
        head = (head + 1) % SLOTS;
        filled++;
        pthread_cond_signal(&not_empty);
        pthread_mutex_unlock(&lock);
    }
    return NULL;
}

static int run_condvar(void)
{
    pthread_t t;
    pthread_create(&t, NULL, producer, NULL);
    long sum = 0;
    for (int i = 0; i < 1000; i++) {
        pthread_mutex_lock(&lock);
        while (filled == 0)
            pthread_cond_wait(&not_empty, &lock);
        sum += buffer[tail];
        tail = (tail + 1) % SLOTS;
        filled--;
        pthread_cond_signal(&not_full);
        pthread_mutex_unlock(&lock);
    }
    pthread_join(t, NULL);
    printf("condvar sum=%ld\n", sum);
    return 0;
}

static atomic_int flag;

static void *setter(void *arg)
{
    (void)arg;
    atomic_store(&flag, 1);
    return NULL;
}

static int run_spin(void)
{
    pthread_t t;
    pthread_create(&t, NULL, setter, NULL);
    long spins = 0;
    while (!atomic_load(&flag))
        spins++; /* no syscall: the setter only runs if this loop is preempted */
    pthread_join(t, NULL);
    printf("spin: flag seen\n");
    return 0;
}

static __thread int tls_value = 5;

static void *joined(void *arg)
{
    tls_value += (int)(long)arg;
    return (void *)(long)(tls_value * 10);
}

static int run_join(void)
{
    pthread_t t[3];
    for (long i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, joined, (void *)i);
    for (int i = 0; i < 3; i++) {
        void *ret;
        pthread_join(t[i], &ret);
        printf("thread %d returned %ld\n", i, (long)ret);
    }
    printf("main tls_value=%d\n", tls_value);
    return 0;
}

/* How a process ends from a thread that is not main: exit_group while main
 * spins without syscalls, a fault, and main's pthread_exit before the last
 * thread returns. */
static volatile unsigned long spins;

static void *exits_the_process(void *arg)
{
    (void)arg;
    printf("thread exits the process\n");
    exit(7);
}

static int run_exitgroup(void)
{
    pthread_t t;
    pthread_create(&t, NULL, exits_the_process, NULL);
    while (spins != ~0UL) /* never false in time: the thread ends the process */
        spins++;
    return 0;
}

static void *faults(void *arg)
{
    (void)arg;
    printf("thread faults\n");
    *(volatile int *)arg = 1;
    return NULL;
}

static int run_threadsegv(void)
{
    pthread_t t;
    pthread_create(&t, NULL, faults, NULL);
    pthread_join(t, NULL);
    printf("not reached\n");
    return 0;
}

static void *outlives_main(void *arg)
{
    (void)arg;
    usleep(50000);
    printf("last thread returns\n");
    return NULL;
}

static int run_mainexit(void)
{
    pthread_t t;
    pthread_create(&t, NULL, outlives_main, NULL);
    pthread_exit(NULL);
}

static int pipefd[2];

static void *reader(void *arg)
{
    (void)arg;
    char buf[16] = {0};
    ssize_t n = read(pipefd[0], buf, sizeof buf - 1);
    printf("reader got %zd bytes: %s\n", n, buf);
    return NULL;
}

static int run_blockread(void)
{
    pipe(pipefd);
    pthread_t t;
    pthread_create(&t, NULL, reader, NULL);
    usleep(100000); /* the reader blocks meanwhile; this thread must still run */
    write(pipefd[1], "hello", 5);
    pthread_join(t, NULL);
    printf("writer done\n");
    return 0;
}

static void *sleeper(void *arg)
{
    (void)arg;
    for (;;)
        pause();
    return NULL;
}

static int run_cancel(void)
{
    pthread_t t;
    pthread_create(&t, NULL, sleeper, NULL);
    usleep(50000);
    pthread_cancel(t);
    void *ret;
    pthread_join(t, &ret);
    printf("cancelled=%d\n", ret == PTHREAD_CANCELED);
    return 0;
}

static atomic_int started;
static pid_t tids[10];

static void *counted(void *arg)
{
    tids[(long)arg] = (pid_t)syscall(SYS_gettid);
    atomic_fetch_add(&started, 1);
    return NULL;
}

static int run_count(void)
{
    pthread_t t[10];
    for (long i = 0; i < 10; i++)
        pthread_create(&t[i], NULL, counted, (void *)i);
    for (int i = 0; i < 10; i++)
        pthread_join(t[i], NULL);
    int distinct = 1;
    for (int i = 0; i < 10; i++)
        for (int j = 0; j < i; j++)
            if (tids[i] == tids[j] || tids[i] == getpid())
                distinct = 0;
    printf("started=%d distinct tids=%d\n", atomic_load(&started), distinct);
    return 0;
}

static pid_t handled_on;
static pid_t target_tid;
static atomic_int ready;

static void on_usr1(int sig)
{
    (void)sig;
    handled_on = (pid_t)syscall(SYS_gettid);
}

static void *kill_target(void *arg)
{
    (void)arg;
    target_tid = (pid_t)syscall(SYS_gettid);
    atomic_store(&ready, 1);
    while (!handled_on)
        usleep(1000);
    return NULL;
}

static int run_kill(void)
{
    signal(SIGUSR1, on_usr1);
    pthread_t t;
    pthread_create(&t, NULL, kill_target, NULL);
    while (!atomic_load(&ready))
        usleep(1000);
    pthread_kill(t, SIGUSR1);
    pthread_join(t, NULL);
    printf("handled on the target thread=%d\n", handled_on == target_tid);
    return 0;
}

static pthread_mutex_t pi_lock;

static void *pi_worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < 20000; i++) {
        pthread_mutex_lock(&pi_lock);
        counter++;
        pthread_mutex_unlock(&pi_lock);
    }
    return NULL;
}

static int run_pi(void)
{
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_setprotocol(&attr, PTHREAD_PRIO_INHERIT);
    pthread_mutex_init(&pi_lock, &attr);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, pi_worker, NULL);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    printf("pi counter=%ld\n", counter);
    return 0;
}

#include <linux/membarrier.h>

static int run_membarrier(void)
{
    long q = syscall(__NR_membarrier, MEMBARRIER_CMD_QUERY, 0);
    printf("membarrier: global=%d expedited=%d register=%ld run=%ld\n",
           !!(q & MEMBARRIER_CMD_GLOBAL), !!(q & MEMBARRIER_CMD_PRIVATE_EXPEDITED),
           syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0),
           syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0));
    return 0;
}

enum { SENDFILE_BYTES = 4 << 20 };
static int drain_fd;

static void *drainer(void *arg)
{
    (void)arg;
    static char buffer[65536];
    long total = 0;
    ssize_t n;
    while ((n = read(drain_fd, buffer, sizeof buffer)) > 0)
        total += n;
    return (void *)total;
}

static int temp_file(long size)
{
    char path[] = "/tmp/pyuser-threads-XXXXXX";
    int fd = mkstemp(path);
    unlink(path);
    if (fd < 0 || ftruncate(fd, size) != 0)
        return -1;
    return fd;
}

static int run_sendfile(void)
{
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    int file = temp_file(SENDFILE_BYTES);
    drain_fd = sv[1];
    pthread_t t;
    pthread_create(&t, NULL, drainer, NULL);
    off_t offset = 0;
    long sent = 0;
    while (sent < SENDFILE_BYTES) {
        ssize_t n = sendfile(sv[0], file, &offset, SENDFILE_BYTES - sent);
        if (n <= 0)
            break;
        sent += n;
    }
    close(sv[0]);
    void *received;
    pthread_join(t, &received);
    printf("sendfile sent %ld, offset %ld, received %ld\n", sent, (long)offset,
           (long)received);
    return 0;
}

static int lock_fd;
static atomic_int locked_by_thread;

static void *locker(void *arg)
{
    (void)arg;
    flock(lock_fd, LOCK_EX); /* waits for main's lock */
    atomic_store(&locked_by_thread, 1);
    return NULL;
}

static int run_flock(void)
{
    int mine = temp_file(0);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", mine);
    lock_fd = open(path, O_RDWR); /* another open file of the same inode */
    flock(mine, LOCK_EX);
    pthread_t t;
    pthread_create(&t, NULL, locker, NULL);
    usleep(200000); /* the thread waits meanwhile; this one must still run */
    int early = atomic_load(&locked_by_thread);
    flock(mine, LOCK_UN);
    pthread_join(t, NULL);
    printf("flock: thread locked before the unlock: %d, after: %d\n", early,
           atomic_load(&locked_by_thread));
    return 0;
}

static char fifo_path[64];

static void *fifo_reader(void *arg)
{
    (void)arg;
    int fd = open(fifo_path, O_RDONLY); /* waits for main to open the other end */
    char got[8] = "";
    ssize_t n = read(fd, got, sizeof got - 1);
    close(fd);
    printf("fifo reader got %zd bytes: %s\n", n, got);
    return NULL;
}

static int run_fifo(void)
{
    snprintf(fifo_path, sizeof fifo_path, "/tmp/pyuser-fifo-%d", (int)getpid());
    unlink(fifo_path);
    if (mkfifo(fifo_path, 0600) != 0)
        return 1;
    pthread_t t;
    pthread_create(&t, NULL, fifo_reader, NULL);
    usleep(100000); /* the reader waits in open meanwhile; this thread must still run */
    int fd = open(fifo_path, O_WRONLY);
    write(fd, "fifo", 4);
    close(fd);
    pthread_join(t, NULL);
    unlink(fifo_path);
    printf("fifo writer done\n");
    return 0;
}

/* Machine code of `int f(void) { return n; }` for this target (n < 256). */
static size_t return_code(unsigned char *out, unsigned n)
{
#if defined(__aarch64__)
    uint32_t code[] = {0x52800000u | (n << 5), 0xd65f03c0u}; /* mov w0, #n; ret */
#elif defined(__arm__)
    uint32_t code[] = {0xe3a00000u | n, 0xe12fff1eu}; /* mov r0, #n; bx lr */
#elif defined(__x86_64__) || defined(__i386__)
    unsigned char code[] = {0xb8, (unsigned char)n, 0, 0, 0, 0xc3}; /* mov eax, n; ret */
#elif defined(__riscv)
    uint32_t code[] = {(n << 20) | (10u << 7) | 0x13u, 0x00008067u}; /* li a0, n; ret */
#elif defined(__mips__)
    uint32_t code[] = {0x03e00008u, 0x24020000u | n}; /* jr ra; li v0, n (delay slot) */
#elif defined(__s390x__)
    unsigned char code[] = {0xa7, 0x29, 0, (unsigned char)n, 0x07, 0xfe}; /* lghi %r2, n; br %r14 */
#elif defined(__powerpc64__) && _CALL_ELF != 2
    /* ELFv1: a function pointer is a descriptor {entry, toc, environment};
     * the code follows it: li r3, n; blr */
    uint64_t code[] = {(uint64_t)(uintptr_t)out + 24, 0, 0,
                       (uint64_t)(0x38600000u | n) << 32 | 0x4e800020u};
#elif defined(__powerpc__)
    uint32_t code[] = {0x38600000u | n, 0x4e800020u}; /* li r3, n; blr */
#elif defined(__m68k__)
    unsigned char code[] = {0x70, (unsigned char)n, 0x4e, 0x75}; /* moveq #n, d0; rts */
#else
#error "no machine code for this target"
#endif
    memcpy(out, code, sizeof code);
    return sizeof code;
}

static unsigned char *smc_page;
static atomic_int smc_started, smc_rewritten;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *smc_runner(void *arg)
{
    (void)arg;
    int (*fn)(void) = (int (*)(void))(void *)smc_page;
    int v = fn();
    atomic_store(&smc_started, 1);
    while (!atomic_load(&smc_rewritten))
        v = fn(); /* translated, and run often, before the rewrite */
    double deadline = now() + 5;
    while ((v = fn()) != 2 && now() < deadline)
        ;
    return (void *)(long)v;
}

static int run_smc(void)
{
    smc_page = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (smc_page == MAP_FAILED)
        return 1;
    size_t size = return_code(smc_page, 1);
    __builtin___clear_cache((char *)smc_page, (char *)smc_page + size);
    pthread_t t;
    pthread_create(&t, NULL, smc_runner, NULL);
    while (!atomic_load(&smc_started))
        sched_yield();
    usleep(20000);
    return_code(smc_page, 2);
    __builtin___clear_cache((char *)smc_page, (char *)smc_page + size);
    atomic_store(&smc_rewritten, 1);
    void *v;
    pthread_join(t, &v);
    printf("smc: the other thread runs the code that returns %ld\n", (long)v);
    return 0;
}

static void *churned(void *arg)
{
    return (void *)((long)arg + 1);
}

static int run_churn(long n)
{
    long sum = 0;
    for (long i = 0; i < n; i++) {
        pthread_t t;
        void *r;
        if (pthread_create(&t, NULL, churned, (void *)i) != 0)
            return 1;
        pthread_join(t, &r);
        sum += (long)r;
    }
    printf("churn %ld threads, sum %ld\n", n, sum);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc < 2)
        return 2;
    const char *w = argv[1];
    if (!strcmp(w, "mutex"))
        return run_mutex();
    if (!strcmp(w, "atomic"))
        return run_atomic();
    if (!strcmp(w, "condvar"))
        return run_condvar();
    if (!strcmp(w, "spin"))
        return run_spin();
    if (!strcmp(w, "join"))
        return run_join();
    if (!strcmp(w, "blockread"))
        return run_blockread();
    if (!strcmp(w, "cancel"))
        return run_cancel();
    if (!strcmp(w, "count"))
        return run_count();
    if (!strcmp(w, "kill"))
        return run_kill();
    if (!strcmp(w, "pi"))
        return run_pi();
    if (!strcmp(w, "membarrier"))
        return run_membarrier();
    if (!strcmp(w, "sendfile"))
        return run_sendfile();
    if (!strcmp(w, "flock"))
        return run_flock();
    if (!strcmp(w, "fifo"))
        return run_fifo();
    if (!strcmp(w, "smc"))
        return run_smc();
    if (!strcmp(w, "churn"))
        return run_churn(argc > 2 ? atol(argv[2]) : 300);
    if (!strcmp(w, "exitgroup"))
        return run_exitgroup();
    if (!strcmp(w, "threadsegv"))
        return run_threadsegv();
    if (!strcmp(w, "mainexit"))
        return run_mainexit();
    return 2;
}
