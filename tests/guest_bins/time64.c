/* time64: the 64-bit timespec of the *_time64 syscalls, and recvmmsg's timeout.
 *
 * On a 32-bit target the kernel keeps only the low half of a __kernel_timespec's
 * tv_nsec (glibc's struct __timespec64 has 32 bits of padding there that it does
 * not clear), so each call is made with garbage in the high half: futex_time64,
 * clock_nanosleep_time64, ppoll_time64, utimensat_time64, timerfd_settime64.
 * A 64-bit target makes the same calls with its only timespec.  recvmmsg's
 * timeout is looked at after each message (net/socket.c do_recvmmsg): an
 * expired one ends the batch after one message, and what is left of it is
 * written back.  Receive timestamps (SO_TIMESTAMP, SO_TIMESTAMPNS) come as
 * control messages in the target's struct timeval/timespec (8 bytes on 32-bit
 * targets, 16 on the host).  qemu-user 7.2 ignores recvmmsg's timeout and
 * lacks SO_TIMESTAMPNS, so Linux's output is the test's reference.  Also
 * clock_settime's order of checks: a clock that cannot be set is EINVAL before
 * a bad pointer is EFAULT (qemu reads the pointer first).  Only properties are
 * printed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

struct kernel_timespec {
    int64_t sec;
    int64_t nsec;
};

#if __SIZEOF_LONG__ == 4
#define GARBAGE ((int64_t)0x5eadbeefLL << 32)
#define NR_FUTEX SYS_futex_time64
#define NR_CLOCK_NANOSLEEP SYS_clock_nanosleep_time64
#define NR_PPOLL SYS_ppoll_time64
#define NR_UTIMENSAT SYS_utimensat_time64
#define NR_TIMERFD_SETTIME SYS_timerfd_settime64
#define NR_TIMERFD_GETTIME SYS_timerfd_gettime64
#else
#define GARBAGE 0
#define NR_FUTEX SYS_futex
#define NR_CLOCK_NANOSLEEP SYS_clock_nanosleep
#define NR_PPOLL SYS_ppoll
#define NR_UTIMENSAT SYS_utimensat
#define NR_TIMERFD_SETTIME SYS_timerfd_settime
#define NR_TIMERFD_GETTIME SYS_timerfd_gettime
#endif

static struct kernel_timespec padded(int64_t sec, int64_t nsec)
{
    struct kernel_timespec ts = {sec, nsec | GARBAGE};
    return ts;
}

static const char *result(long r)
{
    static char text[64];
    if (r == -1)
        snprintf(text, sizeof text, "-1 %s", strerrorname_np(errno));
    else
        snprintf(text, sizeof text, "%ld", r);
    return text;
}

static void padding(void)
{
    uint32_t word = 7;
    struct kernel_timespec ts = padded(0, 1000000);
    printf("futex wait 1 ms: %s\n",
           result(syscall(NR_FUTEX, &word, FUTEX_WAIT_PRIVATE, 7, &ts, NULL, 0)));

    ts = padded(0, 1000000);
    printf("clock_nanosleep 1 ms: %s\n",
           result(syscall(NR_CLOCK_NANOSLEEP, CLOCK_MONOTONIC, 0, &ts, NULL)));

    struct pollfd none = {-1, 0, 0};
    ts = padded(0, 1000000);
    printf("ppoll 1 ms: %s\n", result(syscall(NR_PPOLL, &none, 1, &ts, NULL, 8)));

    char path[] = "/tmp/pyuser-time64-XXXXXX";
    close(mkstemp(path));
    struct kernel_timespec times[2] = {padded(1000000000, 250000000),
                                       padded(1000000000, 500000000)};
    printf("utimensat: %s", result(syscall(NR_UTIMENSAT, AT_FDCWD, path, times, 0)));
    struct stat st;
    stat(path, &st);
    printf(", mtime %lld.%09ld, atime %lld.%09ld\n", (long long)st.st_mtim.tv_sec,
           (long)st.st_mtim.tv_nsec, (long long)st.st_atim.tv_sec, (long)st.st_atim.tv_nsec);
    unlink(path);

    int fd = timerfd_create(CLOCK_MONOTONIC, 0);
    struct kernel_timespec spec[2] = {padded(0, 0), padded(100, 500000000)};
    printf("timerfd_settime: %s", result(syscall(NR_TIMERFD_SETTIME, fd, 0, spec, NULL)));
    struct kernel_timespec left[2];
    memset(left, 0, sizeof left);
    syscall(NR_TIMERFD_GETTIME, fd, left);
    printf(", armed for 99..100.5 s: %s\n",
           left[1].sec >= 99 && (left[1].sec < 100 || left[1].nsec <= 500000000) ? "yes" : "no");
    close(fd);
}

static void recvmmsg_timeout(void)
{
    int sv[2];
    socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
    send(sv[0], "a", 1, 0);
    send(sv[0], "bb", 2, 0);
    send(sv[0], "ccc", 3, 0);
    char buffers[5][8];
    struct iovec iov[5];
    struct mmsghdr msgs[5];
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < 5; i++) {
        iov[i].iov_base = buffers[i];
        iov[i].iov_len = sizeof buffers[i];
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    struct timespec expired = {0, 1};
    int n = recvmmsg(sv[1], msgs, 5, MSG_DONTWAIT, &expired);
    printf("recvmmsg, 1 ns timeout: %d, length %u, left %lld.%09ld\n", n, msgs[0].msg_len,
           (long long)expired.tv_sec, (long)expired.tv_nsec);
    struct timespec plenty = {5, 0};
    n = recvmmsg(sv[1], msgs, 5, MSG_DONTWAIT, &plenty);
    printf("recvmmsg, 5 s timeout: %d, lengths %u %u, left between 4 and 5 s: %s\n", n,
           msgs[0].msg_len, msgs[1].msg_len,
           plenty.tv_sec == 4 || (plenty.tv_sec < 5 && plenty.tv_sec >= 4) ? "yes" : "no");
    struct timespec untouched = {5, 0};
    n = recvmmsg(sv[1], msgs, 5, MSG_DONTWAIT, &untouched);
    printf("recvmmsg, nothing queued: %s, timeout untouched: %s\n", result(n),
           untouched.tv_sec == 5 && untouched.tv_nsec == 0 ? "yes" : "no");
}

static void receive_timestamps(void)
{
    int rx = socket(AF_INET, SOCK_DGRAM, 0), tx = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET,
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(rx, (struct sockaddr *)&address, sizeof address);
    socklen_t length = sizeof address;
    getsockname(rx, (struct sockaddr *)&address, &length);
    const int options[] = {SO_TIMESTAMP, SO_TIMESTAMPNS};
    const char *names[] = {"SO_TIMESTAMP", "SO_TIMESTAMPNS"};
    for (int k = 0; k < 2; k++) {
        int on = 1;
        int set = setsockopt(rx, SOL_SOCKET, options[k], &on, sizeof on);
        sendto(tx, "x", 1, 0, (struct sockaddr *)&address, sizeof address);
        char data[8], control[256];
        struct iovec iov = {data, sizeof data};
        struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
                           .msg_controllen = sizeof control};
        ssize_t got = recvmsg(rx, &m, 0);
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        /* time() reads the coarse clock, which can lag the packet's precise
         * stamp by a tick across a second boundary: read the precise one */
        struct timespec precise;
        clock_gettime(CLOCK_REALTIME, &precise);
        time_t now = precise.tv_sec;
        printf("%s: setsockopt %d, recvmsg %zd, ", names[k], set, got);
        if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMP) {
            struct timeval tv;
            memcpy(&tv, CMSG_DATA(c), sizeof tv);
            printf("SCM_TIMESTAMP of CMSG_LEN(sizeof (struct timeval)): %s, recent: %s\n",
                   c->cmsg_len == CMSG_LEN(sizeof tv) ? "yes" : "no",
                   tv.tv_sec >= now - 5 && tv.tv_sec <= now + 1 && tv.tv_usec >= 0 &&
                   tv.tv_usec < 1000000 ? "yes" : "no");
        } else if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
            struct timespec ts;
            memcpy(&ts, CMSG_DATA(c), sizeof ts);
            printf("SCM_TIMESTAMPNS of CMSG_LEN(sizeof (struct timespec)): %s, recent: %s\n",
                   c->cmsg_len == CMSG_LEN(sizeof ts) ? "yes" : "no",
                   ts.tv_sec >= now - 5 && ts.tv_sec <= now + 1 && ts.tv_nsec >= 0 &&
                   ts.tv_nsec < 1000000000 ? "yes" : "no");
        } else {
            printf("no timestamp\n");
        }
        on = 0;
        setsockopt(rx, SOL_SOCKET, options[k], &on, sizeof on);
    }
    close(rx);
    close(tx);
}

static void settime_order(void)
{
#ifdef SYS_clock_settime64
    long nr = SYS_clock_settime64;
#else
    long nr = SYS_clock_settime;
#endif
    errno = 0;
    long r = syscall(nr, CLOCK_MONOTONIC, (void *)8);
    printf("clock_settime(CLOCK_MONOTONIC, bad pointer): %ld %s\n", r,
           errno == EINVAL ? "EINVAL" : strerror(errno));
}

int main(void)
{
    padding();
    recvmmsg_timeout();
    receive_timestamps();
    settime_order();
    return 0;
}
