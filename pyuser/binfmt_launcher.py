"""A native launcher for binfmt_misc entries whose flags a ``#!`` script cannot serve.

With the O flag (and C, which implies it) the kernel passes the program as
an open file and then refuses a second interpreter level: a ``#!`` script
as the entry's interpreter fails with ENOEXEC (fs/exec.c, exec_binprm,
measured on this kernel).  A ``#!`` script that does not name Python itself
(``#!/usr/bin/env python3``, a shell wrapper such as a pyenv shim) loses
the auxiliary vector at its second exec, so P cannot be seen either.

The launcher is a few lines of C, compiled on the host by
``pyuser-binfmt register`` with the host's C compiler: it runs the console
script with its Python and passes AT_FLAGS and AT_EXECFD on as
``-binfmt-auxv FLAGS,FD`` (read back by pyuser.binfmt_entry).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

from pyuser.binfmt_entry import LAUNCHER_MARKER
from pyuser.errors import UserError

SIGNATURE = "pyuser binfmt launcher"

_SOURCE = r"""/* @SIGNATURE@, written by pyuser-binfmt: runs @SCRIPT_COMMENT@ */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

static const char python[] = @PYTHON@;
static const char script[] = @SCRIPT@;
static const char signature[] = "@SIGNATURE@";

int main(int argc, char **argv)
{
    char auxv[64];
    unsigned long flags = getauxval(AT_FLAGS);
    unsigned long fd;

    errno = 0;
    fd = getauxval(AT_EXECFD);
    if (errno != 0)
        snprintf(auxv, sizeof auxv, "%lu,-", flags);
    else
        snprintf(auxv, sizeof auxv, "%lu,%lu", flags, fd);

    char **args = calloc((size_t)argc + 4, sizeof *args);
    if (args == NULL)
        return 127;
    args[0] = (char *)python;
    args[1] = (char *)script;
    args[2] = "@MARKER@";
    args[3] = auxv;
    for (int i = 1; i < argc; i++)
        args[i + 3] = argv[i];
    execv(python, args);
    fprintf(stderr, "%s: cannot run %s: %s\n", signature, python, strerror(errno));
    return 127;
}
"""


def c_string(text: str) -> str:
    """A C string literal for `text` (any byte that is not plain ASCII as octal)."""
    out = []
    for byte in os.fsencode(text):
        ch = chr(byte)
        if 0x20 <= byte < 0x7F and ch not in '"\\?':
            out.append(ch)
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


def source(python: str, script: str) -> str:
    comment = script.replace("*/", "* /")
    return (_SOURCE.replace("@PYTHON@", c_string(python))
            .replace("@SCRIPT@", c_string(script))
            .replace("@SCRIPT_COMMENT@", comment)
            .replace("@SIGNATURE@", SIGNATURE)
            .replace("@MARKER@", LAUNCHER_MARKER))


def find_compiler() -> str:
    for name in filter(None, (os.environ.get("CC"), "cc", "gcc", "clang")):
        path = shutil.which(name)
        if path:
            return path
    raise UserError("the native launcher (needed for the O and C flags, or a script "
                    "that does not name Python) needs a C compiler: install gcc")


def build(dest: str, python: str, script: str) -> None:
    """Compile the launcher for `script` run by `python` into `dest` (atomically)."""
    cc = find_compiler()
    directory = os.path.dirname(dest) or "."
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create {directory}: {e.strerror}") from None
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "launcher.c")
        out = os.path.join(tmp, "launcher")
        with open(src, "w", encoding="utf-8") as f:
            f.write(source(python, script))
        # static when the host has libc.a: the launcher then needs no loader
        for extra in (["-static"], []):
            proc = subprocess.run([cc, "-O2", *extra, "-o", out, src],
                                  capture_output=True, text=True)
            if proc.returncode == 0:
                break
        else:
            last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
            raise UserError(f"compiling the launcher with {cc} failed: {last}")
        try:
            tmp_dest = dest + ".new"
            shutil.copyfile(out, tmp_dest)
            os.chmod(tmp_dest, 0o755)
            os.replace(tmp_dest, dest)
        except OSError as e:
            raise UserError(f"cannot install the launcher as {dest}: {e.strerror}") from None


def is_launcher(path: str) -> bool:
    """True for a file that build() wrote."""
    try:
        with open(path, "rb") as f:
            return SIGNATURE.encode() in f.read(1 << 20)
    except OSError:
        return False
