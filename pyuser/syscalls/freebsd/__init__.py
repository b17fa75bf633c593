"""The FreeBSD personality: FreeBSD's syscalls on a Linux host, by family.

Handlers are declared with the same typed signatures as Linux's
(pyuser.syscalls.table) and dispatched by the same KernelCore; what differs
is FreeBSD's meaning: its flags, struct layouts (the generated LAYOUTS of
pyuser/targets/generated/freebsd_<arch>_abi.py), clock ids, signal numbers
and errnos.  The target's syscall hook turns results into FreeBSD's
carry-flag convention (pyuser.targets.freebsd).
"""

from pyuser.syscalls.freebsd.kernel import FreeBsdKernel

KERNEL = FreeBsdKernel
