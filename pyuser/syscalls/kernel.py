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
from pyuser.syscalls.exec import ExecCalls
from pyuser.syscalls.files import FileCalls
from pyuser.syscalls.fork import ForkCalls
from pyuser.syscalls.futex import FutexCalls
from pyuser.syscalls.ioctl import IoctlCalls
from pyuser.syscalls.memory import MemoryCalls
from pyuser.syscalls.messages import MessageCalls
from pyuser.syscalls.mqueue import MqueueCalls
from pyuser.syscalls.network import NetworkCalls
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


class KernelCore:
    """Holds the process state the handlers need and dispatches by number.

    What every OS personality shares: the table built from the families'
    typed signatures, the one place exceptions become guest errnos, blocking
    host calls.  :class:`Kernel` is Linux's; pyuser.syscalls.freebsd has another.
    """

    def __init__(self, process: Process) -> None:
        self.proc = process
        self.target = process.target
        self.abi = process.target.abi
        self.mem = process.memory
        self.log = process.log
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
        self._errno_from_host = self.target.errno_from_host
        self._errno_by_name = errno_names

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
            return -self._errno_from_host.get(e.errno or host_errno.EINVAL, -self._einval)
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

    # --------------------------------------------------------- helpers
    def resolve_path(self, guest_path: bytes) -> bytes:
        """The host path a guest path names (sysroot first, /proc/self specials)."""
        return self.proc.vfs.resolve(guest_path)

    def blocking(self, call, *args):
        """Run a host call that may block; a guest signal ends it with EINTR.

        The thread answers the kicks sent so far and checks for a deliverable
        signal before the call (a signal raised just before it would not have
        been kicked); one raised during the call kicks it out with the kick
        signal, again until it answers (pyuser.signals.SignalState.wake).  If
        no signal is deliverable to the guest by then (it was blocked,
        ignored, or the kick was stale), the call simply goes on.
        """
        proc = self.proc
        thread = proc.current
        signals = proc.signals
        scheduler = proc.scheduler
        while True:
            thread.in_host_call = True
            thread.kick_ack = thread.kick_seq
            try:
                if signals.check and signals.has_deliverable(thread):
                    raise SyscallError("EINTR")
                if not scheduler.active:
                    # one guest thread: no token to hand on (and no context
                    # manager's cost on every read, write and open)
                    return call(*args)
                with scheduler.released(thread):
                    return call(*args)
            except InterruptedError:
                if signals.has_deliverable(thread):
                    raise SyscallError("EINTR") from None
            finally:
                thread.in_host_call = False

    def host_errno_result(self, err: OSError) -> int:
        return -self._errno_from_host.get(err.errno or host_errno.EINVAL, -self._einval)


class Kernel(FileCalls, MemoryCalls, ProcessCalls, SignalCalls, TimeCalls, IoctlCalls,
             FutexCalls, NetworkCalls, MessageCalls, PollingCalls, ForkCalls, ExecCalls, XattrCalls,
             ThreadCalls, SysvIpcCalls, MqueueCalls, Uid16Calls, KernelCore):
    """The Linux personality: every Linux syscall family."""


_kernel_classes: dict[type, type[KernelCore]] = {}


def kernel_for(process: Process) -> KernelCore:
    """A Kernel with the target's private syscalls mixed in (the class is made once)."""
    key = type(process.target)
    klass = _kernel_classes.get(key)
    if klass is None:
        base: type[KernelCore] = Kernel
        if process.target.os_name != "linux":
            # another personality (pyuser.syscalls.freebsd): its own families
            base = importlib.import_module(f"pyuser.syscalls.{process.target.os_name}").KERNEL
        mixins = process.target.syscall_mixins
        klass = type(f"{key.__name__}Kernel", (*mixins, base), {}) if mixins else base
        _kernel_classes[key] = klass
    return klass(process)
