"""A real Debian armhf userland from a sysroot: dynamic programs, /proc, fork and exec.

The sysroot is tools/make-sysroot.sh's (the `sysroot` fixture, built once
and cached in .cache/).  Programs are named by their host path inside the
sysroot, as qemu-arm-static needs, and run with ``-L SYSROOT``.  Where
qemu-arm-static can run the same command, the test compares with it (and
with a literal); where the command execs a guest program, qemu-user cannot
follow without binfmt_misc, so the literal is the reference.

python3 starts in about a second under pyuser: its tests are few and each
does several things (``-I -B``: nothing is written into the sysroot).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import random
import re
import sys
import tarfile
import textwrap

import pytest

LOADER = "/lib/ld-linux-armhf.so.3"


@pytest.fixture
def sr(sysroot):
    """The sysroot as a string, for command lines."""
    return str(sysroot)


@pytest.fixture
def same(sr, assert_same_as_qemu):
    """Run a sysroot program (path relative to the sysroot) under qemu and pyuser."""

    def run(program, *args, **kw):
        return assert_same_as_qemu(["-L", sr, f"{sr}/{program}", *args], **kw)

    return run


@pytest.fixture
def pyuser(sr, run_pyuser):
    """Run a sysroot program under pyuser only; returns the CompletedProcess."""

    def run(program, *args, **kw):
        got = run_pyuser(["-L", sr, f"{sr}/{program}", *args], **kw)
        assert "Traceback" not in got.stderr, got.stderr
        return got

    return run


def applet_dir(tmp_path, sr, *names):
    """A directory of links to the sysroot's busybox, one per applet name."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name in names:
        (bin_dir / name).symlink_to(f"{sr}/bin/busybox")
    return bin_dir


# --------------------------------------------------------------------------
# GNU coreutils, grep, sed, gawk
# --------------------------------------------------------------------------


def test_sort_numeric_large_input(same):
    numbers = random.Random(3).sample(range(-20000, 40000), 30000)
    data = "".join(f"{n}\n" for n in numbers)
    same("usr/bin/sort", "-n", input=data, stdout="".join(f"{n}\n" for n in sorted(numbers)))


def test_sha256sum(same, tmp_path):
    path = tmp_path / "data.bin"
    content = bytes(range(256)) * 4000 + b"tail"
    path.write_bytes(content)
    same("usr/bin/sha256sum", path, stdout=f"{hashlib.sha256(content).hexdigest()}  {path}\n")


def test_ls(same, tmp_path):
    for name in ("b.txt", "a.txt", "C", ".hidden"):
        (tmp_path / name).write_text(name)
        os.utime(tmp_path / name, (1700000000, 1700000000))
    (tmp_path / "dir").mkdir()
    same("bin/ls", "-A1", tmp_path, stdout=".hidden\nC\na.txt\nb.txt\ndir\n")
    # -l: owners from the host's /etc/passwd, xattrs and ACLs asked for
    got = same("bin/ls", "-l", "--time-style=+%Y", tmp_path / "a.txt")
    assert got.stdout.startswith("-rw") and got.stdout.endswith(" 2023 " + f"{tmp_path}/a.txt\n")


def test_factor(same):
    same("usr/bin/factor", "1234567890123456789", "97", "4294967297",
         stdout="1234567890123456789: 3 3 101 3541 3607 3803 27961\n97: 97\n"
                "4294967297: 641 6700417\n")


def test_date(same):
    same("bin/date", "-u", "-d", "@1700000000", "+%F %T %a %j %s",
         stdout="2023-11-14 22:13:20 Tue 318 1700000000\n")


def test_seq_into_tail_through_a_shell(pyuser, sr):
    # busybox sh forks and execs two coreutils programs joined by a pipe
    got = pyuser("bin/busybox", "sh", "-c",
                 f"{sr}/usr/bin/seq 1 100000 | {sr}/usr/bin/tail -n 3; echo status $?")
    assert got.stdout == "99998\n99999\n100000\nstatus 0\n"
    assert got.returncode == 0


