"""Every guest program in tests/guest_bins, run under pyuser-arm and compared
with qemu-arm-static (the reference), and with a literal where the output is
deterministic.  The literals are qemu-arm-static 7.2's output with
``-cpu cortex-a15``; the ones that can be worked out independently (formats,
dates, exit statuses, errno names, bigbss's sums) were checked that way.
"""

from __future__ import annotations

import functools
import os
import subprocess

import pytest
from conftest import build_guest_bins, host_child_env

HELLO = "Hello, world!\n"


def test_hello(guest_bins, assert_same_as_qemu):
    r = assert_same_as_qemu([guest_bins / "hello"], stdout=HELLO, returncode=0)
    assert r.stderr == ""


def test_hello_pie(guest_bins, assert_same_as_qemu):
    """ET_DYN without an interpreter, loaded at a base the loader picks."""
    assert_same_as_qemu([guest_bins / "hello-pie"], stdout=HELLO, returncode=0)


def test_hello_relative_path(guest_bins, assert_same_as_qemu):
    assert_same_as_qemu(["./hello"], cwd=guest_bins, stdout=HELLO)


def _args_expected(prog: str, extra: list[str], home: str) -> str:
    lines = [f"argc={len(extra) + 1}"]
    lines += [f'argv[{i}]="{a}"' for i, a in enumerate(extra, 1)]
    lines += [
        "argv[argc]==NULL: yes",
        "PYUSER_TEST_VAR=value with spaces = and equals",
        f"env HOME={home}",
        "AT_PAGESZ=4096",
        "AT_CLKTCK=100",
        "AT_RANDOM non-null: yes, 16 bytes not all zero: yes",
        "AT_PLATFORM=v7l",
        f"AT_EXECFN={prog}",
        "AT_EXECFN==argv[0]: yes",
        "AT_UID==getuid: yes",
        "AT_EUID==geteuid: yes",
        "AT_GID==getgid: yes",
        "AT_EGID==getegid: yes",
        "AT_SECURE=0",
        "AT_HWCAP vfp=yes vfpv3=yes neon=yes tls=yes",
        "AT_BASE=0",
        "AT_PHENT==sizeof(Phdr): yes",
        "AT_PHNUM in 1..64: yes",
        "AT_ENTRY==_start: yes",
        "AT_PHDR readable, has PT_LOAD: yes",
        "AT_ENTRY inside an executable PT_LOAD: yes",
        "AT_PHDR inside a PT_LOAD: yes",
    ]
    return "\n".join(lines) + "\n"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYUSER_")}
    env.update(extra)
    return env


@pytest.mark.parametrize("relative", [False, True], ids=["absolute", "relative"])
def test_args_env_auxv(guest_bins, assert_same_as_qemu, relative):
    prog = "./args" if relative else str(guest_bins / "args")
    extra = ["first", "two words", "", "ünïcödé", "--env", "HOME"]
    env = _env(PYUSER_TEST_VAR="value with spaces = and equals", HOME="/nonexistent/home")
    assert_same_as_qemu(
        [prog, *extra],
        cwd=guest_bins,
        env=env,
        stdout=_args_expected(prog, extra, "/nonexistent/home"),
    )


def test_args_unset_variable(guest_bins, assert_same_as_qemu):
    r = assert_same_as_qemu([guest_bins / "args"], env=_env())
    assert "PYUSER_TEST_VAR=(unset)\n" in r.stdout
    assert r.stdout.startswith("argc=1\n")


@pytest.mark.parametrize(
    ("args", "status", "out"),
    [
        (["0"], 0, "atexit handler ran\n"),
        (["3"], 3, "atexit handler ran\n"),
        (["255"], 255, "atexit handler ran\n"),
        (["256"], 0, "atexit handler ran\n"),
        (["-1"], 255, "atexit handler ran\n"),
        (["42", "return"], 42, "atexit handler ran\n"),
        (["7", "_exit"], 7, "calling _exit\n"),
        (["0", "_exit"], 0, "calling _exit\n"),
    ],
    ids=["0", "3", "255", "256", "minus1", "return42", "_exit7", "_exit0"],
)
def test_exitcode(guest_bins, assert_same_as_qemu, args, status, out):
    assert_same_as_qemu([guest_bins / "exitcode", *args], stdout=out, returncode=status)


def test_stdio_malloc(guest_bins, assert_same_as_qemu):
    assert_same_as_qemu([guest_bins / "stdio_malloc"], stdout=STDIO_MALLOC_OUT)


def test_files(guest_bins, assert_same_as_qemu, tmp_path):
    # The program leaves its directory empty again, so both runs share it.
    work = tmp_path / "work"
    work.mkdir()
    assert_same_as_qemu([guest_bins / "files", work], stdout=FILES_OUT)
    assert list(work.iterdir()) == []


