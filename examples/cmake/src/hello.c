/* hello [NAME]      prints "Hello, NAME!"
 * hello --machine   prints the machine the program runs on (uname -m)
 * hello --exit N    exits with status N */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "greet.h"

int main(int argc, char **argv)
{
    if (argc > 2 && strcmp(argv[1], "--exit") == 0)
        return atoi(argv[2]);
    if (argc > 1 && strcmp(argv[1], "--machine") == 0) {
        struct utsname u;
        if (uname(&u) != 0)
            return 1;
        puts(u.machine);
        return 0;
    }
    char buf[64];
    greet(buf, sizeof buf, argc > 1 ? argv[1] : "world");
    puts(buf);
    return 0;
}
