/* signals: guest signal handling, one scenario per argument.
 *
 *   segv-mprotect  SIGSEGV handler mprotects the page and returns; the store retries
 *   siglongjmp     leave a SIGSEGV handler with siglongjmp
 *   altstack       recursion overflows the stack; the handler runs on sigaltstack
 *   alarm          alarm(1) handler ends a pause()
 *   itimer         setitimer(ITIMER_REAL) 20 ms, 5 ticks while spinning (no syscalls)
 *   restart        a pipe read interrupted by SIGALRM: SA_RESTART resumes, else EINTR
 *   siginfo        handler sees si_addr, si_code and the saved PC in the ucontext
 *   mask-vfp       sigreturn restores the blocked mask and the VFP registers
 *   sigpipe        write to a pipe with no reader: SIGPIPE default, then EPIPE if ignored
 *   raise N        raise(N) with the default action (the emulator dies of it)
 *   queue          sigqueue() to self with a value, RT signals queue in order
 *   sigsuspend     a blocked signal becomes pending; sigsuspend lets it in
 *   thumb          a handler compiled as Thumb and one as ARM
 *   rt-timer       a POSIX timer sends 2,000 real-time signals; all are delivered
 *   signalfd       blocked signals read from a signalfd, in order, with their siginfo
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <poll.h>
#include <sys/time.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

/* The thumb scenario and the Thumb siginfo code are ARM's; other arches run
 * the same scenarios with plain functions and their own faulting store. */
#if defined(__arm__)
#define THUMB_FN __attribute__((target("thumb")))
#define ARM_FN __attribute__((target("arm")))
#else
#define THUMB_FN
#define ARM_FN
#endif

static volatile sig_atomic_t hits;
static char *volatile page; /* volatile: the store to it must precede the fault */
static sigjmp_buf jump;

static void on_segv_fix(int sig, siginfo_t *info, void *uc)
{
    (void)uc;
    hits++;
    printf("handler: sig=%d code=%d addr_is_page=%d\n", sig, info->si_code,
           (char *)info->si_addr == page + 16);
    mprotect(page, 4096, PROT_READ | PROT_WRITE);
}

static int segv_mprotect(void)
{
    struct sigaction sa = {0};
    sa.sa_sigaction = on_segv_fix;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);
    page = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    page[16] = 42; /* faults once, retried after the handler */
    printf("after store: %d hits=%d\n", page[16], hits);
    return 0;
}

static void on_segv_jump(int sig)
{
    siglongjmp(jump, sig);
}

static int do_siglongjmp(void)
{
    signal(SIGSEGV, on_segv_jump);
    for (volatile int i = 0; i < 3; i++) {
        int got = sigsetjmp(jump, 1);
        if (got == 0) {
            *(volatile int *)(uintptr_t)(0x10 + i) = i;
            printf("not reached\n");
        } else {
            sigset_t now;
            sigprocmask(SIG_BLOCK, NULL, &now);
            printf("jumped out %d with %d, SIGSEGV blocked=%d\n", i, got,
                   sigismember(&now, SIGSEGV));
        }
    }
    return 0;
}

static void on_overflow(int sig)
{
    char here;
    stack_t ss;
    sigaltstack(NULL, &ss);
    int on_alt = &here >= (char *)ss.ss_sp && &here < (char *)ss.ss_sp + ss.ss_size;
    printf("overflow caught: sig=%d on altstack=%d flags_onstack=%d\n", sig, on_alt,
           (ss.ss_flags & SS_ONSTACK) != 0);
    fflush(stdout);
    _exit(0);
}

static int recurse(int n)
{
    volatile char buf[256];
    buf[0] = (char)n;
    return recurse(n + 1) + buf[0];
}

