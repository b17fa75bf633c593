/* polling: poll, select, epoll and eventfd on pipes; output is deterministic. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <sys/time.h>
#include <unistd.h>

int main(void)
{
    int p[2];
    pipe(p);
    struct pollfd pf[2] = {{p[0], POLLIN, 0}, {p[1], POLLOUT, 0}};
    int n = poll(pf, 2, 0);
    printf("poll empty: n=%d in=%d out=%d\n", n, pf[0].revents & POLLIN, (pf[1].revents & POLLOUT) != 0);
    write(p[1], "ab", 2);
    n = poll(pf, 1, 100);
    printf("poll data: n=%d in=%d\n", n, (pf[0].revents & POLLIN) != 0);

    fd_set r;
    FD_ZERO(&r);
    FD_SET(p[0], &r);
    struct timeval tv = {0, 1000};
    n = select(p[0] + 1, &r, NULL, NULL, &tv);
    printf("select data: n=%d set=%d\n", n, FD_ISSET(p[0], &r) != 0);
    char buf[4];
    read(p[0], buf, 2);
    FD_ZERO(&r);
    FD_SET(p[0], &r);
    struct timeval t0, t1;
    tv.tv_sec = 0;
    tv.tv_usec = 50000;
    gettimeofday(&t0, NULL);
    n = select(p[0] + 1, &r, NULL, NULL, &tv);
    gettimeofday(&t1, NULL);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_usec - t0.tv_usec) / 1000;
    printf("select timeout: n=%d waited>=45ms=%d\n", n, ms >= 45);

    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0x1122334455667788ULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev);
    struct epoll_event out[4];
    n = epoll_wait(ep, out, 4, 0);
    printf("epoll empty: n=%d\n", n);
    write(p[1], "c", 1);
    n = epoll_wait(ep, out, 4, 100);
    printf("epoll data: n=%d events_in=%d data=%#llx\n", n, (out[0].events & EPOLLIN) != 0,
           (unsigned long long)out[0].data.u64);

    int efd = eventfd(3, EFD_NONBLOCK);
    uint64_t v;
    read(efd, &v, 8);
    printf("eventfd read %llu\n", (unsigned long long)v);
    ssize_t r2 = read(efd, &v, 8);
    printf("eventfd empty read=%zd errno=%s\n", r2, strerrorname_np(errno));
    return 0;
}
