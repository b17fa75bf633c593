/* Processes: fork, vfork, posix_spawn, wait4/waitid, pipes, execve and its
 * errors, close-on-exec, MAP_SHARED across fork, /proc/self of a child.
 *
 *   forkexec            run every case, one line each
 *   forkexec child ...  (exec'd by the cases) print argv and open fds
 *   forkexec state PID EXE  (exec'd by case_exec_state) what exec kept
 *
 * The output is deterministic: the parent waits for each child before it
 * prints, and children print only through a pipe or after the parent waits.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void describe(const char *what, int status)
{
    if (WIFEXITED(status))
        printf("%s: exited %d\n", what, WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        printf("%s: killed by signal %d\n", what, WTERMSIG(status));
    else
        printf("%s: status %#x\n", what, status);
    fflush(stdout);
}

static int child_main(int argc, char **argv)
{
    printf("child argv:");
    for (int i = 0; i < argc; i++)
        printf(" [%s]", argv[i]);
    const char *v = getenv("FORKEXEC_VAR");
    printf(" env=%s fds:", v ? v : "(unset)");
    for (int fd = 3; fd < 20; fd++)
        if (fcntl(fd, F_GETFD) >= 0)
            printf(" %d", fd);
    printf("\n");
    return argc;
}

static void on_usr2(int signo)
{
    (void)signo;
}

/* After an exec from case_exec_state: what the kernel kept and reset. */
static int state_main(char **argv)
{
    struct sigaction sa;
    sigaction(SIGUSR1, NULL, &sa);
    int usr1_ignored = sa.sa_handler == SIG_IGN;
    sigaction(SIGUSR2, NULL, &sa);
    int usr2_default = sa.sa_handler == SIG_DFL;
    sigset_t blocked, pending;
    sigprocmask(SIG_BLOCK, NULL, &blocked);
    sigpending(&pending);
    stack_t ss;
    sigaltstack(NULL, &ss);
    char exe[4096] = {0}, comm[64] = {0};
    readlink("/proc/self/exe", exe, sizeof exe - 1);
    int fd = open("/proc/self/comm", O_RDONLY);
    if (fd >= 0) {
        read(fd, comm, sizeof comm - 1);
        close(fd);
    }
    comm[strcspn(comm, "\n")] = 0;
    printf("after exec: pid same %d, exe same %d, comm %s, SIGUSR1 ignored %d, "
           "SIGUSR2 default %d, SIGTERM blocked %d and pending %d, altstack off %d\n",
           getpid() == atoi(argv[2]), strcmp(exe, argv[3]) == 0, comm, usr1_ignored,
           usr2_default, sigismember(&blocked, SIGTERM), sigismember(&pending, SIGTERM),
           (ss.ss_flags & SS_DISABLE) != 0);
    return 4;
}

static void case_fork_exit(void)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        /* the child's own pid, its parent, and /proc/self naming it */
        char link[64], buf[64];
        snprintf(link, sizeof link, "/proc/%d/stat", (int)getpid());
        int fd = open(link, O_RDONLY);
        int ok = fd >= 0 && read(fd, buf, sizeof buf) > 0 && atoi(buf) == getpid();
        _exit(getppid() == parent && getpid() != parent && ok ? 7 : 99);
    }
    int status;
    pid_t got = waitpid(pid, &status, 0);
    printf("waitpid returned the child: %s\n", got == pid ? "yes" : "no");
    describe("fork", status);
}

static void case_signal_death(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        kill(getpid(), SIGTERM);
        pause();
        _exit(1);
    }
    int status;
    waitpid(pid, &status, 0);
    describe("kill self", status);
}

static void case_pipe(void)
{
    int p[2];
    if (pipe(p) != 0)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        const char msg[] = "through the pipe";
        write(p[1], msg, sizeof msg - 1);
        _exit(0);
    }
    close(p[1]);
    char buf[64] = {0};
    ssize_t n, total = 0;
    while ((n = read(p[0], buf + total, sizeof buf - 1 - total)) > 0)
        total += n;
    close(p[0]);
    int status;
    waitpid(pid, &status, 0);
    printf("pipe: '%s'\n", buf);
}

static void case_vfork(void)
{
    volatile int shared = 0;
    pid_t pid = vfork();
    if (pid == 0)
        _exit(3);
    int status;
    waitpid(pid, &status, 0);
    describe("vfork", status);
    (void)shared;
}

static void case_waitid(void)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(42);
    siginfo_t info;
    memset(&info, 0xff, sizeof info);
    int r = waitid(P_PID, pid, &info, WEXITED);
    printf("waitid: r=%d pid_ok=%d signo=%d code=%d status=%d\n", r, info.si_pid == pid,
           info.si_signo, info.si_code, info.si_status);
    /* and WNOHANG with no child left: 0, si_pid 0 */
    pid = fork();
    if (pid == 0) {
        pause();
        _exit(0);
    }
    memset(&info, 0xff, sizeof info);
    r = waitid(P_PID, pid, &info, WEXITED | WNOHANG);
    printf("waitid WNOHANG: r=%d si_pid=%d\n", r, info.si_pid);
    kill(pid, SIGKILL);
    memset(&info, 0, sizeof info);
    waitid(P_PID, pid, &info, WEXITED);
    printf("waitid killed: code=%d status=%d\n", info.si_code, info.si_status);
}

