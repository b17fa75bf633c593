/* A program for the gdbstub tests (tests/test_gdbstub.py), built with -O0 -g.
 *
 *   gdbtarget            main -> middle -> leaf, a watched global, scaled (a double),
 *                        a write; exit 7
 *   gdbtarget threads    two workers blocked in worker_wait while main stops in
 *                        all_started; then they are released and joined; exit 7
 *   gdbtarget segv       a store to address 0x10: SIGSEGV
 *   gdbtarget spin       loops until stopped (gdb's Ctrl-C)
 *   gdbtarget block      waits in a read of stdin, then exits 7
 */
#include <pthread.h>
#include <string.h>
#include <unistd.h>

volatile int watched;
static int pipe_fds[2];
static pthread_barrier_t barrier;

__attribute__((noinline)) int leaf(int x)
{
    return x * 3 + 1;
}

__attribute__((noinline)) int middle(int x)
{
    int y = leaf(x);
    watched = y;
    return y + 2;
}

/* its result comes back in a floating-point register: d0, v0, xmm0, st0, f0, fa0 */
__attribute__((noinline)) double scaled(double x)
{
    return x * 1.5;
}

__attribute__((noinline)) void worker_wait(void)
{
    char c;
    pthread_barrier_wait(&barrier);
    while (read(pipe_fds[0], &c, 1) < 0) {
    }
}

static void *worker(void *arg)
{
    (void)arg;
    worker_wait();
    return 0;
}

__attribute__((noinline)) void all_started(void)
{
    write(1, "started\n", 8);
}

static int run_threads(void)
{
    pthread_t t[2];
    pipe(pipe_fds);
    pthread_barrier_init(&barrier, 0, 3);
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], 0, worker, 0);
    pthread_barrier_wait(&barrier);
    usleep(100000); /* the workers reach their read */
    all_started();
    write(pipe_fds[1], "xx", 2);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], 0);
    return 7;
}

int main(int argc, char **argv)
{
    int local = 42;
    if (argc > 1 && strcmp(argv[1], "segv") == 0)
        *(volatile int *)0x10 = local;
    if (argc > 1 && strcmp(argv[1], "block") == 0) {
        char c;
        return read(0, &c, 1) == 1 && c == 'x' ? 7 : 3;
    }
    if (argc > 1 && strcmp(argv[1], "spin") == 0)
        for (;;)
            watched++;
    if (argc > 1 && strcmp(argv[1], "threads") == 0)
        return run_threads();
    int result = middle(local);
    if (scaled(local) != 63.0)
        return 2;
    if (result > 100)
        write(1, "gdbtarget\n", 10);
    return result == 129 ? 7 : 1;
}
