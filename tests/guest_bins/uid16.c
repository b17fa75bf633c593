/* uid16: the filesystem ids on every target, and the 16-bit-id calls that
 * arm and i386 keep beside their *32 twins (chown, setuid, getgroups, ...).
 *
 * The 16-bit calls take an id's low 16 bits, 0xffff meaning "unchanged"
 * (-1), and hand back an id above 0xffff as the overflow id 65534
 * (include/linux/highuid.h).  Run as root: the ids set here are undone before
 * the next check.  Raw syscalls throughout, since glibc uses only the *32
 * calls.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char *yesno(int b)
{
    return b ? "yes" : "no";
}

static void filesystem_ids(void)
{
    long before = setfsuid(-1); /* (uid_t)-1 only asks */
    long changed = setfsuid(4321);
    long now = setfsuid(-1);
    long back = setfsuid(before);
    printf("setfsuid: asks %s, ", yesno(before == (long)geteuid()));
    printf("set 4321 returns the old one %s, now %ld, restored from %ld\n",
           yesno(changed == before), now, back);
    before = setfsgid(-1);
    changed = setfsgid(4322);
    now = setfsgid(-1);
    back = setfsgid(before);
    printf("setfsgid: asks %s, ", yesno(before == (long)getegid()));
    printf("set 4322 returns the old one %s, now %ld, restored from %ld\n",
           yesno(changed == before), now, back);
}

#ifdef __NR_chown32
static const char *result(long r)
{
    static char text[64];
    if (r == -1)
        snprintf(text, sizeof text, "-1 %s", strerrorname_np(errno));
    else
        snprintf(text, sizeof text, "%ld", r);
    return text;
}

static unsigned owner(const char *path, int gid)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return ~0u;
    return gid ? st.st_gid : st.st_uid;
}

static void id_getters(void)
{
    printf("getuid %s, ", yesno(syscall(__NR_getuid) == syscall(__NR_getuid32)));
    printf("geteuid %s, ", yesno(syscall(__NR_geteuid) == syscall(__NR_geteuid32)));
    printf("getgid %s, ", yesno(syscall(__NR_getgid) == syscall(__NR_getgid32)));
    printf("getegid %s\n", yesno(syscall(__NR_getegid) == syscall(__NR_getegid32)));

    uint16_t ids16[4] = {0xaaaa, 0xaaaa, 0xaaaa, 0xaaaa};
    uint32_t ids32[3];
    long r = syscall(__NR_getresuid, &ids16[0], &ids16[1], &ids16[2]);
    syscall(__NR_getresuid32, &ids32[0], &ids32[1], &ids32[2]);
    printf("getresuid: %s, 16-bit values %s, next halfword untouched %s\n", result(r),
           yesno(ids16[0] == ids32[0] && ids16[1] == ids32[1] && ids16[2] == ids32[2]),
           yesno(ids16[3] == 0xaaaa));
    r = syscall(__NR_getresgid, &ids16[0], &ids16[1], &ids16[2]);
    syscall(__NR_getresgid32, &ids32[0], &ids32[1], &ids32[2]);
    printf("getresgid: %s, 16-bit values %s\n", result(r),
           yesno(ids16[0] == ids32[0] && ids16[1] == ids32[1] && ids16[2] == ids32[2]));

    /* an effective uid above 0xffff reads as the overflow uid */
    r = syscall(__NR_setresuid32, -1, 70000, -1);
    long euid16 = syscall(__NR_geteuid);
    long euid32 = syscall(__NR_geteuid32);
    syscall(__NR_getresuid, &ids16[0], &ids16[1], &ids16[2]);
    long restored = syscall(__NR_setresuid32, -1, 0, -1);
    printf("euid 70000: set %s, geteuid %ld, geteuid32 %ld, getresuid's euid %u, ",
           result(r), euid16, euid32, ids16[1]);
    printf("restored %s\n", result(restored));
}

