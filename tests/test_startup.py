"""Start-up hygiene: what a plain run imports (README.md, "Speed").

Not a timing test: it checks the design that keeps hello fast.  Modules a
plain run does not need are not imported (dataclasses alone, with the
inspect, ast, dis and tokenize it pulls in, cost ~13 ms of CPU per start);
unicorn's binding finds its library without the real pathlib,
importlib.resources and inspect (pyuser.unicorn_boot).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

# What a plain `pyuser-<arch> hello` must not import.
NOT_ON_THE_PLAIN_PATH = (
    "dataclasses", "inspect", "ast", "dis", "tokenize", "linecache", "traceback", "random",
    "pathlib", "importlib.resources", "argparse", "logging", "subprocess", "shutil", "tempfile",
    "elftools", "capstone",
)


def imported_modules(stderr: str) -> set[str]:
    """Module names from `python -X importtime`'s lines on stderr."""
    names = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
    return names


@pytest.mark.parametrize("arch", ["arm", "x86_64", "aarch64"])
def test_plain_run_imports_only_what_it_needs(arch: str) -> None:
    from conftest import build_guest_bins

    hello = build_guest_bins(arch) / "hello"
    script = Path(sys.executable).parent / f"pyuser-{arch}"
    proc = subprocess.run([sys.executable, "-X", "importtime", str(script), str(hello)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout == "Hello, world!\n"
    modules = imported_modules(proc.stderr)
    assert "pyuser.cpu" in modules and "unicorn" in modules  # the listing is real
    assert sorted(modules & set(NOT_ON_THE_PLAIN_PATH)) == []


def test_binding_stand_ins_are_gone_after_import() -> None:
    code = ("import sys, pyuser, unicorn\n"
            "left = [m for m in ('inspect', 'pathlib', 'importlib.resources')"
            " if m in sys.modules]\n"
            "import inspect, pathlib\n"
            "print(left, callable(inspect.signature), pathlib.Path('/a', 'b').parts)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=60)
    assert proc.stdout == "[] True ('/', 'a', 'b')\n"
