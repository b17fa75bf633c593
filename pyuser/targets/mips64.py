"""MIPS64 n64, big-endian (mips64): the mips64el target in the other byte order
(as pyuser.targets.mips is mipsel's; the byte order is handled where the data
is, see that module)."""

from __future__ import annotations

from pyuser.targets.generated import mips64_abi
from pyuser.targets.mips64el import Mips64elTarget


class Mips64Target(Mips64elTarget):
    name = "mips64"
    abi = mips64_abi


TARGET = Mips64Target