static int altstack(void)
{
    stack_t ss = {0};
    ss.ss_size = 64 * 1024;
    ss.ss_sp = malloc(ss.ss_size);
    sigaltstack(&ss, NULL);
    struct sigaction sa = {0};
    sa.sa_handler = on_overflow;
    sa.sa_flags = SA_ONSTACK;
    sigaction(SIGSEGV, &sa, NULL);
    return recurse(0);
}

static void on_alarm(int sig)
{
    (void)sig;
    hits++;
}

static int do_alarm(void)
{
    signal(SIGALRM, on_alarm);
    alarm(1);
    int r = pause();
    printf("pause returned %d errno=%s hits=%d\n", r, strerrorname_np(errno), hits);
    return 0;
}

static int itimer(void)
{
    signal(SIGALRM, on_alarm);
    struct itimerval tv = {{0, 20000}, {0, 20000}};
    setitimer(ITIMER_REAL, &tv, NULL);
    while (hits < 5)
        ; /* no syscalls: delivery must preempt the loop */
    struct itimerval off = {0};
    setitimer(ITIMER_REAL, &off, NULL);
    printf("ticks=%d\n", hits);
    return 0;
}

static int restart_pipe = -1;

static void on_tick_feed(int sig)
{
    (void)sig;
    /* the second tick feeds the pipe, so a restarted read finally gets data */
    if (++hits == 2 && restart_pipe >= 0)
        write(restart_pipe, "x", 1);
}

static int restart(void)
{
    for (int with_restart = 0; with_restart < 2; with_restart++) {
        int fds[2];
        pipe(fds);
        restart_pipe = fds[1];
        hits = 0;
        struct sigaction sa = {0};
        sa.sa_handler = on_tick_feed;
        sa.sa_flags = with_restart ? SA_RESTART : 0;
        sigaction(SIGALRM, &sa, NULL);
        struct itimerval tv = {{0, 50000}, {0, 50000}};
        setitimer(ITIMER_REAL, &tv, NULL);
        char c;
        ssize_t n = read(fds[0], &c, 1);
        struct itimerval off = {0};
        setitimer(ITIMER_REAL, &off, NULL);
        printf("SA_RESTART=%d read=%zd errno=%s hits=%d\n", with_restart, n,
               n < 0 ? strerrorname_np(errno) : "-", hits);
        close(fds[0]);
        close(fds[1]);
    }
    return 0;
}

/* Per arch: the saved PC in the ucontext, the faulting store's length, and
 * the store itself (to 0x1234, at the global label fault_insn). */
#if defined(__arm__) && !defined(__thumb2__) && __ARM_ARCH < 7
/* armel (ARMv5TE, ARM state): no movw, no Thumb-2 */
#define UC_PC(uc) ((uc)->uc_mcontext.arm_pc)
#define FAULT_INSN_LEN 4
#define FAULTING_STORE() __asm__ volatile("mov r0, #0x1200\n"                 \
                                          "orr r0, r0, #0x34\n"              \
                                          ".global fault_insn\n"              \
                                          "fault_insn: str r0, [r0]\n"        \
                                          : : : "r0", "memory")
#elif defined(__arm__)
#define UC_PC(uc) ((uc)->uc_mcontext.arm_pc)
#define FAULT_INSN_LEN 4 /* a 32-bit Thumb-2 str.w */
#define FAULTING_STORE() __asm__ volatile("movw r0, #0x1234\n"                \
                                          ".global fault_insn\n"              \
                                          "fault_insn: str.w r0, [r0]\n"      \
                                          : : : "r0", "memory")
#elif defined(__aarch64__)
#define UC_PC(uc) ((uc)->uc_mcontext.pc)
#define FAULT_INSN_LEN 4
#define FAULTING_STORE() __asm__ volatile("mov x0, #0x1234\n"                 \
                                          ".global fault_insn\n"              \
                                          "fault_insn: str x0, [x0]\n"        \
                                          : : : "x0", "memory")
