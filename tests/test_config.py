"""The per-architecture config file (a default sysroot for option-less starts)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from integration_helpers import BIN_DIR, build_probe, fenced_blocks, tool_env

from pyuser import config
from pyuser.errors import UserError


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_probe(tmp_path_factory.mktemp("probe"))


def make_root(base: Path, text: str) -> Path:
    root = base / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "pyuser-marker").write_text(text)
    return root


def write_config(home: Path, sysroot: Path) -> Path:
    """arm.conf under XDG_CONFIG_HOME=home, from the example in docs/binfmt.md."""
    (example,) = fenced_blocks("binfmt.md", "ini")
    assert "sysroot = /usr/arm-linux-gnueabihf" in example
    conf = home / "pyuser" / "arm.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text(example.replace("/usr/arm-linux-gnueabihf", str(sysroot)))
    return conf


def run_probe(probe: Path, extra_env: dict[str, str], *options: str) -> str:
    proc = subprocess.run([BIN_DIR / "pyuser-arm", *options, probe, "--cat", "/etc/pyuser-marker"],
                          capture_output=True, text=True, env=tool_env(extra_env), timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()[-1]


def test_config_sysroot_and_its_precedence(probe: Path, tmp_path: Path) -> None:
    root = make_root(tmp_path / "a", "from the config's sysroot\n")
    other = make_root(tmp_path / "b", "from PYUSER_LD_PREFIX\n")
    third = make_root(tmp_path / "c", "from -L\n")
    home = tmp_path / "config"
    write_config(home, root)
    env = {"XDG_CONFIG_HOME": str(home)}
    assert run_probe(probe, env) == "cat: from the config's sysroot"
    assert run_probe(probe, {**env, "PYUSER_LD_PREFIX": str(other)}) == \
        "cat: from PYUSER_LD_PREFIX"
    assert run_probe(probe, {**env, "QEMU_LD_PREFIX": str(other)}) == \
        "cat: from PYUSER_LD_PREFIX"
    assert run_probe(probe, {**env, "PYUSER_LD_PREFIX": str(other)}, "-L", str(third)) == \
        "cat: from -L"
    # no config file: the host's /etc
    assert run_probe(probe, {"XDG_CONFIG_HOME": str(tmp_path / "none")}) == \
        "cannot open /etc/pyuser-marker"


def test_bad_config_is_one_line(probe: Path, tmp_path: Path) -> None:
    conf = tmp_path / "pyuser" / "arm.conf"
    conf.parent.mkdir()
    conf.write_text("# comment\n\nsysroot: /x\n")
    proc = subprocess.run([BIN_DIR / "pyuser-arm", probe], capture_output=True, text=True,
                          env=tool_env({"XDG_CONFIG_HOME": str(tmp_path)}), timeout=60)
    assert proc.returncode == 1
    assert proc.stderr == f"pyuser-arm: {conf}:3: expected 'name = value'\n"


def test_parse() -> None:
    assert config.parse("sysroot = /a/b  # comment\n", "f") == {"sysroot": "/a/b"}
    with pytest.raises(UserError, match="f:1: unknown setting 'cpu'"):
        config.parse("cpu = x\n", "f")
    with pytest.raises(UserError, match="f:2: sysroot must be an absolute path"):
        config.parse("\nsysroot = rel\n", "f")


def test_search_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert config.config_paths("arm") == [f"{tmp_path}/pyuser/arm.conf", "/etc/pyuser/arm.conf"]
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert config.config_paths("arm")[0] == f"{tmp_path}/home/.config/pyuser/arm.conf"