def test_grep_recursive(same, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "one.txt").write_text("alpha\nneedle here\nomega\n")
    (tmp_path / "b.txt").write_text("needle\nno\n")
    (tmp_path / "c.txt").write_text("nothing\n")
    got = same("bin/grep", "-rn", "needle", tmp_path)
    assert sorted(got.stdout.splitlines()) == [f"{tmp_path}/a/one.txt:2:needle here",
                                               f"{tmp_path}/b.txt:1:needle"]
    same("bin/grep", "-c", "-E", "^(alpha|omega)$", tmp_path / "a" / "one.txt", stdout="2\n")
    same("bin/grep", "-q", "absent", tmp_path / "c.txt", stdout="", returncode=1)


def test_sed_extended(same):
    text = "# comment\nkey-12 and val-3\nplain\n"
    same("bin/sed", "-E", "/^#/d; s/([a-z]+)-([0-9]+)/\\2:\\1/g; 3y/abc/ABC/", input=text,
         stdout="12:key and 3:val\nplAin\n")


def test_gawk(same):
    program = ('BEGIN { n = split("pear apple fig", a); asort(a); print a[1], a[2], a[3];'
               ' print gensub(/([a-z]+)([0-9]+)/, "\\\\2\\\\1", "g", "abc12 de3");'
               ' printf "%.3f %e %5s|\\n", atan2(1, 1) * 4, 12345.678, "ab" }')
    same("usr/bin/gawk", program, stdout="apple fig pear\n12abc 3de\n3.142 1.234568e+04    ab|\n")
    same("usr/bin/gawk", "-F:", "{ s += $2 } END { print NR, s }", input="a:1\nb:2\nc:39\n",
         stdout="3 42\n")


def test_gawk_bignum(same):
    program = ('BEGIN { print 2^200; x = 1; for (i = 1; i <= 30; i++) x *= i; print x;'
               ' printf "%d\\n", 7^77 % 1000003 }')
    same("usr/bin/gawk", "-M", program,
         stdout="1606938044258990275541962092341162602522202993782792835301376\n"
                "265252859812191058636308480000000\n51477\n")


# --------------------------------------------------------------------------
# python3
# --------------------------------------------------------------------------

PY_STDLIB = textwrap.dedent("""\
    import decimal, fractions, hashlib, json, re, struct, sys, zlib
    print(sum(i * i for i in range(100000)), 2 ** 127 % 1000007, 7 / 3, divmod(-7, 2))
    print(json.dumps({"b": [1, 2.5, None, "é"], "a": True}, sort_keys=True))
    print(json.loads('{"x": [1, {"y": "z"}]}')["x"][1]["y"])
    print(hashlib.sha256(b"abc").hexdigest()[:16], hashlib.md5(b"").hexdigest()[:8])
    print(re.sub(r"(\\w+)@(\\w+)", r"\\2 at \\1", "me@home you@work"),
          re.findall(r"\\d+", "a1b22c333"))
    print(struct.pack("<IhQd", 1, -2, 3, 0.5).hex(), struct.unpack(">H", b"\\x01\\x02"))
    decimal.getcontext().prec = 40
    print(decimal.Decimal(1) / decimal.Decimal(7), decimal.Decimal("2").sqrt())
    print(fractions.Fraction(3, 4) + fractions.Fraction(1, 6), zlib.crc32(b"pyuser"))
    print(sys.platform, sys.byteorder, sys.maxsize, sys.implementation.name)
""")

PY_STDLIB_OUT = (
    "333328333350000 21458 2.3333333333333335 (-4, 1)\n"
    '{"a": true, "b": [1, 2.5, null, "\\u00e9"]}\n'
    "z\n"
    "ba7816bf8f01cfea d41d8cd9\n"
    "home at me work at you ['1', '22', '333']\n"
    "01000000feff0300000000000000000000000000e03f (258,)\n"
    "0.1428571428571428571428571428571428571429 1.414213562373095048801688724209698078570\n"
    "11/12 3807717257\n"
    "linux little 2147483647 cpython\n"
)


def test_python_stdlib(same, tmp_path):
    script = tmp_path / "stdlib.py"
    script.write_text(PY_STDLIB)
    same("usr/bin/python3.11", "-I", "-B", script, stdout=PY_STDLIB_OUT)


