/* files: the file-system syscall surface, run inside a scratch directory.
 *
 * Usage: files DIR      (DIR must exist and be empty; the test passes a tmp dir)
 *
 * Exercises: mkdir/mkdirat, open/creat/openat (flag translation: O_CREAT,
 * O_EXCL, O_TRUNC, O_APPEND, O_DIRECTORY, O_CLOEXEC), write/read/pwrite/pread,
 * writev, lseek, fstat/stat/lstat/fstatat (only deterministic fields are
 * printed), getdents64 via readdir (names sorted before printing), rename,
 * renameat2(RENAME_NOREPLACE), link, symlink/readlink, chmod/fchmod,
 * ftruncate/truncate, access, dup/dup2/dup3, pipe/pipe2, fcntl
 * (F_GETFL/F_SETFL O_NONBLOCK, F_GETFD/F_SETFD FD_CLOEXEC, F_DUPFD),
 * chdir/fchdir/getcwd, unlink/unlinkat/rmdir, utimensat (fixed times and
 * UTIME_OMIT), a shared file mapping, and errno values: ENOENT, EEXIST,
 * ENOTEMPTY, EISDIR, ENOTDIR, EBADF, EAGAIN, EINVAL, EACCES (access X_OK).
 */
#define _GNU_SOURCE
/* 64-bit off_t/ino_t/d_off, as Debian builds everything: without it, the
 * 32-bit readdir() fails with EOVERFLOW on the 64-bit directory cookies
 * ext4 hands out under a 64-bit host kernel (qemu-user shows this). */
#define _FILE_OFFSET_BITS 64
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static const char *errname(int e)
{
    switch (e) {
#define E(x)                                                                                   \
    case x:                                                                                    \
        return #x;
        E(ENOENT) E(EEXIST) E(ENOTEMPTY) E(EISDIR) E(ENOTDIR) E(EBADF) E(EAGAIN) E(EINVAL)
        E(EACCES) E(EPERM) E(ENOSYS) E(EXDEV) E(ELOOP) E(ENAMETOOLONG) E(ESPIPE) E(ERANGE) E(EOVERFLOW)
#undef E
    default:
        return "E?";
    }
}

static int failures;

/* Report a call that is expected to succeed. */
#define OK(what, expr)                                                                         \
    do {                                                                                       \
        long _r = (long)(expr);                                                                \
        if (_r < 0) {                                                                          \
            printf("%s: FAILED %s (%s)\n", what, errname(errno), strerror(errno));             \
            failures++;                                                                        \
        }                                                                                      \
    } while (0)

/* Report a call that is expected to fail, with its errno name and message. */
static void expect_err(const char *what, long r)
{
    int e = errno;
    if (r >= 0)
        printf("%s: unexpectedly succeeded (%ld)\n", what, r);
    else
        printf("%s: %s (%s)\n", what, errname(e), strerror(e));
}

