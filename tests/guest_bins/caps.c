/* caps: capget and capset on the process's own capabilities (the host's,
 * through u32 structs in the target's byte order).  What they return depends
 * on the privilege the program runs with, so the test's reference is Linux in
 * the same place (the i386 build run natively).  Raw syscalls: glibc has no
 * wrappers of its own.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
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

int main(void)
{
    struct __user_cap_header_struct header = {0, 0};
    struct __user_cap_data_struct data[2];
    long r = syscall(SYS_capget, &header, NULL);
    printf("capget of version 0 without data: %s, version now %#x\n", result(r),
           header.version);
    header.version = 0x12345678;
    r = syscall(SYS_capget, &header, data);
    printf("capget of an unknown version: %s, version now %#x\n", result(r), header.version);

    header.version = _LINUX_CAPABILITY_VERSION_3;
    header.pid = 0;
    memset(data, 0xaa, sizeof data);
    r = syscall(SYS_capget, &header, data);
    printf("capget v3: %s, effective %#x %#x, permitted %#x %#x, inheritable %#x %#x\n",
           result(r), data[0].effective, data[1].effective, data[0].permitted,
           data[1].permitted, data[0].inheritable, data[1].inheritable);
    struct __user_cap_data_struct saved[2];
    memcpy(saved, data, sizeof data);

    header.version = _LINUX_CAPABILITY_VERSION_1;
    memset(data, 0xaa, sizeof data);
    r = syscall(SYS_capget, &header, data);
    printf("capget v1: %s, effective %#x, second struct untouched: %s\n", result(r),
           data[0].effective, data[1].effective == 0xaaaaaaaa ? "yes" : "no");

    header.version = _LINUX_CAPABILITY_VERSION_3;
    header.pid = 0x7ffffff0;
    printf("capget of no such pid: %s\n", result(syscall(SYS_capget, &header, data)));

    /* drop CAP_SYS_TIME from the effective set only: the clock refuses, then
     * the permitted set gives it back */
    header.pid = 0;
    memcpy(data, saved, sizeof data);
    data[CAP_TO_INDEX(CAP_SYS_TIME)].effective &= ~CAP_TO_MASK(CAP_SYS_TIME);
    r = syscall(SYS_capset, &header, data);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    errno = 0;
    int refused = clock_settime(CLOCK_REALTIME, &now) == -1 && errno == EPERM;
    printf("capset without CAP_SYS_TIME: %s, clock_settime then refused: %s\n", result(r),
           refused ? "yes" : "no");
    r = syscall(SYS_capset, &header, saved);
    printf("capset back: %s\n", result(r));
    data[0].permitted = data[1].permitted = 0xffffffff;
    data[0].effective = data[1].effective = 0xffffffff;
    printf("capset beyond the permitted set: %s\n",
           result(syscall(SYS_capset, &header, data)));
    return 0;
}