PY_FORK = textwrap.dedent("""\
    import os
    parent = os.getpid()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.write(w, b"from the child %d" % (os.getppid() == parent))
        os._exit(7)
    os.close(w)
    message = os.read(r, 100).decode()
    got, status = os.waitpid(pid, 0)
    print(message, got == pid, os.waitstatus_to_exitcode(status))
    pid = os.fork()
    if pid == 0:
        os.kill(os.getpid(), 9)
    print("killed:", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
    import socket
    a, b = socket.socketpair()
    pid = os.fork()
    if pid == 0:
        a.close()
        b.sendall(b.recv(100).upper())
        os._exit(0)
    b.close()
    a.sendall(b"over a socket")
    print(a.recv(100).decode(), os.waitpid(pid, 0)[1])
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    pid = os.fork()
    if pid == 0:
        socket.create_connection(server.getsockname()).sendall(b"tcp")
        os._exit(0)
    conn, peer = server.accept()
    print(conn.recv(10).decode(), conn.getsockname() == server.getsockname(), peer[0])
    os.waitpid(pid, 0)
""")


def test_python_fork_waitpid(same, tmp_path):
    script = tmp_path / "fork.py"
    script.write_text(PY_FORK)
    same("usr/bin/python3.11", "-I", "-B", script,
         stdout="from the child 1 True 7\nkilled: -9\nOVER A SOCKET 0\ntcp True 127.0.0.1\n")


PY_MULTIPROCESSING = textwrap.dedent("""\
    import asyncio, multiprocessing, os, socket

    def square(x):
        return x * x

    async def echo_upper():
        async def handle(reader, writer):
            writer.write((await reader.read(100)).upper())
            await writer.drain()
            writer.close()
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"asyncio over loopback")
        await writer.drain()
        print((await reader.read(100)).decode())
        writer.close()
        server.close()

    if __name__ == "__main__":
        asyncio.run(echo_upper())
        a, b = socket.socketpair()
        r, w = os.pipe()
        socket.send_fds(a, [b"fd"], [w])
        msg, fds, _, _ = socket.recv_fds(b, 10, 1)
        os.write(fds[0], b"through a passed fd")
        print(msg.decode(), os.read(r, 100).decode())
        with multiprocessing.Pool(2) as pool:
            print(pool.map(square, range(6)))
        queue = multiprocessing.Queue()
        child = multiprocessing.Process(target=queue.put, args=("from a Process",))
        child.start()
        print(queue.get())
        child.join()
        print("exit code", child.exitcode)
""")


def test_python_multiprocessing_asyncio_fd_passing(same, tmp_path):
    # the pool's and the queue's semaphores are futexes in shared memory between
    # processes; send_fds is sendmsg with SCM_RIGHTS
    script = tmp_path / "mp.py"
    script.write_text(PY_MULTIPROCESSING)
    same("usr/bin/python3.11", "-I", "-B", script, timeout=120,
         stdout="ASYNCIO OVER LOOPBACK\nfd through a passed fd\n[0, 1, 4, 9, 16, 25]\n"
                "from a Process\nexit code 0\n")


PY_PTY = textwrap.dedent("""\
    import os, pty, sys
    pid, fd = pty.fork()
    if pid == 0:
        print("child on a terminal:", os.isatty(0), os.ttyname(0).startswith("/dev/pts/"),
              flush=True)  # sys.stdout was made before the fork, for a non-terminal
        sys.stdin.readline()  # the parent has read the line: exiting cannot lose it
        os._exit(3)
    out = b""
    while b"\\n" not in out:
        out += os.read(fd, 100)
    os.write(fd, b"go\\n")
    status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    print(out.decode().splitlines()[0], "| exit status", status)
""")


def test_python_pty_fork(same, tmp_path, pty_stdin):
    # os.openpty is posix_openpt/grantpt/unlockpt/ptsname: the PTY ioctls
    script = tmp_path / "pty_fork.py"
    script.write_text(PY_PTY)
    same("usr/bin/python3.11", "-I", "-B", script, timeout=120,
         stdout="child on a terminal: True True | exit status 3\n")


