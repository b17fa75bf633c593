"""Dynamic Debian 12 userlands of issue 18's release ports (mips64el, armel, s390x):
busybox, coreutils, python3 and sqlite3 from a sysroot of Debian's packages
(tools/make-sysroot.sh), compared with qemu-<arch>-static -L.  The sysroots
cost a download each, so these run under `make test-ports` (-m ports_full)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import build_sysroot

REPO = Path(__file__).resolve().parent.parent
PORTS = ["mips64el", "armel", "s390x"]

pytestmark = pytest.mark.ports_full


@pytest.fixture(scope="module", params=PORTS)
def port(request):
    return request.param, build_sysroot(request.param)


PYTHON_SCRIPT = (
    "import json, hashlib, re, struct, decimal, sqlite3; "
    "db = sqlite3.connect(':memory:'); db.execute('create table t(a)'); "
    "db.executemany('insert into t values (?)', [(1,), (2,), (3,)]); "
    "print(json.dumps({'h': hashlib.sha256(b'x').hexdigest()[:8], "
    "'r': re.sub(r'\\d', '#', 'a1b2'), 's': struct.pack('<I', 7).hex(), "
    "'d': str(decimal.Decimal('0.1') * 3), "
    "'q': db.execute('select sum(a) from t').fetchone()[0]}))")

CASES = [
    (["bin/ls", "-1", "{repo}/docs"], None, None),
    (["usr/bin/factor", "1234567890"], None, "1234567890: 2 3 3 5 3607 3803\n"),
    (["usr/bin/seq", "3"], None, "1\n2\n3\n"),
    (["bin/date", "-u", "-d", "@1700000000"], None, "Tue Nov 14 22:13:20 UTC 2023\n"),
    (["usr/bin/sort", "-n"], "10\n9\n100\n-1\n", "-1\n9\n10\n100\n"),
    (["bin/busybox", "sh", "-c", "echo $((6 * 7)); echo abc | sha256sum"], None,
     "42\nedeaaff3f1774ad2888673770c6d64097e391bc362d7d6fb34982ddf0efd18cb  -\n"),
    (["usr/bin/sqlite3", ":memory:",
      "create table t(a, b); insert into t values (1, 'x'), (2, 'y'); "
      "select group_concat(b), sum(a) from t;"], None, "x,y|3\n"),
    (["usr/bin/python3", "-I", "-B", "-c", PYTHON_SCRIPT], None,
     '{"h": "2d711642", "r": "a#b#", "s": "07000000", "d": "0.3", "q": 6}\n'),
]


@pytest.mark.parametrize(("argv", "stdin", "expected"), CASES,
                         ids=lambda c: Path(c[0]).name if isinstance(c, list) else None)
def test_port_sysroot_program(port, assert_same_as_qemu, argv, stdin, expected):
    arch, sysroot = port
    args = [a.replace("{repo}", str(REPO)) for a in argv[1:]]
    kw = {"stdout": expected} if expected is not None else {}
    if stdin is not None:
        kw["input"] = stdin
    assert_same_as_qemu(["-L", sysroot, sysroot / argv[0], *args], arch, timeout=300, **kw)
