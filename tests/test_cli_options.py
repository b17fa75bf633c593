"""The qemu-compatible options and their PYUSER_/QEMU_ environment twins."""

from __future__ import annotations

import os
import re
import subprocess


def _run_with_env(emulator_command, argv, env):
    """run_pyuser drops QEMU_* variables (a developer's settings); these tests need them."""
    full = {k: v for k, v in os.environ.items()
            if not k.startswith(("QEMU_", "PYUSER_"))}
    full.update(env)
    return subprocess.run([*emulator_command("pyuser"), *map(str, argv)], env=full,
                          capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)


def test_strace_decodes_arguments_and_errors(guest_bins, run_pyuser):
    r = run_pyuser(["-strace", guest_bins / "kernelabi"])
    assert r.returncode == 0
    lines = r.stderr.splitlines()
    # stdout is a pipe, so the guest's stdio writes it in one block; strace shows
    # the first 32 bytes of a buffer
    assert any(re.fullmatch(r'\d+ write\(1, "kuser version >= 5: 1\\nget_tls =="\.\.\., '
                            r'(\d+)\) = \1', line) for line in lines), lines[:20]
    assert any(re.fullmatch(r"\d+ write\(1, 0x10, 5\) = -1 EFAULT \(Bad address\)", line)
               for line in lines)
    assert any(re.fullmatch(r"\d+ exit_group\(0\) = \?", line) for line in lines)


def test_strace_env_twins(guest_bins, emulator_command):
    for name in ("PYUSER_STRACE", "QEMU_STRACE"):
        r = _run_with_env(emulator_command, [guest_bins / "hello"], {name: "1"})
        assert r.stdout == "Hello, world!\n"
        assert re.search(r"^\d+ exit_group\(0\) = \?$", r.stderr, re.M), name


def test_log_file(guest_bins, run_pyuser, tmp_path):
    log = tmp_path / "trace.log"
    r = run_pyuser(["-strace", "-D", log, guest_bins / "hello"])
    assert (r.stdout, r.stderr) == ("Hello, world!\n", "")
    assert "exit_group(0) = ?" in log.read_text()


def test_in_asm_and_exec_and_page(guest_bins, run_pyuser):
    r = run_pyuser(["-d", "in_asm,exec,page", guest_bins / "hello"])
    assert r.stdout == "Hello, world!\n"
    assert "IN:" in r.stderr and "Trace: [" in r.stderr
    assert re.search(r"^[0-9a-f]{8}-[0-9a-f]{8} rw-p .*\[stack\]$", r.stderr, re.M)


def test_d_help_lists_items(run_pyuser):
    r = run_pyuser(["-d", "help"])
    assert r.returncode == 0
    for item in ("unimp", "strace", "in_asm", "exec", "page"):
        assert item in r.stdout


def test_unknown_d_item(guest_bins, run_pyuser):
    r = run_pyuser(["-d", "frob", guest_bins / "hello"])
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1


def test_environment_options(guest_bins, run_pyuser):
    r = run_pyuser(["-E", "PYUSER_TEST_VAR=from -E", guest_bins / "args"])
    assert "PYUSER_TEST_VAR=from -E\n" in r.stdout
    r = run_pyuser(["-U", "PYUSER_TEST_VAR", guest_bins / "args"],
                   env={"PYUSER_TEST_VAR": "inherited"})
    assert "PYUSER_TEST_VAR=(unset)\n" in r.stdout


def test_argv0(guest_bins, run_pyuser):
    """-0 changes argv[0] only; AT_EXECFN stays the program's path."""
    r = run_pyuser([guest_bins / "args"])
    assert "AT_EXECFN==argv[0]: yes\n" in r.stdout
    r = run_pyuser(["-0", "renamed", guest_bins / "args"])
    assert "AT_EXECFN==argv[0]: no\n" in r.stdout


def test_stack_size(guest_bins, run_pyuser):
    r = run_pyuser(["-s", "16M", "-d", "page", guest_bins / "hello"])
    starts_ends = re.findall(r"^([0-9a-f]{8})-([0-9a-f]{8}) .*\[stack\]$", r.stderr, re.M)
    assert starts_ends
    start, end = (int(x, 16) for x in starts_ends[0])
    assert end - start == 16 << 20


def test_cpu_help_and_choice(guest_bins, run_pyuser):
    r = run_pyuser(["-cpu", "help"])
    assert r.returncode == 0 and "cortex-a15" in r.stdout
    r = run_pyuser(["-cpu", "cortex-a9", guest_bins / "hello"])
    assert r.stdout == "Hello, world!\n"
    r = run_pyuser(["-cpu", "pentium", guest_bins / "hello"])
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1


def test_seed_is_accepted(guest_bins, run_pyuser):
    r = run_pyuser(["-seed", "42", guest_bins / "hello"])
    assert (r.stdout, r.returncode) == ("Hello, world!\n", 0)
    r = run_pyuser(["-seed", "x", guest_bins / "hello"])
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1


def test_ld_prefix_twins(guest_bins, run_pyuser, emulator_command, tmp_path):
    """-L and its twins name the sysroot: an absolute path inside it wins."""
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "hello").write_bytes((guest_bins / "hello").read_bytes())
    (tmp_path / "bin" / "hello").chmod(0o755)
    for env in ({"PYUSER_LD_PREFIX": str(tmp_path)}, {"QEMU_LD_PREFIX": str(tmp_path)}):
        r = _run_with_env(emulator_command, ["/bin/hello"], env)
        assert r.stdout == "Hello, world!\n", env
    r = run_pyuser(["-L", tmp_path, "/bin/hello"])
    assert r.stdout == "Hello, world!\n"
