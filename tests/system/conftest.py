"""Shared fixtures for the system-mode tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE_SRC = ROOT / "tests" / "guest_bins" / "system"
FIRMWARE_OUT = ROOT / "tests" / "guest_bins" / "build" / "system"
PYUSER_SYSTEM = [sys.executable, "-m", "pyuser.system.cli"]
QEMU = ["qemu-system-arm", "-M", "virt", "-cpu", "cortex-a15", "-nographic", "-semihosting"]


@pytest.fixture(scope="session")
def firmware() -> Path:
    """Build the bare-metal test programs once per session."""
    subprocess.run(["make", "-s", "-C", str(FIRMWARE_SRC), f"OUT={FIRMWARE_OUT}"],
                   check=True, timeout=120)
    return FIRMWARE_OUT


def run_pyuser(args: list[str], stdin: bytes = b"", timeout: float = 20) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(PYUSER_SYSTEM + args, input=stdin, capture_output=True, timeout=timeout, env=env)


def run_qemu(kernel: Path, stdin: bytes = b"", timeout: float = 20) -> subprocess.CompletedProcess:
    return subprocess.run(QEMU + ["-kernel", str(kernel)], input=stdin, capture_output=True, timeout=timeout)
