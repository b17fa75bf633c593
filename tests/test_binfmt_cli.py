"""pyuser-binfmt's logic without touching the kernel: a scratch directory
stands in for /proc/sys/fs/binfmt_misc, and the binfmt_misc start-up path
(pyuser.binfmt_entry) is fed the auxiliary vector values it would get.
The real registrations are in test_binfmt.py."""

from __future__ import annotations

import errno
import os
import re
import subprocess
from pathlib import Path

import pytest
from integration_helpers import BIN_DIR, build_probe, tool_env

from pyuser import binfmt, binfmt_entry
from pyuser.binfmt_misc import Binfmt, Entry, parse_entry
from pyuser.targets import load_target

QEMU_ARM_ENTRY = """enabled
interpreter /usr/libexec/qemu-binfmt/arm-binfmt-P
flags: POCF
offset 0
magic 7f454c4601010100000000000000000002002800
mask ffffffffffffff00fffffffffffffffffeffffff
"""


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Binfmt:
    """A mounted-looking binfmt_misc directory, and root."""
    d = tmp_path / "binfmt_misc"
    d.mkdir()
    (d / "register").write_text("")
    (d / "status").write_text("enabled\n")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    return Binfmt(str(d))


def run_main(argv: list[str], fake: Binfmt, capsys) -> tuple[int, str, str]:
    status = binfmt.main(argv, binfmt=fake)
    out, err = capsys.readouterr()
    return status, out, err


def one_line_error(err: str) -> str:
    assert err.count("\n") == 1 and err.startswith("pyuser-binfmt: "), err
    assert "Traceback" not in err
    return err


def unescape(text: str) -> bytes:
    return bytes(int(h, 16) for h in re.findall(r"\\x([0-9a-fA-F]{2})", text))


def test_magic_and_mask_match_debians_qemu_entry() -> None:
    # Debian's qemu-user-static ships the reference registration for arm
    fields = Path("/usr/lib/binfmt.d/qemu-arm.conf").read_text().strip().split(":")
    magic, mask = load_target("arm").binfmt_magic()
    assert (unescape(fields[4]), unescape(fields[5])) == (magic, mask)
    entry = parse_entry("qemu-arm", QEMU_ARM_ENTRY)
    assert (entry.magic, entry.mask, entry.flags, entry.enabled) == (magic, mask, "POCF", True)
    assert entry.matches(magic)
    pie = bytearray(magic)
    pie[16] = 3  # ET_DYN: position-independent executables match too
    assert entry.matches(bytes(pie))
    assert not entry.matches(magic[:18] + b"\xb7\x00")  # aarch64's e_machine


def test_register_writes_the_line(fake: Binfmt, capsys) -> None:
    status, out, err = run_main(["register", "--arch", "arm"], fake, capsys)
    assert status == 0, err
    line = Path(fake.dir, "register").read_text()
    magic, mask = load_target("arm").binfmt_magic()
    name, kind, offset, m, k, interpreter, flags = line.split(":")[1:]
    assert (name, kind, offset, flags) == ("pyuser-arm", "M", "", "P")
    assert (unescape(m), unescape(k)) == (magic, mask)
    assert interpreter == str(BIN_DIR / "pyuser-arm")
    assert out == f"registered pyuser-arm: {interpreter} (flags 'P')\n"


def test_existing_entry_is_an_error_that_says_how_to_replace(fake: Binfmt, capsys) -> None:
    Path(fake.dir, "pyuser-arm").write_text(QEMU_ARM_ENTRY)
    status, out, err = run_main(["register", "--arch", "arm"], fake, capsys)
    assert status == 1
    one_line_error(err)
    assert "entry named pyuser-arm already exists" in err
    assert "--replace" in err and "pyuser-binfmt unregister --arch arm" in err
    assert Path(fake.dir, "register").read_text() == ""