def test_timecheck(guest_bins, assert_same_as_qemu):
    assert_same_as_qemu([guest_bins / "timecheck"], stdout=TIMECHECK_OUT)


def test_random(guest_bins, assert_same_as_qemu):
    assert_same_as_qemu([guest_bins / "random"], stdout=RANDOM_OUT)


def test_vfp_neon(guest_bins, assert_same_as_qemu):
    assert_same_as_qemu([guest_bins / "vfp"], stdout=VFP_OUT)


def test_uname(guest_bins, assert_same_as_qemu):
    assert_same_as_qemu(
        [guest_bins / "uname"],
        stdout="armv7l\nLinux\nnodename matches gethostname: yes\nrelease non-empty: yes\n",
    )


def test_bigbss(guest_bins, assert_same_as_qemu):
    assert_same_as_qemu([guest_bins / "bigbss"], stdout=BIGBSS_OUT)


def test_mmap(guest_bins, assert_same_as_qemu):
    assert_same_as_qemu([guest_bins / "mmap"], stdout=MMAP_OUT)


def test_procinfo(guest_bins, assert_same_as_qemu):
    # stdin is /dev/null (the helpers' default): isatty(0) is 0 with ENOTTY.
    assert_same_as_qemu([guest_bins / "procinfo"], stdout=PROCINFO_OUT,
                        env=host_child_env())


FAULTS = [
    ("segv", 11, "Segmentation fault"),
    ("ill", 4, "Illegal instruction"),
    ("abort", 6, "Aborted"),
    ("lowsp", 11, "Segmentation fault"),  # no room for a signal frame (was a traceback)
]


@pytest.mark.parametrize(("kind", "signo", "name"), FAULTS, ids=[f[0] for f in FAULTS])
def test_fault(guest_bins, assert_same_as_qemu, run_qemu, tmp_path, kind, signo, name):
    """An uncaught fault: the emulator reports it and dies by the same signal.

    Runs in a scratch directory in case a core file is written."""
    prog = [guest_bins / "fault", kind]
    ref = run_qemu(prog, cwd=tmp_path)
    assert ref.stderr == f"qemu: uncaught target signal {signo} ({name}) - core dumped\n"
    assert_same_as_qemu(
        prog,
        cwd=tmp_path,
        stdout=f"about to {kind}\n",
        returncode=-signo,
        stderr=f"pyuser: uncaught target signal {signo} ({name}) - core dumped\n",
    )


@pytest.mark.parametrize("emulator", ["qemu", "pyuser"])
def test_fault_status_in_a_shell(guest_bins, tmp_path, emulator_command, emulator):
    """From a shell, death by SIGSEGV shows as status 128 + 11 = 139."""
    cmd = [*emulator_command(emulator), str(guest_bins / "fault"), "segv"]
    r = subprocess.run(
        ["sh", "-c", '"$@" 2>/dev/null; echo "status=$?"', "sh", *cmd],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        timeout=300,
    )
    assert r.stdout == "about to segv\nstatus=139\n"


# --------------------------------------------------------------------------
# Literal outputs (qemu-arm-static -cpu cortex-a15)
# --------------------------------------------------------------------------

STDIO_MALLOC_OUT = """\
int: [42] [-42] [   42] [42   ] [00042] [+42] [ 42]
unsigned: [3000000000] [beef] [BEEF] [0xff] [10] [010]
long long: [-1234567890123] [18446744073709551615] [123456789abcdef]
char/str: [A] [str] [     right] [left      ] [tru] [  star]
double: [3.141593] [3.14] [    3.1416] [3.1       ] [6.022141e+23] [6.022141E+23] [1.500e-07]
g: [3.14159] [6.02214e+23] [1.5e-07] [1E-10] [3.141592654]
float promoted: [2.500000] [7.5]
special: [inf] [-inf] [nan] [0] [2] [2]
negative zero: [-0.000000] [-0]
pointer null: [(nil)] percent: [%]
hex float: [0x1p+0] [0x1.999999999999ap-4]
snprintf: ret=20 buf="abcdefgh-123456"
snprintf(NULL,0): ret=8
heap: 200 blocks, checksum 14683486
64 MiB block: first=0 last=0xee page-sum=2088960
grown to 80 MiB: data kept: yes
calloc round 0 zeroed: yes
calloc round 1 zeroed: yes
calloc round 2 zeroed: yes
calloc 8 MiB zeroed: yes
qsort 20000 ints: sorted=yes min=-499964 max=499960 weighted=133132528774192
done
"""