PY_SPAWN = textwrap.dedent("""\
    import os, subprocess, sys
    print(os.readlink("/proc/self/exe"))
    r = subprocess.run([sys.executable, "-I", "-B", "-c",
                        "import sys; print('child', sys.argv[1:]); sys.exit(3)", "a b"],
                       capture_output=True, text=True)
    print("subprocess:", r.returncode, r.stdout.strip())
    try:
        subprocess.run(["/nonexistent/prog"])
    except FileNotFoundError as e:
        print("missing:", e.errno)
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, "-I", "-B", "-c",
                              "import sys; print('exec', sys.argv[1]); sys.exit(5)", "ok"])
""")


def test_python_subprocess_and_execv(run_pyuser, sr, tmp_path):
    script = tmp_path / "spawn.py"
    script.write_text(PY_SPAWN)
    # run by its guest path (the sysroot rule applies to the program too), so
    # that /proc/self/exe, sys.executable and the children are guest paths
    got = run_pyuser(["-L", sr, "/usr/bin/python3", "-I", "-B", script])
    assert "Traceback" not in got.stderr, got.stderr
    assert got.stdout.splitlines() == [
        "/usr/bin/python3.11", "subprocess: 3 child ['a b']", "missing: 2", "exec ok"]
    assert got.returncode == 5


def test_working_directory_in_the_sysroot(pyuser):
    # chdir("/usr") enters the sysroot's /usr by the sysroot rule; the guest
    # then sees "/usr" (getcwd, /proc/self/cwd), not the host path of it, and
    # relative names resolve there.  (qemu-user does not apply -L to chdir: it
    # would be in the host's /usr, so Linux-in-a-sysroot is the reference.)
    got = pyuser("usr/bin/python3.11", "-I", "-B", "-c",
                 "import os\n"
                 "for d in ('/', '/usr/lib', '/usr'):\n"
                 "    os.chdir(d); print(os.getcwd(), os.readlink('/proc/self/cwd'))\n"
                 "print(os.path.isdir('lib/arm-linux-gnueabihf'))\n"
                 "os.chdir('/proc'); print(os.getcwd())\n")
    assert (got.stdout, got.returncode) == ("/ /\n/usr/lib /usr/lib\n/usr /usr\nTrue\n/proc\n", 0)


# --------------------------------------------------------------------------
# sqlite3, lua
# --------------------------------------------------------------------------


def test_sqlite3_in_memory(same):
    sql = ("create table t(name text, n int); "
           "insert into t values ('b', 2), ('a', 1), ('c', 3), ('a', 10); "
           "select name, sum(n) from t group by name order by name; "
           "select printf('%.2f', avg(n)) from t; "
           "with recursive f(i, v) as (select 1, 1 union all select i + 1, v * (i + 1) from f"
           " where i < 10) select group_concat(v, ',') from f; "
           "select upper('abc') || length('héllo'), json_extract('{\"x\": [1, 2, 3]}', '$.x[1]');")
    same("usr/bin/sqlite3", ":memory:", sql,
         stdout="a|11\nb|2\nc|3\n4.00\n1,2,6,24,120,720,5040,40320,362880,3628800\nABC5|2\n")
    same("usr/bin/sqlite3", ":memory:", input="select 6 * 7;\n.quit\n", stdout="42\n")


LUA = textwrap.dedent("""\
    local function gen(n)
      return coroutine.wrap(function() for i = 1, n do coroutine.yield(i * i) end end)
    end
    local t = {} for v in gen(5) do t[#t + 1] = v end print(table.concat(t, " "))
    local co = coroutine.create(function(a, b)
      local c = coroutine.yield(a + b) print("got", c) return "done" end)
    print(coroutine.resume(co, 1, 2)) print(coroutine.resume(co, "x")) print(coroutine.status(co))
    print(string.format("%5.2f|%-4s|%x|%q", math.pi, "ab", 255, "a\\nb"))
    print(("hello world"):gsub("o", "0"), ("key=value"):match("(%w+)=(%w+)"))
    print(string.rep("ab", 3, "-"), ("Lua"):byte(1, -1), utf8.char(72, 228, 8364))
    print(math.maxinteger, 7 // 2, 7 % -3, 2^53 == 2^53 + 1, math.type(1), math.type(1.0))
""")

LUA_OUT = ("1 4 9 16 25\ntrue\t3\ngot\tx\ntrue\tdone\ndead\n 3.14|ab  |ff|\"a\\\nb\"\n"
           "hell0 w0rld\tkey\tvalue\nab-ab-ab\t76\tHä€\n"
           "9223372036854775807\t3\t-2\ttrue\tinteger\tfloat\n")


