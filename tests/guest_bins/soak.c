/* soak: churn for tools/soak.py, which watches the emulator's RSS and
 * descriptors while this runs.
 *
 *   soak SECONDS [ACTIVITIES]     ACTIVITIES: letters, default "tfemo"
 *     t  create 4 threads (each mallocs, maps and frees a little) and join them
 *     f  fork a child that exits at once; wait for it
 *     e  fork a child that execs this program ("soak exec"); wait for it
 *     m  mmap 1 MiB anonymous, touch every page, munmap it; and a file mapping
 *     o  open and close a file, a pipe, a dup
 *   soak exec                     exit 0 at once (the exec'd child)
 *
 * Rounds run until SECONDS have passed; every round does each activity
 * once.  Prints the number of rounds and "ok" at the end; any failing call
 * prints its name and exits 1.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define THREADS 4
#define MAP_SIZE (1 << 20)

static const char *self;

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *worker(void *arg)
{
    long n = (long)arg;
    char *p = malloc(4096 + n * 512);
    if (!p)
        return (void *)1;
    memset(p, (int)n, 4096);
    void *m = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        free(p);
        return (void *)1;
    }
    memset(m, 1, 65536);
    munmap(m, 65536);
    free(p);
    return NULL;
}

static void threads(void)
{
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++)
        if (pthread_create(&t[i], NULL, worker, (void *)i))
            die("pthread_create");
    for (int i = 0; i < THREADS; i++) {
        void *r;
        if (pthread_join(t[i], &r) || r)
            die("pthread_join");
    }
}

static void child_and_wait(int do_exec)
{
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        if (do_exec) {
            execl(self, self, "exec", (char *)NULL);
            _exit(127);
        }
        _exit(0);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
        die(do_exec ? "exec child" : "fork child");
}

static void maps(void)
{
    char *m = mmap(NULL, MAP_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        die("mmap");
    for (int i = 0; i < MAP_SIZE; i += 4096)
        m[i] = (char)i;
    if (munmap(m, MAP_SIZE))
        die("munmap");
    int fd = open(self, O_RDONLY);
    if (fd < 0)
        die("open self");
    void *f = mmap(NULL, 8192, PROT_READ, MAP_PRIVATE, fd, 0);
    if (f == MAP_FAILED)
        die("mmap file");
    if (((char *)f)[1] != 'E')
        die("file mapping content");
    munmap(f, 8192);
    close(fd);
}

static void files(void)
{
    int fd = open("/proc/self/stat", O_RDONLY);
    if (fd < 0)
        die("open");
    char buf[64];
    if (read(fd, buf, sizeof buf) <= 0)
        die("read");
    int fds[2];
    if (pipe(fds))
        die("pipe");
    int d = dup(fd);
    if (d < 0)
        die("dup");
    close(d);
    close(fds[0]);
    close(fds[1]);
    close(fd);
}

int main(int argc, char **argv)
{
    self = argv[0];
    if (argc > 1 && !strcmp(argv[1], "exec"))
        return 0;
    if (argc < 2) {
        fprintf(stderr, "usage: soak SECONDS [tfemo]\n");
        return 2;
    }
    double seconds = atof(argv[1]);
    const char *what = argc > 2 ? argv[2] : "tfemo";
    double end = now() + seconds;
    long rounds = 0;
    while (now() < end) {
        for (const char *w = what; *w; w++) {
            switch (*w) {
            case 't': threads(); break;
            case 'f': child_and_wait(0); break;
            case 'e': child_and_wait(1); break;
            case 'm': maps(); break;
            case 'o': files(); break;
            default: fprintf(stderr, "unknown activity %c\n", *w); return 2;
            }
        }
        rounds++;
    }
    printf("rounds=%ld ok\n", rounds);
    return 0;
}
