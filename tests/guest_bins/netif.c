/* netif: the network-interface ioctls on a socket, as ifconfig, net-tools
 * and glibc's if_nametoindex use them, on the loopback interface (struct
 * ifreq is 32 bytes on 32-bit targets and 40 on 64-bit ones; sa_family is
 * in the target's byte order).  Only properties of "lo" that hold on any
 * Linux machine are printed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *yesno(int b)
{
    return b ? "yes" : "no";
}

static const char *result(int r)
{
    static char text[64];
    if (r == -1)
        snprintf(text, sizeof text, "-1 %s", strerrorname_np(errno));
    else
        snprintf(text, sizeof text, "%d", r);
    return text;
}

static struct ifreq named(const char *name)
{
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
    return ifr;
}

static const char *ipv4(const struct sockaddr *sa)
{
    static char text[INET_ADDRSTRLEN];
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    return inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
}

int main(void)
{
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    unsigned index = if_nametoindex("lo");
    char name[IF_NAMESIZE] = "";
    printf("if_nametoindex(lo) > 0: %s, if_indextoname gives lo: %s\n", yesno(index > 0),
           yesno(if_indextoname(index, name) && strcmp(name, "lo") == 0));

    struct ifreq ifr = named("lo");
    int r = ioctl(s, SIOCGIFINDEX, &ifr);
    printf("SIOCGIFINDEX: %s, same index: %s\n", result(r), yesno(ifr.ifr_ifindex == (int)index));
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_ifindex = (int)index;
    r = ioctl(s, SIOCGIFNAME, &ifr);
    printf("SIOCGIFNAME: %s, %s\n", result(r), ifr.ifr_name);

    ifr = named("lo");
    r = ioctl(s, SIOCGIFFLAGS, &ifr);
    printf("SIOCGIFFLAGS: %s, IFF_LOOPBACK: %s, IFF_UP: %s\n", result(r),
           yesno(ifr.ifr_flags & IFF_LOOPBACK), yesno(ifr.ifr_flags & IFF_UP));
    ifr = named("lo");
    r = ioctl(s, SIOCGIFMTU, &ifr);
    printf("SIOCGIFMTU: %s, at least 1280: %s\n", result(r), yesno(ifr.ifr_mtu >= 1280));

    ifr = named("lo");
    r = ioctl(s, SIOCGIFADDR, &ifr);
    printf("SIOCGIFADDR: %s, family AF_INET: %s, %s\n", result(r),
           yesno(ifr.ifr_addr.sa_family == AF_INET), ipv4(&ifr.ifr_addr));
    ifr = named("lo");
    r = ioctl(s, SIOCGIFNETMASK, &ifr);
    printf("SIOCGIFNETMASK: %s, %s\n", result(r), ipv4(&ifr.ifr_netmask));
    ifr = named("lo");
    r = ioctl(s, SIOCGIFHWADDR, &ifr);
    printf("SIOCGIFHWADDR: %s, family ARPHRD_LOOPBACK: %s\n", result(r),
           yesno(ifr.ifr_hwaddr.sa_family == ARPHRD_LOOPBACK));

    struct ifconf ifc = {.ifc_len = 0, .ifc_buf = NULL};
    r = ioctl(s, SIOCGIFCONF, &ifc);
    int needed = ifc.ifc_len;
    printf("SIOCGIFCONF without a buffer: %s, whole ifreqs: %s\n", result(r),
           yesno(needed > 0 && needed % (int)sizeof(struct ifreq) == 0));
    struct ifreq list[64];
    ifc.ifc_len = sizeof list;
    ifc.ifc_req = list;
    r = ioctl(s, SIOCGIFCONF, &ifc);
    int found = 0;
    for (int i = 0; i < ifc.ifc_len / (int)sizeof(struct ifreq); i++)
        if (strcmp(list[i].ifr_name, "lo") == 0 && list[i].ifr_addr.sa_family == AF_INET &&
            strcmp(ipv4(&list[i].ifr_addr), "127.0.0.1") == 0)
            found = 1;
    printf("SIOCGIFCONF: %s, as long: %s, lo 127.0.0.1 in it: %s\n", result(r),
           yesno(ifc.ifc_len == needed), yesno(found));
    ifc.ifc_len = sizeof(struct ifreq);
    r = ioctl(s, SIOCGIFCONF, &ifc);
    printf("SIOCGIFCONF with room for one: %s, one returned: %s\n", result(r),
           yesno(ifc.ifc_len == (int)sizeof(struct ifreq)));

    ifr = named("nosuchif0");
    printf("SIOCGIFINDEX of no such interface: %s\n", result(ioctl(s, SIOCGIFINDEX, &ifr)));
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_ifindex = 0x7fffffff;
    printf("SIOCGIFNAME of no such index: %s\n", result(ioctl(s, SIOCGIFNAME, &ifr)));
    close(s);
    return 0;
}
