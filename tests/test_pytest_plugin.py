"""The pytest plugin: the example of docs/pytest.md, run by a separate pytest
that loads the plugin through its entry point (as any project would)."""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import sys
from pathlib import Path

from integration_helpers import fenced_blocks, tool_env


def test_entry_point_is_installed() -> None:
    found = [e for e in importlib.metadata.entry_points(group="pytest11") if e.name == "pyuser"]
    assert [e.value for e in found] == ["pyuser.pytest_plugin"], \
        "reinstall pyuser (pip install -e .) to register its pytest plugin"


def run_example(tmp_path: Path, guest_bins: Path, *options: str) -> subprocess.CompletedProcess:
    (example,) = fenced_blocks("pytest.md", "python")
    (tmp_path / "test_cross.py").write_text(example)
    (tmp_path / "build" / "arm").mkdir(parents=True, exist_ok=True)
    shutil.copy(guest_bins / "hello", tmp_path / "build" / "arm" / "hello")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", "--rootdir",
         str(tmp_path), "test_cross.py", *options],
        cwd=tmp_path, capture_output=True, text=True, env=tool_env(), timeout=300)


def test_docs_example_runs_per_architecture(tmp_path: Path, guest_bins: Path) -> None:
    (command,) = fenced_blocks("pytest.md", "sh")
    assert command.strip() == "pytest test_cross.py --pyuser-arch arm"
    proc = run_example(tmp_path, guest_bins, "--pyuser-arch", "arm")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "test_cross.py::test_hello[arm] PASSED" in proc.stdout
    assert "3 passed" in proc.stdout


def test_architectures_parametrize_the_tests(tmp_path: Path, guest_bins: Path) -> None:
    # a second architecture the project has no build for: the tests run for it too
    # (and fail there), which shows the parametrization
    proc = run_example(tmp_path, guest_bins, "--pyuser-arch", "arm,mips", "-k", "test_hello[")
    assert "test_cross.py::test_hello[arm] PASSED" in proc.stdout, proc.stdout
    assert "test_cross.py::test_hello[mips] FAILED" in proc.stdout, proc.stdout

    (tmp_path / "pytest.ini").write_text("[pytest]\npyuser_arch = arm\n")
    proc = run_example(tmp_path, guest_bins, "--collect-only")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "<Function test_hello[arm]>" in proc.stdout
    assert "3 tests collected" in proc.stdout