def test_lua_coroutines_and_strings(same):
    same("usr/bin/lua5.4", "-e", LUA, stdout=LUA_OUT)


# --------------------------------------------------------------------------
# busybox: pipelines, exec through PATH and /proc/self/exe
# --------------------------------------------------------------------------


def test_busybox_sh_pipelines_exec_applets(run_pyuser, sr, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "printenv").symlink_to(f"{sr}/usr/bin/printenv")  # coreutils: not an applet
    log = tmp_path / "strace.log"
    script = (f"PATH={bin_dir}; seq 1 10 | sort -rn | head -n 3 | tr '\\n' ' '; echo;"
              " env MARK=marked printenv MARK; basename /a/b/c.txt .txt;"
              " echo hello | gzip -c | gzip -dc | wc -c; exit 4")
    got = run_pyuser(["-L", sr, "-d", "strace", "-D", log, f"{sr}/bin/busybox", "sh", "-c",
                      script])
    assert "Traceback" not in got.stderr, got.stderr
    assert (got.stdout, got.returncode) == ("10 9 8 \nmarked\nc\n6\n", 4)
    execs = [line for line in log.read_text().splitlines() if " execve(" in line]
    # env finds printenv through PATH; busybox runs its applets that cannot
    # run inside the shell's fork (tr, gzip, wc) by exec'ing /proc/self/exe
    assert any(f'execve("{bin_dir}/printenv"' in line for line in execs), execs
    assert sum('execve("/proc/self/exe", [\'gzip\'' in line for line in execs) == 2, execs


def test_busybox_env(sr, run_pyuser, run_qemu):
    # only what is given: the emulator adds nothing (Python's locale coercion
    # must not leak LC_CTYPE)
    argv = ["-L", sr, f"{sr}/bin/busybox", "env"]
    env = {"A": "1", "B": "two words"}
    # qemu-user passes the environment in reverse order; Linux (and pyuser) in order
    assert sorted(run_qemu(argv, env=env).stdout.splitlines()) == ["A=1", "B=two words"]
    assert run_pyuser(argv, env=env).stdout == "A=1\nB=two words\n"
    got = run_pyuser(["-L", sr, f"{sr}/bin/busybox", "env", "-i", "X=y", f"{sr}/bin/busybox",
                      "env"], env=env)
    assert (got.stdout, got.returncode) == ("X=y\n", 0)


def test_busybox_xargs(pyuser, same, sr):
    same("bin/busybox", "xargs", "-n", "2", "echo", input="a\nb\nc\n", stdout="a b\nc\n")
    got = pyuser("bin/busybox", "xargs", "-n", "1", f"{sr}/usr/bin/basename",
                 input="/x/one\n/y/two\n")
    assert (got.stdout, got.returncode) == ("one\ntwo\n", 0)


def test_busybox_timeout(pyuser, sr):
    got = pyuser("bin/busybox", "sh", "-c",
                 f"timeout 10 {sr}/bin/true; echo $?; timeout 1 {sr}/bin/sleep 10; echo $?")
    # busybox's timeout kills with SIGTERM: the shell reports 128 + 15
    assert got.stdout == "0\n143\n"


