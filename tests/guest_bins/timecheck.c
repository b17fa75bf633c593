/* timecheck: clocks and sleeping.
 *
 * Exercises: clock_gettime (REALTIME, MONOTONIC, BOOTTIME,
 * PROCESS_CPUTIME_ID; glibc tries the 64-bit-time syscalls first),
 * clock_getres, time, gettimeofday, nanosleep, clock_nanosleep, and the
 * timezone code of static glibc (TZ=UTC, localtime/gmtime/strftime/mktime);
 * clock_settime and settimeofday only where they cannot change the clock (a
 * clock that cannot be set, a bad value or pointer, or a child without the
 * privilege).
 * Every check prints one "ok ..." line, or "FAIL ..." with the numbers.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifdef SYS_clock_settime64 /* 32-bit targets: the time64 call takes 64-bit fields */
#define SETTIME_NR SYS_clock_settime64
#else
#define SETTIME_NR SYS_clock_settime
#endif

static int failures;

static void check(int cond, const char *what, long long a, long long b)
{
    if (cond) {
        printf("ok %s\n", what);
    } else {
        printf("FAIL %s (%lld, %lld)\n", what, a, b);
        failures++;
    }
}

static long long ns(const struct timespec *t)
{
    return (long long)t->tv_sec * 1000000000LL + t->tv_nsec;
}

