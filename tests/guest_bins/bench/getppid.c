/* getppid: syscall round-trip cost.
 *
 * Usage: getppid [CALLS]   (default 1000000)
 * Makes CALLS getppid() system calls through syscall(SYS_getppid) (so libc
 * cannot cache anything) and prints "done".  Subtracting hello's start-up
 * time and dividing by CALLS gives the cost of one syscall.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000UL;
    long first = syscall(SYS_getppid), mismatches = 0;
    for (unsigned long i = 0; i < n; i++)
        if (syscall(SYS_getppid) != first)
            mismatches++;
    printf("done %lu getppid calls, %ld mismatches\n", n, mismatches);
    return mismatches != 0;
}