#elif defined(__x86_64__)
#define UC_PC(uc) ((uc)->uc_mcontext.gregs[REG_RIP])
#define FAULT_INSN_LEN 2 /* 89 00: mov %eax, (%rax) */
#define FAULTING_STORE() __asm__ volatile("mov $0x1234, %%eax\n"              \
                                          ".global fault_insn\n"              \
                                          "fault_insn: movl %%eax, (%%rax)\n" \
                                          : : : "rax", "memory")
#elif defined(__i386__)
#define UC_PC(uc) ((uc)->uc_mcontext.gregs[REG_EIP])
#define FAULT_INSN_LEN 2 /* 89 00: mov %eax, (%eax) */
#define FAULTING_STORE() __asm__ volatile("mov $0x1234, %%eax\n"              \
                                          ".global fault_insn\n"              \
                                          "fault_insn: movl %%eax, (%%eax)\n" \
                                          : : : "eax", "memory")
#elif defined(__riscv)
#define UC_PC(uc) ((uc)->uc_mcontext.__gregs[REG_PC])
#define FAULT_INSN_LEN 4
#define FAULTING_STORE() __asm__ volatile(".option push\n.option norvc\n"      \
                                          "li a0, 0x1234\n"                   \
                                          ".global fault_insn\n"              \
                                          "fault_insn: sw a0, 0(a0)\n"        \
                                          ".option pop\n"                     \
                                          : : : "a0", "memory")
#elif defined(__mips__)
#define UC_PC(uc) ((uc)->uc_mcontext.pc)
#define FAULT_INSN_LEN 4
#define FAULTING_STORE() __asm__ volatile(".set push\n.set noreorder\n"        \
                                          "li $a0, 0x1234\n"                  \
                                          ".global fault_insn\n"              \
                                          "fault_insn: sw $a0, 0($a0)\n"      \
                                          "nop\n.set pop\n"                  \
                                          : : : "a0", "memory")
#elif defined(__s390x__)
#define UC_PC(uc) ((uc)->uc_mcontext.psw.addr)
#define FAULT_INSN_LEN 4 /* st is RX format */
#define FAULTING_STORE() __asm__ volatile("lghi %%r1, 0x1234\n"               \
                                          ".global fault_insn\n"              \
                                          "fault_insn: st %%r1, 0(%%r1)\n"    \
                                          : : : "r1", "memory")
#elif defined(__powerpc64__)
#define UC_PC(uc) ((uc)->uc_mcontext.gp_regs[PT_NIP])
#define FAULT_INSN_LEN 4
#define FAULTING_STORE() __asm__ volatile("li 9, 0x1234\n"                    \
                                          ".global fault_insn\n"              \
                                          "fault_insn: stw 9, 0(9)\n"         \
                                          : : : "r9", "memory")
#elif defined(__powerpc__)
#define UC_PC(uc) ((uc)->uc_mcontext.uc_regs->gregs[PT_NIP])
#define FAULT_INSN_LEN 4
#define FAULTING_STORE() __asm__ volatile("li 9, 0x1234\n"                    \
                                          ".global fault_insn\n"              \
                                          "fault_insn: stw 9, 0(9)\n"         \
                                          : : : "r9", "memory")
#elif defined(__m68k__)
#define UC_PC(uc) ((uc)->uc_mcontext.gregs[R_PC])
#define FAULT_INSN_LEN 2 /* move.l %d0, (%a0) */
#define FAULTING_STORE() __asm__ volatile("move.l #0x1234, %%a0\n"             \
                                          ".global fault_insn\n"              \
                                          "fault_insn: move.l %%d0, (%%a0)\n" \
                                          : : : "a0", "memory")
#else
#error "signals.c: add the faulting store for this architecture"
#endif

THUMB_FN static void on_info(int sig, siginfo_t *info, void *ucv)
{
    ucontext_t *uc = ucv;
    extern char fault_insn[];
    printf("sig=%d code=%d addr=%#lx pc_is_fault_insn=%d\n", sig, info->si_code,
           (unsigned long)info->si_addr, UC_PC(uc) == (unsigned long)fault_insn);
    /* skip the faulting instruction */
    UC_PC(uc) += FAULT_INSN_LEN;
}

