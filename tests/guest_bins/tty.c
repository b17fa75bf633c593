/* tty: terminal attributes on a pseudo-terminal given as stdin.
 *
 * struct termios, its flag bits and the c_cc indices differ per target
 * (MIPS: 23 c_cc entries, VMIN 4, IEXTEN 0x100, TOSTOP 0x8000), so this
 * checks them by meaning: the defaults a new pty has, raw mode, VMIN/VTIME
 * round trips and the window size.  The test runs it with a pty as stdin.
 */
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

static const char *yesno(int b)
{
    return b ? "yes" : "no";
}

int main(void)
{
    printf("isatty(0): %d\n", isatty(0));
    struct termios t;
    if (tcgetattr(0, &t) != 0) {
        perror("tcgetattr");
        return 1;
    }
    printf("default: ICANON %s ECHO %s ISIG %s IEXTEN %s TOSTOP %s ICRNL %s OPOST %s CREAD %s\n",
           yesno(t.c_lflag & ICANON), yesno(t.c_lflag & ECHO), yesno(t.c_lflag & ISIG),
           yesno(t.c_lflag & IEXTEN), yesno(t.c_lflag & TOSTOP), yesno(t.c_iflag & ICRNL),
           yesno(t.c_oflag & OPOST), yesno(t.c_cflag & CREAD));
    printf("default: VINTR %d VEOF %d VERASE %d VMIN %d VTIME %d VSUSP %d\n", t.c_cc[VINTR],
           t.c_cc[VEOF], t.c_cc[VERASE], t.c_cc[VMIN], t.c_cc[VTIME], t.c_cc[VSUSP]);
    printf("CS8: %s\n", yesno((t.c_cflag & CSIZE) == CS8));

    struct termios raw = t;
    cfmakeraw(&raw);
    raw.c_cc[VMIN] = 5;
    raw.c_cc[VTIME] = 7;
    raw.c_lflag |= TOSTOP;
    printf("tcsetattr raw: %d\n", tcsetattr(0, TCSANOW, &raw));
    struct termios back;
    memset(&back, 0, sizeof back);
    tcgetattr(0, &back);
    printf("raw: ICANON %s ECHO %s ISIG %s IEXTEN %s TOSTOP %s OPOST %s VMIN %d VTIME %d\n",
           yesno(back.c_lflag & ICANON), yesno(back.c_lflag & ECHO),
           yesno(back.c_lflag & ISIG), yesno(back.c_lflag & IEXTEN),
           yesno(back.c_lflag & TOSTOP), yesno(back.c_oflag & OPOST), back.c_cc[VMIN],
           back.c_cc[VTIME]);
    printf("restore: %d\n", tcsetattr(0, TCSANOW, &t));
    tcgetattr(0, &back);
    printf("restored: ICANON %s VMIN %d VINTR %d\n", yesno(back.c_lflag & ICANON),
           back.c_cc[VMIN], back.c_cc[VINTR]);

    struct winsize size = {.ws_row = 33, .ws_col = 101};
    printf("TIOCSWINSZ: %d\n", ioctl(0, TIOCSWINSZ, &size));
    struct winsize got;
    memset(&got, 0, sizeof got);
    int got_result = ioctl(0, TIOCGWINSZ, &got);
    printf("TIOCGWINSZ: %d rows %d cols %d\n", got_result, got.ws_row, got.ws_col);
    return 0;
}