TIMECHECK_OUT = """\
ok clock_gettime(CLOCK_REALTIME)
ok gettimeofday
ok CLOCK_REALTIME is after 2020
ok tv_nsec in range
ok time() within 3 s of CLOCK_REALTIME
ok gettimeofday within 3 s of CLOCK_REALTIME
ok tv_usec in range
ok clock_gettime(CLOCK_MONOTONIC)
ok CLOCK_MONOTONIC never goes backwards (1000 reads)
ok clock_gettime(CLOCK_BOOTTIME)
ok clock_gettime(CLOCK_PROCESS_CPUTIME_ID)
ok clock_getres(CLOCK_MONOTONIC)
ok resolution in (0, 10 ms]
ok clock_getres(CLOCK_REALTIME)
ok nanosleep(50 ms) returns 0
ok nanosleep(50 ms) sleeps at least 50 ms
ok nanosleep(50 ms) sleeps less than 5 s
ok clock_nanosleep(20 ms)
ok clock_nanosleep(TIMER_ABSTIME)
ok clock_settime(CLOCK_MONOTONIC): EINVAL
ok clock_settime(tv_nsec 2e9): EINVAL
ok clock_settime(bad pointer): EFAULT
ok settimeofday(tv_usec 2e6): EINVAL
ok clock_settime, settimeofday without the privilege: EPERM
localtime(1700000000) = 2023-11-14 22:13:20 UTC Tue Nov 318
gmtime(1700000000) %c = Tue Nov 14 22:13:20 2023
mktime(2000-02-29 12:00:00 UTC) = 951825600
gmtime(2^31-1) = 2038-01-19 03:14:07
all ok
"""

VFP_OUT = """\
double: a+b=-0.750000 a-b=3.750000 a*b=-3.375000 c/a=6.666666666666667
double: sqrt(2)=1.414213562373095 bits=3ff6a09e667f3bcd
double: fma(1/3,3,-1)=-5.5511151231257827e-17
double: 0.1+0.2=0.30000000000000004 bits=3fd3333333333334
libm: sin(1)=0.841470984808 cos(1)=0.540302305868 tan(0.5)=0.546302489844
libm: exp(1)=2.718281828459 log(10)=2.302585092994 log2(1024)=10.000000 pow(2,0.5)=1.414213562373
libm: atan2(1,-1)=2.356194490192 hypot(3,4)=5.000000 cbrt(27)=3.000000
libm: floor(-2.25)=-3.0 ceil(-2.25)=-2.0 round(2.5)=3.0 trunc(-2.25)=-2.0 rint(2.5)=2.0
special: 1/0=inf -1/0=-inf 0/0 is nan: 1 sqrt(-1) is nan: 1
denormal: 1e-310 fpclassify subnormal: 1 bits=000012688b70e62b
tiny*tiny=0 huge*huge=inf
float: a+b=-0.750000 a*b=-3.375000 c/3=3.33333325 bits=40555555
float: sqrtf(10)=3.162278 sinf(1.5)=0.997495 expf(-2.25)=0.1053992
float: fmaf=12.75
conv: (int)-7.9=-7 (int)7.9=7 (unsigned)3e9=3000000000
conv: (double)-123456789=-123456789.0 (double)4000000000=4000000000.0 (double)-9007199254740993=-9007199254740992.0 (float)-123456789=-123456792.0
conv: lrint(2.5)=2 lrint(3.5)=4 llround(-2.5)=-3
vcvt saturation: s32(3e9)=2147483647 s32(-3e9)=-2147483648 s32(1e20)=2147483647 u32(-3e9)=0
round nearest   : 10/3=400aaaaaaaaaaaab -10/3=c00aaaaaaaaaaaab 10f/3=40555555 rint(2.5)=2.0
round upward    : 10/3=400aaaaaaaaaaaab -10/3=c00aaaaaaaaaaaaa 10f/3=40555556 rint(2.5)=3.0
round downward  : 10/3=400aaaaaaaaaaaaa -10/3=c00aaaaaaaaaaaab 10f/3=40555555 rint(2.5)=2.0
round towardzero: 10/3=400aaaaaaaaaaaaa -10/3=c00aaaaaaaaaaaaa 10f/3=40555555 rint(2.5)=2.0
FE_DIVBYZERO raised: 1
neon vaddq_f32: 1.5 3 -1 3.25
neon vmulq_f32: 0.5 1.25 -6 -4.25
neon vmlaq_f32: 1.25 2.75 1 5.25
neon vmulq_s32: 7 -14 2100000000 -120000
neon vaddq_s32: 8 5 100000 -39997
neon vqmovn_s32: 7 -14 32767 -32768
neon vrev64q_u8: 122 105 88 71 54 37 20 3 2 241 224 207 190 173 156 139
neon vqaddq_u8: 103 120 137 154 171 188 205 222 239 255 255 255 255 255 255 102
neon vpaddlq_u8: 23 91 159 227 295 363 431 243
neon vaddvq (horizontal sum of vaddq_s32): 60016
"""

BIGBSS_OUT = """\
bss size: 16777216 bytes
non-zero words at start: 0
data: 1 2 3 4
sum: 9007198346674176 xor: 3db77880
first: 00000000 last: ce08864f
"""

