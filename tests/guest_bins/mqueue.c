/* mqueue: POSIX message queues (mq_open, mq_send/mq_receive and their timed
 * forms, mq_getattr/mq_setattr, mq_notify with a signal, mq_unlink): struct
 * mq_attr is eight longs, the timeouts absolute timespecs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
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

static volatile sig_atomic_t notified;

static void on_usr1(int sig, siginfo_t *info, void *context)
{
    (void)sig;
    (void)context;
    notified = info->si_code == SI_MESGQ ? 2 : 1;
}

int main(void)
{
    char name[64];
    snprintf(name, sizeof name, "/pyuser-mq-%d", (int)getpid());
    struct mq_attr attr = {.mq_maxmsg = 4, .mq_msgsize = 64};
    mqd_t q = mq_open(name, O_CREAT | O_EXCL | O_RDWR, 0600, &attr);
    printf("mq_open: %s\n", q >= 0 ? "yes" : result(q));
    struct mq_attr now;
    mq_getattr(q, &now);
    printf("mq_getattr: maxmsg %ld, msgsize %ld, curmsgs %ld, flags %ld\n", (long)now.mq_maxmsg,
           (long)now.mq_msgsize, (long)now.mq_curmsgs, (long)now.mq_flags);

    printf("mq_send one/1: %s\n", result(mq_send(q, "one", 3, 1)));
    printf("mq_send five/5: %s\n", result(mq_send(q, "five", 4, 5)));
    printf("mq_send three/3: %s\n", result(mq_send(q, "three", 5, 3)));
    mq_getattr(q, &now);
    printf("curmsgs %ld\n", (long)now.mq_curmsgs);
    char buffer[64];
    unsigned priority;
    for (int i = 0; i < 3; i++) {
        memset(buffer, 0, sizeof buffer);
        ssize_t n = mq_receive(q, buffer, sizeof buffer, &priority);
        printf("mq_receive: %zd \"%s\" priority %u\n", n, buffer, priority);
    }
    mq_send(q, "x", 1, 0);
    printf("mq_receive into 10 bytes: %s\n", result(mq_receive(q, buffer, 10, NULL)));
    mq_receive(q, buffer, sizeof buffer, NULL);

    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_nsec += 50000000;
    if (deadline.tv_nsec >= 1000000000) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000;
    }
    printf("mq_timedreceive on an empty queue: %s\n",
           result(mq_timedreceive(q, buffer, sizeof buffer, NULL, &deadline)));
    struct timespec bad = {deadline.tv_sec, 2000000000};
    /* the timeout is checked first, even when the queue has room (EINVAL, not sent) */
    printf("mq_timedsend with tv_nsec 2e9: %s\n", result(mq_timedsend(q, "y", 1, 0, &bad)));

    struct mq_attr nonblocking = {.mq_flags = O_NONBLOCK}, before;
    printf("mq_setattr O_NONBLOCK: %s, ", result(mq_setattr(q, &nonblocking, &before)));
    mq_getattr(q, &now);
    printf("flags before %ld, now O_NONBLOCK: %s\n", (long)before.mq_flags,
           now.mq_flags & O_NONBLOCK ? "yes" : "no");
    printf("mq_receive, empty and nonblocking: %s\n",
           result(mq_receive(q, buffer, sizeof buffer, NULL)));
    for (int i = 0; i < 4; i++)
        mq_send(q, "f", 1, 0);
    printf("mq_send to a full nonblocking queue: %s\n", result(mq_send(q, "g", 1, 0)));
    for (int i = 0; i < 4; i++)
        mq_receive(q, buffer, sizeof buffer, NULL);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_usr1;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGUSR1, &sa, NULL);
    struct sigevent event;
    memset(&event, 0, sizeof event);
    event.sigev_notify = SIGEV_SIGNAL;
    event.sigev_signo = SIGUSR1;
    printf("mq_notify SIGEV_SIGNAL SIGUSR1: %s\n", result(mq_notify(q, &event)));
    printf("a second registration: %s\n", result(mq_notify(q, &event)));
    mq_send(q, "ring", 4, 0);
    for (int i = 0; i < 500 && !notified; i++) /* up to 5 s on a loaded machine */
        usleep(10000);
    printf("notified by SIGUSR1: %s, si_code SI_MESGQ: %s\n", notified ? "yes" : "no",
           notified == 2 ? "yes" : "no");

    mq_close(q);
    printf("mq_unlink: %s\n", result(mq_unlink(name)));
    printf("mq_unlink again: %s\n", result(mq_unlink(name)));
    printf("mq_open of the unlinked queue: %s\n", result(mq_open(name, O_RDONLY)));
    return 0;
}
