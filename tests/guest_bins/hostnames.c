/* hostnames: uname's node and domain names are the host's, and
 * sethostname/setdomainname reach the host (as under qemu-user): each is set
 * to the name it already has, so nothing changes, and the refusals come in
 * Linux's order (privilege, then length, then the pointer).  What a call
 * returns depends on the privilege it runs with, so the test's reference is
 * Linux in the same place (the i386 build run natively).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *result(long r)
{
    static char text[64];
    if (r == -1)
        snprintf(text, sizeof text, "-1 %s", strerrorname_np(errno));
    else
        snprintf(text, sizeof text, "%ld", r);
    return text;
}

static void read_line(const char *path, char *out, size_t size)
{
    memset(out, 0, size);
    FILE *f = fopen(path, "r");
    if (f) {
        if (fgets(out, (int)size, f))
            out[strcspn(out, "\n")] = 0;
        fclose(f);
    }
}

int main(void)
{
    struct utsname u;
    uname(&u);
    char host[80], domain[80];
    read_line("/proc/sys/kernel/hostname", host, sizeof host);
    read_line("/proc/sys/kernel/domainname", domain, sizeof domain);
    printf("uname nodename is the host's: %s, domainname too: %s\n",
           strcmp(u.nodename, host) == 0 ? "yes" : "no",
           strcmp(u.domainname, domain) == 0 ? "yes" : "no");

    printf("sethostname to its own name: %s\n",
           result(syscall(SYS_sethostname, host, strlen(host))));
    printf("setdomainname to its own name: %s\n",
           result(syscall(SYS_setdomainname, domain, strlen(domain))));
    char long_name[80];
    memset(long_name, 'x', sizeof long_name);
    printf("sethostname of 65 bytes: %s\n", result(syscall(SYS_sethostname, long_name, 65)));
    printf("setdomainname of -1 bytes: %s\n", result(syscall(SYS_setdomainname, long_name, -1)));
    printf("sethostname from a bad pointer: %s\n",
           result(syscall(SYS_sethostname, (char *)8, 5)));
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        /* without CAP_SYS_ADMIN (root gives up its uid; others never had it) */
        if (setuid(65534) != 0 && errno != EPERM)
            _exit(3);
        printf("unprivileged sethostname: %s\n",
               result(syscall(SYS_sethostname, host, strlen(host))));
        printf("unprivileged sethostname of 65 bytes: %s\n",
               result(syscall(SYS_sethostname, long_name, 65)));
        fflush(stdout);
        _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    uname(&u);
    printf("child's status %d, nodename unchanged: %s\n", status,
           strcmp(u.nodename, host) == 0 ? "yes" : "no");
    return 0;
}