MMAP_OUT = """\
page size: 4096
mmap anon: yes, page aligned: yes
fresh anonymous memory is zero: yes
munmap middle page: 0
MAP_FIXED into the hole lands there: yes, zeroed: yes, neighbours kept: yes
mprotect read-only: 0
read after mprotect: 0xab
mprotect back to rw: 0
write after mprotect rw: 0x11
madvise DONTNEED: 0
page after DONTNEED is zero: yes
mremap grow: yes, data kept: yes
grown part is zero: yes
mremap shrink in place: yes
munmap: 0
window in PROT_NONE reservation: yes 1 2
mmap length 0: yes EINVAL: yes
mmap bad fd: yes EBADF: yes
munmap unaligned: -1 EINVAL: yes
sbrk grow: yes
sbrk memory usable: yes
sbrk(0) after grow: +1048576
sbrk shrink back: yes
mincore: 0, touched pages resident: yes
mincore over an unmapped page: -1 ENOMEM
mincore unaligned: -1 EINVAL
mincore into a bad vector: -1 EFAULT
"""

FILES_OUT = """\
d: dir mode=0755
d/sub: dir mode=0700
d/sub2: dir mode=0755
write: 12
write: 12
lseek SEEK_CUR: 24
lseek SEEK_SET 7: 7
write at 7: 4
lseek SEEK_END: 24
pwrite at 100: 4
offset after pwrite: 24
fstat a.txt: reg mode=0644 size=104 nlink=1
read from O_WRONLY fd: EBADF (Bad file descriptor)
open O_CREAT|O_EXCL existing: EEXIST (File exists)
read 24: "hello, FILE\\nsecond line\\n"
pread at 100: 4 "hole"
pread in hole: 4 zeros=yes
offset after pread: 24
read rest: 80
read at EOF: 0
write to O_RDONLY fd: EBADF (Bad file descriptor)
writev: 14
after O_APPEND: 19 "one two three\\nfour\\n"
d/b.txt: reg mode=0600 size=0 nlink=1
d/a.txt: reg mode=0644 size=104 nlink=2
hard link same inode: yes
readlink: 5 "a.txt"
lstat d/sym: lnk mode=0777 size=5 nlink=1
d/sym: reg mode=0644 size=104 nlink=2
fstatat(d, sym, NOFOLLOW): lnk mode=0777 size=5 nlink=1
readlink of a regular file: EINVAL (Invalid argument)
stat dangling symlink: ENOENT (No such file or directory)
stat old name after rename: ENOENT (No such file or directory)
d/c.txt: reg mode=0600 size=0 nlink=1
renameat2 NOREPLACE onto an existing file: EEXIST (File exists)
readdir d: .(dir) ..(dir) a.txt(file) c.txt(file) dangling(link) hard.txt(file) sub(dir) sub2(dir) sym(link)
d/a.txt: reg mode=0640 size=104 nlink=2
after fchmod+ftruncate c.txt: reg mode=0604 size=10 nlink=1
d/c.txt: reg mode=0604 size=3 nlink=1
access F_OK: 0
access R_OK: 0
access X_OK on 0604 file: EACCES (Permission denied)
access missing: ENOENT (No such file or directory)
times: atime=1000000000 mtime=1234567890
times after UTIME_OMIT: atime=1000000000 mtime=1500000000
dup: new fd differs: yes
dup shares offset: yes
dup2 -> 100: 100
dup2 same fd: 100
dup3 -> 101 O_CLOEXEC: 101
fd 100 FD_CLOEXEC: 0
fd 101 FD_CLOEXEC: 1
dup3 same fd: EINVAL (Invalid argument)
F_SETFD FD_CLOEXEC: 0
fd 100 FD_CLOEXEC now: 1
F_DUPFD >= 200: 200
read closed fd: EBADF (Bad file descriptor)
close closed fd: EBADF (Bad file descriptor)
lseek bad whence: EINVAL (Invalid argument)
pipe write: 4
pipe read: 4 "ping"
pipe F_GETFL: accmode=O_RDONLY nonblock=0
pipe F_GETFL after: nonblock=1
read empty non-blocking pipe: EAGAIN (Resource temporarily unavailable)
lseek on a pipe: ESPIPE (Illegal seek)
read after writer closed: 0
pipe2 cloexec=1 nonblock=1
write through MAP_SHARED seen by pread: "mapped!"
pwrite seen through mapping: "PWRITE"
getcwd after chdir is DIR/d/sub: yes
getcwd after fchdir is DIR/d: yes
getcwd with a tiny buffer: ERANGE (Numerical result out of range)
open missing: ENOENT (No such file or directory)
mkdir existing: EEXIST (File exists)
rmdir non-empty: ENOTEMPTY (Directory not empty)
read a directory: EISDIR (Is a directory)
open a file as a directory: ENOTDIR (Not a directory)
open O_DIRECTORY on a file: ENOTDIR (Not a directory)
open a directory for writing: EISDIR (Is a directory)
unlink a directory: EISDIR (Is a directory)
rmdir a file: ENOTDIR (Not a directory)
d/a.txt: reg mode=0640 size=104 nlink=1
readdir d: .(dir) ..(dir) a.txt(file) c.txt(file) dangling(link) map.bin(file)
readdir .: .(dir) ..(dir)
failures: 0
"""

