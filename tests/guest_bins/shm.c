/* shm: SysV shared memory between a process and its child.
 *
 * shmget/shmat/shmdt/shmctl (IPC_STAT with the target's struct shmid_ds,
 * IPC_RMID); the child attaches the segment again at an address of its own,
 * reads what the parent wrote and answers through it.
 */
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *yesno(int b)
{
    return b ? "yes" : "no";
}

int main(void)
{
    int id = shmget(IPC_PRIVATE, 10000, IPC_CREAT | 0600);
    printf("shmget: %s\n", yesno(id >= 0));
    char *p = shmat(id, NULL, 0);
    printf("shmat: %s, page aligned: %s\n", yesno(p != (char *)-1),
           yesno(((unsigned long)p & 4095) == 0));
    strcpy(p, "from the parent");
    struct shmid_ds ds;
    memset(&ds, 0, sizeof ds);
    int stat_result = shmctl(id, IPC_STAT, &ds);
    printf("IPC_STAT: %d, size %zu, attached %lu, mode %o, creator is us: %s\n",
           stat_result, (size_t)ds.shm_segsz, (unsigned long)ds.shm_nattch,
           (unsigned)(ds.shm_perm.mode & 0777), yesno(ds.shm_cpid == getpid()));
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        char *q = shmat(id, NULL, SHM_RDONLY);
        char *w = shmat(id, NULL, 0);
        printf("child reads: %s, second attach elsewhere: %s\n", q, yesno(w != p || q != p));
        fflush(stdout);
        strcpy(w + 100, "answer from the child");
        shmdt(q);
        shmdt(w);
        _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    printf("parent reads: %s\n", p + 100);
    printf("shmdt: %d\n", shmdt(p));
    printf("shmdt again: %d\n", shmdt(p));
    printf("IPC_RMID: %d\n", shmctl(id, IPC_RMID, NULL));
    printf("shmat after IPC_RMID: %s\n", yesno(shmat(id, NULL, 0) == (void *)-1));
    return 0;
}