int main(void)
{
    struct timespec rt, mono, res;
    struct timeval tv;

    check(clock_gettime(CLOCK_REALTIME, &rt) == 0, "clock_gettime(CLOCK_REALTIME)", 0, 0);
    time_t t = time(NULL);
    check(gettimeofday(&tv, NULL) == 0, "gettimeofday", 0, 0);
    check(rt.tv_sec > 1600000000, "CLOCK_REALTIME is after 2020", rt.tv_sec, 1600000000);
    check(rt.tv_nsec >= 0 && rt.tv_nsec < 1000000000, "tv_nsec in range", rt.tv_nsec, 0);
    check(llabs((long long)t - rt.tv_sec) <= 3, "time() within 3 s of CLOCK_REALTIME",
          (long long)t, rt.tv_sec);
    check(llabs((long long)tv.tv_sec - rt.tv_sec) <= 3,
          "gettimeofday within 3 s of CLOCK_REALTIME", tv.tv_sec, rt.tv_sec);
    check(tv.tv_usec >= 0 && tv.tv_usec < 1000000, "tv_usec in range", tv.tv_usec, 0);

    check(clock_gettime(CLOCK_MONOTONIC, &mono) == 0, "clock_gettime(CLOCK_MONOTONIC)", 0, 0);
    long long prev = ns(&mono), backwards = 0;
    for (int i = 0; i < 1000; i++) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (ns(&now) < prev)
            backwards++;
        prev = ns(&now);
    }
    check(backwards == 0, "CLOCK_MONOTONIC never goes backwards (1000 reads)", backwards, 0);

    struct timespec bt;
    check(clock_gettime(CLOCK_BOOTTIME, &bt) == 0 && bt.tv_sec >= 0,
          "clock_gettime(CLOCK_BOOTTIME)", 0, 0);
    struct timespec cpu;
    check(clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu) == 0 && ns(&cpu) >= 0,
          "clock_gettime(CLOCK_PROCESS_CPUTIME_ID)", 0, 0);

    check(clock_getres(CLOCK_MONOTONIC, &res) == 0, "clock_getres(CLOCK_MONOTONIC)", 0, 0);
    check(ns(&res) > 0 && ns(&res) <= 10000000, "resolution in (0, 10 ms]", ns(&res), 0);
    check(clock_getres(CLOCK_REALTIME, &res) == 0 && ns(&res) > 0,
          "clock_getres(CLOCK_REALTIME)", ns(&res), 0);

    struct timespec a, b, req = {0, 50 * 1000 * 1000};
    clock_gettime(CLOCK_MONOTONIC, &a);
    int r = nanosleep(&req, NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    check(r == 0, "nanosleep(50 ms) returns 0", r, 0);
    check(ns(&b) - ns(&a) >= 50000000LL, "nanosleep(50 ms) sleeps at least 50 ms",
          ns(&b) - ns(&a), 50000000LL);
    check(ns(&b) - ns(&a) < 5000000000LL, "nanosleep(50 ms) sleeps less than 5 s",
          ns(&b) - ns(&a), 0);

    req.tv_nsec = 20 * 1000 * 1000;
    clock_gettime(CLOCK_MONOTONIC, &a);
    r = clock_nanosleep(CLOCK_MONOTONIC, 0, &req, NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    check(r == 0 && ns(&b) - ns(&a) >= 20000000LL, "clock_nanosleep(20 ms)",
          ns(&b) - ns(&a), r);
    struct timespec until = b;
    until.tv_nsec += 20 * 1000 * 1000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL);
    clock_gettime(CLOCK_MONOTONIC, &a);
    check(r == 0 && ns(&a) >= ns(&until), "clock_nanosleep(TIMER_ABSTIME)", ns(&a) - ns(&until),
          r);

    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    errno = 0;
    r = clock_settime(CLOCK_MONOTONIC, &now);
    check(r == -1 && errno == EINVAL, "clock_settime(CLOCK_MONOTONIC): EINVAL", r, errno);
    struct timespec bad_nsec = {now.tv_sec, 2000000000};
    errno = 0;
    r = clock_settime(CLOCK_REALTIME, &bad_nsec);
    check(r == -1 && errno == EINVAL, "clock_settime(tv_nsec 2e9): EINVAL", r, errno);
    long rr = syscall(SETTIME_NR, CLOCK_REALTIME, (void *)8);
    check(rr == -1 && errno == EFAULT, "clock_settime(bad pointer): EFAULT", rr, errno);
    /* settimeofday's struct timeval in the kernel's layout: two longs */
    long bad_usec[2] = {(long)now.tv_sec, 2000000};
    rr = syscall(SYS_settimeofday, bad_usec, NULL);
    check(rr == -1 && errno == EINVAL, "settimeofday(tv_usec 2e6): EINVAL", rr, errno);
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        /* without CAP_SYS_TIME (root gives up its uid; others never had it) */
        if (setuid(65534) != 0 && errno != EPERM)
            _exit(3);
        clock_gettime(CLOCK_REALTIME, &now);
        int denied = clock_settime(CLOCK_REALTIME, &now) == -1 && errno == EPERM;
        long tv[2] = {(long)now.tv_sec, 0};
        denied += syscall(SYS_settimeofday, tv, NULL) == -1 && errno == EPERM;
        _exit(denied == 2 ? 0 : 1);
    }
    int status;
    waitpid(child, &status, 0);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "clock_settime, settimeofday without the privilege: EPERM", status, 0);

    /* Fixed epoch, fixed zone: the printed strings are exact. */
    setenv("TZ", "UTC", 1);
    tzset();
    time_t fixed = 1700000000;
    char buf[128];
    struct tm tm;
    localtime_r(&fixed, &tm);
    strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S %Z %a %b %j", &tm);
    printf("localtime(1700000000) = %s\n", buf);
    gmtime_r(&fixed, &tm);
    strftime(buf, sizeof buf, "%c", &tm);
    printf("gmtime(1700000000) %%c = %s\n", buf);
    tm.tm_year = 2000 - 1900;
    tm.tm_mon = 1;
    tm.tm_mday = 29;
    tm.tm_hour = 12;
    tm.tm_min = tm.tm_sec = 0;
    tm.tm_isdst = 0;
    printf("mktime(2000-02-29 12:00:00 UTC) = %lld\n", (long long)mktime(&tm));
    /* 2038 problem: glibc 2.36 has a 32-bit time_t on arm unless
     * _TIME_BITS=64, so only print a date inside the 32-bit range. */
    fixed = 2147483647;
    gmtime_r(&fixed, &tm);
    strftime(buf, sizeof buf, "%F %T", &tm);
    printf("gmtime(2^31-1) = %s\n", buf);

    printf("%s\n", failures ? "FAILED" : "all ok");
    return failures ? 1 : 0;
}