PROCINFO_OUT = """\
getpid stable: yes
getpid == syscall(SYS_getpid): yes
gettid == getpid (single thread): yes
getppid as a host child sees it: yes
getppid == syscall(SYS_getppid): yes
getpgrp == getpgid(0): yes
getsid(0) as a host child sees it: yes
getuid == geteuid: yes
getgid == getegid: yes
getuid == syscall(SYS_getuid32): yes
umask returns previous: yes
sysinfo: 0 uptime>0: yes totalram>0: yes mem_unit>0: yes
getrlimit(RLIMIT_STACK): 0 cur>0: yes
getrlimit(RLIMIT_NOFILE): 0 cur>=3: yes cur<=max: yes
prlimit64(RLIMIT_AS): 0
setrlimit(RLIMIT_NOFILE, 16): 0, dup then stops below 16 with EMFILE: yes
vfork under that limit: child's exit status 7
prlimit64 of pid -1: -1 ESRCH
sched_yield: 0
sched_getaffinity: 0, at least one cpu: yes
sched_getaffinity(-1): -1 ESRCH
sched_getaffinity into 1 byte: -1 EINVAL
sched_setaffinity to one cpu: 0, reads back: yes, sched_getcpu there: yes
sched_setaffinity to no cpu: -1 EINVAL
getrusage: 0
gethostname: 0
isatty(0): 0 errno=ENOTTY
stdin is a character device: yes
sigaction round trip: yes
sigprocmask round trip: yes
kuser helper version >= 2: yes
writev: three pieces
writev returned 21
"""

RANDOM_OUT = """\
getrandom: 16
getrandom(GRND_NONBLOCK): 16
two draws differ: yes
getrandom not all zero: yes
open /dev/urandom: ok
read /dev/urandom: 32
urandom not all zero: yes
AT_RANDOM not all zero: yes
"""


SOCKETS_OUT = """\
socket: yes
setsockopt SO_REUSEADDR: 0
getsockopt SO_REUSEADDR: 1 (length 4)
SO_TYPE is SOCK_STREAM: yes
bind: 0
listen: 0
getsockname: family AF_INET yes, length 16, port set yes, 127.0.0.1 yes
connect: 0
accept: yes, peer family AF_INET yes
TCP_NODELAY: yes
send: 4
recv: 4 ping
getpeername is the server: yes
sendto: 8
recvfrom: 8 datagram, from AF_INET yes
SO_TYPE is SOCK_DGRAM: yes
SO_RCVTIMEO: 0
SO_RCVTIMEO back: 0 s 200000 us, length is sizeof(struct timeval): yes
recv with nothing to read: -1 EAGAIN
connect to a closed port: -1 ECONNREFUSED
"""


def test_sockets(guest_bins, assert_same_as_qemu):
    assert_same_as_qemu([guest_bins / "sockets"], stdout=SOCKETS_OUT)


NETIF_OUT = """\
if_nametoindex(lo) > 0: yes, if_indextoname gives lo: yes
SIOCGIFINDEX: 0, same index: yes
SIOCGIFNAME: 0, lo
SIOCGIFFLAGS: 0, IFF_LOOPBACK: yes, IFF_UP: yes
SIOCGIFMTU: 0, at least 1280: yes
SIOCGIFADDR: 0, family AF_INET: yes, 127.0.0.1
SIOCGIFNETMASK: 0, 255.0.0.0
SIOCGIFHWADDR: 0, family ARPHRD_LOOPBACK: yes
SIOCGIFCONF without a buffer: 0, whole ifreqs: yes
SIOCGIFCONF: 0, as long: yes, lo 127.0.0.1 in it: yes
SIOCGIFCONF with room for one: 0, one returned: yes
SIOCGIFINDEX of no such interface: -1 ENODEV
SIOCGIFNAME of no such index: -1 ENODEV
"""


def test_network_interface_ioctls(guest_bins, assert_same_as_qemu):
    assert_same_as_qemu([guest_bins / "netif"], stdout=NETIF_OUT)


TTY_OUT = """\
isatty(0): 1
default: ICANON yes ECHO yes ISIG yes IEXTEN yes TOSTOP no ICRNL yes OPOST yes CREAD yes
default: VINTR 3 VEOF 4 VERASE 127 VMIN 1 VTIME 0 VSUSP 26
CS8: yes
tcsetattr raw: 0
raw: ICANON no ECHO no ISIG no IEXTEN no TOSTOP yes OPOST no VMIN 5 VTIME 7
restore: 0
restored: ICANON yes VMIN 1 VINTR 3
TIOCSWINSZ: 0
TIOCGWINSZ: 0 rows 33 cols 101
"""


