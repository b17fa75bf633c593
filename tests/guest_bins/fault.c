/* fault: uncaught synchronous signals and abort().
 *
 * Usage: fault segv | ill | abort | lowsp
 *   segv   stores to an unmapped address (0x10)        -> SIGSEGV (11)
 *   ill    executes an undefined instruction (udf)     -> SIGILL  (4)
 *   abort  calls abort(), which raises SIGABRT itself  -> SIGABRT (6)
 *   lowsp  a caught SIGALRM arrives while the stack pointer is 8: there is
 *          no room for the signal frame, so the kernel forces SIGSEGV (11)
 *
 * Exercises: turning a CPU exception into a guest signal, the default
 * action for an uncaught signal (the emulator reports it and dies by the
 * same signal), and tgkill/rt_sigprocmask as used by abort().
 * A line is printed and flushed before faulting, so stdout is known.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void on_alarm(int sig)
{
    (void)sig;
}

/* Spin with the stack pointer at 8 until the alarm comes. */
static void spin_with_low_sp(void)
{
#if defined(__x86_64__)
    __asm__ volatile("mov $8, %%rsp\n1: jmp 1b" ::: "memory");
#elif defined(__i386__)
    __asm__ volatile("mov $8, %%esp\n1: jmp 1b" ::: "memory");
#elif defined(__aarch64__)
    __asm__ volatile("mov x9, #8\n mov sp, x9\n1: b 1b" ::: "x9", "memory");
#elif defined(__arm__)
    __asm__ volatile("mov r12, #8\n mov sp, r12\n1: b 1b" ::: "r12", "memory");
#elif defined(__riscv)
    __asm__ volatile("li sp, 8\n1: j 1b" ::: "memory");
#elif defined(__mips__)
    __asm__ volatile(".set push\n .set noreorder\n li $sp, 8\n1: b 1b\n nop\n .set pop"
                     ::: "memory");
#elif defined(__s390x__)
    __asm__ volatile("lghi %%r15, 8\n1: j 1b" ::: "memory");
#elif defined(__powerpc__)
    __asm__ volatile("li 1, 8\n1: b 1b" ::: "memory");
#elif defined(__m68k__)
    __asm__ volatile("move.l #8, %%sp\n1: bra.s 1b" ::: "memory");
#else
#error "no low-stack spin for this target"
#endif
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fault segv|ill|abort|lowsp\n");
        return 2;
    }
    printf("about to %s\n", argv[1]);
    fflush(stdout);
    if (strcmp(argv[1], "segv") == 0) {
        volatile uintptr_t addr = 0x10; /* hidden from -Warray-bounds */
        *(volatile int *)addr = 1;
    } else if (strcmp(argv[1], "ill") == 0) {
        __builtin_trap();
    } else if (strcmp(argv[1], "abort") == 0) {
        abort();
    } else if (strcmp(argv[1], "lowsp") == 0) {
        signal(SIGALRM, on_alarm);
        alarm(1);
        spin_with_low_sp();
    } else {
        fprintf(stderr, "fault: unknown kind %s\n", argv[1]);
        return 2;
    }
    printf("still alive?!\n");
    return 1;
}
