"""The Linux personality: every syscall family, and the one dispatch path.

Errors are values at the ABI boundary and exceptions inside: a handler raises
OSError (host errno), SyscallError (target errno name) or GuestFault (bad
pointer) and :meth:`Kernel.dispatch` turns each into the target's -errno in
this one place.
"""

from __future__ import annotations

import errno as host_errno
import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pyuser.memory import GuestFault, OutOfMemory
from pyuser.syscalls import arch
from pyuser.syscalls.base import CpuServices, SyscallFamily
from pyuser.syscalls.exec import ExecCalls
from pyuser.syscalls.file_io import FileIoCalls
from pyuser.syscalls.file_status import FileStatusCalls
from pyuser.syscalls.files import DescriptorCalls
from pyuser.syscalls.fork import ForkCalls
from pyuser.syscalls.futex import FutexCalls
from pyuser.syscalls.ioctl import IoctlCalls
from pyuser.syscalls.memory import MemoryCalls
from pyuser.syscalls.messages import MessageCalls
from pyuser.syscalls.mqueue import MqueueCalls
from pyuser.syscalls.network import NetworkCalls
from pyuser.syscalls.paths import PathCalls
from pyuser.syscalls.polling import PollingCalls
from pyuser.syscalls.processes import ProcessCalls
from pyuser.syscalls.signals import SignalCalls
from pyuser.syscalls.sysv_ipc import SysvIpcCalls
from pyuser.syscalls.table import Entry, build_table
from pyuser.syscalls.threads import ThreadCalls
from pyuser.syscalls.time import TimeCalls
from pyuser.syscalls.types import NoReturn, SyscallError
from pyuser.syscalls.uid16 import Uid16Calls
from pyuser.syscalls.xattr import XattrCalls

if TYPE_CHECKING:
    from pyuser.process import Process
    from pyuser.targets.base import Target


class KernelCore(SyscallFamily):
    """Provides the services of pyuser.syscalls.base and dispatches by number.

    What every OS personality shares: the process state the handlers use,
    the table built from the families' typed signatures (each handler bound
    once, when its entry is first used), and the one place exceptions become
    guest errnos.  :class:`Kernel` is Linux's; pyuser.syscalls.freebsd has
    another.
    """

    def __init__(self, process: Process) -> None:
        self.proc = process
        self.target = process.target
        self.abi = process.target.abi
        self.mem = process.memory
        self.log = process.log
        # the CPU loop's services; the builder of the process attaches them
        self.cpu: CpuServices | None = None  # type: ignore[assignment]
        # syscall number -> a test of the register bank that says the call
        # will wait (a futex WAIT, not a WAKE): once a second thread exists the
        # CPU loop serves such a call with the engine stopped from the start,
        # rather than stopping it when the handler finds it must wait (which
        # served the call twice).  Families add theirs in setup_family.
        self.waits_when: dict[int, Callable[[Any], bool]] = {}
        self._setup_families()
        self.table, self.sparse = build_table(self)
        self._reported_unknown: set[int] = set()
        errno_names = self.abi.ERRNO
        self._efault = -errno_names["EFAULT"]
        self._enomem = -errno_names["ENOMEM"]
        self._enosys = -errno_names["ENOSYS"]
        self._einval = -errno_names["EINVAL"]
        self._ebadf = -errno_names["EBADF"]
        self.errno_from_host = self.target.errno_from_host
        self._errno_by_name = errno_names

    def attach_cpu(self, cpu: CpuServices) -> None:
        """The CPU loop that runs the process: clone's threads, sigreturn."""
        self.cpu = cpu

    def _setup_families(self) -> None:
        for klass in type(self).__mro__:
            setup = vars(klass).get("setup_family")
            if setup is not None:
                setup(self)

    def entry(self, number: int) -> Entry | None:
        table = self.table
        entry = table[number] if number < len(table) else self.sparse.get(number)
        if entry is not None:
            entry.complete()
        return entry

    def dispatch(self, regs: Any) -> int:
        """Run syscall regs[0] with arguments regs[1:]; the result as the guest sees it."""
        number = regs[0]
        table = self.table
        entry = table[number] if number < len(table) else self.sparse.get(number)
        if entry is None:
            return self.unknown(number)
        try:
            return entry.invoke(regs)
        except NoReturn:
            raise
        except SyscallError as e:
            return -self._errno_by_name[e.name]
        except OSError as e:
            return -self.errno_from_host.get(e.errno or host_errno.EINVAL, -self._einval)
        except GuestFault:
            return self._efault
        except OutOfMemory:
            return self._enomem
        except (ValueError, OverflowError) as e:
            # Python's os functions refuse, before the host kernel sees them, a
            # negative descriptor or a value too large for its C type; the
            # kernel refuses those too, with EBADF or EINVAL
            return self._ebadf if "file descriptor" in str(e) else self._einval

    def unknown(self, number: int) -> int:
        if number not in self._reported_unknown:
            self._reported_unknown.add(number)
            if self.log.enabled("unimp"):
                self.log.write(f"Unsupported syscall: {number}"
                               f" ({self.target.syscall_names.get(number, '?')})")
        return self._enosys


class Kernel(DescriptorCalls, FileIoCalls, FileStatusCalls, PathCalls, MemoryCalls, ProcessCalls,
             SignalCalls, TimeCalls, IoctlCalls, FutexCalls, NetworkCalls, MessageCalls,
             PollingCalls, ForkCalls, ExecCalls, XattrCalls, ThreadCalls, SysvIpcCalls, MqueueCalls,
             Uid16Calls, KernelCore):
    """The Linux personality: every Linux syscall family."""


_kernel_classes: dict[type, type[KernelCore]] = {}


def kernel_class(target: Target) -> type[KernelCore]:
    """The target's personality with its private syscall families mixed in
    (each class is made once)."""
    key = type(target)
    klass = _kernel_classes.get(key)
    if klass is None:
        base: type[KernelCore] = Kernel
        if target.os_name != "linux":
            # another personality (pyuser.syscalls.freebsd): its own families
            base = importlib.import_module(f"pyuser.syscalls.{target.os_name}").KERNEL
        own = tuple(arch.family(name) for name in target.syscall_families)
        klass = type(f"{key.__name__}Kernel", (*own, base), {}) if own else base
        _kernel_classes[key] = klass
    return klass


def kernel_for(process: Process) -> KernelCore:
    """The kernel that serves `process`'s syscalls."""
    return kernel_class(process.target)(process)