def test_tty(guest_bins, assert_same_as_qemu, pty_stdin):
    assert_same_as_qemu([guest_bins / "tty"], stdout=TTY_OUT, stdin=pty_stdin)


PTY_OUT = """\
posix_openpt: yes
locked before unlockpt: 1
grantpt: 0, unlockpt: 0
locked after: 0
ptsname under /dev/pts/: yes
TIOCGPTN matches ptsname: yes
slave by name: yes, by TIOCGPTPEER: yes, close-on-exec: yes, isatty: 1
slave wrote out\\n, master read 5 bytes, ends with \\r\\n: yes
master wrote in\\n, slave read 3 bytes
TIOCPKT: 0, TIOCGPKT 1
packet read: 2 bytes, status byte 0, data p
TIOCEXCL: 0, TIOCGEXCL 1
TIOCNXCL: 0, TIOCGEXCL 0
TIOCGETD is N_TTY: yes
"""


def test_pseudo_terminal_pair(guest_bins, run_pyuser, pty_stdin):
    # pty_stdin: only to skip, naming the capability, where no pty can be opened.
    # qemu-user 7.2 lacks TIOCGPTLCK/TIOCGPKT/TIOCGEXCL: Linux's output is the literal
    got = run_pyuser([guest_bins / "pty"])
    assert (got.stdout, got.returncode) == (PTY_OUT, 0), got.stderr


MSG_OUT = """\
sendmsg gathered: 10
recvmsg scattered: 10 [abc] [defghij] flags 0
sendmsg SCM_RIGHTS: 1
recvmsg: 1 byte F, controllen is CMSG_SPACE(int): yes, SCM_RIGHTS: yes, new fd: yes
pipe got: via the passed fd
SCM_CREDENTIALS: yes, pid is ours: yes, uid is ours: yes
datagram into 4 bytes: 4, MSG_TRUNC: yes
fd into a 4-byte control buffer: 1, MSG_CTRUNC: yes
sendmmsg: 3
recvmmsg MSG_WAITFORONE: 3, lengths 3 5 7
"""


def test_sendmsg_recvmsg(guest_bins, assert_same_as_qemu):
    assert_same_as_qemu([guest_bins / "msg"], stdout=MSG_OUT)


PSHARED_OUT = """\
child: semaphore posted by the parent
child: condition signalled, value 42
parent: child done yes, exit status 0
"""


def test_futexes_shared_between_processes(guest_bins, assert_same_as_qemu):
    assert_same_as_qemu([guest_bins / "pshared"], stdout=PSHARED_OUT)


LOCKS_OUT = """\
child locked: yes
F_GETLK: 0, F_WRLCK yes, owner is the child yes, start 0 len 10
F_GETLK64: 0, F_WRLCK yes
F_SETLK while held: -1 EAGAIN/EACCES
F_SETLKW after the child: 0
own lock is no conflict: yes
lockf F_TLOCK: 0
"""


def test_record_locks_between_processes(guest_bins, assert_same_as_qemu):
    assert_same_as_qemu([guest_bins / "locks"], stdout=LOCKS_OUT)


FDKINDS_OUT = """\
timerfd_settime: 0
timerfd read: 8, expirations 2..10: yes
timerfd_gettime interval 10 ms: yes, FD_CLOEXEC: yes
inotify_add_watch: yes, nonblocking: yes
inotify event: yes, wd matches yes, IN_CREATE yes, name new-file
no more events: -1 EAGAIN
inotify_rm_watch: 0
utimes: 0
mtime: 1200000000, atime: 1000000000
pwritev2: 7
preadv2 at 1: 6 [bc] [defg]
readahead: 0
memfd: size 9, named memfd:pyuser-test: yes
vmsplice: 8
tee: 8
splice into the memfd at 3: 8, offset now 11
memfd now: in vmsplice
the tee'd copy: vmsplice
splice out of the memfd at 5: 4, offset now 9
through the pipe: spli
splice from an empty pipe, nonblocking: -1 EAGAIN
sync_file_range: 0
sync_file_range of a pipe: -1 ESPIPE
pidfd_open: yes
pidfd_send_signal SIGTERM: 0
child killed by SIGTERM: yes
sched_getscheduler: SCHED_OTHER
sched_getparam priority: 0
SCHED_FIFO priorities: 1..99
ioprio_get: yes, ioprio_set best-effort 7: 0, reads back: yes
ioprio_get of no such pid: -1 ESRCH
"""


