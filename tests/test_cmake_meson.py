"""CMake and meson projects cross-compiled for arm, their tests run under pyuser.

The commands are the ones docs/cmake.md and docs/meson.md give, run from a
scratch directory that links to the repository's examples/.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from integration_helpers import REPO, fenced_blocks, run_sh

pytestmark = pytest.mark.usefixtures("guest_bins")  # the cross compiler is there


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "examples").symlink_to(REPO / "examples")
    return tmp_path


def _failed_tests(ctest_output: str) -> list[str]:
    """The names in ctest's "The following tests FAILED:" list."""
    _, found, tail = ctest_output.partition("The following tests FAILED:\n")
    assert found, ctest_output
    names = []
    for line in tail.splitlines():
        m = re.match(r"^\s+\d+ - (\S+) \((\w+)\)$", line)
        if not m:
            break
        names.append(f"{m.group(1)} ({m.group(2)})")
    return names


def test_cmake_ctest_runs_tests_under_pyuser(workdir: Path) -> None:
    passing, everything = fenced_blocks("cmake.md", "sh")[:2]
    run = run_sh(passing, workdir)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    assert "100% tests passed, 0 tests failed out of 4" in run.stdout, out

    run = run_sh(everything, workdir)
    assert run.returncode != 0, run.stdout
    assert "80% tests passed, 1 tests failed out of 5" in run.stdout, run.stdout
    assert _failed_tests(run.stdout) == ["deliberately_failing (Failed)"]

    # and the commands really went through pyuser-arm
    run = run_sh("ctest --test-dir build-arm -V -R runs_on_arm", workdir)
    assert run.returncode == 0, run.stdout
    command = re.search(r"Test command: (\S+) (\S+)", run.stdout)
    assert command, run.stdout
    assert Path(command.group(1)).name == "pyuser-arm"
    assert command.group(2).strip('"').endswith("build-arm/hello")


def test_meson_test_runs_tests_under_pyuser(workdir: Path) -> None:
    passing, everything = fenced_blocks("meson.md", "sh")[:2]
    run = run_sh(passing, workdir)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    summary = dict(re.findall(r"^(Ok|Expected Fail|Fail|Unexpected Pass|Skipped|Timeout):"
                              r"\s+(\d+)", run.stdout, re.MULTILINE))
    assert summary == {"Ok": "2", "Expected Fail": "1", "Fail": "0"}, out

    run = run_sh(everything, workdir)
    assert run.returncode != 0, run.stdout
    failed = re.findall(r"^\s*\d+/\d+ (.*?)\s+FAIL\s", run.stdout, re.MULTILINE)
    assert failed == ["demo-failure - pyuser-meson-example:deliberately failing"], run.stdout
    assert re.search(r"pyuser-arm \S+/test_greet --fail", run.stdout), run.stdout
