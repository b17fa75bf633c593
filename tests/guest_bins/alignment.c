/* alignment: exclusive and atomic accesses at a misaligned address on a
 * mapped, writable page, each in turn, with a handler for SIGBUS, SIGSEGV
 * and SIGILL that reports what arrived and jumps back.
 *
 * What Linux gives:
 *   arm      SIGBUS BUS_ADRALN, si_addr the address: an exclusive access
 *            raises an alignment fault whatever SCTLR.A says, and the
 *            kernel's fixup (arch/arm/mm/alignment.c) does not emulate
 *            ldrex/strex, so do_DataAbort sends the fault's signal
 *   aarch64  SIGBUS BUS_ADRALN, si_addr the address (do_alignment_fault)
 *   riscv64  SIGBUS BUS_ADRALN, si_addr the *PC*: the misaligned-load and
 *            store/AMO traps report regs->epc (arch/riscv/kernel/traps.c)
 *   mips     SIGBUS, si_code SI_KERNEL, no address: the address error
 *            handler emulates plain misaligned loads and stores (lw, lh,
 *            sw, sh: no signal, or a bare SIGSEGV when a byte is on an
 *            inaccessible page) but sends ll/sc a bare force_sig(SIGBUS)
 *            (arch/mips/kernel/unaligned.c)
 *   x86      no signal: a locked access may straddle (a split lock; the
 *            kernel only warns, with its default split_lock_detect)
 * Each line reads "<insn> at +<offset>: <outcome>".
 *
 * Store-exclusives (strex, stxr, sc.w, sc) are not tried: with no matching
 * reservation the engine (QEMU's translator, as qemu-user) fails them
 * without touching memory, where the hardware checks alignment first; and
 * aarch64's ldar/stlr are not checked for alignment by this engine either.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

static sigjmp_buf back;
static volatile int emulated;
static volatile uintptr_t expected_addr, expected_pc;
static volatile int got_signo, got_code;
static volatile uintptr_t got_addr;

static void on_fault(int signo, siginfo_t *info, void *context)
{
    (void)context;
    got_signo = signo;
    got_code = info->si_code;
    got_addr = (uintptr_t)info->si_addr;
    siglongjmp(back, 1);
}

static const char *signame(int signo)
{
    return signo == SIGBUS ? "SIGBUS" : signo == SIGSEGV ? "SIGSEGV"
         : signo == SIGILL ? "SIGILL" : "other";
}

static const char *codename(int signo, int code)
{
    if (code == SI_KERNEL)
        return "SI_KERNEL";
    if (signo == SIGBUS)
        return code == BUS_ADRALN ? "BUS_ADRALN" : code == BUS_ADRERR ? "BUS_ADRERR" : "other";
    if (signo == SIGSEGV)
        return code == SEGV_MAPERR ? "SEGV_MAPERR" : code == SEGV_ACCERR ? "SEGV_ACCERR" : "other";
    if (signo == SIGILL)
        return code == ILL_ILLOPC ? "ILL_ILLOPC" : "other";
    return "?";
}

/* Each access is a function of its own, written in assembly, so that the PC
 * of the faulting instruction is known: it is the function's first. */
