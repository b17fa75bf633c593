/* sysvipc: SysV semaphore sets and message queues.
 *
 * semget/semop/semtimedop/semctl (SETALL, GETALL, SETVAL, GETVAL, GETPID,
 * IPC_STAT with the target's struct semid_ds, IPC_SET, IPC_INFO, IPC_RMID),
 * SEM_UNDO undone when a child exits, a semop woken by another process and
 * one waiting in a thread while the main thread goes on, and a waiting semop
 * ended by a signal with EINTR even under SA_RESTART (Linux never restarts
 * it).  msgget/msgsnd/msgrcv/msgctl: message types as C longs (4 bytes on
 * 32-bit targets, 8 on the host), selection by type (0, negative,
 * MSG_EXCEPT), E2BIG and MSG_NOERROR truncation, ENOMSG, a msgrcv woken by a
 * child's msgsnd and one ended by a signal, IPC_STAT/IPC_SET (msg_qbytes),
 * MSG_INFO.  Only properties are printed, never ids, pids or times.
 * i386 and MIPS o32 reach all of it through the ipc(2) multiplexer.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

union semun {
    int val;
    struct semid_ds *buf;
    unsigned short *array;
    struct seminfo *__buf;
};

static const char *yesno(int b)
{
    return b ? "yes" : "no";
}

static const char *result(long r)
{
    static char text[64];
    if (r == -1)
        snprintf(text, sizeof text, "-1 %s", strerrorname_np(errno));
    else
        snprintf(text, sizeof text, "%ld", r);
    return text;
}

static int recent(time_t t)
{
    time_t now = time(NULL);
    return t > now - 3600 && t <= now + 1;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void on_alarm(int sig)
{
    (void)sig;
}

/* SIGALRM with SA_RESTART every 50 ms (until alarm_off), so that one comes
 * while the next call waits however slowly it is reached: a restartable call
 * would go on waiting */
static void alarm_soon(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 50000}, {0, 50000}};
    setitimer(ITIMER_REAL, &it, NULL);
}

static void alarm_off(void)
{
    struct itimerval it = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &it, NULL);
}

static int semid;
static volatile int thread_done;

static void *thread_waits(void *arg)
{
    (void)arg;
    struct sembuf down = {2, -1, 0};
    long r = semop(semid, &down, 1);
    thread_done = 1;
    return (void *)r;
}

static void semaphores(void)
{
    semid = semget(IPC_PRIVATE, 3, IPC_CREAT | 0600);
    printf("semget: %s\n", yesno(semid >= 0));

    struct semid_ds ds;
    memset(&ds, 0, sizeof ds);
    printf("IPC_STAT: %s", result(semctl(semid, 0, IPC_STAT, (union semun){.buf = &ds})));
    printf(", nsems %lu, mode %o, never operated: %s, changed recently: %s\n",
           (unsigned long)ds.sem_nsems, (unsigned)(ds.sem_perm.mode & 0777),
           yesno(ds.sem_otime == 0), yesno(recent(ds.sem_ctime)));

    unsigned short set[3] = {1, 2, 3}, got[3] = {0, 0, 0};
    printf("SETALL: %s\n", result(semctl(semid, 0, SETALL, (union semun){.array = set})));
    printf("GETALL: %s", result(semctl(semid, 0, GETALL, (union semun){.array = got})));
    printf(" -> %u %u %u\n", got[0], got[1], got[2]);
    printf("SETVAL 0 to 5: %s\n", result(semctl(semid, 0, SETVAL, (union semun){.val = 5})));
    printf("GETVAL 0: %s\n", result(semctl(semid, 0, GETVAL)));

    struct sembuf take_two = {1, -2, IPC_NOWAIT};
    printf("semop -2 on 1: %s\n", result(semop(semid, &take_two, 1)));
    printf("again, IPC_NOWAIT: %s\n", result(semop(semid, &take_two, 1)));
    printf("GETPID is us: %s\n", yesno(semctl(semid, 1, GETPID) == getpid()));
    memset(&ds, 0, sizeof ds);
    semctl(semid, 0, IPC_STAT, (union semun){.buf = &ds});
    printf("operated recently: %s\n", yesno(recent(ds.sem_otime)));

    struct sembuf down = {1, -1, 0};
    struct timespec wait = {0, 50000000};
    double start = now_seconds();
    printf("semtimedop 50 ms: %s", result(semtimedop(semid, &down, 1, &wait)));
    printf(", waited: %s\n", yesno(now_seconds() - start >= 0.04));

    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        usleep(100000);
        struct sembuf up = {1, 1, 0};
        _exit(semop(semid, &up, 1) == 0 ? 0 : 1);
    }
    printf("semop woken by a child's semop: %s\n", result(semop(semid, &down, 1)));
    int status;
    waitpid(child, &status, 0);

    fflush(stdout);
    child = fork();
    if (child == 0) {
        struct sembuf up_undo = {0, 1, SEM_UNDO};
        semop(semid, &up_undo, 1);
        _exit(semctl(semid, 0, GETVAL) == 6 ? 0 : 1);
    }
    waitpid(child, &status, 0);
    printf("child saw 6: %s, SEM_UNDO undone at its exit: %s\n",
           yesno(WIFEXITED(status) && WEXITSTATUS(status) == 0),
           yesno(semctl(semid, 0, GETVAL) == 5));

    semctl(semid, 2, SETVAL, (union semun){.val = 0});
    pthread_t thread;
    pthread_create(&thread, NULL, thread_waits, NULL);
    usleep(100000);
    printf("main thread runs while a thread waits in semop: %s\n", yesno(!thread_done));
    struct sembuf up = {2, 1, 0};
    semop(semid, &up, 1);
    void *thread_result;
    pthread_join(thread, &thread_result);
    printf("the thread's semop: %ld\n", (long)thread_result);

    alarm_soon();
    long ended = semop(semid, &down, 1);
    alarm_off();
    printf("semop ended by a signal: %s\n", result(ended));

    memset(&ds, 0, sizeof ds);
    ds.sem_perm.uid = getuid();
    ds.sem_perm.gid = getgid();
    ds.sem_perm.mode = 0640;
    printf("IPC_SET mode 640: %s", result(semctl(semid, 0, IPC_SET, (union semun){.buf = &ds})));
    memset(&ds, 0, sizeof ds);
    semctl(semid, 0, IPC_STAT, (union semun){.buf = &ds});
    printf(", mode now %o\n", (unsigned)(ds.sem_perm.mode & 0777));

    struct seminfo info;
    memset(&info, 0, sizeof info);
    long highest = semctl(semid, 0, IPC_INFO, (union semun){.__buf = &info});
    printf("IPC_INFO: %s, semvmx %d, semmsl positive: %s\n", yesno(highest >= 0),
           info.semvmx, yesno(info.semmsl > 0));

    printf("IPC_RMID: %s\n", result(semctl(semid, 0, IPC_RMID)));
    printf("semop after IPC_RMID: %s\n", result(semop(semid, &up, 1)));
}

