/* cpuloop: pure integer work, no syscalls in the loop.
 *
 * Usage: cpuloop [ITERATIONS]   (default 180000000, about 1 s under qemu-arm)
 * The count comes from argv so the loop cannot be folded at compile time;
 * the checksum proves the loop ran.  Measures translated-code speed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 10) : 180000000UL;
    uint32_t a = 1, b = 2, c = 3;
    for (unsigned long i = 0; i < n; i++) {
        a += b ^ (uint32_t)i;
        b = (b << 3) ^ (b >> 5) ^ c;
        c += a * 7 + (c >> 11);
        if (a & 0x100)
            c ^= 0x5bd1e995;
    }
    printf("cpuloop %lu iterations checksum %08x\n", n, a ^ b ^ c);
    return 0;
}
