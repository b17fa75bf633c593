/* sieve: memory-bound work: sieve of Eratosthenes over a byte array.
 *
 * Usage: sieve [LIMIT]   (default 32000000: a 32 MB array)
 * Prints the number of primes below LIMIT.  Measures loads/stores over
 * a large heap mapping.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 10) : 32000000UL;
    unsigned char *composite = calloc(n, 1);
    if (!composite) {
        printf("out of memory\n");
        return 1;
    }
    unsigned long count = 0;
    for (unsigned long i = 2; i < n; i++) {
        if (composite[i])
            continue;
        count++;
        for (unsigned long j = i * i; i < 65536 && j < n; j += i)
            composite[j] = 1;
    }
    printf("sieve below %lu: %lu primes\n", n, count);
    free(composite);
    return 0;
}