struct message {
    long mtype;
    char mtext[200];
};

static void send(int id, long type, const char *text)
{
    struct message m;
    m.mtype = type;
    strcpy(m.mtext, text);
    if (msgsnd(id, &m, strlen(text), 0) != 0)
        printf("msgsnd %ld: %s\n", type, result(-1));
}

static void receive(int id, const char *what, size_t size, long type, int flags)
{
    struct message m;
    memset(&m, 0, sizeof m);
    long got = msgrcv(id, &m, size, type, flags);
    printf("%s: %s", what, result(got));
    if (got >= 0)
        printf(" type %ld \"%.*s\"", m.mtype, (int)got, m.mtext);
    printf("\n");
}

static void messages(void)
{
    int id = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    printf("msgget: %s\n", yesno(id >= 0));
    send(id, 2, "two");
    send(id, 1, "one");
    send(id, 3, "three");

    struct msqid_ds ds;
    memset(&ds, 0, sizeof ds);
    printf("IPC_STAT: %s", result(msgctl(id, IPC_STAT, &ds)));
    printf(", %lu messages, %lu bytes, qbytes positive: %s, sender is us: %s, sent recently: %s\n",
           (unsigned long)ds.msg_qnum, (unsigned long)ds.__msg_cbytes, yesno(ds.msg_qbytes > 0),
           yesno(ds.msg_lspid == getpid()), yesno(recent(ds.msg_stime)));

    receive(id, "msgrcv type 0", 200, 0, 0);
    receive(id, "msgrcv type -2", 200, -2, 0);
    receive(id, "msgrcv 2 bytes", 2, 3, 0);
    receive(id, "msgrcv 2 bytes, MSG_NOERROR", 2, 3, MSG_NOERROR);
    receive(id, "msgrcv empty, IPC_NOWAIT", 200, 0, IPC_NOWAIT);

    send(id, 1, "first");
    send(id, 5, "fifth");
    receive(id, "msgrcv all but 1 (MSG_EXCEPT)", 200, 1, MSG_EXCEPT);
    receive(id, "msgrcv the rest", 200, 0, 0);
    send(id, 0x7fffffff, "widest type");
    receive(id, "msgrcv type 0x7fffffff", 200, 0x7fffffff, 0);

    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        usleep(100000);
        send(id, 7, "from the child");
        _exit(0);
    }
    receive(id, "msgrcv woken by a child's msgsnd", 200, 0, 0);
    int status;
    waitpid(child, &status, 0);

    alarm_soon();
    struct message m;
    long got = msgrcv(id, &m, sizeof m.mtext, 0, 0);
    alarm_off();
    printf("msgrcv ended by a signal: %s\n", result(got));

    msgctl(id, IPC_STAT, &ds);
    ds.msg_qbytes = 100;
    printf("IPC_SET qbytes 100: %s", result(msgctl(id, IPC_SET, &ds)));
    memset(&ds, 0, sizeof ds);
    msgctl(id, IPC_STAT, &ds);
    printf(", qbytes now %lu\n", (unsigned long)ds.msg_qbytes);
    struct message big;
    big.mtype = 1;
    memset(big.mtext, 'x', sizeof big.mtext);
    printf("msgsnd 150 bytes, IPC_NOWAIT: %s\n", result(msgsnd(id, &big, 150, IPC_NOWAIT)));

    struct msginfo info;
    memset(&info, 0, sizeof info);
    long highest = msgctl(id, MSG_INFO, (struct msqid_ds *)&info);
    printf("MSG_INFO: %s\n", yesno(highest >= 0));
    memset(&info, 0, sizeof info);
    highest = msgctl(id, IPC_INFO, (struct msqid_ds *)&info);
    printf("IPC_INFO: %s, msgmax positive: %s, msgmnb positive: %s\n", yesno(highest >= 0),
           yesno(info.msgmax > 0), yesno(info.msgmnb > 0));

    printf("IPC_RMID: %s\n", result(msgctl(id, IPC_RMID, NULL)));
    printf("msgsnd after IPC_RMID: %s\n", result(msgsnd(id, &big, 1, IPC_NOWAIT)));
}

int main(void)
{
    semaphores();
    messages();
    return 0;
}
