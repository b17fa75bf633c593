/* fdkinds: descriptors of the kinds event loops and tools use, and a few
 * calls around them: timerfd (its u64 expiration count), inotify (event
 * records), memfd, pidfd, utimes, preadv2/pwritev2, readahead, splice, tee,
 * vmsplice, sync_file_range, and the scheduling-policy queries.  Properties only, so every target prints the
 * same.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *yesno(int b)
{
    return b ? "yes" : "no";
}

int main(void)
{
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    struct itimerspec spec = {.it_interval = {0, 10 * 1000 * 1000},
                              .it_value = {0, 10 * 1000 * 1000}};
    printf("timerfd_settime: %d\n", timerfd_settime(tfd, 0, &spec, NULL));
    usleep(35 * 1000);
    uint64_t expirations = 0;
    ssize_t got = read(tfd, &expirations, sizeof expirations);
    printf("timerfd read: %zd, expirations 2..10: %s\n", got,
           yesno(expirations >= 2 && expirations <= 10));
    struct itimerspec now;
    timerfd_gettime(tfd, &now);
    printf("timerfd_gettime interval 10 ms: %s, FD_CLOEXEC: %s\n",
           yesno(now.it_interval.tv_sec == 0 && now.it_interval.tv_nsec == 10000000),
           yesno(fcntl(tfd, F_GETFD) & FD_CLOEXEC));

    char dir[] = "/tmp/pyuser-fdkinds-XXXXXX";
    mkdtemp(dir);
    int ifd = inotify_init1(IN_NONBLOCK);
    int wd = inotify_add_watch(ifd, dir, IN_CREATE | IN_DELETE);
    printf("inotify_add_watch: %s, nonblocking: %s\n", yesno(wd > 0),
           yesno(fcntl(ifd, F_GETFL) & O_NONBLOCK));
    char path[64];
    snprintf(path, sizeof path, "%s/new-file", dir);
    close(open(path, O_CREAT | O_WRONLY, 0600));
    char events[512] __attribute__((aligned(8)));
    got = read(ifd, events, sizeof events);
    struct inotify_event *ev = (struct inotify_event *)events;
    printf("inotify event: %s, wd matches %s, IN_CREATE %s, name %s\n",
           yesno(got >= (ssize_t)sizeof *ev), yesno(ev->wd == wd),
           yesno(ev->mask & IN_CREATE), ev->len ? ev->name : "(none)");
    errno = 0;
    got = read(ifd, events, sizeof events);
    printf("no more events: %zd %s\n", got, strerrorname_np(errno));
    printf("inotify_rm_watch: %d\n", inotify_rm_watch(ifd, wd));

    struct timeval times[2] = {{1000000000, 5}, {1200000000, 7}};
    printf("utimes: %d\n", utimes(path, times));
    struct stat st;
    stat(path, &st);
    printf("mtime: %lld, atime: %lld\n", (long long)st.st_mtime, (long long)st.st_atime);

    int fd = open(path, O_RDWR);
    struct iovec out[2] = {{"abc", 3}, {"defg", 4}};
    printf("pwritev2: %zd\n", pwritev2(fd, out, 2, 0, 0));
    char a[4] = {0}, b[8] = {0};
    struct iovec in[2] = {{a, 2}, {b, 5}};
    printf("preadv2 at 1: %zd [%s] [%s]\n", preadv2(fd, in, 2, 1, 0), a, b);
    printf("readahead: %zd\n", readahead(fd, 0, 4096));
    close(fd);
    unlink(path);
    rmdir(dir);

    int mfd = memfd_create("pyuser-test", MFD_CLOEXEC);
    write(mfd, "in memory", 9);
    char link[64] = {0}, target[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", mfd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    target[n > 0 ? n : 0] = 0;
    printf("memfd: size %lld, named memfd:pyuser-test: %s\n",
           (long long)lseek(mfd, 0, SEEK_END), yesno(strncmp(target, "/memfd:pyuser-test", 18) == 0));

    /* "in memory" -> pipe -> back into the memfd at 3, and a tee'd copy */
    int pipes[2], copy[2];
    pipe(pipes);
    pipe(copy);
    struct iovec parts[2] = {{"vm", 2}, {"splice", 6}};
    printf("vmsplice: %zd\n", vmsplice(pipes[1], parts, 2, 0));
    printf("tee: %zd\n", tee(pipes[0], copy[1], 8, 0));
    loff_t out_at = 3;
    ssize_t moved = splice(pipes[0], NULL, mfd, &out_at, 8, 0);
    printf("splice into the memfd at 3: %zd, offset now %lld\n", moved, (long long)out_at);
    char back[16] = "";
    n = pread(mfd, back, sizeof back - 1, 0);
    printf("memfd now: %.*s\n", (int)(n > 0 ? n : 0), back);
    n = read(copy[0], back, sizeof back - 1);
    printf("the tee'd copy: %.*s\n", (int)(n > 0 ? n : 0), back);
    loff_t in_at = 5;
    moved = splice(mfd, &in_at, pipes[1], NULL, 4, SPLICE_F_NONBLOCK);
    printf("splice out of the memfd at 5: %zd, offset now %lld\n", moved, (long long)in_at);
    n = read(pipes[0], back, sizeof back - 1);
    printf("through the pipe: %.*s\n", (int)(n > 0 ? n : 0), back);
    moved = splice(pipes[0], NULL, mfd, NULL, 4, SPLICE_F_NONBLOCK);
    printf("splice from an empty pipe, nonblocking: %zd %s\n", moved,
           moved < 0 && errno == EAGAIN ? "EAGAIN" : "?");
    printf("sync_file_range: %d\n", sync_file_range(mfd, 0, 0, SYNC_FILE_RANGE_WRITE));
    errno = 0;
    int synced = sync_file_range(pipes[0], 0, 0, SYNC_FILE_RANGE_WRITE);
    printf("sync_file_range of a pipe: %d %s\n", synced, errno == ESPIPE ? "ESPIPE" : "?");

    pid_t child = fork();
    if (child == 0) {
        pause();
        _exit(0);
    }
    int pidfd = (int)syscall(SYS_pidfd_open, child, 0);
    printf("pidfd_open: %s\n", yesno(pidfd >= 0));
    printf("pidfd_send_signal SIGTERM: %ld\n",
           syscall(SYS_pidfd_send_signal, pidfd, SIGTERM, NULL, 0));
    int status;
    waitpid(child, &status, 0);
    printf("child killed by SIGTERM: %s\n", yesno(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM));

    printf("sched_getscheduler: %s\n", sched_getscheduler(0) == SCHED_OTHER ? "SCHED_OTHER" : "?");
    struct sched_param param = {.sched_priority = 5};
    sched_getparam(0, &param);
    printf("sched_getparam priority: %d\n", param.sched_priority);
    printf("SCHED_FIFO priorities: %d..%d\n", sched_get_priority_min(SCHED_FIFO),
           sched_get_priority_max(SCHED_FIFO));

    /* ionice's calls (IOPRIO_WHO_PROCESS 1; best-effort is class 2, in bits 13+) */
    long before = syscall(SYS_ioprio_get, 1, 0);
    long set = syscall(SYS_ioprio_set, 1, 0, (2 << 13) | 7);
    long after = syscall(SYS_ioprio_get, 1, 0);
    printf("ioprio_get: %s, ioprio_set best-effort 7: %ld, reads back: %s\n",
           yesno(before >= 0), set, yesno(after == ((2 << 13) | 7)));
    syscall(SYS_ioprio_set, 1, 0, before);
    errno = 0;
    long none = syscall(SYS_ioprio_get, 1, 0x7ffffff0);
    printf("ioprio_get of no such pid: %ld %s\n", none, errno == ESRCH ? "ESRCH" : "?");
    return 0;
}
