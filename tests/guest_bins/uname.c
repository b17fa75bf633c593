/* uname: what the emulated machine says it is.
 *
 * Exercises: the uname syscall and its per-target machine string.  Under
 * an arm emulator the machine is "armv7l" and the system "Linux".  The
 * release and host name come from the host, so only their consistency with
 * gethostname() is checked.
 */
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

int main(void)
{
    struct utsname u;
    if (uname(&u) != 0) {
        perror("uname");
        return 1;
    }
    printf("%s\n", u.machine);
    printf("%s\n", u.sysname);
    char host[256];
    printf("nodename matches gethostname: %s\n",
           gethostname(host, sizeof host) == 0 && strcmp(host, u.nodename) == 0 ? "yes" : "no");
    printf("release non-empty: %s\n", u.release[0] ? "yes" : "no");
    return 0;
}