static void case_wait4_rusage(void)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(5);
    int status;
    struct rusage ru;
    pid_t got = wait4(pid, &status, 0, &ru);
    printf("wait4: ok=%d ", got == pid);
    describe("exit", status);
    errno = 0;
    got = wait4(-1, &status, WNOHANG, NULL);
    printf("wait4 no children: %d %s\n", (int)got, strerror(errno));
}

static void case_shared_memory(void)
{
    int *shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    int *private = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    *shared = 1;
    *private = 1;
    pid_t pid = fork();
    if (pid == 0) {
        *shared = 2;
        *private = 2;
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    printf("after the child wrote: MAP_SHARED %d, MAP_PRIVATE %d\n", *shared, *private);
}

static void case_exec(const char *self)
{
    int keep = open("/dev/null", O_RDONLY);          /* stays open across exec */
    int drop = open("/dev/null", O_RDONLY | O_CLOEXEC); /* closed by exec */
    int p[2];
    pipe2(p, O_CLOEXEC);
    int dup_of_cloexec = dup(drop);                  /* dup clears close-on-exec */
    fcntl(keep, F_SETFD, 0);
    pid_t pid = fork();
    if (pid == 0) {
        char *argv[] = {"renamed-argv0", "child", "two words", NULL};
        char *envp[] = {"FORKEXEC_VAR=from-execve", NULL};
        execve(self, argv, envp);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    describe("exec self", status);
    printf("expected open fds: %d %d (closed: %d %d %d)\n", keep, dup_of_cloexec, drop, p[0],
           p[1]);
    close(keep);
    close(drop);
    close(dup_of_cloexec);
    close(p[0]);
    close(p[1]);
}

/* exec keeps the pid, the mask, pending signals and ignored dispositions;
 * handled signals go back to the default, the alternate stack goes */
static void case_exec_state(void)
{
    char exe[4096] = {0};
    if (readlink("/proc/self/exe", exe, sizeof exe - 1) < 0)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGUSR1, SIG_IGN);
        signal(SIGUSR2, on_usr2);
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigprocmask(SIG_BLOCK, &set, NULL);
        kill(getpid(), SIGTERM);
        static char altstack[16384];
        stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0};
        sigaltstack(&ss, NULL);
        char pidtext[32];
        snprintf(pidtext, sizeof pidtext, "%d", (int)getpid());
        char *argv[] = {"forkexec", "state", pidtext, exe, NULL};
        execve(exe, argv, environ);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    describe("exec state", status);
}

static void case_exec_errors(void)
{
    const char *dir = "/tmp";
    char plain[] = "/tmp/forkexec-plainXXXXXX";
    int fd = mkstemp(plain);
    write(fd, "just text\n", 10);
    close(fd);
    chmod(plain, 0644);
    char *argv[] = {"x", NULL};
    struct {
        const char *what;
        const char *path;
    } cases[] = {
        {"missing", "/nonexistent/forkexec"},
        {"directory", dir},
        {"not executable", plain},
        {"no format", plain},
        {"empty path", ""},
    };
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (i == 3)
            chmod(plain, 0755);
        errno = 0;
        int r = execve(cases[i].path, argv, environ);
        printf("execve %s: %d %s\n", cases[i].what, r, strerror(errno));
    }
    unlink(plain);
}

static void case_posix_spawn(const char *self)
{
    pid_t pid;
    char *argv[] = {"spawned", "child", NULL};
    char *envp[] = {"FORKEXEC_VAR=spawned", NULL};
    fflush(stdout);
    int r = posix_spawn(&pid, self, NULL, NULL, argv, envp);
    int status = 0;
    if (r == 0)
        waitpid(pid, &status, 0);
    printf("posix_spawn: %s, ", r == 0 ? "ok" : strerror(r));
    describe("spawned", status);
    r = posix_spawn(&pid, "/nonexistent/forkexec", NULL, NULL, argv, envp);
    if (r == 0) {
        waitpid(pid, &status, 0);
        describe("posix_spawn of a missing file", status);
    } else {
        printf("posix_spawn of a missing file: %s\n", strerror(r));
    }
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "child") == 0)
        return child_main(argc, argv);
    if (argc > 3 && strcmp(argv[1], "state") == 0)
        return state_main(argv);
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* the program's own path for exec: /proc/self/exe */
    const char *self = "/proc/self/exe";
    case_fork_exit();
    case_signal_death();
    case_pipe();
    case_vfork();
    case_waitid();
    case_wait4_rusage();
    case_shared_memory();
    case_exec(self);
    case_exec_state();
    case_exec_errors();
    case_posix_spawn(self);
    return 0;
}
