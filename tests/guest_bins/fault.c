/* fault: uncaught synchronous signals and abort().
 *
 * Usage: fault segv | ill | abort
 *   segv   stores to an unmapped address (0x10)        -> SIGSEGV (11)
 *   ill    executes an undefined instruction (udf)     -> SIGILL  (4)
 *   abort  calls abort(), which raises SIGABRT itself  -> SIGABRT (6)
 *
 * Exercises: turning a CPU exception into a guest signal, the default
 * action for an uncaught signal (the emulator reports it and dies by the
 * same signal), and tgkill/rt_sigprocmask as used by abort().
 * A line is printed and flushed before faulting, so stdout is known.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fault segv|ill|abort\n");
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
    } else {
        fprintf(stderr, "fault: unknown kind %s\n", argv[1]);
        return 2;
    }
    printf("still alive?!\n");
    return 1;
}