def test_timerfd_inotify_memfd_pidfd(guest_bins, assert_same_as_qemu):
    assert_same_as_qemu([guest_bins / "fdkinds"], stdout=FDKINDS_OUT)


SHM_OUT = """\
shmget: yes
shmat: yes, page aligned: yes
IPC_STAT: 0, size 10000, attached 1, mode 600, creator is us: yes
child reads: from the parent, second attach elsewhere: yes
parent reads: answer from the child
shmdt: 0
shmdt again: -1
IPC_RMID: 0
shmat after IPC_RMID: yes
"""


def test_sysv_shared_memory(guest_bins, assert_same_as_qemu):
    assert_same_as_qemu([guest_bins / "shm"], stdout=SHM_OUT)


SYSVIPC_OUT = """\
semget: yes
IPC_STAT: 0, nsems 3, mode 600, never operated: yes, changed recently: yes
SETALL: 0
GETALL: 0 -> 1 2 3
SETVAL 0 to 5: 0
GETVAL 0: 5
semop -2 on 1: 0
again, IPC_NOWAIT: -1 EAGAIN
GETPID is us: yes
operated recently: yes
semtimedop 50 ms: -1 EAGAIN, waited: yes
semop woken by a child's semop: 0
child saw 6: yes, SEM_UNDO undone at its exit: yes
main thread runs while a thread waits in semop: yes
the thread's semop: 0
semop ended by a signal: -1 EINTR
IPC_SET mode 640: 0, mode now 640
IPC_INFO: yes, semvmx 32767, semmsl positive: yes
IPC_RMID: 0
semop after IPC_RMID: -1 EINVAL
msgget: yes
IPC_STAT: 0, 3 messages, 11 bytes, qbytes positive: yes, sender is us: yes, sent recently: yes
msgrcv type 0: 3 type 2 "two"
msgrcv type -2: 3 type 1 "one"
msgrcv 2 bytes: -1 E2BIG
msgrcv 2 bytes, MSG_NOERROR: 2 type 3 "th"
msgrcv empty, IPC_NOWAIT: -1 ENOMSG
msgrcv all but 1 (MSG_EXCEPT): 5 type 5 "fifth"
msgrcv the rest: 5 type 1 "first"
msgrcv type 0x7fffffff: 11 type 2147483647 "widest type"
msgrcv woken by a child's msgsnd: 14 type 7 "from the child"
msgrcv ended by a signal: -1 EINTR
IPC_SET qbytes 100: 0, qbytes now 100
msgsnd 150 bytes, IPC_NOWAIT: -1 EAGAIN
MSG_INFO: yes
IPC_INFO: yes, msgmax positive: yes, msgmnb positive: yes
IPC_RMID: 0
msgsnd after IPC_RMID: -1 EINVAL
"""


def test_sysv_semaphores_and_message_queues(guest_bins, assert_same_as_qemu):
    assert_same_as_qemu([guest_bins / "sysvipc"], stdout=SYSVIPC_OUT)


TIME64_OUT = """\
futex wait 1 ms: -1 ETIMEDOUT
clock_nanosleep 1 ms: 0
ppoll 1 ms: 0
utimensat: 0, mtime 1000000000.500000000, atime 1000000000.250000000
timerfd_settime: 0, armed for 99..100.5 s: yes
recvmmsg, 1 ns timeout: 1, length 1, left 0.000000000
recvmmsg, 5 s timeout: 2, lengths 2 3, left between 4 and 5 s: yes
recvmmsg, nothing queued: -1 EAGAIN, timeout untouched: yes
SO_TIMESTAMP: setsockopt 0, recvmsg 1, SCM_TIMESTAMP of CMSG_LEN(sizeof (struct timeval)): yes, recent: yes
SO_TIMESTAMPNS: setsockopt 0, recvmsg 1, SCM_TIMESTAMPNS of CMSG_LEN(sizeof (struct timespec)): yes, recent: yes
clock_settime(CLOCK_MONOTONIC, bad pointer): -1 EINVAL
"""


def test_time64_timespecs_and_recvmmsg_timeout(guest_bins, run_pyuser):
    # qemu-user 7.2 ignores recvmmsg's timeout and lacks SO_TIMESTAMPNS: Linux's
    # output is the literal
    got = run_pyuser([guest_bins / "time64"])
    assert (got.stdout, got.returncode) == (TIME64_OUT, 0), got.stderr


PRCTL_OUT = """\
PR_GET_NAME is the program's file name: yes, /proc/self/comm too: yes
PR_SET_NAME: 0
PR_GET_NAME: renamed task, /proc/self/comm: renamed task
PR_SET_NAME of 26 bytes: 0, kept: a name longer t
thread named by pthread_setname_np: worker
pthread_setname_np: 0
PR_SET_PDEATHSIG SIGUSR1: 0, PR_GET_PDEATHSIG is SIGUSR1: yes
PR_SET_NO_NEW_PRIVS 0, PR_GET_NO_NEW_PRIVS then 1
PR_GET_DUMPABLE: 1
PR_SET_CHILD_SUBREAPER: 0, PR_GET_CHILD_SUBREAPER 1
orphaned grandchild adopted by us: yes, reaped: yes, its status 5
"""


