/* forkwait: fork a child that exits at once, and wait for it, many times over:
 * the cost of a fork.
 *
 * Usage: forkwait [COUNT]   (default 200)
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 200;
    int sum = 0;
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid == 0)
            _exit(i & 7);
        int status;
        if (waitpid(pid, &status, 0) == pid && WIFEXITED(status))
            sum += WEXITSTATUS(status);
    }
    printf("%d forks, sum %d\n", n, sum);
    return 0;
}
