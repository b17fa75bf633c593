"""pytest plugin (entry point ``pytest11``): a ``pyuser`` fixture, parametrized
over the architectures given with ``--pyuser-arch``.

    def test_hello(pyuser):
        result = pyuser.run([f"build-{pyuser.arch}/hello"])
        assert result.stdout == b"hello\\n"

``pytest --pyuser-arch arm,aarch64`` runs such a test once per architecture
(ids ``test_hello[arm]``, ...); without the option, the ``pyuser_arch`` ini
setting decides, and without that every architecture pyuser emulates.
Loaded by every pytest run in an environment where pyuser is installed, so it
imports nothing heavy until a test asks for the fixture.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pyuser.api import Result
    from pyuser.emulator import Emulator


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pyuser", "foreign programs under pyuser")
    group.addoption("--pyuser-arch", action="append", default=None, metavar="ARCH[,ARCH...]",
                    help="run tests that use the `pyuser` fixture once per architecture")
    parser.addini("pyuser_arch", type="args", default=[],
                  help="default architectures for the `pyuser` fixture")


def selected_arches(config: pytest.Config) -> list[str]:
    given = config.getoption("pyuser_arch") or config.getini("pyuser_arch") or []
    arches = [a for item in given for a in item.split(",") if a]
    if not arches:
        from pyuser.targets import target_names

        arches = target_names()
    return list(dict.fromkeys(arches))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "pyuser_arch" in metafunc.fixturenames:
        metafunc.parametrize("pyuser_arch", selected_arches(metafunc.config), scope="session")


class PyuserFixture:
    """Runs foreign programs for one architecture (the `pyuser` fixture)."""

    def __init__(self, arch: str) -> None:
        self.arch = arch

    def __repr__(self) -> str:
        return f"<pyuser fixture arch={self.arch}>"

    @property
    def command(self) -> list[str]:
        """A command prefix for subprocess: ``[*pyuser.command, program, args...]``."""
        script = os.path.join(os.path.dirname(sys.executable), f"pyuser-{self.arch}")
        if os.path.isfile(script):
            return [script]
        found = shutil.which(f"pyuser-{self.arch}")
        if found:
            return [found]
        from pyuser.api import command

        return command([], arch=self.arch)[:-1]  # this Python running pyuser; drop "--"

    def run(self, argv: Sequence[str | os.PathLike[str]], **kw) -> Result:
        """pyuser.run for this architecture (same keywords)."""
        from pyuser.api import run

        return run(argv, arch=self.arch, **kw)

    def emulator(self, argv: Sequence[str | os.PathLike[str]], **kw) -> Emulator:
        """An in-process pyuser.Emulator for this architecture (same keywords)."""
        from pyuser.emulator import Emulator

        return Emulator(argv, arch=self.arch, **kw)


@pytest.fixture(scope="session")
def pyuser_arch() -> str:
    """The architecture under test (parametrized by --pyuser-arch)."""
    return "arm"  # replaced by the parametrization above


@pytest.fixture
def pyuser(pyuser_arch: str) -> PyuserFixture:
    """Run foreign programs for the architecture under test."""
    return PyuserFixture(pyuser_arch)
