/* hostile: call syscalls with hostile arguments, each call in a child process.
 *
 * Usage: hostile NR...   For every syscall number given, seven argument
 * patterns (zeros, all ones, a low bad pointer, INT_MAX, addresses near the top
 * of a 32-bit space, the sign bit, a PROT_NONE page) are passed in a forked
 * child with a one-second alarm.  A child killed by a signal other than SIGALRM
 * is reported as "nr N pattern P: signal S"; nothing else is printed.  The test
 * picks numbers whose effects stay inside the child (never kill, reboot,
 * settimeofday, mount, ...) and checks that the emulator survives all of them.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    (void)argc;
    char *none = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    long patterns[7][6] = {
        {0, 0, 0, 0, 0, 0},
        {-1, -1, -1, -1, -1, -1},
        {0x10, 0x10, 0x10, 0x10, 0x10, 0x10},
        {0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff},
        {1, 0xfffff000L, 3, 0xfffff000L, 1, 0xfffff000L},
        {100, (long)0x80000000UL, 100, (long)0x80000000UL, 100, 100},
        {3, (long)none, 4096, (long)none, 0, (long)none},
    };
    for (char **arg = argv + 1; *arg; arg++) {
        long nr = atol(*arg);
        for (int p = 0; p < 7; p++) {
            long *a = patterns[p];
            pid_t child = fork();
            if (child == 0) {
                alarm(1);
                syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
                _exit(0);
            }
            int status;
            waitpid(child, &status, 0);
            if (WIFSIGNALED(status) && WTERMSIG(status) != SIGALRM)
                printf("nr %ld pattern %d: signal %d\n", nr, p, WTERMSIG(status));
            fflush(stdout);
        }
    }
    return 0;
}