#if defined(__arm__)
#define PROLOGUE ".syntax unified\n .thumb\n .thumb_func\n"
#elif defined(__mips__)
#define PROLOGUE ".set push\n .set noreorder\n"
#else
#define PROLOGUE ""
#endif
#if defined(__mips__)
#define EPILOGUE ".set pop\n"
#else
#define EPILOGUE ""
#endif
#define ACCESS(name, body)                                                    \
    long name(volatile void *p);                                              \
    __asm__(".text\n .globl " #name "\n .type " #name ", %function\n"          \
            PROLOGUE #name ":\n " body "\n" EPILOGUE ".size " #name ", . - " #name "\n");

#if defined(__arm__)
ACCESS(ldrex_, "ldrex r1, [r0]\n bx lr")
ACCESS(ldrexh_, "ldrexh r1, [r0]\n bx lr")
ACCESS(ldrexd_, "ldrexd r2, r3, [r0]\n bx lr")
static const struct { const char *name; long (*fn)(volatile void *); int offset; } CASES[] = {
    {"ldrex", ldrex_, 1}, {"ldrex", ldrex_, 2}, {"ldrexh", ldrexh_, 1},
    {"ldrexd", ldrexd_, 4},
};
#elif defined(__aarch64__)
ACCESS(ldxr_, "ldxr x1, [x0]\n ret")
ACCESS(ldaxr_, "ldaxr w1, [x0]\n ret")
ACCESS(ldxp_, "ldxp x1, x2, [x0]\n ret")
static const struct { const char *name; long (*fn)(volatile void *); int offset; } CASES[] = {
    {"ldxr", ldxr_, 1}, {"ldxr", ldxr_, 4}, {"ldaxr", ldaxr_, 2}, {"ldxp", ldxp_, 8},
};
#elif defined(__riscv)
ACCESS(lr_w_, "lr.w t0, (a0)\n ret")
ACCESS(lr_d_, "lr.d t0, (a0)\n ret")
ACCESS(amoadd_w_, "amoadd.w t0, t1, (a0)\n ret")
ACCESS(amoswap_d_, "amoswap.d t0, t1, (a0)\n ret")
static const struct { const char *name; long (*fn)(volatile void *); int offset; } CASES[] = {
    {"lr.w", lr_w_, 1}, {"lr.d", lr_d_, 4}, {"amoadd.w", amoadd_w_, 1},
    {"amoswap.d", amoswap_d_, 4},
};
#elif defined(__mips__)
ACCESS(ll_, "ll $t0, 0($a0)\n jr $ra\n nop")
ACCESS(lw_, "lw $v0, 0($a0)\n jr $ra\n nop")
ACCESS(lh_, "lh $v0, 0($a0)\n jr $ra\n nop")
ACCESS(sw_, "li $t0, 0x11223344\n sw $t0, 0($a0)\n jr $ra\n nop")
ACCESS(sh_, "li $t0, 0x5566\n sh $t0, 0($a0)\n jr $ra\n nop")
/* plain loads and stores: emulated by the kernel when misaligned, unless a
 * byte falls on an inaccessible page (SIGSEGV); +8190 reaches the third,
 * unmapped, page */
static const struct { const char *name; long (*fn)(volatile void *); int offset; } CASES[] = {
    {"ll", ll_, 1}, {"ll", ll_, 2}, {"lw", lw_, 1}, {"lh", lh_, 3}, {"sw", sw_, 5},
    {"sh", sh_, 11}, {"lw", lw_, 8190},
};
#elif defined(__x86_64__)
ACCESS(lock_cmpxchg_, "xor %eax, %eax\n lock cmpxchg %ecx, (%rdi)\n ret")
static const struct { const char *name; long (*fn)(volatile void *); int offset; } CASES[] = {
    {"lock cmpxchg", lock_cmpxchg_, 1}, {"lock cmpxchg", lock_cmpxchg_, 4094},
};
#elif defined(__i386__)
ACCESS(lock_cmpxchg_, "mov 4(%esp), %edx\n xor %eax, %eax\n lock cmpxchg %ecx, (%edx)\n ret")
static const struct { const char *name; long (*fn)(volatile void *); int offset; } CASES[] = {
    {"lock cmpxchg", lock_cmpxchg_, 1}, {"lock cmpxchg", lock_cmpxchg_, 4094},
};
#endif

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigaction(SIGBUS, &sa, NULL);
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGILL, &sa, NULL);
    /* two pages, so that an access may cross into the second */
    char *page = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                      -1, 0);
    munmap(page + 8192, 4096);
    for (int i = 0; i < 16; i++)
        page[i] = (char)(0x10 + i);
    for (volatile unsigned i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        volatile char *p = page + CASES[i].offset;
        uintptr_t pc = (uintptr_t)CASES[i].fn & ~(uintptr_t)1; /* a Thumb address */
        got_signo = 0;
        if (!sigsetjmp(back, 1))
            CASES[i].fn(p);
        printf("%s at +%d: ", CASES[i].name, CASES[i].offset);
        if (!got_signo) {
            emulated++;
            printf("no signal\n");
            continue;
        }
        const char *where = got_addr == (uintptr_t)p ? "the address"
                          : got_addr == pc ? "the pc"
                          : got_addr == 0 ? "0" : "elsewhere";
        printf("%s %s, si_addr %s\n", signame(got_signo), codename(got_signo, got_code), where);
    }
#if defined(__mips__)
    /* what the emulated accesses read and wrote (where they were emulated) */
    if (emulated != 4)
        return 0;
    uint32_t word;
    uint16_t half;
    memcpy(&word, page + 1, 4);
    memcpy(&half, page + 3, 2);
    printf("lw at +1 reads the bytes there: %s\n",
           (uint32_t)lw_(page + 1) == word ? "yes" : "no");
    printf("lh at +3 reads the bytes there, sign-extended: %s\n",
           lh_(page + 3) == (int16_t)half ? "yes" : "no");
    memcpy(&word, page + 5, 4);
    memcpy(&half, page + 11, 2);
    printf("sw at +5 wrote 0x11223344: %s, sh at +11 wrote 0x5566: %s\n",
           word == 0x11223344 ? "yes" : "no", half == 0x5566 ? "yes" : "no");
#endif
    return 0;
}
