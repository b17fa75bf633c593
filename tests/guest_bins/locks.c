/* locks: POSIX record locks between two processes.
 *
 * struct flock differs per target (32-bit offsets with F_SETLK on 32-bit
 * targets, F_SETLK64 and struct flock64 beside them; one 64-bit struct on
 * 64-bit targets; MIPS's own layout), so both command families are used:
 * the child holds a write lock, the parent sees it with F_GETLK (type and
 * owner pid), fails to take it with F_SETLK, then waits for it with F_SETLKW.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static struct flock range(short type)
{
    struct flock l;
    memset(&l, 0, sizeof l);
    l.l_type = type;
    l.l_whence = SEEK_SET;
    l.l_start = 0;
    l.l_len = 10;
    return l;
}

int main(void)
{
    char path[] = "/tmp/pyuser-locks-XXXXXX";
    int fd = mkstemp(path);
    unlink(path);
    int ready[2], release[2];
    pipe(ready);
    pipe(release);
    pid_t child = fork();
    if (child == 0) {
        struct flock l = range(F_WRLCK);
        char c = fcntl(fd, F_SETLK, &l) == 0 ? 'L' : 'F';
        write(ready[1], &c, 1);
        read(release[0], &c, 1);
        usleep(100 * 1000); /* the parent is waiting in F_SETLKW by now */
        _exit(0);            /* closing the file releases the lock */
    }
    char c;
    read(ready[0], &c, 1);
    printf("child locked: %s\n", c == 'L' ? "yes" : "no");
    struct flock probe = range(F_WRLCK);
    int r = fcntl(fd, F_GETLK, &probe);
    printf("F_GETLK: %d, F_WRLCK %s, owner is the child %s, start %lld len %lld\n", r,
           probe.l_type == F_WRLCK ? "yes" : "no", probe.l_pid == child ? "yes" : "no",
           (long long)probe.l_start, (long long)probe.l_len);
    struct flock64 probe64;
    memset(&probe64, 0, sizeof probe64);
    probe64.l_type = F_RDLCK;
    probe64.l_len = 5;
    r = fcntl(fd, F_GETLK64, &probe64);
    printf("F_GETLK64: %d, F_WRLCK %s\n", r, probe64.l_type == F_WRLCK ? "yes" : "no");
    struct flock try_lock = range(F_WRLCK);
    errno = 0;
    r = fcntl(fd, F_SETLK, &try_lock);
    printf("F_SETLK while held: %d %s\n", r,
           errno == EAGAIN || errno == EACCES ? "EAGAIN/EACCES" : strerrorname_np(errno));
    write(release[1], "x", 1);
    struct flock wait_lock = range(F_WRLCK);
    r = fcntl(fd, F_SETLKW, &wait_lock);
    printf("F_SETLKW after the child: %d\n", r);
    int status;
    waitpid(child, &status, 0);
    struct flock mine = range(F_WRLCK);
    fcntl(fd, F_GETLK, &mine);
    printf("own lock is no conflict: %s\n", mine.l_type == F_UNLCK ? "yes" : "no");
    printf("lockf F_TLOCK: %d\n", lockf(fd, F_TLOCK, 0));
    return 0;
}
