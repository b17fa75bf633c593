"""The gdbstub (-g PORT) driven by the real gdb-multiarch in batch mode.

tests/guest_bins/gdbtarget.c (built -O0 -g) is debugged under pyuser and,
where qemu-user's stub answers the same question, under qemu-<arch>-static
too: the backtraces, the PCs after the same steps and the exit status must
agree.  qemu 7.2's user-mode stub has no watchpoints, no catch syscall and
no $_siginfo, so those are checked against literals (the values the C
program computes: leaf(42) = 127, the exit status 7, the fault address 0x10).

Every target runs the core checks; arm and aarch64 run them all.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time

import pytest
from conftest import ARCHES, build_guest_bins, build_sysroot, pyuser_executable, qemu_executable

# the targets with a gdb register description (pyuser/targets/<arch>_gdb.py);
# the ports added later have none yet (mips64el, mips64, s390x, ppc: -g says so in
# one line, test_gdb_refused_without_a_description) or are untested (armel,
# which shows arm's registers)
ALL = ["arm", "aarch64", "x86_64", "i386", "riscv64", "mipsel", "mips"]
FULL = ["arm", "aarch64"]
GDB_TIMEOUT = 120


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def debug(arch: str, commands: list[str], args: tuple[str, ...] = (), *, emulator="pyuser",
          extra: tuple[str, ...] = (), program_name: str = "gdbtarget",
          ) -> tuple[str, subprocess.CompletedProcess]:
    """Run gdbtarget under `emulator` -g and gdb-multiarch with `commands`;
    gdb's output and the emulator's completed process."""
    gdb = shutil.which("gdb-multiarch")
    if gdb is None:
        pytest.fail("gdb-multiarch not found (make deps)", pytrace=False)
    program = build_guest_bins(arch) / program_name
    port = _free_port()
    if emulator == "pyuser":
        cmd = [str(pyuser_executable(arch)), *extra, "-g", str(port), str(program), *args]
    else:
        cmd = [qemu_executable(arch), "-cpu", ARCHES[arch]["qemu_cpu"], *extra,
               "-g", str(port), str(program), *args]
    guest = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             stdin=subprocess.DEVNULL)
    try:
        script = ["set confirm off", "set pagination off", "set width 0",
                  f"target remote 127.0.0.1:{port}", *commands]
        with tempfile.NamedTemporaryFile("w", suffix=".gdb") as commands_file:
            commands_file.write("\n".join(script) + "\n")
            commands_file.flush()
            time.sleep(0.2)  # gdb retries the connection until the stub listens
            shown = subprocess.run([gdb, "-q", "-nx", "-batch", "-x", commands_file.name,
                                    str(program)], capture_output=True, text=True,
                                   timeout=GDB_TIMEOUT, stdin=subprocess.DEVNULL)
        out, err = guest.communicate(timeout=GDB_TIMEOUT)
    finally:
        if guest.poll() is None:
            guest.kill()
            guest.wait()
    done = subprocess.CompletedProcess(cmd, guest.returncode, out, err)
    return shown.stdout + shown.stderr, done


def frames(output: str) -> list[str]:
    """The function names of a backtrace, in order."""
    return re.findall(r"^#\d+\s+(?:0x[0-9a-f]+ in )?(\w+)", output, re.M)


# ------------------------------------------------------------------ against qemu's stub
@pytest.mark.parametrize("arch", ALL)
def test_backtrace_and_stepi_as_under_qemu(arch):
    """Break in leaf: the backtrace, the argument and the PC; then from
    middle's first line, stepi until the PC is leaf's first instruction: the
    same number of steps and the same registers as under qemu."""
    commands = ["break leaf", "break middle", "continue", "p x", "set $n = 0",
                "while $pc != (long)&leaf && $n < 40\nstepi\nset $n = $n + 1\nend",
                "p $n", "p $pc == (long)&leaf", "info registers", "continue", "bt", "p x",
                "info registers pc", "finish", "delete", "continue"]
    shown, guest = debug(arch, commands)
    reference, _ = debug(arch, commands, emulator="qemu")
    assert "Breakpoint 1, leaf (x=42)" in shown, shown
    assert frames(shown)[:3] == ["leaf", "middle", "main"], shown
    assert "$1 = 42" in shown and "$4 = 42" in shown, shown
    assert "$3 = 1" in shown, shown
    assert "Value returned is $5 = 127" in shown, shown
    assert "exited with code 07" in shown, shown
    assert guest.returncode == 7 and guest.stdout == "gdbtarget\n", guest
    steps = re.findall(r"^\$2 = (\d+)", shown, re.M)
    assert steps and 0 < int(steps[0]) < 40, shown
    assert steps == re.findall(r"^\$2 = (\d+)", reference, re.M), (shown, reference)
    assert frames(shown)[:3] == frames(reference)[:3]
    pc = re.compile(r"^(?:pc|rip|eip)\s+(0x[0-9a-f]+)", re.M)
    assert pc.findall(shown)[-1:] == pc.findall(reference)[-1:], (shown, reference)
    ours, theirs = _registers(shown), _registers(reference)
    common = ours.keys() & theirs.keys()
    assert len(common) >= 3, (shown, reference)
    assert {k: ours[k] for k in common} == {k: theirs[k] for k in common}, (shown, reference)


def _registers(output: str) -> dict[str, str]:
    """`info registers` lines, without the stack pointers and the registers
    holding stack addresses (the emulators place the stack differently)."""
    regs = dict(re.findall(r"^(\w+)\s+(0x[0-9a-f]+)\s", output, re.M))
    lines = output.splitlines()
    for names, values in zip(lines, lines[1:], strict=False):  # MIPS: a row of names, a row of values
        words, numbers = names.split(), values.split()
        if numbers and re.fullmatch(r"R\d+", numbers[0]):
            numbers = numbers[1:]
        if words and len(words) == len(numbers) and \
                all(re.fullmatch(r"[0-9a-f]{8,16}", n) for n in numbers):
            regs.update((w, hex(int(n, 16))) for w, n in zip(words, numbers, strict=False))
    stack_bits = {v for k, v in regs.items() if k in ("sp", "rsp", "esp", "r29")}
    return {k: v for k, v in regs.items()
            if k not in ("sp", "rsp", "esp", "r29", "fp", "rbp", "ebp", "r11", "s0", "r30",
                         "x29", "lr", "r14", "x30", "ra", "r31", "r7", "s8", "gp", "sr", "status",
                         *X86_SYSTEM_STATE)
            and v not in stack_bits and not _stack_like(v)}


# pyuser's x86 CPUs run with null segment selectors and EFLAGS.IF clear;
# qemu shows Linux's user selectors (cs 0x33/0x23, ss 0x2b) and IF set
X86_SYSTEM_STATE = ("cs", "ss", "ds", "es", "fs", "gs", "eflags")


def _stack_like(value: str) -> bool:
    # pyuser's and qemu's stacks and heaps lie at different addresses
    number = int(value, 16)
    return number > 0x3f000000


# bytes of the syscall instruction glibc's write uses (Thumb svc on armhf)
SYSCALL_INSN_SIZE = {"arm": 2, "aarch64": 4, "x86_64": 2, "i386": 2, "riscv64": 4,
                     "mipsel": 4, "mips": 4}


# qemu 7.2's user-mode stub has neither: literals
@pytest.mark.parametrize("arch", ALL)
def test_watchpoint_then_catch_syscall_write(arch):
    # gdb 13 has no syscall catchpoints for RISC-V ("The feature 'catch
    # syscall' is not supported on this architecture yet"): watch only
    catch = arch != "riscv64"
    commands = ["watch watched", "continue", "delete"]
    if catch:
        commands += ["catch syscall write", "continue", "bt",
                     f"x/i $pc - {SYSCALL_INSN_SIZE[arch]}", "continue", "delete"]
    shown, guest = debug(arch, [*commands, "continue"])
    assert "Hardware watchpoint 1: watched" in shown, shown
    assert re.search(r"Old value = 0\s+New value = 127", shown), shown
    assert re.search(r"middle \(x=42\) at ", shown), shown
    if catch:
        assert "Catchpoint 2 (call to syscall write)" in shown, shown
        assert "Catchpoint 2 (returned from syscall write)" in shown, shown
        assert "main" in frames(shown), shown
        # the PC right after the syscall instruction, as ptrace shows it
        assert re.search(r"^   0x[0-9a-f]+ <[^>]+>:\s+(svc|syscall|int)\b", shown, re.M), shown
    assert "exited with code 07" in shown, shown
    assert guest.returncode == 7 and guest.stdout == "gdbtarget\n"


@pytest.mark.parametrize("arch", ALL)
def test_sigsegv_is_reported_with_its_address(arch):
    shown, guest = debug(arch, ["continue", "p $_siginfo.si_signo",
                                "p $_siginfo._sifields._sigfault.si_addr", "bt 1",
                                "continue"], ("segv",))
    assert "Program received signal SIGSEGV, Segmentation fault." in shown, shown
    assert "$1 = 11" in shown, shown
    assert re.search(r"\$2 = \(void \*\) 0x10\b", shown), shown
    assert frames(shown)[:1] == ["main"], shown
    assert "Program terminated with signal SIGSEGV" in shown, shown
    assert guest.returncode == -11
    # qemu's stub stops at the same instruction (it has no $_siginfo)
    stop = re.compile(r"Program received signal SIGSEGV, Segmentation fault\.\n(.*)\n")
    reference, _ = debug(arch, ["continue", "bt 1", "continue"], ("segv",), emulator="qemu")
    def where(output: str) -> list[str]:  # the stacks lie apart: argv differs
        return [re.sub(r"argv=0x[0-9a-f]+", "argv", line) for line in stop.findall(output)]

    assert where(shown) == where(reference), (shown, reference)


@pytest.mark.parametrize("arch", ALL)
def test_thread_apply_all_bt(arch):
    """Three threads, two of them waiting in worker_wait: their backtraces
    from the program's own functions down are qemu's."""
    commands = ["break all_started", "continue", "info threads", "thread apply all bt",
                "continue"]
    shown, guest = debug(arch, commands, ("threads",))
    assert "Breakpoint 1, all_started" in shown, shown
    assert len(re.findall(r"^Thread \S+ \(Thread", shown, re.M)) == 3, shown
    assert shown.count("worker_wait") >= 2, shown
    assert "exited with code 07" in shown, shown
    assert guest.returncode == 7
    reference, _ = debug(arch, commands, ("threads",), emulator="qemu")
    assert _thread_stacks(shown) == _thread_stacks(reference), (shown, reference)


def _thread_stacks(output: str) -> list[list[str]]:
    """Each thread's backtrace from its first frame in the program's own code
    (worker_wait, all_started) down, sorted: where a worker is inside the C
    library at the stop depends on timing."""
    stacks = []
    for block in re.split(r"^Thread \S+ \(Thread[^\n]*\n", output, flags=re.M)[1:]:
        names = frames(block.split("\n\n")[0])
        own = [i for i, name in enumerate(names) if name in ("worker_wait", "all_started")]
        stacks.append(names[own[0]:] if own else names)
    return sorted(stacks)


# the dynamic loader's name in each sysroot
LOADERS = {"arm": "lib/ld-linux-armhf.so.3", "aarch64": "lib/ld-linux-aarch64.so.1"}
LIBC = {"arm": "lib/arm-linux-gnueabihf/libc.so.6", "aarch64": "lib/aarch64-linux-gnu/libc.so.6"}


@pytest.mark.parametrize("arch", FULL)
def test_dynamic_program_with_set_sysroot(arch):
    """A dynamic program from a Debian sysroot: gdb finds ld.so and libc in
    it (from qXfer:libraries-svr4), and a breakpoint in libc's write has main
    as its caller."""
    sysroot = build_sysroot(arch)
    shown, guest = debug(arch, [f"set sysroot {sysroot}", "break leaf", "continue",
                                "info sharedlibrary", "bt", "break write", "continue", "bt",
                                "delete", "continue"],
                         extra=("-L", str(sysroot)), program_name="gdbtarget-dyn")
    assert "warning: while parsing" not in shown, shown
    libraries = re.findall(r"^0x[0-9a-f]+\s+0x[0-9a-f]+\s+Yes.*?(\S+)$", shown, re.M)
    assert f"{sysroot}/{LOADERS[arch]}" in libraries, shown
    assert f"{sysroot}/{LIBC[arch]}" in libraries, shown
    assert frames(shown)[:3] == ["leaf", "middle", "main"], shown
    assert re.search(r"in (__GI___libc_)?write \(.*\) .*\n#1 .* in main ", shown), shown
    assert "exited with code 07" in shown and guest.returncode == 7, shown


def _packet(data: bytes) -> bytes:
    return b"$" + data + b"#" + f"{sum(data) & 0xFF:02x}".encode()


def _replies(sock: socket.socket, until: bytes) -> bytes:
    """Bytes from the stub up to and including a packet starting with `until`."""
    received = b""
    while not re.search(rb"\$" + re.escape(until) + rb"[^#]*#..", received):
        chunk = sock.recv(4096)
        assert chunk, received
        received += chunk
    return received


@pytest.mark.parametrize("arch", FULL)
def test_interrupt_then_step_one_thread(arch):
    """The raw protocol: Ctrl-C (0x03) stops a spinning guest with SIGINT
    (gdb's signal 2), vCont;s:<tid> steps that thread (SIGTRAP, 5), vKill ends
    the emulator."""
    program = build_guest_bins(arch) / "gdbtarget"
    port = _free_port()
    guest = subprocess.Popen([str(pyuser_executable(arch)), "-g", str(port), str(program),
                              "spin"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for _ in range(100):
            try:
                sock = socket.create_connection(("127.0.0.1", port))
                break
            except ConnectionRefusedError:
                time.sleep(0.05)
        sock.settimeout(30)
        sock.sendall(_packet(b"?"))
        first = _replies(sock, b"T05")
        tid = re.search(rb"thread:([0-9a-f]+);", first).group(1)
        sock.sendall(_packet(b"vCont;c"))
        time.sleep(0.5)
        sock.sendall(b"\x03")
        stopped = _replies(sock, b"T02")
        assert b"thread:" + tid in stopped, stopped
        sock.sendall(_packet(b"vCont;s:" + tid + b";c"))
        stepped = _replies(sock, b"T05")
        assert b"thread:" + tid in stepped, stepped
        sock.sendall(_packet(b"vKill;1"))
        _replies(sock, b"OK")
        sock.close()
        assert guest.wait(timeout=30) != 0
    finally:
        if guest.poll() is None:
            guest.kill()
            guest.wait()


def test_exec_file_from_the_stub_env_twin_and_detach():
    """gdb given no program reads its path from qXfer:exec-file; QEMU_GDB is
    -g's environment twin; after detach the guest runs to its end."""
    program = build_guest_bins("arm") / "gdbtarget"
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QEMU_", "PYUSER_"))}
    guest = subprocess.Popen([str(pyuser_executable("arm")), str(program)],
                             env=dict(env, QEMU_GDB=str(port)), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    try:
        time.sleep(0.2)
        shown = subprocess.run(["gdb-multiarch", "-q", "-nx", "-batch", "-ex",
                                f"target remote 127.0.0.1:{port}", "-ex", "break leaf", "-ex",
                                "continue", "-ex", "bt", "-ex", "detach"],
                               capture_output=True, text=True, timeout=GDB_TIMEOUT)
        out, _ = guest.communicate(timeout=GDB_TIMEOUT)
    finally:
        if guest.poll() is None:
            guest.kill()
            guest.wait()
    output = shown.stdout + shown.stderr
    assert f"Reading symbols from {program}..." in output, output
    assert frames(output)[:3] == ["leaf", "middle", "main"], output
    assert "detached" in output, output
    assert guest.returncode == 7 and out == "gdbtarget\n"


RETURNED_DOUBLE = {"arm": "$q0.f64[0]", "aarch64": "$v0.d.f[0]", "x86_64": "$xmm0.v2_double[0]",
                   "i386": "$st0", "riscv64": "$fa0.double", "mipsel": "/x $f1",
                   "mips": "/x $f1"}  # MIPS o32: a double's high word is in f1


@pytest.mark.parametrize("arch", ALL)
def test_float_register_holds_the_returned_double(arch):
    """gdb reads scaled()'s double result from the FP register the ABI
    returns it in (d0, v0, xmm0, st0, f0/f1, fa0): the FP registers are where
    the target description says."""
    # gdb decides the MIPS FPU kind from the ELF and takes "none" for Debian's
    # o32 programs (so under qemu's stub too): tell it
    fpu = ["set mipsfpu double"] if arch.startswith("mips") else []
    shown, guest = debug(arch, [*fpu, "break scaled", "continue", "p x", "finish",
                                f"p {RETURNED_DOUBLE[arch]}", "continue"])
    assert "$1 = 42" in shown, shown
    assert "Value returned is $2 = 63" in shown, shown
    # the same value through the vector/FP register views gdb builds from the XML
    assert re.search(r"^\$3 = (63|0x404f8000)$", shown, re.M), shown
    assert guest.returncode == 7


def test_pass_signals_go_straight_to_the_guest():
    """QPassSignals (what gdb's `handle SIG nostop noprint pass` sends): the
    SIGSEGV is delivered without a stop, and its death reported (X0b)."""
    program = build_guest_bins("arm") / "gdbtarget"
    port = _free_port()
    guest = subprocess.Popen([str(pyuser_executable("arm")), "-g", str(port), str(program),
                              "segv"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        sock = _connect(port)
        sock.sendall(_packet(b"?"))
        _replies(sock, b"T05")
        sock.sendall(_packet(b"QPassSignals:b"))
        _replies(sock, b"OK")
        sock.sendall(_packet(b"vCont;c"))
        ended = _replies(sock, b"X")
        assert b"$X0b#" in ended and b"$T0b" not in ended, ended
        sock.close()
        assert guest.wait(timeout=30) == -11
    finally:
        if guest.poll() is None:
            guest.kill()
            guest.wait()


def _connect(port: int) -> socket.socket:
    for _ in range(200):
        try:
            sock = socket.create_connection(("127.0.0.1", port))
            sock.settimeout(30)
            return sock
        except ConnectionRefusedError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on port {port}")


@pytest.mark.parametrize("arch", FULL)
def test_interrupt_a_guest_blocked_in_read(arch):
    """Ctrl-C while the guest waits in read(0): it stops with SIGINT, gdb
    resumes it without the signal, and the read goes on to get its byte."""
    program = build_guest_bins(arch) / "gdbtarget"
    port = _free_port()
    guest = subprocess.Popen([str(pyuser_executable(arch)), "-g", str(port), str(program),
                              "block"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    try:
        sock = _connect(port)
        sock.sendall(_packet(b"?"))
        _replies(sock, b"T05")
        sock.sendall(_packet(b"vCont;c"))
        time.sleep(0.5)
        sock.sendall(b"\x03")
        stopped = _replies(sock, b"T02")
        assert b"thread:" in stopped
        sock.sendall(_packet(b"vCont;c"))
        time.sleep(0.2)
        guest.stdin.write(b"x")
        guest.stdin.close()
        assert b"$W07#" in _replies(sock, b"W")
        sock.close()
        assert guest.wait(timeout=30) == 7
    finally:
        if guest.poll() is None:
            guest.kill()
            guest.wait()


@pytest.mark.parametrize("arch", FULL)
def test_stepi_in_another_thread(arch):
    """`thread 2` then `stepi` (vCont;s:<thread 2>;c): the worker, stopped in
    its read syscall, steps one instruction while main runs on; the PCs are
    qemu's."""
    commands = ["break all_started", "continue", "thread 2", "p $pc", "stepi", "p $pc",
                "info threads", "kill"]
    shown, _ = debug(arch, commands, ("threads",))
    reference, _ = debug(arch, commands, ("threads",), emulator="qemu")
    pcs = re.findall(r"^\$\d+ = .*?(0x[0-9a-f]+)", shown, re.M)
    assert len(pcs) == 2 and pcs[0] != pcs[1], shown
    assert pcs == re.findall(r"^\$\d+ = .*?(0x[0-9a-f]+)", reference, re.M), (shown, reference)
    assert re.search(r"^\* 2 ", shown, re.M), shown  # the stop is reported in thread 2


@pytest.mark.parametrize("arch", ["mips64el", "mips64", "s390x", "ppc", "ppc64", "m68k"])
def test_gdb_refused_without_a_description(arch):
    """A target without a gdb register description refuses -g in one line."""
    run = subprocess.run([pyuser_executable(arch), "-g", "1", build_guest_bins(arch) / "hello"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert run.stderr.count("\n") == 1 and "no gdb register description" in run.stderr
