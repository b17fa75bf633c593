"""Living within the host's address-space limit (RLIMIT_AS, `ulimit -v`).

pyuser needs host address space for two large things: the guest's
reservation (one mapping of the whole guest user space, 2 GiB for mips,
3 GiB for arm and i386, 4 GiB for aarch64, 64 GiB for x86_64 and riscv64;
untouched pages cost no memory, but they count against RLIMIT_AS) and, per
Unicorn engine, its buffer of translated code, 1 GiB unless set (measured
with unicorn 2.1.4: VmSize grows by 1 GiB at an engine's first mem_map; a
failed allocation makes Unicorn print "Could not allocate dynamic
translator buffer" and exit).

Without a limit nothing changes.  Under one, a target that allows it
(min_address_space: aarch64) gets a smaller guest space, each translation
buffer is cut to fit what is left (a smaller buffer is flushed more often;
the guest runs the same), and a reservation that cannot be made is one
clear error line.
"""

from __future__ import annotations

import resource

from pyuser.errors import LimitError

GIB = 1 << 30
MIB = 1 << 20
TRANSLATION_BUFFER_DEFAULT = GIB  # Unicorn's own default
TRANSLATION_BUFFER_MIN = 16 * MIB
TRANSLATION_BUFFER_LIMITED = 256 * MIB  # the most taken under a limit
# Left for Python's heap, host thread stacks and libraries after the engine.
HEADROOM = 256 * MIB
THREAD_ROOM = GIB  # left for guest threads when a guest space is shrunk


def address_space_limit() -> int | None:
    """The soft RLIMIT_AS in bytes, None when unlimited."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
    return None if soft == resource.RLIM_INFINITY else soft


def address_space_used() -> int:
    """This process's virtual size (VmSize)."""
    with open("/proc/self/status", "rb") as f:
        for line in f:
            if line.startswith(b"VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def translation_buffer_size() -> int | None:
    """The translation buffer for a new engine, None for Unicorn's default.

    Under a limit: a sixteenth of what is left beside HEADROOM, between
    TRANSLATION_BUFFER_MIN and TRANSLATION_BUFFER_LIMITED, so that the
    engines of a few guest threads still fit after the first; None when not
    even the smallest buffer fits (the caller then reports the limit).
    """
    limit = address_space_limit()
    if limit is None:
        return TRANSLATION_BUFFER_DEFAULT
    left = limit - address_space_used() - HEADROOM
    if left < TRANSLATION_BUFFER_MIN:
        return None
    size = min(TRANSLATION_BUFFER_LIMITED, max(TRANSLATION_BUFFER_MIN, left // 16))
    size &= ~(MIB - 1)
    return size if size >= TRANSLATION_BUFFER_MIN else None


def describe(size: int) -> str:
    """A size for a message: 3 GiB, 300 MiB."""
    if size >= GIB and size % (GIB // 4) == 0:
        return f"{size / GIB:g} GiB"
    return f"{size // MIB} MiB"


def fit_address_space(target: object) -> None:
    """Shrink a target's guest user space to what RLIMIT_AS can hold, where
    the target allows it (min_address_space); else leave it, and the
    reservation fails with reservation_error's line."""
    limit = address_space_limit()
    minimum = getattr(target, "min_address_space", None)
    if limit is None or minimum is None:
        return
    room = limit - address_space_used() - HEADROOM - 4 * TRANSLATION_BUFFER_MIN
    if room >= target.address_space_size:  # type: ignore[attr-defined]
        return
    # Shrunk, the space leaves THREAD_ROOM beside it: each guest thread costs
    # an engine and its buffer, a host stack (8 MiB) and often a malloc
    # arena (64 MiB of address space).
    size = (room - THREAD_ROOM) & ~(256 * MIB - 1)
    if size >= minimum:
        target.shrink_address_space(size)  # type: ignore[attr-defined]


def fit_translation_buffer(uc: object) -> None:
    """Size a new engine's translation buffer (before its first mem_map) to
    what RLIMIT_AS leaves; LimitError when nothing fits."""
    size = translation_buffer_size()
    if size is None:
        limit = address_space_limit() or 0
        raise LimitError(f"no host address space left for a translation buffer "
                         f"(ulimit -v, RLIMIT_AS, is {describe(limit)})")
    if size != TRANSLATION_BUFFER_DEFAULT:
        uc.ctl_set_tcg_buffer_size(size)  # type: ignore[attr-defined]


def reservation_error(size: int, error: OSError) -> LimitError:
    """The one line for a guest reservation the host refused."""
    limit = address_space_limit()
    if limit is None:
        return LimitError(f"cannot reserve {describe(size)} of host address space for the "
                          f"guest ({error.strerror})")
    return LimitError(f"cannot reserve {describe(size)} of host address space for the guest "
                      f"under ulimit -v (RLIMIT_AS) of {describe(limit)}: this target needs "
                      f"about {describe(size + TRANSLATION_BUFFER_MIN + HEADROOM)} or more")
