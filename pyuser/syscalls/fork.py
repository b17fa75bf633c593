"""New processes and waiting for them: fork, vfork, clone (without shared memory), wait4, waitid.

A guest fork is a host fork of the whole emulator, inside the syscall
handler: guest memory is a private host mapping, so the child gets its own
copy-on-write copy (and MAP_SHARED guest mappings stay shared, being shared
host mappings); the CPU state is copied with the process, and the child
returns 0 from the same syscall.  Guest descriptors are host descriptors,
so pipes and files are shared as the kernel shares them.  A child emulator
ends with its guest's exit status or dies of its guest's signal
(pyuser.cpu), so wait4 on the host child reports what the guest did.

vfork, and clone with CLONE_VM|CLONE_VFORK (glibc's posix_spawn), are a
fork whose parent waits until the child has exec'd or exited, as vfork's
parent does; memory is copied, not shared (qemu-user does the same).
clone with CLONE_VM alone creates a thread: that is the thread support's
`clone_thread`, if the kernel has one.
"""

from __future__ import annotations

import fcntl
import os
import resource
import sys

from pyuser.syscalls import hostcalls
from pyuser.syscalls.base import SyscallFamily
from pyuser.syscalls.table import syscall
from pyuser.syscalls.types import Ptr, SyscallError, UInt

# x86_64 host siginfo_t for SIGCHLD: signo, errno, code at 0/4/8, then pid
# 16, uid 20, status 24 (include/uapi/asm-generic/siginfo.h with 8-byte
# alignment of the union)
_HOST_SI_CODE, _HOST_SI_PID, _HOST_SI_UID, _HOST_SI_STATUS = 8, 16, 20, 24
# where the vfork parent's wake-up pipe end is put in the child: high, out of
# the way of the small numbers programs dup2 onto
_VFORK_FD_FLOOR = 512


