/* bigbss: a large zero-initialised segment.
 *
 * Exercises: the loader's handling of p_memsz > p_filesz (the .bss tail of
 * the last page of .data must be zeroed, and 16 MiB of anonymous zero pages
 * mapped after it), and ordinary loads/stores across all of it.
 */
#include <stdint.h>
#include <stdio.h>

#define WORDS (16u * 1024 * 1024 / sizeof(uint32_t))

static uint32_t big[WORDS];
static uint32_t small_initialised[4] = {1, 2, 3, 4};
static uint32_t small_zero[4];

int main(void)
{
    unsigned long nonzero = 0;
    for (uint32_t i = 0; i < WORDS; i++)
        if (big[i])
            nonzero++;
    for (int i = 0; i < 4; i++)
        if (small_zero[i])
            nonzero++;
    printf("bss size: %u bytes\n", (unsigned)sizeof big);
    printf("non-zero words at start: %lu\n", nonzero);
    printf("data: %u %u %u %u\n", small_initialised[0], small_initialised[1],
           small_initialised[2], small_initialised[3]);

    for (uint32_t i = 0; i < WORDS; i++)
        big[i] = i * 2654435761u;
    uint64_t sum = 0;
    uint32_t x = 0;
    for (uint32_t i = 0; i < WORDS; i++) {
        sum += big[i];
        x ^= big[i] >> (i & 15);
    }
    printf("sum: %llu xor: %08x\n", (unsigned long long)sum, x);
    printf("first: %08x last: %08x\n", big[0], big[WORDS - 1]);
    return 0;
}