THUMB_FN static int siginfo_test(void)
{
    struct sigaction sa = {0};
    sa.sa_sigaction = on_info;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);
    FAULTING_STORE();
    printf("resumed after the faulting instruction\n");
    return 0;
}

/* A callee-saved FP register the handler clobbers and sigreturn must restore
 * (x86 has none callee-saved: xmm8 / xmm7 are caller-saved but the handler's
 * clobber happens behind the compiler's back, so only sigreturn restores it). */
#if defined(__arm__) && defined(__SOFTFP__)
/* armel (soft-float): no FP registers for sigreturn to keep; the value lives
 * in memory and the scenario checks the signal mask part only */
static volatile double fp_soft;
#define FP_SET_CLOBBER() ((void)0)
#define FP_SET_HALF() (fp_soft = 0.5)
#define FP_GET(v) ((v) = fp_soft)
#elif defined(__arm__)
#define FP_SET_CLOBBER() __asm__ volatile("vmov.f64 d8, #2.0\n vmov.f64 d0, #3.0" : : : "d0", "d8")
#define FP_SET_HALF() __asm__ volatile("vmov.f64 d8, #0.5" : : : "d8")
#define FP_GET(v) __asm__ volatile("vmov.f64 %P0, d8" : "=w"(v))
#elif defined(__aarch64__)
#define FP_SET_CLOBBER() __asm__ volatile("fmov d8, #2.0\n fmov d0, #3.0" : : : "d0", "d8")
#define FP_SET_HALF() __asm__ volatile("fmov d8, #0.5" : : : "d8")
#define FP_GET(v) __asm__ volatile("fmov %d0, d8" : "=w"(v))
#elif defined(__x86_64__) || defined(__i386__)
static const double fp_two = 2.0, fp_half = 0.5;
#define FP_SET_CLOBBER() __asm__ volatile("movsd %0, %%xmm7" : : "m"(fp_two) : "xmm7")
#define FP_SET_HALF() __asm__ volatile("movsd %0, %%xmm7" : : "m"(fp_half) : "xmm7")
#define FP_GET(v) __asm__ volatile("movsd %%xmm7, %0" : "=m"(v))
#elif defined(__riscv)
static const double fp_two = 2.0, fp_half = 0.5;
#define FP_SET_CLOBBER() __asm__ volatile("fld fs0, %0" : : "m"(fp_two) : "fs0")
#define FP_SET_HALF() __asm__ volatile("fld fs0, %0" : : "m"(fp_half) : "fs0")
#define FP_GET(v) __asm__ volatile("fsd fs0, %0" : "=m"(v))
#elif defined(__mips__)
static const double fp_two = 2.0, fp_half = 0.5;
#define FP_SET_CLOBBER() __asm__ volatile("ldc1 $f20, %0" : : "m"(fp_two) : "$f20")
#define FP_SET_HALF() __asm__ volatile("ldc1 $f20, %0" : : "m"(fp_half) : "$f20")
#define FP_GET(v) __asm__ volatile("sdc1 $f20, %0" : "=m"(v))
#elif defined(__s390x__)
static const double fp_two = 2.0, fp_half = 0.5;
#define FP_SET_CLOBBER() __asm__ volatile("ld %%f8, %0" : : "R"(fp_two) : "f8")
#define FP_SET_HALF() __asm__ volatile("ld %%f8, %0" : : "R"(fp_half) : "f8")
#define FP_GET(v) __asm__ volatile("std %%f8, %0" : "=R"(v))
#elif defined(__powerpc__)
static const double fp_two = 2.0, fp_half = 0.5;
#define FP_SET_CLOBBER() __asm__ volatile("lfd 14, %0" : : "m"(fp_two) : "fr14")
#define FP_SET_HALF() __asm__ volatile("lfd 14, %0" : : "m"(fp_half) : "fr14")
#define FP_GET(v) __asm__ volatile("stfd 14, %0" : "=m"(v))
#elif defined(__m68k__)
/* Unicorn exposes no m68k FPU registers, so signal frames cannot keep them:
 * the value lives in memory and the scenario checks the mask part only */