def test_prctl_task_names_and_subreaper(guest_bins, run_pyuser):
    # qemu-user 7.2 lacks the subreaper calls and leaves its own task name:
    # Linux's output is the literal
    got = run_pyuser([guest_bins / "prctl"])
    assert (got.stdout, got.returncode) == (PRCTL_OUT, 0), got.stderr


@pytest.mark.parametrize("closed", [1, 2])
def test_started_with_a_standard_descriptor_closed(guest_bins, run_pyuser, run_qemu, closed):
    """A subprocess child may start without descriptor 1 or 2: the guest finds it
    closed, and the emulator, whose own messages then have nowhere to go, runs
    on (it exited 1 when Python had no sys.stderr).  stdfds reports on 1, or
    on 2 when 1 is closed."""
    expected = "".join(f"fd {fd} {'closed (EBADF)' if fd == closed else 'open'}\n"
                       for fd in range(3))
    for run in (run_qemu, run_pyuser):
        r = run([guest_bins / "stdfds"], preexec_fn=lambda: os.close(closed))
        report = r.stdout if closed == 2 else r.stderr
        assert (report, r.returncode) == (expected, 0), (run.__name__, r.stdout, r.stderr)


MQUEUE_OUT = """\
mq_open: yes
mq_getattr: maxmsg 4, msgsize 64, curmsgs 0, flags 0
mq_send one/1: 0
mq_send five/5: 0
mq_send three/3: 0
curmsgs 3
mq_receive: 4 "five" priority 5
mq_receive: 5 "three" priority 3
mq_receive: 3 "one" priority 1
mq_receive into 10 bytes: -1 EMSGSIZE
mq_timedreceive on an empty queue: -1 ETIMEDOUT
mq_timedsend with tv_nsec 2e9: -1 EINVAL
mq_setattr O_NONBLOCK: 0, flags before 0, now O_NONBLOCK: yes
mq_receive, empty and nonblocking: -1 EAGAIN
mq_send to a full nonblocking queue: -1 EAGAIN
mq_notify SIGEV_SIGNAL SIGUSR1: 0
a second registration: -1 EBUSY
notified by SIGUSR1: yes, si_code SI_MESGQ: yes
mq_unlink: 0
mq_unlink again: -1 ENOENT
mq_open of the unlinked queue: -1 ENOENT
"""


def test_posix_message_queues(guest_bins, run_pyuser):
    # qemu-user 7.2 lacks mq_notify: Linux's output (the x86_64 build run
    # natively) is the literal
    got = run_pyuser([guest_bins / "mqueue"])
    assert (got.stdout, got.returncode) == (MQUEUE_OUT, 0), got.stderr


@functools.cache
def linux_output(program: str) -> str:
    """What Linux prints for a program that sets the host's attributes (ids,
    names): its i386 build run natively (an x86_64 kernel runs i386 programs,
    16-bit-id calls included).

    What such a program prints depends on the privilege it runs with, so the
    reference is Linux in the same place.  As root, uid16 prints e.g.
    "euid 70000: set 0, geteuid 65534, geteuid32 70000, ..." and
    "chown(0x11234, 0xffff): 0, owner 4660:0"; hostnames prints
    "sethostname of 65 bytes: -1 EINVAL" (EPERM without the privilege); caps
    prints the capability sets it has.
    qemu-user 7.2 is no reference for uid16: it passes a 16-bit call's id
    whole (setuid(0x10000) sets uid 65536).
    """
    native = subprocess.run([build_guest_bins("i386") / program], capture_output=True,
                            text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert native.returncode == 0, native.stderr
    return native.stdout


def test_filesystem_and_16_bit_ids(guest_bins, run_pyuser):
    expected = linux_output("uid16")
    assert expected.startswith("setfsuid: asks yes"), expected
    got = run_pyuser([guest_bins / "uid16"])
    assert (got.stdout, got.returncode) == (expected, 0), got.stderr


def test_capabilities(guest_bins, run_pyuser):
    expected = linux_output("caps")
    assert expected.startswith("capget of version 0 without data: 0, version now 0x20080522\n")
    got = run_pyuser([guest_bins / "caps"])
    assert (got.stdout, got.returncode) == (expected, 0), got.stderr


def test_host_and_domain_names(guest_bins, run_pyuser):
    expected = linux_output("hostnames")
    assert expected.startswith("uname nodename is the host's: yes, domainname too: yes\n")
    got = run_pyuser([guest_bins / "hostnames"])
    assert (got.stdout, got.returncode) == (expected, 0), got.stderr