static void groups(void)
{
    uint32_t saved[256];
    long n = syscall(__NR_getgroups32, 256, saved);
    long n16 = syscall(__NR_getgroups, 0, NULL);
    printf("getgroups(0) counts as getgroups32: %s\n", yesno(n16 == n));

    uint16_t set16[2] = {7, 0x2345};
    long r = syscall(__NR_setgroups, 2, set16);
    uint32_t got32[4] = {0};
    long n32 = syscall(__NR_getgroups32, 4, got32);
    printf("setgroups {7, 0x2345}: %s, getgroups32 %ld: %u %u\n", result(r), n32, got32[0],
           got32[1]);

    uint32_t big[2] = {8, 70000};
    syscall(__NR_setgroups32, 2, big);
    uint16_t got16[3] = {0, 0, 0xaaaa};
    long count = syscall(__NR_getgroups, 2, got16);
    printf("groups {8, 70000}: getgroups %ld: %u %u, next halfword untouched %s\n", count,
           got16[0], got16[1], yesno(got16[2] == 0xaaaa));
    long small = syscall(__NR_getgroups, 1, got16);
    printf("getgroups with room for 1: %s\n", result(small));
    uint16_t minus_one = 0xffff;
    printf("setgroups {0xffff}: %s\n", result(syscall(__NR_setgroups, 1, &minus_one)));
    syscall(__NR_setgroups32, n, saved);
}

static void setters(void)
{
    printf("setresuid(0xffff x3): %s, ",
           result(syscall(__NR_setresuid, 0xffff, 0xffff, 0xffff)));
    printf("setresgid(0xffff x3): %s, ",
           result(syscall(__NR_setresgid, 0xffff, 0xffff, 0xffff)));
    printf("setreuid(0xffff, 0xffff): %s, ", result(syscall(__NR_setreuid, 0xffff, 0xffff)));
    printf("setregid(0xffff, 0xffff): %s\n", result(syscall(__NR_setregid, 0xffff, 0xffff)));
    printf("setuid(0xffff): %s, ", result(syscall(__NR_setuid, 0xffff)));
    printf("setgid(0xffff): %s, ", result(syscall(__NR_setgid, 0xffff)));
    printf("setuid(0x10000): %s, ", result(syscall(__NR_setuid, 0x10000)));
    printf("euid now %ld\n", (long)geteuid());

    long before = syscall(__NR_setfsuid, 0x10000 | 55);
    long during = syscall(__NR_setfsuid, 0xffff);
    syscall(__NR_setfsuid32, before);
    printf("setfsuid(0x10037) then setfsuid(0xffff) returns %ld\n", during);
}

static void ownership(void)
{
    char dir[] = "/tmp/uid16-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(1);
    }
    char file[64], link[64];
    snprintf(file, sizeof file, "%s/file", dir);
    snprintf(link, sizeof link, "%s/link", dir);
    int fd = open(file, O_CREAT | O_WRONLY, 0644);
    symlink("file", link);

    long r = syscall(__NR_fchown, fd, 0xffff, 0xffff);
    printf("fchown(0xffff, 0xffff): %s, owner %u:%u\n", result(r), owner(file, 0),
           owner(file, 1));
    r = syscall(__NR_chown, file, 0x11234, 0xffff);
    printf("chown(0x11234, 0xffff): %s, owner %u:%u\n", result(r), owner(file, 0),
           owner(file, 1));
    r = syscall(__NR_lchown, link, 0xffff, 0x2345);
    printf("lchown(0xffff, 0x2345): %s, link %u:%u, file %u:%u\n", result(r), owner(link, 0),
           owner(link, 1), owner(file, 0), owner(file, 1));
    r = syscall(__NR_fchown, fd, 0x10000 | 42, 0x10000 | 43);
    printf("fchown(0x1002a, 0x1002b): %s, owner %u:%u\n", result(r), owner(file, 0),
           owner(file, 1));
    r = syscall(__NR_chown32, file, 70000, -1);
    printf("chown32(70000, -1): %s, owner %u:%u\n", result(r), owner(file, 0), owner(file, 1));

    close(fd);
    unlink(link);
    unlink(file);
    rmdir(dir);
}
#endif

int main(void)
{
    filesystem_ids();
#ifdef __NR_chown32
    id_getters();
    groups();
    setters();
    ownership();
#endif
    return 0;
}
