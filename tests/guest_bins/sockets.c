/* sockets: a TCP connection over loopback, a UDP datagram and socket options.
 *
 * Exercises the parts of the socket ABI that differ per target: socket types
 * (MIPS numbers SOCK_STREAM 2 and SOCK_DGRAM 1), SOL_SOCKET option numbers
 * (0xffff and its own SO_* on MIPS), sa_family in host byte order inside a
 * sockaddr (big-endian guests), int option values, and the socklen_t cells
 * the kernel fills in, a struct timeval option (8 bytes on 32-bit targets).
 * Prints properties only (no port numbers).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static const char *yesno(int b)
{
    return b ? "yes" : "no";
}

static struct sockaddr_in loopback(void)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

int main(void)
{
    int server = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    printf("socket: %s\n", yesno(server >= 0));
    int one = 1;
    printf("setsockopt SO_REUSEADDR: %d\n",
           setsockopt(server, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one));
    int value = 0;
    socklen_t length = sizeof value;
    getsockopt(server, SOL_SOCKET, SO_REUSEADDR, &value, &length);
    printf("getsockopt SO_REUSEADDR: %d (length %u)\n", value, (unsigned)length);
    length = sizeof value;
    getsockopt(server, SOL_SOCKET, SO_TYPE, &value, &length);
    printf("SO_TYPE is SOCK_STREAM: %s\n", yesno(value == SOCK_STREAM));

    struct sockaddr_in address = loopback();
    printf("bind: %d\n", bind(server, (struct sockaddr *)&address, sizeof address));
    printf("listen: %d\n", listen(server, 4));
    struct sockaddr_in bound;
    socklen_t bound_length = sizeof bound;
    getsockname(server, (struct sockaddr *)&bound, &bound_length);
    printf("getsockname: family AF_INET %s, length %u, port set %s, 127.0.0.1 %s\n",
           yesno(bound.sin_family == AF_INET), (unsigned)bound_length,
           yesno(bound.sin_port != 0), yesno(bound.sin_addr.s_addr == htonl(INADDR_LOOPBACK)));

    int client = socket(AF_INET, SOCK_STREAM, 0);
    printf("connect: %d\n", connect(client, (struct sockaddr *)&bound, sizeof bound));
    struct sockaddr_in peer;
    socklen_t peer_length = sizeof peer;
    int accepted = accept(server, (struct sockaddr *)&peer, &peer_length);
    printf("accept: %s, peer family AF_INET %s\n", yesno(accepted >= 0),
           yesno(peer.sin_family == AF_INET));
    length = sizeof value;
    value = 0;
    setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    getsockopt(client, IPPROTO_TCP, TCP_NODELAY, &value, &length);
    printf("TCP_NODELAY: %s\n", yesno(value != 0));
    printf("send: %zd\n", send(client, "ping", 4, 0));
    char buf[16] = {0};
    printf("recv: %zd %s\n", recv(accepted, buf, sizeof buf, 0), buf);
    struct sockaddr_in their;
    socklen_t their_length = sizeof their;
    getpeername(client, (struct sockaddr *)&their, &their_length);
    printf("getpeername is the server: %s\n",
           yesno(their.sin_family == AF_INET && their.sin_port == bound.sin_port));
    close(accepted);
    close(client);
    close(server);

    int udp_a = socket(AF_INET, SOCK_DGRAM, 0), udp_b = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = loopback(), b_address;
    bind(udp_a, (struct sockaddr *)&a, sizeof a);
    socklen_t a_length = sizeof a;
    getsockname(udp_a, (struct sockaddr *)&a, &a_length);
    printf("sendto: %zd\n", sendto(udp_b, "datagram", 8, 0, (struct sockaddr *)&a, sizeof a));
    socklen_t from_length = sizeof b_address;
    memset(buf, 0, sizeof buf);
    ssize_t got = recvfrom(udp_a, buf, sizeof buf, 0, (struct sockaddr *)&b_address, &from_length);
    printf("recvfrom: %zd %s, from AF_INET %s\n", got, buf,
           yesno(b_address.sin_family == AF_INET));
    length = sizeof value;
    getsockopt(udp_a, SOL_SOCKET, SO_TYPE, &value, &length);
    printf("SO_TYPE is SOCK_DGRAM: %s\n", yesno(value == SOCK_DGRAM));
    struct timeval timeout = {.tv_sec = 0, .tv_usec = 200000}, timeout_back;
    printf("SO_RCVTIMEO: %d\n", setsockopt(udp_a, SOL_SOCKET, SO_RCVTIMEO, &timeout,
                                            sizeof timeout));
    socklen_t timeout_length = sizeof timeout_back;
    memset(&timeout_back, 0, sizeof timeout_back);
    getsockopt(udp_a, SOL_SOCKET, SO_RCVTIMEO, &timeout_back, &timeout_length);
    printf("SO_RCVTIMEO back: %ld s %ld us, length is sizeof(struct timeval): %s\n",
           (long)timeout_back.tv_sec, (long)timeout_back.tv_usec,
           yesno(timeout_length == sizeof timeout_back));
    errno = 0;
    ssize_t timed_out = recv(udp_a, buf, sizeof buf, 0);
    printf("recv with nothing to read: %zd %s\n", timed_out, strerrorname_np(errno));
    errno = 0;
    int refused = connect(socket(AF_INET, SOCK_STREAM, 0), (struct sockaddr *)&bound,
                          sizeof bound);
    printf("connect to a closed port: %d %s\n", refused, strerrorname_np(errno));
    return 0;
}
