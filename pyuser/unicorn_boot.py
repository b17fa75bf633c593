"""Loading the unicorn binding without its slow library search.

Importing unicorn 2.1.4's binding costs ~26 ms of CPU after Python's own
start, of which the dlopen of libunicorn.so.2 is ~6 ms: its library search
(``unicorn_py3.unicorn.__load_uc_lib``) imports pathlib and
importlib.resources (~11 ms: tempfile, shutil, zipfile, urllib...) and
inspect (~6 ms: ast, dis, tokenize...) only to build the list of places
where the library might be.  Measured with ``python -X importtime`` and
wait4's CPU time, median of 15 runs.

:func:`install` adds an import hook that, while (and only while) that one
module executes, lets it see small stand-ins for those three modules if
they are not loaded yet: the same search runs in the same order over the
same places (LIBUNICORN_PATH, the package's lib/, ...), with paths as
plain strings.  The stand-ins are removed right after; nothing else sees
them, and a program that has loaded the real modules keeps them.  If the binding's code does
not fit them (another unicorn version), its import is simply run again
with the real modules.
"""

from __future__ import annotations

import os
import sys
import types
from importlib.machinery import PathFinder

BINDING = "unicorn.unicorn_py3.unicorn"


class _StrPath:
    """As much of pathlib.Path as the binding's library search uses."""

    def __init__(self, *parts: object) -> None:
        self._path = os.path.join(*(os.fspath(p) if not isinstance(p, _StrPath) else p._path
                                    for p in parts)) if parts else "."

    def __truediv__(self, other: object) -> _StrPath:
        return _StrPath(self, other)

    @property
    def parent(self) -> _StrPath:
        return _StrPath(os.path.dirname(self._path) or ".")

    def exists(self) -> bool:
        return os.path.exists(self._path)

    def __fspath__(self) -> str:
        return self._path

    def __str__(self) -> str:
        return self._path


def _stand_ins(package_dir: str) -> dict[str, types.ModuleType]:
    pathlib = types.ModuleType("pathlib")
    pathlib.Path = pathlib.PurePath = _StrPath  # type: ignore[attr-defined]
    resources = types.ModuleType("importlib.resources")
    resources.files = lambda _package: _StrPath(package_dir)  # type: ignore[attr-defined]
    inspect = types.ModuleType("inspect")
    # the binding asks only for the file of its own function
    inspect.getfile = lambda function: function.__code__.co_filename  # type: ignore[attr-defined]
    return {"pathlib": pathlib, "importlib.resources": resources, "inspect": inspect}


class _BindingLoader:
    def __init__(self, real: object, package_dir: str) -> None:
        self._real = real
        self._package_dir = package_dir

    def create_module(self, spec: object) -> types.ModuleType | None:
        return self._real.create_module(spec)  # type: ignore[attr-defined]

    def exec_module(self, module: types.ModuleType) -> None:
        stand_ins = {name: stand_in for name, stand_in in _stand_ins(self._package_dir).items()
                     if name not in sys.modules}
        sys.modules.update(stand_ins)
        try:
            self._real.exec_module(module)  # type: ignore[attr-defined]
            return
        except Exception:  # noqa: BLE001 - the binding changed: the ordinary way
            if not stand_ins:
                raise
        finally:
            for name, stand_in in stand_ins.items():
                if sys.modules.get(name) is stand_in:
                    del sys.modules[name]
        self._real.exec_module(module)  # type: ignore[attr-defined]


class _BindingFinder:
    """Finds unicorn's binding module as usual, and wraps its loader."""

    @staticmethod
    def find_spec(name: str, path: object = None, target: object = None) -> object:
        if name != BINDING:
            return None
        spec = PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None or not spec.origin:
            return spec
        # .../unicorn/unicorn_py3/unicorn.py -> .../unicorn
        package_dir = os.path.dirname(os.path.dirname(spec.origin))
        spec.loader = _BindingLoader(spec.loader, package_dir)
        return spec


def install() -> None:
    """Make the next import of unicorn take the short way (no-op if it is loaded)."""
    if BINDING not in sys.modules and not any(isinstance(f, _BindingFinder)
                                              for f in sys.meta_path):
        sys.meta_path.insert(0, _BindingFinder())