static volatile double fp_soft;
#define FP_SET_CLOBBER() ((void)0)
#define FP_SET_HALF() (fp_soft = 0.5)
#define FP_GET(v) ((v) = fp_soft)
#endif

static void on_usr1_clobber(int sig)
{
    (void)sig;
    sigset_t now;
    sigprocmask(SIG_BLOCK, NULL, &now);
    printf("in handler: USR1 blocked=%d USR2 blocked=%d\n", sigismember(&now, SIGUSR1),
           sigismember(&now, SIGUSR2));
    volatile double x = 12345.0;
    FP_SET_CLOBBER();
    (void)x;
}

static int mask_vfp(void)
{
    struct sigaction sa = {0};
    sa.sa_handler = on_usr1_clobber;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGUSR2);
    sigaction(SIGUSR1, &sa, NULL);
    double before, after;
    FP_SET_HALF();
    raise(SIGUSR1);
    FP_GET(after);
    before = 0.5;
    sigset_t now;
    sigprocmask(SIG_BLOCK, NULL, &now);
    printf("after: USR1 blocked=%d USR2 blocked=%d d8 kept=%d\n", sigismember(&now, SIGUSR1),
           sigismember(&now, SIGUSR2), after == before);
    return 0;
}

static int sigpipe(void)
{
    int fds[2];
    pipe(fds);
    close(fds[0]);
    signal(SIGPIPE, SIG_IGN);
    ssize_t n = write(fds[1], "x", 1);
    printf("ignored: write=%zd errno=%s\n", n, strerrorname_np(errno));
    fflush(stdout);
    signal(SIGPIPE, SIG_DFL);
    write(fds[1], "x", 1);
    printf("not reached\n");
    return 0;
}

static int queue(void)
{
    int order[8], count = 0;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGRTMIN + 1);
    sigaddset(&set, SIGRTMIN + 2);
    sigprocmask(SIG_BLOCK, &set, NULL);
    for (int i = 0; i < 3; i++) {
        union sigval v = {.sival_int = 100 + i};
        sigqueue(getpid(), SIGRTMIN + 2, v);
        sigqueue(getpid(), SIGRTMIN + 1, v);
    }
    siginfo_t info;
    while (count < 6) {
        int s = sigwaitinfo(&set, &info);
        order[count++] = (s - SIGRTMIN) * 1000 + info.si_value.sival_int;
    }
    for (int i = 0; i < count; i++)
        printf("%d ", order[i]);
    printf("\ncode_is_queue=%d\n", info.si_code == SI_QUEUE);
    return 0;
}

static int do_sigsuspend(void)
{
    signal(SIGUSR1, on_alarm);
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigprocmask(SIG_BLOCK, &block, &old);
    raise(SIGUSR1);
    printf("pending before: hits=%d\n", hits);
    sigset_t pend;
    sigpending(&pend);
    printf("sigpending has USR1=%d\n", sigismember(&pend, SIGUSR1));
    int r = sigsuspend(&old);
    sigset_t now;
    sigprocmask(SIG_BLOCK, NULL, &now);
    printf("sigsuspend=%d errno=%s hits=%d USR1 blocked again=%d\n", r,
           strerrorname_np(errno), hits, sigismember(&now, SIGUSR1));
    return 0;
}

THUMB_FN static void thumb_handler(int sig)
{
    printf("thumb handler sig=%d\n", sig);
}

ARM_FN static void arm_handler(int sig)
{
    printf("arm handler sig=%d\n", sig);
}