def test_busybox_tar_czf_execs_gzip(pyuser, sr, tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("one\n")
    (src / "sub" / "b.bin").write_bytes(bytes(range(256)) * 64)
    bin_dir = applet_dir(tmp_path, sr, "gzip")
    got = pyuser("bin/busybox", "tar", "czf", tmp_path / "out.tgz", "-C", tmp_path, "src",
                 env={**os.environ, "PATH": str(bin_dir)})
    assert got.returncode == 0, got.stderr
    data = (tmp_path / "out.tgz").read_bytes()
    assert data[:2] == b"\x1f\x8b"
    with tarfile.open(fileobj=__import__("io").BytesIO(gzip.decompress(data))) as tar:
        names = sorted(tar.getnames())
        member = tar.extractfile("src/sub/b.bin")
        assert member is not None and member.read() == bytes(range(256)) * 64
    assert names == ["src", "src/a.txt", "src/sub", "src/sub/b.bin"]


def test_scripts_find_their_interpreter_in_the_sysroot(pyuser, tmp_path):
    guest = tmp_path / "guest.sh"
    guest.write_text("#!/bin/busybox sh\necho guest $# \"$1\"\n")
    host = tmp_path / "host.sh"
    host.write_text("#!/bin/sh\necho host \"$1\"\n")  # no /bin/sh in the sysroot
    guest.chmod(0o755)
    host.chmod(0o755)
    # and a host program (not in the sysroot) is exec'd on the host
    got = pyuser("bin/busybox", "sh", "-c",
                 f"{guest} 'x y'; {host} z; echo $?; {sys.executable} -c 'print(6 * 7)'")
    assert got.stdout == "guest 1 x y\nhost z\n0\n42\n"


# --------------------------------------------------------------------------
# /proc, the interpreter, C programs
# --------------------------------------------------------------------------


def test_proc_self_files(pyuser, sr, run_pyuser):
    got = run_pyuser(["-L", sr, "/bin/readlink", "/proc/self/exe"])
    assert (got.stdout, got.returncode) == ("/bin/readlink\n", 0)
    got = pyuser("bin/cat", "/proc/self/cmdline")
    assert got.stdout == f"{sr}/bin/cat\0/proc/self/cmdline\0"
    got = pyuser("bin/cat", "/proc/self/stat")
    fields = got.stdout.split()
    assert fields[1] == "(cat)" and int(fields[0]) > 1 and int(fields[25]) < int(fields[26])
    got = pyuser("bin/cat", "/proc/self/maps")
    lines = got.stdout.splitlines()
    line_format = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{8} [r-][w-][x-][ps] [0-9a-f]{8} "
                             r"[0-9a-f]{2}:[0-9a-f]{2} \d+( +\S.*)?$")
    assert all(line_format.match(line) for line in lines), lines
    assert any(line.endswith("[stack]") for line in lines)
    assert any("ld-linux-armhf.so.3" in line for line in lines)
    assert any("libc.so.6" in line for line in lines)
    # /proc/<own pid>: the shell's pid is cat's after the exec
    got = pyuser("bin/busybox", "sh", "-c", "exec cat /proc/$$/cmdline")
    pid = got.stdout.split("/")[2]
    assert got.stdout == f"cat\0/proc/{pid}/cmdline\0"
    got = pyuser("bin/cat", "/proc/cpuinfo")
    assert "model name\t: ARMv7 Processor rev" in got.stdout
    assert "CPU architecture: 7" in got.stdout and " neon " in got.stdout
    got = pyuser("usr/bin/env", "-i", "A=1", f"{sr}/bin/cat", "/proc/self/environ")
    assert got.stdout == "A=1\0"
    # the options of the run go to exec'd programs: here the CPU model
    got = run_pyuser(["-L", sr, "-cpu", "cortex-a9", f"{sr}/bin/busybox", "sh", "-c",
                      f"exec {sr}/bin/cat /proc/cpuinfo"])
    assert "Features\t: swp half thumb fastmult vfp edsp neon vfpv3 tls vfpd32 \n" in got.stdout


def _auxv_words(raw: bytes) -> dict[int, int]:
    words = [int.from_bytes(raw[i:i + 4], "little") for i in range(0, len(raw) - 3, 4)]
    return dict(zip(words[::2], words[1::2], strict=False))


