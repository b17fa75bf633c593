"""Translating flag words between the target's values and the host's, by name."""

from __future__ import annotations

from collections.abc import Iterable


class FlagMap:
    """Maps bit flags whose numeric values differ between target and host.

    Pairs are found by name; composite flags (O_SYNC, O_TMPFILE) contribute
    the bits their single-bit parts do not explain.  Bits with no host
    counterpart are dropped.
    """

    def __init__(self, names: Iterable[str], target: dict[str, int], host: dict[str, int]) -> None:
        pairs: list[tuple[int, int]] = []
        known_t = known_h = 0
        candidates = [(n, target[n], host[n]) for n in names if n in target and n in host]
        # single bits first, then the residue of composite values
        for _name, t, h in sorted(candidates, key=lambda x: bin(x[1]).count("1")):
            t_rest, h_rest = t & ~known_t, h & ~known_h
            if bin(t_rest).count("1") == 1 and bin(h_rest).count("1") <= 1:
                pairs.append((t_rest, h_rest))
                known_t |= t_rest
                known_h |= h_rest
        self.identity_mask = 0
        self.moved: list[tuple[int, int]] = []
        for t, h in pairs:
            if t == h:
                self.identity_mask |= t
            else:
                self.moved.append((t, h))

    def to_host(self, value: int, passthrough: int = 0) -> int:
        result = value & (self.identity_mask | passthrough)
        for t, h in self.moved:
            if value & t:
                result |= h
        return result

    def to_target(self, value: int, passthrough: int = 0) -> int:
        result = value & (self.identity_mask | passthrough)
        for t, h in self.moved:
            if value & h:
                result |= t
        return result