static int thumb(void)
{
    signal(SIGUSR1, thumb_handler);
    signal(SIGUSR2, arm_handler);
    raise(SIGUSR1);
    raise(SIGUSR2);
    kill(getpid(), SIGUSR1);
    printf("back in main\n");
    return 0;
}

static volatile sig_atomic_t rt_count, rt_bad_value;

static void on_rt_timer(int sig, siginfo_t *info, void *uc)
{
    (void)sig;
    (void)uc;
    if (info->si_code != SI_TIMER || info->si_value.sival_int != 777)
        rt_bad_value++;
    rt_count++;
}

static int rt_timer(void)
{
    struct sigaction sa = {0};
    sa.sa_sigaction = on_rt_timer;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigaction(SIGRTMIN, &sa, NULL);
    struct sigevent sev = {0};
    sev.sigev_notify = SIGEV_SIGNAL;
    sev.sigev_signo = SIGRTMIN;
    sev.sigev_value.sival_int = 777;
    timer_t timer;
    if (timer_create(CLOCK_MONOTONIC, &sev, &timer) != 0) {
        perror("timer_create");
        return 1;
    }
    /* 2,000 one-shot expirations, each waited for with sigsuspend: every one
       must reach the handler (a lost signal would hang the loop) */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGRTMIN);
    sigprocmask(SIG_BLOCK, &block, &old);
    for (int i = 0; i < 2000; i++) {
        struct itimerspec its = {{0, 0}, {0, 50000}};
        timer_settime(timer, 0, &its, NULL);
        while (rt_count == i)
            sigsuspend(&old);
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    struct itimerspec off = {0};
    timer_settime(timer, 0, &off, NULL);
    timer_delete(timer);
    printf("rt timer: %d signals, bad values=%d\n", rt_count, rt_bad_value);
    return 0;
}

static int do_signalfd(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGRTMIN + 3);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    struct signalfd_siginfo si;
    ssize_t n = read(fd, &si, sizeof si);
    printf("empty read=%zd errno=%s\n", n, strerrorname_np(errno));
    raise(SIGUSR1);
    union sigval v = {.sival_int = 31337};
    sigqueue(getpid(), SIGRTMIN + 3, v);
    struct pollfd p = {fd, POLLIN, 0};
    printf("poll=%d revents_in=%d\n", poll(&p, 1, 1000), (p.revents & POLLIN) != 0);
    while ((n = read(fd, &si, sizeof si)) == sizeof si)
        printf("signo=%u is_usr1=%d code_is_queue=%d int=%d pid_ok=%d\n", si.ssi_signo,
               si.ssi_signo == SIGUSR1, si.ssi_code == SI_QUEUE, si.ssi_int,
               si.ssi_pid == (unsigned)getpid());
    printf("poll after=%d\n", poll(&p, 1, 0));
    return 0;
}

static void on_term(int sig)
{
    (void)sig;
}

/* execve keeps the mask and ignored dispositions, and resets handlers */
static int exec_mask(char **argv, int child)
{
    if (!child) {
        sigset_t b;
        sigemptyset(&b);
        sigaddset(&b, SIGUSR1);
        sigprocmask(SIG_BLOCK, &b, NULL);
        signal(SIGUSR2, SIG_IGN);
        signal(SIGTERM, on_term);
        printf("before exec\n");
        execl("/proc/self/exe", argv[0], "exec-mask-child", (char *)0);
        perror("execl");
        return 1;
    }
    sigset_t s;
    sigprocmask(SIG_BLOCK, NULL, &s);
    struct sigaction usr2, term;
    sigaction(SIGUSR2, NULL, &usr2);
    sigaction(SIGTERM, NULL, &term);
    printf("after exec: USR1 blocked=%d USR2 ignored=%d TERM default=%d\n",
           sigismember(&s, SIGUSR1), usr2.sa_handler == SIG_IGN, term.sa_handler == SIG_DFL);
    return 0;
}

#include <sys/wait.h>

static volatile sig_atomic_t child_got;

