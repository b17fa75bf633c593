"""kqueue (filled in below)."""

from __future__ import annotations


class KeventCalls:
    def forget_kqueue(self, fd: int) -> None:
        pass
