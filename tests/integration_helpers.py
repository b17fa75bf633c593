"""Helpers for the integration tests (binfmt_misc, CMake, meson, pytest, API).

The docs' copy-paste examples are the tests' scripts: fenced_blocks() pulls
them out of docs/*.md, and they run with this Python environment's bin
directory first on PATH, so `pyuser-arm`, `pyuser-binfmt`, `meson` and
`ninja` are the ones installed with the pyuser under test (not, say, a pyenv
shim).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
BIN_DIR = Path(sys.executable).parent

_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)

# A guest program that prints its argv (argv[0] included) and, with
# `--cat PATH`, the contents of PATH as the guest sees it.
PROBE_C = r"""
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        printf("argv[%d]=%s\n", i, argv[i]);
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "--cat") == 0) {
            FILE *f = fopen(argv[i + 1], "r");
            char line[256];
            if (f == NULL) {
                printf("cannot open %s\n", argv[i + 1]);
                continue;
            }
            while (fgets(line, sizeof line, f) != NULL)
                printf("cat: %s", line);
            fclose(f);
        }
    return 0;
}
"""


def fenced_blocks(doc: str | Path, lang: str) -> list[str]:
    """The fenced code blocks of `lang` in docs/`doc`, in order."""
    text = (DOCS / doc).read_text(encoding="utf-8")
    return [body for kind, body in _FENCE.findall(text) if kind == lang]


def tool_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{BIN_DIR}{os.pathsep}{env.get('PATH', '')}"
    for name in [n for n in env if n.startswith(("PYUSER_", "QEMU_"))]:
        del env[name]
    env.update(extra or {})
    return env


def run_sh(script: str, cwd: Path, env: dict[str, str] | None = None,
           timeout: float = 300) -> subprocess.CompletedProcess:
    """Run a docs shell block with bash -e (stops at the first failing command)."""
    return subprocess.run(["bash", "-e", "-c", script], cwd=cwd, env=env or tool_env(),
                          capture_output=True, text=True, timeout=timeout)


def build_probe(directory: Path) -> Path:
    """Cross-compile PROBE_C (static armhf) into `directory`/probe-arm."""
    src = directory / "probe.c"
    out = directory / "probe-arm"
    if not out.exists():
        src.write_text(PROBE_C)
        subprocess.run(["arm-linux-gnueabihf-gcc", "-static", "-O2", "-o", str(out), str(src)],
                       check=True, capture_output=True, timeout=120)
    return out