static void on_child_usr1(int sig, siginfo_t *info, void *uc)
{
    (void)uc;
    child_got = sig;
    (void)info;
}

/* kill between a parent and forked children: a handled signal, then a default death */
static int fork_kill(void)
{
    int ready[2];
    pipe(ready);
    pid_t child = fork();
    if (child == 0) {
        struct sigaction sa = {0};
        sa.sa_sigaction = on_child_usr1;
        sa.sa_flags = SA_SIGINFO;
        sigaction(SIGUSR1, &sa, NULL);
        /* blocked until sigsuspend: a signal between the check and the
           wait would otherwise be missed */
        sigset_t usr1, old;
        sigemptyset(&usr1);
        sigaddset(&usr1, SIGUSR1);
        sigprocmask(SIG_BLOCK, &usr1, &old);
        write(ready[1], "r", 1);
        while (!child_got)
            sigsuspend(&old);
        printf("child: got signal %d from the parent\n", child_got);
        _exit(7);
    }
    char c;
    read(ready[0], &c, 1);
    kill(child, SIGUSR1);
    int status;
    waitpid(child, &status, 0);
    printf("parent: child exited=%d status=%d\n", WIFEXITED(status), WEXITSTATUS(status));
    child = fork();
    if (child == 0) {
        write(ready[1], "r", 1);
        for (;;)
            pause();
    }
    read(ready[0], &c, 1);
    kill(child, SIGTERM);
    waitpid(child, &status, 0);
    printf("parent: child signaled=%d by %d\n", WIFSIGNALED(status), WTERMSIG(status));
    /* a child killed by SIGSEGV, reported with its core flag */
    child = fork();
    if (child == 0)
        *(volatile int *)0 = 1;
    waitpid(child, &status, 0);
    printf("parent: child signaled=%d by %d\n", WIFSIGNALED(status), WTERMSIG(status));
    return 0;
}

static volatile sig_atomic_t usr1_seen;

static void on_usr1_flag(int sig)
{
    usr1_seen = sig;
}

/* a loop without syscalls that only a delivered SIGUSR1 ends */
static int spin_usr1(void)
{
    signal(SIGUSR1, on_usr1_flag);
    printf("spinning\n");
    long n = 0;
    while (!usr1_seen)
        n++;
    printf("handler ran, loop left\n");
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc < 2)
        return 2;
    const char *what = argv[1];
    if (!strcmp(what, "segv-mprotect"))
        return segv_mprotect();
    if (!strcmp(what, "siglongjmp"))
        return do_siglongjmp();
    if (!strcmp(what, "altstack"))
        return altstack();
    if (!strcmp(what, "alarm"))
        return do_alarm();
    if (!strcmp(what, "itimer"))
        return itimer();
    if (!strcmp(what, "restart"))
        return restart();
    if (!strcmp(what, "siginfo"))
        return siginfo_test();
    if (!strcmp(what, "mask-vfp"))
        return mask_vfp();
    if (!strcmp(what, "sigpipe"))
        return sigpipe();
    if (!strcmp(what, "raise") && argc > 2) {
        printf("raising %s\n", argv[2]);
        raise(atoi(argv[2]));
        printf("survived\n");
        return 0;
    }
    if (!strcmp(what, "queue"))
        return queue();
    if (!strcmp(what, "sigsuspend"))
        return do_sigsuspend();
    if (!strcmp(what, "thumb"))
        return thumb();
    if (!strcmp(what, "rt-timer"))
        return rt_timer();
    if (!strcmp(what, "signalfd"))
        return do_signalfd();
    if (!strcmp(what, "spin-usr1"))
        return spin_usr1();
    if (!strcmp(what, "fork-kill"))
        return fork_kill();
    if (!strcmp(what, "exec-mask") || !strcmp(what, "exec-mask-child"))
        return exec_mask(argv, !strcmp(what, "exec-mask-child"));
    return 2;
}