def test_not_root(fake: Binfmt, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    for argv in (["register"], ["unregister", "--arch", "arm"]):
        Path(fake.dir, "pyuser-arm").write_text(QEMU_ARM_ENTRY)
        status, _out, err = run_main(argv, fake, capsys)
        assert status == 1
        assert "needs root" in one_line_error(err)


def test_binfmt_misc_unavailable(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    unmounted = Binfmt(str(tmp_path))
    monkeypatch.setattr(Binfmt, "kernel_supports", lambda self: False)
    status, _out, err = run_main(["register"], unmounted, capsys)
    assert status == 1
    assert "binfmt_misc is unavailable" in one_line_error(err)
    assert "CONFIG_BINFMT_MISC" in err

    monkeypatch.setattr(Binfmt, "kernel_supports", lambda self: True)
    monkeypatch.setattr(Binfmt, "_mount", lambda self: errno.EPERM)
    status, _out, err = run_main(["register"], unmounted, capsys)
    assert status == 1
    assert "cannot mount it on" in one_line_error(err)
    assert "Operation not permitted" in err


def test_dry_run_changes_nothing(fake: Binfmt, capsys, monkeypatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)  # no root needed
    status, out, _err = run_main(["register", "--dry-run", "--flags", "F,P"], fake, capsys)
    assert status == 0
    arm = [line for line in out.splitlines() if line.startswith(":pyuser-arm:")]
    assert len(arm) == 1 and arm[0].startswith(":pyuser-arm:M::\\x7f\\x45\\x4c\\x46")
    assert arm[0].endswith("/pyuser-arm:PF")
    assert Path(fake.dir, "register").read_text() == ""


def test_systemd_files(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)  # a writable directory is enough
    fake = Binfmt(str(tmp_path / "unused"))
    confdir = tmp_path / "binfmt.d"
    status, out, err = run_main(["register", "--systemd", str(confdir)], fake, capsys)
    assert status == 0, err
    conf = confdir / "pyuser-arm.conf"
    lines = conf.read_text().splitlines()
    assert lines[0].startswith("#") and lines[1].startswith(":pyuser-arm:M::")
    assert "systemctl restart systemd-binfmt" in out

    status, _out, err = run_main(["register", "--systemd", str(confdir)], fake, capsys)
    assert status == 1 and "already exists" in one_line_error(err) and "--replace" in err
    status, _out, err = run_main(["register", "--systemd", str(confdir), "--replace"],
                                 fake, capsys)
    assert status == 0, err

    status, out, err = run_main(["unregister", "--systemd", str(confdir), "--arch", "arm"],
                                fake, capsys)
    assert status == 0, err
    assert not conf.exists()
    status, _out, err = run_main(["unregister", "--systemd", str(confdir), "--arch", "arm"],
                                 fake, capsys)
    assert status == 1 and "not registered: pyuser-arm" in one_line_error(err)
    # without --arch, nothing to remove is not an error
    assert run_main(["unregister", "--systemd", str(confdir)], fake, capsys)[0] == 0


def test_host_architecture_is_skipped_unless_named(fake: Binfmt, capsys, monkeypatch) -> None:
    monkeypatch.setattr(binfmt.platform, "machine", lambda: "armv7l")
    monkeypatch.setattr(binfmt, "all_targets", lambda: ["arm"])
    status, out, _err = run_main(["register", "--dry-run"], fake, capsys)
    assert status == 0
    assert "skipping arm: this armv7l host runs it natively" in out
    assert "nothing to register" in out
    status, out, _err = run_main(["register", "--dry-run", "--arch", "arm"], fake, capsys)
    assert status == 0 and ":pyuser-arm:M::" in out


def test_flags() -> None:
    assert binfmt.parse_flags("F,P,O,C") == "POCF"
    assert binfmt.parse_flags("po") == "PO"
    assert binfmt.DEFAULT_FLAGS == "P"  # C is never on unless asked
    with pytest.raises(binfmt.UserError, match="unknown flag 'X'"):
        binfmt.parse_flags("PX")


def test_help_explains_the_flags_and_why_c_is_dangerous() -> None:
    out = subprocess.run([BIN_DIR / "pyuser-binfmt", "register", "--help"],
                         capture_output=True, text=True, check=True).stdout
    assert "C  credentials (implies O)" in out
    assert "Dangerous, never enabled unless asked" in out
    assert "F  fix binary" in out and "stable path" in out


def test_open_binary_and_wrappers_get_the_native_launcher(fake: Binfmt, tmp_path: Path,
                                                          capsys) -> None:
    status, out, _err = run_main(["register", "--dry-run", "--flags", "PO",
                                  "--launcher-dir", str(tmp_path / "l")], fake, capsys)
    assert status == 0
    assert f"would build the launcher {tmp_path}/l/pyuser-arm" in out
    arm = [line for line in out.splitlines() if line.startswith(":pyuser-arm:")]
    assert len(arm) == 1 and arm[0].endswith(f":{tmp_path}/l/pyuser-arm:PO")

    # a shell wrapper (a pyenv shim, say) cannot pass AT_FLAGS on: launcher for P too
    shim_dir = tmp_path / "shims"
    shim_dir.mkdir()
    shim = shim_dir / "pyuser-arm"
    shim.write_text('#!/usr/bin/env bash\nexec pyenv exec pyuser-arm "$@"\n')
    shim.chmod(0o755)
    status, out, _err = run_main(["register", "--dry-run", "--path", str(shim_dir),
                                  "--launcher-dir", str(tmp_path / "l")], fake, capsys)
    assert status == 0
    assert f"would build the launcher {tmp_path}/l/pyuser-arm for {shim}" in out
    # ... but without P the wrapper itself will do
    status, out, _err = run_main(["register", "--dry-run", "--path", str(shim_dir),
                                  "--flags", ""], fake, capsys)
    assert status == 0 and out.splitlines()[-1].endswith(f":{shim}:")


def test_status(fake: Binfmt, capsys) -> None:
    Path(fake.dir, "qemu-arm").write_text(QEMU_ARM_ENTRY)
    Path(fake.dir, "pyuser-arm").write_text(QEMU_ARM_ENTRY.replace(
        "/usr/libexec/qemu-binfmt/arm-binfmt-P", "/opt/bin/pyuser-arm").replace("POCF", "P"))
    Path(fake.dir, "python3.11").write_text(
        "enabled\ninterpreter /usr/bin/python3.11\nflags: \noffset 0\nmagic a70d0d0a\n")
    status, out, _err = run_main(["status"], fake, capsys)
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == f"binfmt_misc: {fake.dir} (enabled)"
    arm = lines.index("arm:")
    assert lines[arm + 1:arm + 4] == [
        "  pyuser-arm [pyuser]: enabled, flags 'P', interpreter /opt/bin/pyuser-arm",
        "  qemu-arm: enabled, flags 'POCF', interpreter /usr/libexec/qemu-binfmt/arm-binfmt-P",
        "  several enabled entries: the kernel uses the most recently registered one",
    ]
    assert "python3.11" not in out


# ------------------------------------------------------------ binfmt_entry


def fake_auxv(monkeypatch: pytest.MonkeyPatch, flags: int, execfd: int | None) -> None:
    values = {binfmt_entry.AT_FLAGS: flags, binfmt_entry.AT_EXECFD: execfd}
    monkeypatch.setattr(binfmt_entry, "getauxval", values.get)


def test_ordinary_start_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    assert binfmt_entry.getauxval(binfmt_entry.AT_FLAGS) == 0  # this process: no binfmt
    assert binfmt_entry.getauxval(binfmt_entry.AT_EXECFD) is None
    argv = ["-strace", "./prog", "-x"]
    assert binfmt_entry.from_kernel(argv).argv == argv


def test_preserved_argv0(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_auxv(monkeypatch, binfmt_entry.AT_FLAGS_PRESERVE_ARGV0, None)
    launch = binfmt_entry.from_kernel(["/bin/-odd", "name", "-x", "y"])
    assert launch.argv == ["-0", "name", "--", "/bin/-odd", "-x", "y"]
    assert launch.program_file is None


def test_launcher_marker(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_auxv(monkeypatch, 0, None)  # the launcher's values win over Python's own
    launch = binfmt_entry.from_kernel(["-binfmt-auxv", "0,-", "./prog", "a"])
    assert launch.argv == ["--", "./prog", "a"]
    launch = binfmt_entry.from_kernel(["-binfmt-auxv", "1,-", "./prog", "argv0", "a"])
    assert launch.argv == ["-0", "argv0", "--", "./prog", "a"]


def test_program_from_fd(tmp_path: Path) -> None:
    prog = tmp_path / "prog"
    prog.write_bytes(b"\x7fELF" + bytes(range(256)) * 10)
    fd = os.open(prog, os.O_RDONLY)
    assert binfmt_entry.program_from_fd(fd, str(prog)) is None  # same file: by name
    with pytest.raises(OSError):
        os.fstat(fd)  # and the kernel's descriptor is closed
    fd = os.open(prog, os.O_RDONLY)
    prog.rename(tmp_path / "moved")  # the name no longer names it: a copy
    path = binfmt_entry.program_from_fd(fd, str(prog))
    assert path is not None and path.startswith("/proc/self/fd/")
    assert Path(path).read_bytes() == (tmp_path / "moved").read_bytes()
    os.close(int(path.rsplit("/", 1)[1]))


def test_open_binary_start_end_to_end(tmp_path: Path) -> None:
    """What the launcher does for an O entry, without the kernel: the program
    comes from the descriptor, its name and argv[0] from the arguments."""
    probe = build_probe(tmp_path)
    fd = os.open(probe, os.O_RDONLY)
    try:
        proc = subprocess.run(
            [BIN_DIR / "pyuser-arm", "-binfmt-auxv", f"1,{fd}", "/no/such/prog", "given-argv0",
             "x"], pass_fds=[fd], capture_output=True, text=True, env=tool_env(), timeout=60)
    finally:
        os.close(fd)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "argv[0]=given-argv0\nargv[1]=x\n"


def test_armel_entry_matches_soft_float_programs_only() -> None:
    # issue 18: armel and armhf share EM_ARM; e_flags' float ABI tells them apart
    magic, mask = load_target("armel").binfmt_magic()
    entry = Entry(name="pyuser-armel", enabled=True, interpreter="", flags="P",
                  magic=magic, mask=mask)
    header = bytearray(load_target("arm").binfmt_magic()[0] + bytes(20))
    header[36:40] = (0x05000200).to_bytes(4, "little")  # EABI5, soft-float
    assert entry.matches(bytes(header))
    header[16] = 3  # PIE
    assert entry.matches(bytes(header))
    header[36:40] = (0x05000400).to_bytes(4, "little")  # EABI5, hard-float (armhf)
    assert not entry.matches(bytes(header))
