/* straightline: one basic block of a few thousand instructions, no branch.
 *
 * Exercises: translating a very long block.  Unicorn 2.1.4's MIPS
 * translator leaks a TCG temporary per instruction and crashed the host
 * process on blocks of more than ~370 instructions (OpenSSL's unrolled
 * SHA-256 did it); pyuser hooks such runs (pyuser/targets/mipsel.py).
 * Expected output: the same hash on every target and natively.
 */
#include <stdio.h>

#define R1(x) x = x * 2654435761u + 12345u; x ^= x >> 13;
#define R10(x) R1(x) R1(x) R1(x) R1(x) R1(x) R1(x) R1(x) R1(x) R1(x) R1(x)
#define R100(x) R10(x) R10(x) R10(x) R10(x) R10(x) R10(x) R10(x) R10(x) R10(x) R10(x)

int main(void)
{
    volatile unsigned seed = 1;
    unsigned x = seed;
    R100(x) R100(x) R100(x) R100(x) R100(x) R100(x) R100(x) R100(x)
    printf("straightline: %08x\n", x);
    return 0;
}
