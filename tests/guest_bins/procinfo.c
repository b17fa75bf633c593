/* procinfo: small process-level syscalls static glibc programs use.
 *
 * Exercises: getpid/getppid/gettid (and their consistency with the raw
 * syscalls), getuid/geteuid/getgid/getegid, getpgrp/getsid, umask,
 * sysinfo, getrlimit/prlimit64, uname, sched_yield, sched_getaffinity,
 * writev to stdout, isatty on a non-terminal (the test gives /dev/null as
 * stdin: ENOTTY), rt_sigaction/rt_sigprocmask round trips, getrusage,
 * gethostname, and the kernel-provided user helpers page on arm
 * (__kuser_helper_version at 0xffff0ffc, used by libgcc's atomics).
 * Only properties are printed, never the ids themselves. The parent's pid
 * and the session id are compared with HOST_PPID and HOST_SID, which the test
 * sets to what a host child of the same parent sees: in some sandboxes (a
 * parent or session leader outside the pid namespace) getppid and getsid are
 * 0 for every child, native or emulated.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *yesno(int b)
{
    return b ? "yes" : "no";
}

static void on_usr1(int sig)
{
    (void)sig;
}

int main(void)
{
    pid_t pid = getpid();
    printf("getpid stable: %s\n", yesno(pid > 0 && getpid() == pid));
    printf("getpid == syscall(SYS_getpid): %s\n", yesno(syscall(SYS_getpid) == pid));
    printf("gettid == getpid (single thread): %s\n", yesno(syscall(SYS_gettid) == pid));
    pid_t ppid = getppid();
    const char *host_ppid = getenv("HOST_PPID");
    printf("getppid as a host child sees it: %s\n",
           yesno(host_ppid && ppid == (pid_t)atol(host_ppid) && ppid != pid));
    printf("getppid == syscall(SYS_getppid): %s\n", yesno(syscall(SYS_getppid) == ppid));
    printf("getpgrp == getpgid(0): %s\n", yesno(getpgrp() == getpgid(0)));
    const char *host_sid = getenv("HOST_SID");
    printf("getsid(0) as a host child sees it: %s\n",
           yesno(host_sid && getsid(0) == (pid_t)atol(host_sid)));

    printf("getuid == geteuid: %s\n", yesno(getuid() == geteuid()));
    printf("getgid == getegid: %s\n", yesno(getgid() == getegid()));
#ifndef SYS_getuid32 /* 64-bit ABIs have only the 32-bit-uid getuid */
#define SYS_getuid32 SYS_getuid
#endif
    printf("getuid == syscall(SYS_getuid32): %s\n", yesno(syscall(SYS_getuid32) == (long)getuid()));

    mode_t old = umask(027);
    printf("umask returns previous: %s\n", yesno(umask(old) == 027));

    struct sysinfo si;
    int r = sysinfo(&si);
    printf("sysinfo: %d uptime>0: %s totalram>0: %s mem_unit>0: %s\n", r, yesno(si.uptime > 0),
           yesno(si.totalram > 0), yesno(si.mem_unit > 0));

    struct rlimit rl;
    r = getrlimit(RLIMIT_STACK, &rl);
    printf("getrlimit(RLIMIT_STACK): %d cur>0: %s\n", r, yesno(rl.rlim_cur > 0));
    r = getrlimit(RLIMIT_NOFILE, &rl);
    printf("getrlimit(RLIMIT_NOFILE): %d cur>=3: %s cur<=max: %s\n", r, yesno(rl.rlim_cur >= 3),
           yesno(rl.rlim_cur <= rl.rlim_max));
    struct rlimit64 rl64;
    r = prlimit64(0, RLIMIT_AS, NULL, &rl64);
    printf("prlimit64(RLIMIT_AS): %d\n", r);
    /* RLIMIT_NOFILE is 5 on MIPS, 7 elsewhere: a lowered limit must bind */
    struct rlimit saved_nofile = rl, low = {16, rl.rlim_max};
    r = setrlimit(RLIMIT_NOFILE, &low);
    int dups[64], opened = 0, highest = 0;
    while (opened < 64 && (dups[opened] = dup(0)) >= 0)
        highest = dups[opened++];
    int dup_errno = errno;
    for (int i = 0; i < opened; i++)
        close(dups[i]);
    fflush(stdout);
    pid_t spawned = vfork(); /* posix_spawn's way, under that limit */
    if (spawned == 0)
        _exit(7);
    int spawned_status = 0;
    waitpid(spawned, &spawned_status, 0);
    setrlimit(RLIMIT_NOFILE, &saved_nofile);
    printf("setrlimit(RLIMIT_NOFILE, 16): %d, dup then stops below 16 with EMFILE: %s\n", r,
           yesno(opened > 0 && highest == 15 && dup_errno == EMFILE));
    printf("vfork under that limit: child's exit status %d\n",
           WIFEXITED(spawned_status) ? WEXITSTATUS(spawned_status) : -1);
    errno = 0;
    r = prlimit64(-1, RLIMIT_NOFILE, NULL, &rl64);
    printf("prlimit64 of pid -1: %d %s\n", r, errno == ESRCH ? "ESRCH" : strerror(errno));

    printf("sched_yield: %d\n", sched_yield());
    cpu_set_t set;
    CPU_ZERO(&set);
    r = sched_getaffinity(0, sizeof set, &set);
    printf("sched_getaffinity: %d, at least one cpu: %s\n", r, yesno(CPU_COUNT(&set) >= 1));
    errno = 0;
    long raw = syscall(SYS_sched_getaffinity, -1, sizeof set, &set);
    printf("sched_getaffinity(-1): %ld %s\n", raw, errno == ESRCH ? "ESRCH" : strerror(errno));
    errno = 0;
    raw = syscall(SYS_sched_getaffinity, 0, 1, &set);
    printf("sched_getaffinity into 1 byte: %ld %s\n", raw,
           errno == EINVAL ? "EINVAL" : strerror(errno));
    /* pinned to its first CPU, the thread reads back that CPU alone and runs there */
    cpu_set_t saved = set, one, back;
    sched_getaffinity(0, sizeof saved, &saved);
    int first = 0;
    while (!CPU_ISSET(first, &saved))
        first++;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    r = sched_setaffinity(0, sizeof one, &one);
    CPU_ZERO(&back);
    sched_getaffinity(0, sizeof back, &back);
    int running_on = sched_getcpu();
    printf("sched_setaffinity to one cpu: %d, reads back: %s, sched_getcpu there: %s\n", r,
           yesno(CPU_EQUAL(&one, &back)), yesno(running_on == first));
    CPU_ZERO(&one);
    errno = 0;
    r = sched_setaffinity(0, sizeof one, &one);
    printf("sched_setaffinity to no cpu: %d %s\n", r, errno == EINVAL ? "EINVAL" : strerror(errno));
    sched_setaffinity(0, sizeof saved, &saved);

    struct rusage ru;
    printf("getrusage: %d\n", getrusage(RUSAGE_SELF, &ru));

    char host[256];
    printf("gethostname: %d\n", gethostname(host, sizeof host));

    errno = 0;
    int tty = isatty(0);
    printf("isatty(0): %d errno=%s\n", tty, errno == ENOTTY ? "ENOTTY" : strerror(errno));
    struct stat st;
    printf("stdin is a character device: %s\n", yesno(fstat(0, &st) == 0 && S_ISCHR(st.st_mode)));

    struct sigaction sa, old_sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGUSR2);
    sa.sa_flags = SA_RESTART;
    r = sigaction(SIGUSR1, &sa, NULL);
    r |= sigaction(SIGUSR1, NULL, &old_sa);
    printf("sigaction round trip: %s\n",
           yesno(r == 0 && old_sa.sa_handler == on_usr1 && sigismember(&old_sa.sa_mask, SIGUSR2) &&
              (old_sa.sa_flags & SA_RESTART)));
    sigset_t block, cur;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigaddset(&block, SIGRTMIN + 1);
    r = sigprocmask(SIG_BLOCK, &block, NULL);
    r |= sigprocmask(SIG_SETMASK, NULL, &cur);
    printf("sigprocmask round trip: %s\n",
           yesno(r == 0 && sigismember(&cur, SIGUSR1) && sigismember(&cur, SIGRTMIN + 1) &&
              !sigismember(&cur, SIGUSR2)));
    sigprocmask(SIG_UNBLOCK, &block, NULL);

#if defined(__arm__)
    /* The kuser helper page: the kernel (and qemu) put a version word at
     * 0xffff0ffc; any version >= 2 provides __kuser_cmpxchg. */
    int kver = *(volatile int *)0xffff0ffc;
    printf("kuser helper version >= 2: %s\n", yesno(kver >= 2));
#endif

    fflush(stdout);
    struct iovec iov[3] = {{"writev: ", 8}, {"three ", 6}, {"pieces\n", 7}};
    ssize_t n = writev(1, iov, 3);
    printf("writev returned %zd\n", n);
    return 0;
}
