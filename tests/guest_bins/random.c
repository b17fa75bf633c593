/* random: sources of randomness.
 *
 * Exercises: the getrandom syscall (blocking and GRND_NONBLOCK), reading
 * /dev/urandom through open/read, and the 16 AT_RANDOM bytes.  The random
 * bytes themselves are never printed, only lengths and sanity checks.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/random.h>
#include <unistd.h>

static int not_all_zero(const unsigned char *p, size_t n)
{
    unsigned char acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc != 0;
}

int main(void)
{
    unsigned char a[16], b[16], u[32];
    ssize_t n = getrandom(a, sizeof a, 0);
    printf("getrandom: %zd\n", n);
    n = getrandom(b, sizeof b, GRND_NONBLOCK);
    printf("getrandom(GRND_NONBLOCK): %zd\n", n);
    printf("two draws differ: %s\n", memcmp(a, b, sizeof a) ? "yes" : "no");
    printf("getrandom not all zero: %s\n", not_all_zero(a, sizeof a) ? "yes" : "no");

    int fd = open("/dev/urandom", O_RDONLY);
    printf("open /dev/urandom: %s\n", fd >= 0 ? "ok" : "failed");
    n = read(fd, u, sizeof u);
    printf("read /dev/urandom: %zd\n", n);
    printf("urandom not all zero: %s\n", not_all_zero(u, sizeof u) ? "yes" : "no");
    close(fd);

    const unsigned char *r = (const unsigned char *)getauxval(AT_RANDOM);
    printf("AT_RANDOM not all zero: %s\n", r && not_all_zero(r, 16) ? "yes" : "no");
    return 0;
}
