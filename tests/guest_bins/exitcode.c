/* exitcode: process exit status.
 *
 * Exercises: exit() (atexit handlers, stdio flush, exit_group), _exit()
 * (exit_group with no flush), returning from main, and the truncation of
 * the status to 8 bits (256 -> 0, -1 -> 255).
 *
 * Usage: exitcode N [exit|_exit|return]   (default: exit)
 * Prints "atexit handler ran" from an atexit handler when exit/return is used.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void on_exit_handler(void)
{
    printf("atexit handler ran\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: exitcode N [exit|_exit|return]\n");
        return 2;
    }
    int code = atoi(argv[1]);
    const char *how = argc > 2 ? argv[2] : "exit";
    atexit(on_exit_handler);
    if (strcmp(how, "_exit") == 0) {
        /* Nothing buffered may be lost: write directly. */
        static const char m[] = "calling _exit\n";
        write(1, m, sizeof(m) - 1);
        _exit(code);
    }
    if (strcmp(how, "return") == 0)
        return code;
    exit(code);
}
