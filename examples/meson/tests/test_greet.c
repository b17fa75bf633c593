/* Unit tests of greet(); exit status 0 when all pass.
 * test_greet --fail adds a check that cannot pass (the demo failure). */
#include <stdio.h>
#include <string.h>

#include "greet.h"

static int failures;

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, \
                    #cond);                                                    \
            failures++;                                                        \
        }                                                                      \
    } while (0)

int main(int argc, char **argv)
{
    char buf[32];

    CHECK(greet(buf, sizeof buf, "arm") == 11);
    CHECK(strcmp(buf, "Hello, arm!") == 0);

    CHECK(greet(buf, 6, "truncated") == 17); /* the full length, as snprintf */
    CHECK(strcmp(buf, "Hello") == 0);

    if (argc > 1 && strcmp(argv[1], "--fail") == 0)
        CHECK(strcmp(buf, "not what greet wrote") == 0);

    printf("%d failure(s)\n", failures);
    return failures ? 1 : 0;
}
