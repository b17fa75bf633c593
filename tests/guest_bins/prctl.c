/* prctl: task names and the process attributes a program sets on itself.
 *
 * PR_GET_NAME starts as the exec'd file's name and /proc/self/comm agrees;
 * PR_SET_NAME changes both; a thread named with pthread_setname_np (which
 * writes /proc/self/task/<tid>/comm) reads its name back.  PR_SET_PDEATHSIG
 * and PR_GET_PDEATHSIG (the signal in the target's numbering),
 * PR_SET_NO_NEW_PRIVS, PR_GET_DUMPABLE, and PR_SET_CHILD_SUBREAPER with its
 * effect: a grandchild whose parent exits is reparented to us and can be
 * reaped.  qemu-user 7.2 lacks the subreaper calls and does not name the task
 * after the program, so Linux's output is the test's reference.
 */
#define _GNU_SOURCE
#include <libgen.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *yesno(int b)
{
    return b ? "yes" : "no";
}

static void read_comm(const char *path, char *out, size_t size)
{
    memset(out, 0, size);
    FILE *f = fopen(path, "r");
    if (f) {
        if (fgets(out, (int)size, f))
            out[strcspn(out, "\n")] = 0;
        fclose(f);
    }
}

static int named[2]; /* the main thread writes a byte once it has named the thread */

static void *named_thread(void *arg)
{
    (void)arg;
    char go;
    read(named[0], &go, 1);
    char name[32] = {0};
    pthread_getname_np(pthread_self(), name, sizeof name);
    printf("thread named by pthread_setname_np: %s\n", name);
    return NULL;
}

int main(int argc, char **argv)
{
    (void)argc;
    char expected[16] = {0}, name[32] = {0}, comm[32];
    strncpy(expected, basename(argv[0]), 15);
    prctl(PR_GET_NAME, name, 0, 0, 0);
    read_comm("/proc/self/comm", comm, sizeof comm);
    printf("PR_GET_NAME is the program's file name: %s, /proc/self/comm too: %s\n",
           yesno(strcmp(name, expected) == 0), yesno(strcmp(comm, expected) == 0));
    printf("PR_SET_NAME: %d\n", prctl(PR_SET_NAME, "renamed task", 0, 0, 0));
    prctl(PR_GET_NAME, name, 0, 0, 0);
    read_comm("/proc/self/comm", comm, sizeof comm);
    printf("PR_GET_NAME: %s, /proc/self/comm: %s\n", name, comm);

    printf("PR_SET_NAME of 26 bytes: %d", prctl(PR_SET_NAME, "a name longer than fifteen", 0, 0, 0));
    prctl(PR_GET_NAME, name, 0, 0, 0);
    printf(", kept: %s\n", name);

    pthread_t thread;
    pipe(named);
    pthread_create(&thread, NULL, named_thread, NULL);
    int renamed = pthread_setname_np(thread, "worker");
    write(named[1], "", 1);
    pthread_join(thread, NULL);
    printf("pthread_setname_np: %d\n", renamed);

    printf("PR_SET_PDEATHSIG SIGUSR1: %d", prctl(PR_SET_PDEATHSIG, SIGUSR1, 0, 0, 0));
    int signo = -1;
    prctl(PR_GET_PDEATHSIG, &signo, 0, 0, 0);
    printf(", PR_GET_PDEATHSIG is SIGUSR1: %s\n", yesno(signo == SIGUSR1));
    prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);

    /* (not the value before: a sandbox may have set it for every process) */
    int set = prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    printf("PR_SET_NO_NEW_PRIVS %d, PR_GET_NO_NEW_PRIVS then %d\n", set,
           prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
    printf("PR_GET_DUMPABLE: %d\n", prctl(PR_GET_DUMPABLE, 0, 0, 0, 0));

    printf("PR_SET_CHILD_SUBREAPER: %d", prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0));
    int subreaper = -1;
    prctl(PR_GET_CHILD_SUBREAPER, &subreaper, 0, 0, 0);
    printf(", PR_GET_CHILD_SUBREAPER %d\n", subreaper);
    int report[2];
    pipe(report);
    pid_t me = getpid();
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        if (fork() == 0) { /* the grandchild outlives its parent */
            usleep(100000);
            char adopted = getppid() == me ? 'y' : 'n';
            write(report[1], &adopted, 1);
            _exit(5);
        }
        _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    char adopted = '?';
    read(report[0], &adopted, 1);
    pid_t reaped = waitpid(-1, &status, 0);
    printf("orphaned grandchild adopted by us: %s, reaped: %s, its status %d\n",
           yesno(adopted == 'y'), yesno(reaped > 0), WEXITSTATUS(status));
    return 0;
}
