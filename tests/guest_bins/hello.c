/* hello: the smallest useful guest.
 *
 * Exercises: ELF loading of a static glibc program, the initial stack,
 * TLS set-up (set_tls / set_tid_address), brk, write to stdout and
 * exit_group.  Expected output: "Hello, world!\n", status 0.
 */
#include <stdio.h>

int main(void)
{
    puts("Hello, world!");
    return 0;
}
