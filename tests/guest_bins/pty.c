/* pty: a pseudo-terminal pair made as glibc makes one.
 *
 * posix_openpt, grantpt, unlockpt and ptsname (TIOCGPTN, TIOCSPTLCK, and
 * TIOCGPTLCK to see the lock), the peer opened by name and through
 * TIOCGPTPEER (its O_* flags are the target's), data both ways through the
 * line discipline (ONLCR turns \n into \r\n), packet mode (TIOCPKT,
 * TIOCGPKT), exclusive mode (TIOCEXCL, TIOCGEXCL, TIOCNXCL) and the line
 * discipline number (TIOCGETD).  qemu-user 7.2 lacks TIOCGPTLCK, TIOCGPKT
 * and TIOCGEXCL, so Linux's output is the test's reference.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

static const char *yesno(int b)
{
    return b ? "yes" : "no";
}

static int int_ioctl(int fd, unsigned long request)
{
    int value = -1;
    if (ioctl(fd, request, &value) != 0)
        return -2;
    return value;
}

int main(void)
{
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    printf("posix_openpt: %s\n", yesno(master >= 0));
    printf("locked before unlockpt: %d\n", int_ioctl(master, TIOCGPTLCK));
    int granted = grantpt(master);
    int unlocked = unlockpt(master);
    printf("grantpt: %d, unlockpt: %d\n", granted, unlocked);
    printf("locked after: %d\n", int_ioctl(master, TIOCGPTLCK));
    const char *name = ptsname(master);
    printf("ptsname under /dev/pts/: %s\n", yesno(name && strncmp(name, "/dev/pts/", 9) == 0));
    int number = int_ioctl(master, TIOCGPTN);
    printf("TIOCGPTN matches ptsname: %s\n", yesno(name && atoi(name + 9) == number));
    int slave = open(name, O_RDWR | O_NOCTTY);
    int peer = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    int peer_flags = fcntl(peer, F_GETFD);
    printf("slave by name: %s, by TIOCGPTPEER: %s, close-on-exec: %s, isatty: %d\n",
           yesno(slave >= 0), yesno(peer >= 0), yesno(peer_flags == FD_CLOEXEC), isatty(peer));

    /* no echo: what the master writes must not come back to it */
    struct termios t;
    tcgetattr(slave, &t);
    t.c_lflag &= ~ECHO;
    tcsetattr(slave, TCSANOW, &t);

    char buffer[32];
    write(peer, "out\n", 4);
    ssize_t got = read(master, buffer, sizeof buffer);
    printf("slave wrote out\\n, master read %zd bytes, ends with \\r\\n: %s\n", got,
           yesno(got == 5 && memcmp(buffer, "out\r\n", 5) == 0));
    write(master, "in\n", 3);
    got = read(slave, buffer, sizeof buffer);
    printf("master wrote in\\n, slave read %zd bytes\n", got);

    int on = 1;
    int packet = ioctl(master, TIOCPKT, &on);
    printf("TIOCPKT: %d, TIOCGPKT %d\n", packet, int_ioctl(master, TIOCGPKT));
    write(slave, "p", 1);
    got = read(master, buffer, sizeof buffer);
    printf("packet read: %zd bytes, status byte %d, data %c\n", got, buffer[0], buffer[1]);

    int exclusive = ioctl(slave, TIOCEXCL);
    printf("TIOCEXCL: %d, TIOCGEXCL %d\n", exclusive, int_ioctl(slave, TIOCGEXCL));
    int shared = ioctl(slave, TIOCNXCL);
    printf("TIOCNXCL: %d, TIOCGEXCL %d\n", shared, int_ioctl(slave, TIOCGEXCL));
    printf("TIOCGETD is N_TTY: %s\n", yesno(int_ioctl(slave, TIOCGETD) == N_TTY));
    close(peer);
    close(slave);
    close(master);
    return 0;
}
