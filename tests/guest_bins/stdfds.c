/* stdfds: which of descriptors 0-2 the program started with (a subprocess
 * child may start without one); the report goes to descriptor 1, or 2 when 1
 * is closed, with write(2), so that stdio needs none of them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(void)
{
    char report[128];
    int length = 0;
    for (int fd = 0; fd <= 2; fd++) {
        errno = 0;
        int open_now = fcntl(fd, F_GETFD) != -1;
        length += snprintf(report + length, sizeof report - length, "fd %d %s\n", fd,
                           open_now ? "open" : errno == EBADF ? "closed (EBADF)" : "?");
    }
    int out = fcntl(1, F_GETFD) != -1 ? 1 : 2;
    return write(out, report, length) == length ? 0 : 1;
}