def _out_of_the_way(fd: int) -> int:
    """`fd` moved to a high number (_VFORK_FD_FLOOR, or just under a lower
    RLIMIT_NOFILE); where there is no room up there, it stays."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    floor = _VFORK_FD_FLOOR if soft == resource.RLIM_INFINITY else min(_VFORK_FD_FLOOR, soft - 1)
    try:
        high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, max(floor, 0))
    except OSError:
        return fd
    os.close(fd)
    return high


def _int32(raw: bytes, offset: int, signed: bool = True) -> int:
    return int.from_bytes(raw[offset:offset + 4], "little", signed=signed)


class ForkCalls(SyscallFamily):
    def setup_family(self) -> None:
        c = self.abi.CONST
        self._clone_vm = c["CLONE_VM"]
        self._clone_vfork = c["CLONE_VFORK"]
        self._clone_thread = c["CLONE_THREAD"]
        self._clone_settls = c["CLONE_SETTLS"]
        self._clone_parent_settid = c["CLONE_PARENT_SETTID"]
        self._clone_child_settid = c["CLONE_CHILD_SETTID"]
        self._clone_child_cleartid = c["CLONE_CHILD_CLEARTID"]
        self._clone_pidfd = c["CLONE_PIDFD"]
        self._sigchld = c["SIGCHLD"]
        self._cld_exited = c["CLD_EXITED"]
        # the write end of a vfork parent's pipe, in the vfork child: (fd, inode)
        self._vfork_release: tuple[int, int] | None = None

    # ------------------------------------------------------------ creating
    @syscall
    def fork(self) -> int:
        return self._fork(self._sigchld, 0, 0, 0, 0)

    @syscall
    def vfork(self) -> int:
        return self._fork(self._clone_vm | self._clone_vfork | self._sigchld, 0, 0, 0, 0)

    @syscall
    def clone(self, flags: UInt, newsp: Ptr, parent_tid: Ptr, tls: UInt,
              child_tid: Ptr) -> int:
        # ARM, like most 32-bit ABIs, has tls before child_tid (CLONE_BACKWARDS)
        if not self.target.clone_tls_before_child_tid:
            tls, child_tid = child_tid, tls
        if self.target.clone_stack_first:  # s390: clone(stack, flags, ...)
            flags, newsp = newsp, flags
        if flags & self._clone_vm and not flags & self._clone_vfork:
            clone_thread = getattr(self, "clone_thread", None)
            if clone_thread is None:
                raise SyscallError("ENOSYS")
            return clone_thread(flags, newsp, parent_tid, tls, child_tid)
        if flags & self._clone_thread:
            raise SyscallError("EINVAL")  # CLONE_THREAD needs CLONE_VM (and SIGHAND)
        if flags & self._clone_pidfd and flags & self._clone_parent_settid:
            raise SyscallError("EINVAL")
        return self._fork(flags, newsp, parent_tid, tls, child_tid)

    @syscall
    def clone3(self, args: Ptr, size: UInt) -> int:
        # as qemu-user 7.2 does; glibc then uses clone
        raise SyscallError("ENOSYS")

    def _fork(self, flags: int, newsp: int, parent_tid: int, tls: int,
              child_tid: int) -> int:
        vfork = bool(flags & self._clone_vfork)
        if vfork:
            # the parent waits for the child with the CPU token handed on: from
            # outside the engine, before the fork (a fork must not run twice)
            self.need_stopped_engine()
        for stream in (sys.stdout, sys.stderr, self.log._stream):
            if stream is not None:
                stream.flush()
        wake_r = wake_w = -1
        if vfork:
            wake_r, wake_w = os.pipe2(os.O_CLOEXEC)
        try:
            pid = os.fork()
        except OSError:
            if vfork:
                os.close(wake_r)
                os.close(wake_w)
            raise
        if pid == 0:
            try:
                self._in_child(flags, newsp, tls, child_tid, wake_r, wake_w)
            except Exception as e:
                # returned as a syscall error, the child would go on as a
                # second copy of the parent
                sys.stderr.write(f"pyuser: the child of fork could not be set up: {e}\n")
                sys.stderr.flush()
                os._exit(127)
            return 0
        # the parent
        if flags & self._clone_parent_settid:
            self.mem.write(parent_tid, pid.to_bytes(4, self.target.byteorder))
        if flags & self._clone_pidfd:
            pidfd = os.pidfd_open(pid)
            os.set_inheritable(pidfd, False)
            self.mem.write(parent_tid, pidfd.to_bytes(4, self.target.byteorder))
        if vfork:
            os.close(wake_w)
            try:
                # only this thread waits: the others may run meanwhile
                with self.proc.scheduler.released(self.proc.current):
                    while os.read(wake_r, 1):  # EOF: the child exec'd or exited
                        pass
            finally:
                os.close(wake_r)
        return pid

    def _in_child(self, flags: int, newsp: int, tls: int, child_tid: int,
                  wake_r: int, wake_w: int) -> None:
        proc = self.proc
        inherited = self._vfork_release
        if inherited is not None:
            # a vfork child forking: the grandchild must not hold the
            # grandparent back
            self._vfork_release = None
            fd, inode = inherited
            try:
                if os.fstat(fd).st_ino == inode:
                    os.close(fd)
            except OSError:
                pass
        if wake_w >= 0:
            os.close(wake_r)
            high = _out_of_the_way(wake_w)
            self._vfork_release = (high, os.fstat(high).st_ino)
        proc.after_fork_child()
        pid = os.getpid()
        target = self.target
        if newsp:
            self.cpu.uc.reg_write(target.sp_reg, newsp)
        if flags & self._clone_settls:
            target.set_tls(self.cpu.uc, tls)
        if flags & self._clone_child_settid:
            self.mem.write(child_tid, pid.to_bytes(4, self.target.byteorder))
        if flags & self._clone_child_cleartid:
            proc.current_thread().clear_child_tid = child_tid

    # ------------------------------------------------------------ waiting
    def _guest_wait_status(self, status: int) -> int:
        """A host wait status word with the signal numbers in the target's terms."""
        to_target = self.target.signal_from_host
        low = status & 0x7F
        if low == 0 or status == 0xFFFF:  # exited, or continued
            return status
        if (status & 0xFF) == 0x7F:  # stopped: the signal is in bits 8-15
            signo = (status >> 8) & 0xFF
            return (status & ~0xFF00) | (to_target.get(signo, signo) << 8)
        return (status & ~0x7F) | to_target.get(low, low)  # killed (0x80: core dumped)

    def _write_rusage(self, address: int, host: bytes) -> None:
        words = [int.from_bytes(host[i:i + 8], "little", signed=True)
                 for i in range(0, hostcalls.HOST_RUSAGE_SIZE, 8)]
        out = self.abi.rusage()
        out.ru_utime.tv_sec, out.ru_utime.tv_usec = words[0], words[1]
        out.ru_stime.tv_sec, out.ru_stime.tv_usec = words[2], words[3]
        names = ("ru_maxrss", "ru_ixrss", "ru_idrss", "ru_isrss", "ru_minflt", "ru_majflt",
                 "ru_nswap", "ru_inblock", "ru_oublock", "ru_msgsnd", "ru_msgrcv",
                 "ru_nsignals", "ru_nvcsw", "ru_nivcsw")
        mask = self.target.word_mask
        for name, value in zip(names, words[4:], strict=True):
            setattr(out, name, value & mask)
        self.mem.write_struct(address, out)

    @syscall
    def wait4(self, pid: int, status: Ptr, options: int, rusage: Ptr) -> int:
        # the option bits (WNOHANG, WUNTRACED, WCONTINUED, __WNOTHREAD,
        # __WCLONE, __WALL) have the same values on every Linux architecture
        if status:
            self.mem.writable(status, 4)
        if rusage:
            self.mem.writable(rusage, 1)
        child, host_status, host_usage = self.blocking(hostcalls.wait4, pid, options)
        if child > 0:
            if status:
                self.mem.write(status, self._guest_wait_status(host_status).to_bytes(4, self.target.byteorder))
            if rusage:
                self._write_rusage(rusage, host_usage)
        return child

    @syscall
    def waitid(self, idtype: int, ident: int, infop: Ptr, options: int,
               rusage: Ptr) -> int:
        # idtype (P_ALL, P_PID, P_PGID, P_PIDFD) and options are generic too
        if infop:
            self.mem.writable(infop, 128)
        raw = self.blocking(hostcalls.waitid, idtype, ident, options)
        if infop:
            self.mem.write(infop, self._guest_child_siginfo(raw))
        if rusage:
            # the host call gives no per-child usage; report none
            self.mem.write_struct(rusage, self.abi.rusage())
        return 0

    def _guest_child_siginfo(self, raw: bytes) -> bytes:
        from pyuser.signals import SigInfo

        pid = _int32(raw, _HOST_SI_PID)
        if pid == 0:
            return bytes(128)  # WNOHANG and no child to report: all zero
        code = _int32(raw, _HOST_SI_CODE)
        status = _int32(raw, _HOST_SI_STATUS)
        if code != self._cld_exited:  # a signal number (SIGCONT for CLD_CONTINUED)
            status = self.target.signal_from_host.get(status, status)
        info = SigInfo(self._sigchld, code=code, pid=pid,
                       uid=_int32(raw, _HOST_SI_UID, signed=False), status=status)
        return self.target.encode_siginfo(info)
