/* execchurn: fork and exec a guest program many times over, waiting for each
 * (what a shell, make or a test driver does).  The program exec'd is this
 * one, which exits at once when its first argument is "-".
 *
 * Usage: execchurn [COUNT]   (default 100)
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "-") == 0)
        return 0;
    int n = argc > 1 ? atoi(argv[1]) : 100;
    /* the program's own file: exec'ing /proc/self/exe itself would run an
     * emulator's own executable under qemu */
    char self[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len < 0) {
        perror("readlink");
        return 1;
    }
    self[len] = 0;
    int ok = 0;
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            execl(self, "execchurn", "-", (char *)NULL);
            _exit(127);
        }
        int status;
        if (waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0)
            ok++;
    }
    printf("%d of %d execs ran\n", ok, n);
    return ok == n ? 0 : 1;
}