/* Print n bytes of buf as a C string literal (newlines escaped). */
static void print_quoted(const char *buf, ssize_t n)
{
    putchar('"');
    for (ssize_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (c == '\n')
            fputs("\\n", stdout);
        else if (c < 32 || c > 126)
            printf("\\x%02x", c);
        else
            putchar(c);
    }
    puts("\"");
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list_dir(const char *path)
{
    DIR *d = opendir(path);
    if (!d) {
        printf("opendir %s: %s\n", path, errname(errno));
        return;
    }
    char *names[64];
    int n = 0;
    struct dirent *de;
    errno = 0;
    while ((de = readdir(d)) != NULL && n < 64) {
        const char *t = de->d_type == DT_DIR   ? "dir"
                        : de->d_type == DT_REG ? "file"
                        : de->d_type == DT_LNK ? "link"
                        : de->d_type == DT_UNKNOWN ? "?"
                                                  : "other";
        char *s;
        if (asprintf(&s, "%s(%s)", de->d_name, t) < 0)
            exit(1);
        names[n++] = s;
    }
    if (errno)
        printf("readdir %s: %s\n", path, errname(errno));
    closedir(d);
    qsort(names, n, sizeof names[0], cmp_str);
    printf("readdir %s:", path);
    for (int i = 0; i < n; i++) {
        printf(" %s", names[i]);
        free(names[i]);
    }
    printf("\n");
}

static void print_stat(const char *label, const struct stat *st)
{
    const char *kind = S_ISREG(st->st_mode)   ? "reg"
                       : S_ISDIR(st->st_mode) ? "dir"
                       : S_ISLNK(st->st_mode) ? "lnk"
                       : S_ISFIFO(st->st_mode) ? "fifo"
                                               : "other";
    printf("%s: %s mode=%04o", label, kind, (unsigned)(st->st_mode & 07777));
    /* Directory sizes and link counts depend on the file system. */
    if (!S_ISDIR(st->st_mode))
        printf(" size=%lld nlink=%lu", (long long)st->st_size, (unsigned long)st->st_nlink);
    printf("\n");
}

static void stat_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0)
        printf("stat %s: %s\n", path, errname(errno));
    else
        print_stat(path, &st);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: files DIR\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    umask(022);
    char base[PATH_MAX];
    if (!realpath(argv[1], base)) {
        perror("realpath");
        return 2;
    }
    OK("chdir", chdir(base));

    /* --- directories -------------------------------------------------- */
    OK("mkdir d", mkdir("d", 0755));
    OK("mkdir d/sub", mkdir("d/sub", 0700));
    int dfd = open("d", O_RDONLY | O_DIRECTORY);
    OK("open d O_DIRECTORY", dfd);
    OK("mkdirat", mkdirat(dfd, "sub2", 0777));
    stat_path("d");
    stat_path("d/sub");
    stat_path("d/sub2");

    /* --- create / write / read ----------------------------------------- */
    int fd = open("d/a.txt", O_CREAT | O_EXCL | O_WRONLY, 0644);
    OK("open O_CREAT|O_EXCL", fd);
    printf("write: %zd\n", write(fd, "hello, file\n", 12));
    printf("write: %zd\n", write(fd, "second line\n", 12));
    printf("lseek SEEK_CUR: %lld\n", (long long)lseek(fd, 0, SEEK_CUR));
    printf("lseek SEEK_SET 7: %lld\n", (long long)lseek(fd, 7, SEEK_SET));
    printf("write at 7: %zd\n", write(fd, "FILE", 4));
    printf("lseek SEEK_END: %lld\n", (long long)lseek(fd, 0, SEEK_END));
    printf("pwrite at 100: %zd\n", pwrite(fd, "hole", 4, 100));
    printf("offset after pwrite: %lld\n", (long long)lseek(fd, 0, SEEK_CUR));
    struct stat st;
    OK("fstat", fstat(fd, &st));
    print_stat("fstat a.txt", &st);
    expect_err("read from O_WRONLY fd", read(fd, (char[4]){0}, 4));
    close(fd);
    expect_err("open O_CREAT|O_EXCL existing", open("d/a.txt", O_CREAT | O_EXCL | O_WRONLY, 0644));

    char buf[256];
    fd = open("d/a.txt", O_RDONLY);
    OK("open O_RDONLY", fd);
    ssize_t n = read(fd, buf, 24);
    printf("read %zd: ", n);
    print_quoted(buf, n);
    n = pread(fd, buf, 8, 100);
    printf("pread at 100: %zd \"%.*s\"\n", n, (int)n, buf);
    n = pread(fd, buf, 4, 30);
    printf("pread in hole: %zd zeros=%s\n", n, (n == 4 && !buf[0] && !buf[3]) ? "yes" : "no");
    printf("offset after pread: %lld\n", (long long)lseek(fd, 0, SEEK_CUR));
    n = read(fd, buf, sizeof buf);
    printf("read rest: %zd\n", n);
    printf("read at EOF: %zd\n", read(fd, buf, sizeof buf));
    expect_err("write to O_RDONLY fd", write(fd, "x", 1));
    close(fd);

    fd = creat("d/b.txt", 0600);
    OK("creat", fd);
    struct iovec iov[3] = {{"one ", 4}, {"two ", 4}, {"three\n", 6}};
    printf("writev: %zd\n", writev(fd, iov, 3));
    close(fd);
    fd = open("d/b.txt", O_WRONLY | O_APPEND);
    OK("open O_APPEND", fd);
    lseek(fd, 0, SEEK_SET);
    write(fd, "four\n", 5);
    close(fd);
    fd = open("d/b.txt", O_RDONLY);
    n = read(fd, buf, sizeof buf);
    printf("after O_APPEND: %zd ", n);
    print_quoted(buf, n);
    close(fd);
    fd = open("d/b.txt", O_WRONLY | O_TRUNC);
    close(fd);
    stat_path("d/b.txt");

    /* --- links, rename ------------------------------------------------- */
    OK("link", link("d/a.txt", "d/hard.txt"));
    stat_path("d/a.txt");
    struct stat s1, s2;
    stat("d/a.txt", &s1);
    stat("d/hard.txt", &s2);
    printf("hard link same inode: %s\n",
           (s1.st_ino == s2.st_ino && s1.st_dev == s2.st_dev) ? "yes" : "no");
    OK("symlink", symlink("a.txt", "d/sym"));
    n = readlink("d/sym", buf, sizeof buf);
    printf("readlink: %zd \"%.*s\"\n", n, (int)n, buf);
    OK("lstat", lstat("d/sym", &st));
    print_stat("lstat d/sym", &st);
    stat_path("d/sym");
    OK("fstatat nofollow", fstatat(dfd, "sym", &st, AT_SYMLINK_NOFOLLOW));
    print_stat("fstatat(d, sym, NOFOLLOW)", &st);
    expect_err("readlink of a regular file", readlink("d/a.txt", buf, sizeof buf));
    OK("symlink dangling", symlink("nowhere", "d/dangling"));
    expect_err("stat dangling symlink", stat("d/dangling", &st));

    OK("rename", rename("d/b.txt", "d/c.txt"));
    expect_err("stat old name after rename", stat("d/b.txt", &st));
    stat_path("d/c.txt");
