/* msg: sendmsg and recvmsg with scattered buffers and control messages.
 *
 * Gathers three iovecs into one stream and scatters them into two; passes a
 * pipe's write end to itself over an AF_UNIX socket (SCM_RIGHTS) and writes
 * through the received descriptor; receives its own credentials
 * (SCM_CREDENTIALS with SO_PASSCRED); truncates a datagram (MSG_TRUNC) and a
 * control buffer (MSG_CTRUNC).  struct cmsghdr is word-sized, so 32- and
 * 64-bit targets lay these out differently.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

static const char *yesno(int b)
{
    return b ? "yes" : "no";
}

static int send_fd(int sock, int fd)
{
    char byte = 'F';
    struct iovec iov = {&byte, 1};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } control;
    memset(&control, 0, sizeof control);
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                         .msg_controllen = sizeof control.buf};
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cmsg), &fd, sizeof fd);
    return (int)sendmsg(sock, &msg, 0);
}

int main(void)
{
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    struct iovec out[3] = {{"ab", 2}, {"cde", 3}, {"fghij", 5}};
    struct msghdr msg = {.msg_iov = out, .msg_iovlen = 3};
    printf("sendmsg gathered: %zd\n", sendmsg(sv[0], &msg, 0));
    char first[4] = {0}, second[16] = {0};
    struct iovec in[2] = {{first, 3}, {second, sizeof second - 1}};
    struct msghdr rmsg = {.msg_iov = in, .msg_iovlen = 2};
    ssize_t got = recvmsg(sv[1], &rmsg, 0);
    printf("recvmsg scattered: %zd [%s] [%s] flags %d\n", got, first, second, rmsg.msg_flags);

    int pipe_fds[2];
    pipe(pipe_fds);
    printf("sendmsg SCM_RIGHTS: %d\n", send_fd(sv[0], pipe_fds[1]));
    char byte = 0;
    struct iovec iov = {&byte, 1};
    union {
        char buf[CMSG_SPACE(sizeof(int)) + 64];
        struct cmsghdr align;
    } control;
    struct msghdr fd_msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                            .msg_controllen = sizeof control.buf};
    got = recvmsg(sv[1], &fd_msg, 0);
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&fd_msg);
    int received = -1;
    if (cmsg && cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS)
        memcpy(&received, CMSG_DATA(cmsg), sizeof received);
    printf("recvmsg: %zd byte %c, controllen is CMSG_SPACE(int): %s, SCM_RIGHTS: %s, "
           "new fd: %s\n", got, byte, yesno(fd_msg.msg_controllen == CMSG_SPACE(sizeof(int))),
           yesno(cmsg && cmsg->cmsg_type == SCM_RIGHTS),
           yesno(received >= 0 && received != pipe_fds[1]));
    write(received, "via the passed fd", 17);
    char buf[32] = {0};
    read(pipe_fds[0], buf, sizeof buf - 1);
    printf("pipe got: %s\n", buf);

    int one = 1;
    setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
    send(sv[0], "c", 1, 0);
    struct msghdr cred_msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                              .msg_controllen = sizeof control.buf};
    recvmsg(sv[1], &cred_msg, 0);
    cmsg = CMSG_FIRSTHDR(&cred_msg);
    struct ucred cred = {0};
    if (cmsg && cmsg->cmsg_type == SCM_CREDENTIALS)
        memcpy(&cred, CMSG_DATA(cmsg), sizeof cred);
    printf("SCM_CREDENTIALS: %s, pid is ours: %s, uid is ours: %s\n",
           yesno(cmsg && cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_CREDENTIALS),
           yesno(cred.pid == getpid()), yesno(cred.uid == getuid()));

    int dg[2];
    socketpair(AF_UNIX, SOCK_DGRAM, 0, dg);
    send(dg[0], "0123456789", 10, 0);
    char small[4] = {0};
    struct iovec small_iov = {small, 4};
    struct msghdr trunc_msg = {.msg_iov = &small_iov, .msg_iovlen = 1};
    got = recvmsg(dg[1], &trunc_msg, 0);
    printf("datagram into 4 bytes: %zd, MSG_TRUNC: %s\n", got,
           yesno(trunc_msg.msg_flags & MSG_TRUNC));

    send_fd(sv[0], pipe_fds[1]);
    char tiny[4];
    struct msghdr ctrunc_msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = tiny,
                                .msg_controllen = sizeof tiny};
    got = recvmsg(sv[1], &ctrunc_msg, 0);
    printf("fd into a 4-byte control buffer: %zd, MSG_CTRUNC: %s\n", got,
           yesno(ctrunc_msg.msg_flags & MSG_CTRUNC));

    struct mmsghdr batch[3];
    struct iovec parts[3] = {{"one", 3}, {"three", 5}, {"seven!!", 7}};
    memset(batch, 0, sizeof batch);
    for (int i = 0; i < 3; i++) {
        batch[i].msg_hdr.msg_iov = &parts[i];
        batch[i].msg_hdr.msg_iovlen = 1;
    }
    printf("sendmmsg: %d\n", sendmmsg(dg[0], batch, 3, 0));
    char bufs[5][16];
    struct iovec slots[5];
    struct mmsghdr incoming[5];
    memset(incoming, 0, sizeof incoming);
    for (int i = 0; i < 5; i++) {
        slots[i].iov_base = bufs[i];
        slots[i].iov_len = sizeof bufs[i];
        incoming[i].msg_hdr.msg_iov = &slots[i];
        incoming[i].msg_hdr.msg_iovlen = 1;
    }
    int n = recvmmsg(dg[1], incoming, 5, MSG_WAITFORONE, NULL);
    printf("recvmmsg MSG_WAITFORONE: %d, lengths %u %u %u\n", n, incoming[0].msg_len,
           incoming[1].msg_len, incoming[2].msg_len);
    return 0;
}