def test_interpreter_and_auxiliary_vector(run_pyuser, sr):
    from elftools.elf.elffile import ELFFile

    # the loader prints what it was given (-E: for the guest, not the emulator's Python)
    got = run_pyuser(["-L", sr, "-E", "LD_SHOW_AUXV=1", f"{sr}/bin/true"])
    assert got.returncode == 0, got.stderr
    aux = dict(re.findall(r"^(AT_\w+):[ \t]*(.*)$", got.stdout, re.M))
    with open(f"{sr}/bin/true", "rb") as f:
        elf = ELFFile(f)
        entry, phnum = elf.header.e_entry, elf.header.e_phnum
        phdr = next(s.header.p_vaddr for s in elf.iter_segments()
                    if s.header.p_type == "PT_PHDR")
        assert elf.header.e_type == "ET_DYN"  # Debian's programs are PIE
    bias = int(aux["AT_ENTRY"], 16) - entry
    assert bias > 0 and bias % 4096 == 0
    assert int(aux["AT_PHDR"], 16) == bias + phdr
    assert int(aux["AT_PHNUM"]) == phnum and aux["AT_PAGESZ"] == "4096"
    base = int(aux["AT_BASE"], 16)
    assert base and base % 4096 == 0 and base != bias
    assert aux["AT_EXECFN"] == f"{sr}/bin/true" and aux["AT_PLATFORM"] == "v7l"
    assert "neon" in aux["AT_HWCAP"]
    # /proc/self/auxv: the same vector, in target words (busybox is static: no AT_BASE)
    got = run_pyuser(["-L", sr, f"{sr}/bin/busybox", "cat", "/proc/self/auxv"], text=False)
    vector = _auxv_words(got.stdout)
    with open(f"{sr}/bin/busybox", "rb") as f:
        phnum = ELFFile(f).header.e_phnum
    assert vector[6] == 4096 and vector[5] == phnum and vector[7] == 0  # PAGESZ PHNUM BASE
    # open("/proc/self/exe") reads the guest program
    got = run_pyuser(["-L", sr, f"{sr}/bin/busybox", "head", "-c", "64", "/proc/self/exe"],
                     text=False)
    with open(f"{sr}/bin/busybox", "rb") as f:
        assert got.stdout == f.read(64)


def test_missing_interpreter_is_one_line(run_pyuser, sr, tmp_path):
    empty = tmp_path / "empty-sysroot"
    empty.mkdir()
    got = run_pyuser(["-L", empty, f"{sr}/bin/ls"])
    assert got.returncode == 1
    assert got.stdout == ""
    assert got.stderr.count("\n") == 1 and "Traceback" not in got.stderr
    assert f"interpreter {LOADER} not found" in got.stderr


FORKEXEC_OUT = """\
waitpid returned the child: yes
fork: exited 7
kill self: killed by signal 15
pipe: 'through the pipe'
vfork: exited 3
waitid: r=0 pid_ok=1 signo=17 code=1 status=42
waitid WNOHANG: r=0 si_pid=0
waitid killed: code=2 status=9
wait4: ok=1 exit: exited 5
wait4 no children: -1 No child processes
after the child wrote: MAP_SHARED 2, MAP_PRIVATE 1
child argv: [renamed-argv0] [child] [two words] env=from-execve fds: 3 7
exec self: exited 3
expected open fds: 3 7 (closed: 4 5 6)
after exec: pid same 1, exe same 1, comm forkexec, SIGUSR1 ignored 1, SIGUSR2 default 1, \
SIGTERM blocked 1 and pending 1, altstack off 1
exec state: exited 4
execve missing: -1 No such file or directory
execve directory: -1 Permission denied
execve not executable: -1 Permission denied
execve no format: -1 Exec format error
execve empty path: -1 No such file or directory
child argv: [spawned] [child] env=spawned fds:
posix_spawn: ok, spawned: exited 2
posix_spawn of a missing file: exited 127
"""


def test_fork_wait_exec_program(guest_bins, run_pyuser):
    got = run_pyuser([guest_bins / "forkexec"])
    assert "Traceback" not in got.stderr, got.stderr
    assert got.stdout == FORKEXEC_OUT
    assert got.returncode == 0


MMAPFILE_OUT = """\
private: abcd, tail zero: yes
private write stays private: yes
maps names the file: yes
offset 2 pages: c
shared write reaches the file: yes
MAP_FIXED over the file: yes, zero: yes, neighbours kept: X c
MAP_FIXED_NOREPLACE on a mapping: yes File exists
split into maps lines: 4
kept contents: 1 1 1
1 GiB MAP_NORESERVE: yes
touched both ends: 1 2
3000 mappings, half unmapped, contents kept: yes
"""


def test_file_mappings_and_many_mappings(guest_bins, run_pyuser):
    # qemu-user 7.2 treats MAP_FIXED_NOREPLACE as a hint: Linux's answer is the literal
    got = run_pyuser([guest_bins / "mmapfile"])
    assert (got.stdout, got.returncode) == (MMAPFILE_OUT, 0), got.stderr