#ifdef RENAME_NOREPLACE
    expect_err("renameat2 NOREPLACE onto an existing file",
               renameat2(AT_FDCWD, "d/c.txt", AT_FDCWD, "d/a.txt", RENAME_NOREPLACE));
#endif
    list_dir("d");

    /* --- modes, sizes, access ------------------------------------------ */
    OK("chmod", chmod("d/a.txt", 0640));
    stat_path("d/a.txt");
    fd = open("d/c.txt", O_RDWR);
    OK("fchmod", fchmod(fd, 0604));
    OK("ftruncate", ftruncate(fd, 10));
    fstat(fd, &st);
    print_stat("after fchmod+ftruncate c.txt", &st);
    close(fd);
    OK("truncate", truncate("d/c.txt", 3));
    stat_path("d/c.txt");
    printf("access F_OK: %d\n", access("d/c.txt", F_OK));
    printf("access R_OK: %d\n", access("d/c.txt", R_OK));
    /* No execute bit anywhere: fails even for root. */
    expect_err("access X_OK on 0604 file", access("d/c.txt", X_OK));
    expect_err("access missing", access("d/missing", F_OK));

    /* --- utimensat ------------------------------------------------------ */
    struct timespec ts[2] = {{1000000000, 0}, {1234567890, 0}};
    OK("utimensat", utimensat(AT_FDCWD, "d/c.txt", ts, 0));
    stat("d/c.txt", &st);
    printf("times: atime=%lld mtime=%lld\n", (long long)st.st_atim.tv_sec,
           (long long)st.st_mtim.tv_sec);
    struct timespec ts2[2] = {{0, UTIME_OMIT}, {1500000000, 0}};
    OK("utimensat omit", utimensat(AT_FDCWD, "d/c.txt", ts2, 0));
    stat("d/c.txt", &st);
    printf("times after UTIME_OMIT: atime=%lld mtime=%lld\n", (long long)st.st_atim.tv_sec,
           (long long)st.st_mtim.tv_sec);

    /* --- dup family, fcntl ---------------------------------------------- */
    fd = open("d/a.txt", O_RDONLY);
    int fd2 = dup(fd);
    printf("dup: new fd differs: %s\n", (fd2 >= 0 && fd2 != fd) ? "yes" : "no");
    lseek(fd, 5, SEEK_SET);
    printf("dup shares offset: %s\n", lseek(fd2, 0, SEEK_CUR) == 5 ? "yes" : "no");
    printf("dup2 -> 100: %d\n", dup2(fd, 100));
    printf("dup2 same fd: %d\n", dup2(100, 100));
    printf("dup3 -> 101 O_CLOEXEC: %d\n", dup3(fd, 101, O_CLOEXEC));
    printf("fd 100 FD_CLOEXEC: %d\n", fcntl(100, F_GETFD) & FD_CLOEXEC);
    printf("fd 101 FD_CLOEXEC: %d\n", fcntl(101, F_GETFD) & FD_CLOEXEC);
    expect_err("dup3 same fd", dup3(101, 101, 0));
    printf("F_SETFD FD_CLOEXEC: %d\n", fcntl(100, F_SETFD, FD_CLOEXEC));
    printf("fd 100 FD_CLOEXEC now: %d\n", fcntl(100, F_GETFD) & FD_CLOEXEC);
    int fd3 = fcntl(fd, F_DUPFD, 200);
    printf("F_DUPFD >= 200: %d\n", fd3);
    close(fd3);
    close(100);
    close(101);
    close(fd2);
    expect_err("read closed fd", read(101, buf, 1));
    expect_err("close closed fd", close(101));
    expect_err("lseek bad whence", lseek(fd, 0, 42));
    close(fd);

    /* --- pipes ----------------------------------------------------------- */
    int p[2];
    OK("pipe", pipe(p));
    printf("pipe write: %zd\n", write(p[1], "ping", 4));
    n = read(p[0], buf, sizeof buf);
    printf("pipe read: %zd \"%.*s\"\n", n, (int)n, buf);
    int fl = fcntl(p[0], F_GETFL);
    printf("pipe F_GETFL: accmode=%s nonblock=%d\n",
           (fl & O_ACCMODE) == O_RDONLY ? "O_RDONLY" : "other", !!(fl & O_NONBLOCK));
    OK("F_SETFL O_NONBLOCK", fcntl(p[0], F_SETFL, fl | O_NONBLOCK));
    fl = fcntl(p[0], F_GETFL);
    printf("pipe F_GETFL after: nonblock=%d\n", !!(fl & O_NONBLOCK));
    expect_err("read empty non-blocking pipe", read(p[0], buf, sizeof buf));
    expect_err("lseek on a pipe", lseek(p[0], 0, SEEK_SET));
    close(p[1]);
    printf("read after writer closed: %zd\n", read(p[0], buf, sizeof buf));
    close(p[0]);
    OK("pipe2", pipe2(p, O_CLOEXEC | O_NONBLOCK));
    printf("pipe2 cloexec=%d nonblock=%d\n", fcntl(p[0], F_GETFD) & FD_CLOEXEC,
           !!(fcntl(p[1], F_GETFL) & O_NONBLOCK));
    close(p[0]);
    close(p[1]);

    /* --- shared file mapping ------------------------------------------- */
    fd = open("d/map.bin", O_RDWR | O_CREAT | O_TRUNC, 0644);
    OK("ftruncate map.bin", ftruncate(fd, 8192));
    char *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        printf("mmap MAP_SHARED: FAILED %s\n", errname(errno));
        failures++;
    } else {
        memcpy(m + 4096, "mapped!", 7);
        OK("msync", msync(m, 8192, MS_SYNC));
        n = pread(fd, buf, 7, 4096);
        printf("write through MAP_SHARED seen by pread: \"%.*s\"\n", (int)n, buf);
        pwrite(fd, "PWRITE", 6, 10);
        printf("pwrite seen through mapping: \"%.6s\"\n", m + 10);
        munmap(m, 8192);
    }
    close(fd);

    /* --- cwd -------------------------------------------------------------- */
    OK("chdir d/sub", chdir("d/sub"));
    char cwd[PATH_MAX], want[PATH_MAX + 8];
    snprintf(want, sizeof want, "%s/d/sub", base);
    printf("getcwd after chdir is DIR/d/sub: %s\n",
           (getcwd(cwd, sizeof cwd) && strcmp(cwd, want) == 0) ? "yes" : "no");
    OK("fchdir", fchdir(dfd));
    snprintf(want, sizeof want, "%s/d", base);
    printf("getcwd after fchdir is DIR/d: %s\n",
           (getcwd(cwd, sizeof cwd) && strcmp(cwd, want) == 0) ? "yes" : "no");
    expect_err("getcwd with a tiny buffer", (long)(getcwd(cwd, 2) ? 0 : -1));
    OK("chdir back", chdir(base));

    /* --- errors ----------------------------------------------------------- */
    expect_err("open missing", open("d/missing.txt", O_RDONLY));
    expect_err("mkdir existing", mkdir("d", 0755));
    expect_err("rmdir non-empty", rmdir("d"));
    fd = open("d", O_RDONLY);
    expect_err("read a directory", read(fd, buf, sizeof buf));
    close(fd);
    expect_err("open a file as a directory", open("d/a.txt/x", O_RDONLY));
    expect_err("open O_DIRECTORY on a file", open("d/a.txt", O_RDONLY | O_DIRECTORY));
    expect_err("open a directory for writing", open("d", O_WRONLY));
    expect_err("unlink a directory", unlink("d/sub"));
    expect_err("rmdir a file", rmdir("d/a.txt"));

    /* --- removal ---------------------------------------------------------- */
    OK("unlink", unlink("d/hard.txt"));
    stat_path("d/a.txt");
    OK("unlinkat", unlinkat(dfd, "sym", 0));
    OK("unlinkat AT_REMOVEDIR", unlinkat(dfd, "sub2", AT_REMOVEDIR));
    OK("rmdir", rmdir("d/sub"));
    list_dir("d");
    const char *rest[] = {"d/a.txt", "d/c.txt", "d/dangling", "d/map.bin"};
    for (unsigned i = 0; i < sizeof rest / sizeof rest[0]; i++)
        OK(rest[i], unlink(rest[i]));
    close(dfd);
    OK("rmdir d", rmdir("d"));
    list_dir(".");

    printf("failures: %d\n", failures);
    return failures ? 1 : 0;
}
