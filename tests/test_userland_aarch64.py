"""A dynamic Debian arm64 sysroot under pyuser-aarch64, as the armhf one works
(issue: more CPUs): coreutils and python3, compared with qemu-aarch64-static -L."""

from __future__ import annotations

import pytest
from conftest import build_sysroot


@pytest.fixture(scope="module")
def sr64():
    return build_sysroot("aarch64")


CASES = [
    (["bin/ls", "-1", "{repo}/docs"], None),
    (["usr/bin/factor", "1234567890"], "1234567890: 2 3 3 5 3607 3803\n"),
    (["usr/bin/seq", "3"], "1\n2\n3\n"),
    (["bin/date", "-u", "-d", "@1700000000"], "Tue Nov 14 22:13:20 UTC 2023\n"),
    (["usr/bin/python3", "-I", "-B", "-c",
      "import json, hashlib, re, struct, decimal; "
      "print(json.dumps({'h': hashlib.sha256(b'x').hexdigest()[:8], "
      "'r': re.sub(r'\\d', '#', 'a1b2'), 's': struct.pack('<I', 7).hex(), "
      "'d': str(decimal.Decimal('0.1') * 3)}))"],
     '{"h": "2d711642", "r": "a#b#", "s": "07000000", "d": "0.3"}\n'),
]


@pytest.mark.parametrize(("argv", "expected"), CASES, ids=lambda c: str(c)[:20])
def test_arm64_sysroot_program(sr64, assert_same_as_qemu, argv, expected):
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    program = sr64 / argv[0]
    args = [a.replace("{repo}", str(repo)) for a in argv[1:]]
    kw = {"stdout": expected} if expected is not None else {}
    assert_same_as_qemu(["-L", sr64, program, *args], "aarch64", timeout=300, **kw)
