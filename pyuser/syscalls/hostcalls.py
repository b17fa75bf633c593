"""Host syscalls the stdlib does not wrap, through ctypes.

Several kernel structs are the same on every Linux architecture (statx,
linux_dirent64, the 64-bit timespec): for little-endian targets those calls
write straight into guest memory, with no copy and no conversion.
"""

from __future__ import annotations

import ctypes
import os
import struct

_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long

# x86_64 host syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl)
SYS_futex = 202
SYS_pidfd_send_signal = 424
SYS_getdents64 = 217
SYS_statx = 332
SYS_renameat2 = 316
SYS_faccessat2 = 439
SYS_utimensat = 280
SYS_getcpu = 309
SYS_clock_settime, SYS_settimeofday = 227, 164
SYS_capget, SYS_capset = 125, 126
SYS_ioprio_set, SYS_ioprio_get = 251, 252
SYS_semget, SYS_semctl, SYS_semtimedop = 64, 66, 220
SYS_msgget, SYS_msgsnd, SYS_msgrcv, SYS_msgctl = 68, 69, 70, 71


def _check(result: int) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return result


def getdents64(fd: int, host_address: int, count: int) -> int:
    return _check(_syscall(SYS_getdents64, ctypes.c_int(fd), ctypes.c_void_p(host_address),
                           ctypes.c_uint(count)))


def futex(address: int, op: int, value: int, timeout: ctypes.Array | None, address2: int,
          value3: int) -> int:
    return _check(_syscall(SYS_futex, ctypes.c_void_p(address), ctypes.c_int(op),
                           ctypes.c_uint32(value), timeout, ctypes.c_void_p(address2),
                           ctypes.c_uint32(value3)))


def pidfd_send_signal(pidfd: int, signo: int, flags: int) -> int:
    return _check(_syscall(SYS_pidfd_send_signal, ctypes.c_int(pidfd), ctypes.c_int(signo),
                           None, ctypes.c_uint(flags)))


def statx(dirfd: int, path: bytes, flags: int, mask: int, host_address: int) -> int:
    return _check(_syscall(SYS_statx, ctypes.c_int(dirfd), ctypes.c_char_p(path),
                           ctypes.c_int(flags), ctypes.c_uint(mask),
                           ctypes.c_void_p(host_address)))


def renameat2(olddirfd: int, old: bytes, newdirfd: int, new: bytes, flags: int) -> int:
    return _check(_syscall(SYS_renameat2, ctypes.c_int(olddirfd), ctypes.c_char_p(old),
                           ctypes.c_int(newdirfd), ctypes.c_char_p(new), ctypes.c_uint(flags)))


def faccessat2(dirfd: int, path: bytes, mode: int, flags: int) -> int:
    return _check(_syscall(SYS_faccessat2, ctypes.c_int(dirfd), ctypes.c_char_p(path),
                           ctypes.c_int(mode), ctypes.c_int(flags)))


def utimensat(dirfd: int, path: bytes | None, times: bytes | None, flags: int) -> int:
    """times: two 64-bit timespecs (16 bytes each) or None for 'now'."""
    buf = ctypes.create_string_buffer(times, 32) if times is not None else None
    return _check(_syscall(SYS_utimensat, ctypes.c_int(dirfd),
                           ctypes.c_char_p(path) if path is not None else None,
                           buf, ctypes.c_int(flags)))


# ----------------------------------------------------------------- blocking calls
# Python's os functions retry a system call interrupted by a signal (PEP 475),
# so a guest blocked in read() could never see EINTR.  These go straight to
# libc: an interruption comes back as OSError(EINTR) and the caller decides.
_libc.read.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]
_libc.read.restype = ctypes.c_ssize_t
_libc.write.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]
_libc.write.restype = ctypes.c_ssize_t
_libc.readv.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
_libc.readv.restype = ctypes.c_ssize_t
_libc.writev.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
_libc.writev.restype = ctypes.c_ssize_t


def read(fd: int, host_address: int, count: int) -> int:
    return _check(_libc.read(fd, host_address, count))


_libc.openat.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_uint]
_libc.openat.restype = ctypes.c_int


def openat(dirfd: int, path: bytes, flags: int, mode: int) -> int:
    """openat(2), which waits for a FIFO's other end: an interruption comes
    back as OSError(EINTR), where os.open would retry it."""
    return _check(_libc.openat(dirfd, path, flags, mode))


_libc.sendfile.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]
_libc.sendfile.restype = ctypes.c_ssize_t


def sendfile(out_fd: int, in_fd: int, offset: int | None, count: int) -> tuple[int, int | None]:
    """sendfile(2) without os.sendfile's retry on EINTR (a guest signal must
    end the wait); returns the bytes sent and the advanced offset."""
    if offset is None:
        return _check(_libc.sendfile(out_fd, in_fd, None, count)), None
    position = ctypes.c_int64(offset)
    sent = _check(_libc.sendfile(out_fd, in_fd, ctypes.addressof(position), count))
    return sent, position.value


_libc.splice.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p,
                         ctypes.c_size_t, ctypes.c_uint]
_libc.splice.restype = ctypes.c_ssize_t
_libc.tee.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_size_t, ctypes.c_uint]
_libc.tee.restype = ctypes.c_ssize_t
_libc.vmsplice.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint]
_libc.vmsplice.restype = ctypes.c_ssize_t
_libc.sync_file_range.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]


def splice(fd_in: int, off_in: int | None, fd_out: int, off_out: int | None, length: int,
           flags: int) -> tuple[int, int | None, int | None]:
    """splice(2); returns the bytes moved and the advanced offsets (None: the
    descriptor's own position)."""
    offsets = [ctypes.c_int64(off) if off is not None else None for off in (off_in, off_out)]
    pointers = [ctypes.addressof(off) if off is not None else None for off in offsets]
    moved = _check(_libc.splice(fd_in, pointers[0], fd_out, pointers[1], length, flags))
    return (moved, *(off.value if off is not None else None for off in offsets))


def tee(fd_in: int, fd_out: int, length: int, flags: int) -> int:
    return _check(_libc.tee(fd_in, fd_out, length, flags))


def vmsplice(fd: int, buffers: list[tuple[int, int]], flags: int) -> int:
    """vmsplice(2) of (host address, length) ranges."""
    return _check(_libc.vmsplice(fd, iovec_array(buffers), len(buffers), flags))


def sync_file_range(fd: int, offset: int, nbytes: int, flags: int) -> int:
    return _check(_libc.sync_file_range(fd, offset, nbytes, flags))


def flock(fd: int, operation: int) -> int:
    """flock(2), which may wait for another holder: EINTR is raised, not retried."""
    return _check(_libc.flock(fd, operation))


def fcntl_lock(fd: int, cmd: int, flock: bytes) -> bytes:
    """fcntl(2) with a struct flock (F_SETLKW may block: EINTR is raised, not retried)."""
    buffer = ctypes.create_string_buffer(flock, len(flock))
    _check(_libc.fcntl(fd, cmd, buffer))
    return buffer.raw


def write(fd: int, host_address: int, count: int) -> int:
    return _check(_libc.write(fd, host_address, count))


def iovec_array(buffers: list[tuple[int, int]]) -> ctypes.Array:
    array = (ctypes.c_size_t * (2 * len(buffers)))()
    for i, (address, length) in enumerate(buffers):
        array[2 * i], array[2 * i + 1] = address, length
    return array


def readv(fd: int, buffers: list[tuple[int, int]]) -> int:
    return _check(_libc.readv(fd, iovec_array(buffers), len(buffers)))


def writev(fd: int, buffers: list[tuple[int, int]]) -> int:
    return _check(_libc.writev(fd, iovec_array(buffers), len(buffers)))


# ----------------------------------------------------------------- prctl
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                        ctypes.c_ulong]
_libc.prctl.restype = ctypes.c_int
PR_SET_NAME, PR_GET_NAME = 15, 16  # include/uapi/linux/prctl.h, every architecture


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    """prctl(2) with plain values (an option that writes an int takes its
    address: see prctl_int_out)."""
    return _check(_libc.prctl(option, arg2, arg3, arg4, arg5))


def prctl_int_out(option: int) -> int:
    """A prctl GET option that stores an int at arg2 (PR_GET_PDEATHSIG, ...)."""
    value = ctypes.c_int(0)
    _check(_libc.prctl(option, ctypes.addressof(value), 0, 0, 0))
    return value.value


def thread_name() -> bytes:
    """The calling host thread's task name."""
    buffer = ctypes.create_string_buffer(16)
    _check(_libc.prctl(PR_GET_NAME, ctypes.addressof(buffer), 0, 0, 0))
    return buffer.value


def set_thread_name(name: bytes) -> None:
    """The calling host thread's task name (/proc/self/comm), at most 15 bytes."""
    buffer = ctypes.create_string_buffer(name[:15], 16)
    _check(_libc.prctl(PR_SET_NAME, ctypes.addressof(buffer), 0, 0, 0))


def clock_settime(clock: int, value: tuple[int, int] | None) -> int:
    """Sets a host clock from raw (sec, nsec): the host kernel judges the
    clock, the value (EINVAL) and the caller's privilege (EPERM); None passes
    NULL, for the host to answer in its own order (EINVAL, then EFAULT)."""
    spec = (ctypes.c_long * 2)(*value) if value is not None else None
    return _check(_syscall(SYS_clock_settime, ctypes.c_int(clock), spec))


def settimeofday(tv: tuple[int, int] | None, tz: tuple[int, int] | None) -> int:
    """settimeofday(2) with raw (sec, usec) and (minuteswest, dsttime), either None."""
    timeval = (ctypes.c_long * 2)(*tv) if tv is not None else None
    timezone = (ctypes.c_int * 2)(*tz) if tz is not None else None
    return _check(_syscall(SYS_settimeofday, timeval, timezone))


_libc.sethostname.argtypes = _libc.setdomainname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]


def sethostname(name: bytes | None, length: int) -> int:
    """sethostname(2); None passes NULL, for the host to judge privilege and
    length before it faults, in its own order."""
    return _check(_libc.sethostname(name, length))


def setdomainname(name: bytes | None, length: int) -> int:
    """setdomainname(2), as sethostname."""
    return _check(_libc.setdomainname(name, length))


def capget(header: ctypes.Array, data: ctypes.Array | None) -> int:
    """capget(2) on host buffers of u32s (the header may get the kernel's version)."""
    return _check(_syscall(SYS_capget, header, data))


def capset(header: ctypes.Array, data: ctypes.Array) -> int:
    return _check(_syscall(SYS_capset, header, data))


def ioprio_get(which: int, who: int) -> int:
    return _check(_syscall(SYS_ioprio_get, ctypes.c_int(which), ctypes.c_int(who)))


def ioprio_set(which: int, who: int, ioprio: int) -> int:
    return _check(_syscall(SYS_ioprio_set, ctypes.c_int(which), ctypes.c_int(who),
                           ctypes.c_int(ioprio)))


def getcpu() -> tuple[int, int]:
    """The CPU and NUMA node the calling thread runs on."""
    cpu, node = ctypes.c_uint(0), ctypes.c_uint(0)
    _check(_syscall(SYS_getcpu, ctypes.byref(cpu), ctypes.byref(node), None))
    return cpu.value, node.value


_libc.setfsuid.argtypes = _libc.setfsgid.argtypes = [ctypes.c_uint]
_libc.setfsuid.restype = _libc.setfsgid.restype = ctypes.c_int


def setfsuid(uid: int) -> int:
    """The calling thread's filesystem uid; returns the previous one ((uid_t)-1
    only asks).  It never fails: an id it refuses leaves the old one."""
    return _libc.setfsuid(uid & 0xFFFFFFFF)


def setfsgid(gid: int) -> int:
    """As setfsuid, for the filesystem gid."""
    return _libc.setfsgid(gid & 0xFFFFFFFF)


# ----------------------------------------------------------------- SysV IPC
# Raw syscalls rather than glibc's wrappers: those convert the kernel's
# structs to glibc's own, and the guest wants the kernel's.  semtimedop,
# msgsnd and msgrcv may block: EINTR is raised, not retried.


def semget(key: int, nsems: int, flags: int) -> int:
    return _check(_syscall(SYS_semget, ctypes.c_int(key), ctypes.c_int(nsems),
                           ctypes.c_int(flags)))


def semtimedop(semid: int, sops: bytes, timeout_ns: int | None) -> int:
    """sops: host struct sembuf array (6 bytes each)."""
    buffer = ctypes.create_string_buffer(sops, len(sops))
    timeout = None
    if timeout_ns is not None:
        timeout = (ctypes.c_long * 2)(*divmod(max(timeout_ns, 0), 1_000_000_000))
    return _check(_syscall(SYS_semtimedop, ctypes.c_int(semid), buffer,
                           ctypes.c_size_t(len(sops) // 6), timeout))


def semctl(semid: int, semnum: int, cmd: int,
           arg: int | ctypes.Array | ctypes.Structure | None) -> int:
    """arg: the union semun: an int (SETVAL's value), a host buffer, or None."""
    if arg is None or isinstance(arg, int):
        value = ctypes.c_ulong((arg or 0) & 0xFFFFFFFFFFFFFFFF)
    else:
        value = ctypes.byref(arg)
    return _check(_syscall(SYS_semctl, ctypes.c_int(semid), ctypes.c_int(semnum),
                           ctypes.c_int(cmd), value))


def msgget(key: int, flags: int) -> int:
    return _check(_syscall(SYS_msgget, ctypes.c_int(key), ctypes.c_int(flags)))


def msgsnd(msqid: int, mtype: int, text: bytes, flags: int) -> int:
    buffer = ctypes.create_string_buffer(struct.pack("q", mtype) + text, 8 + len(text))
    return _check(_syscall(SYS_msgsnd, ctypes.c_int(msqid), buffer,
                           ctypes.c_size_t(len(text)), ctypes.c_int(flags)))


def msgrcv(msqid: int, size: int, msgtyp: int, flags: int) -> tuple[int, bytes]:
    """(mtype, text) of the message received."""
    buffer = ctypes.create_string_buffer(8 + size)
    got = _check(_syscall(SYS_msgrcv, ctypes.c_int(msqid), buffer, ctypes.c_size_t(size),
                          ctypes.c_long(msgtyp), ctypes.c_int(flags)))
    return struct.unpack_from("q", buffer)[0], buffer.raw[8:8 + got]


def msgctl(msqid: int, cmd: int, buf: ctypes.Structure | None) -> int:
    return _check(_syscall(SYS_msgctl, ctypes.c_int(msqid), ctypes.c_int(cmd),
                           ctypes.byref(buf) if buf is not None else None))


# ----------------------------------------------------------------- children, exec
# wait4/waitid through libc too: they block, and os.wait4 would retry EINTR.
_libc.wait4.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
_libc.wait4.restype = ctypes.c_int
_libc.waitid.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
_libc.waitid.restype = ctypes.c_int
_libc.execve.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_void_p]
_libc.execve.restype = ctypes.c_int

# the host's struct rusage: two struct timeval, then 14 longs (x86_64: 144 bytes)
HOST_RUSAGE_SIZE = 144
HOST_SIGINFO_SIZE = 128


def wait4(pid: int, options: int) -> tuple[int, int, bytes]:
    """(pid, status, host struct rusage bytes); pid 0 with WNOHANG and nothing to report."""
    status = ctypes.c_int(0)
    usage = ctypes.create_string_buffer(HOST_RUSAGE_SIZE)
    pid = _check(_libc.wait4(pid, ctypes.byref(status), options, usage))
    return pid, status.value, usage.raw


def waitid(idtype: int, ident: int, options: int) -> bytes:
    """The host siginfo_t the call filled in (all zeros when WNOHANG found nothing)."""
    info = ctypes.create_string_buffer(HOST_SIGINFO_SIZE)
    _check(_libc.waitid(idtype, ident, info, options))
    return info.raw


def _string_array(items: list[bytes]) -> ctypes.Array:
    return (ctypes.c_char_p * (len(items) + 1))(*items, None)


def execve(path: bytes, argv: list[bytes], envp: list[bytes]) -> None:
    """execve(2) with the exact argument and environment strings (no dict, no
    reordering, entries without '=' kept); returns only by raising OSError."""
    _libc.execve(path, _string_array(argv), _string_array(envp))
    err = ctypes.get_errno()
    raise OSError(err, os.strerror(err))


# ----------------------------------------------------------------- POSIX timers
_librt = _libc  # glibc 2.34+ has the timer functions in libc itself


class _HostSigevent(ctypes.Structure):
    """x86_64 struct sigevent: sigval, signo, notify, then a 48-byte union (tid first)."""

    _fields_ = [("value", ctypes.c_uint64), ("signo", ctypes.c_int), ("notify", ctypes.c_int),
                ("tid", ctypes.c_int), ("_pad", ctypes.c_int * 11)]


# ----------------------------------------------------------------- POSIX message queues
# Raw syscalls (glibc's mq_open strips the leading "/", as the guest's glibc
# already has); waits raise EINTR rather than retry.
SYS_mq_open, SYS_mq_unlink, SYS_mq_timedsend, SYS_mq_timedreceive = 240, 241, 242, 243
SYS_mq_notify, SYS_mq_getsetattr = 244, 245
MqAttr = ctypes.c_long * 8  # struct mq_attr: flags, maxmsg, msgsize, curmsgs, 4 reserved


def _timeout(ns: int | None) -> ctypes.Array | None:
    return (ctypes.c_long * 2)(*divmod(ns, 1_000_000_000)) if ns is not None else None


def mq_open(name: bytes, flags: int, mode: int, attr: MqAttr | None) -> int:
    return _check(_syscall(SYS_mq_open, ctypes.c_char_p(name), ctypes.c_int(flags),
                           ctypes.c_uint(mode), attr))


def mq_unlink(name: bytes) -> int:
    return _check(_syscall(SYS_mq_unlink, ctypes.c_char_p(name)))


def mq_timedsend(mqd: int, host_address: int, length: int, priority: int,
                 timeout_ns: int | None) -> int:
    return _check(_syscall(SYS_mq_timedsend, ctypes.c_int(mqd), ctypes.c_void_p(host_address),
                           ctypes.c_size_t(length), ctypes.c_uint(priority),
                           _timeout(timeout_ns)))


def mq_timedreceive(mqd: int, host_address: int, length: int,
                    timeout_ns: int | None) -> tuple[int, int]:
    """Returns the message's length and priority."""
    priority = ctypes.c_uint(0)
    got = _check(_syscall(SYS_mq_timedreceive, ctypes.c_int(mqd), ctypes.c_void_p(host_address),
                          ctypes.c_size_t(length), ctypes.byref(priority),
                          _timeout(timeout_ns)))
    return got, priority.value


def mq_notify(mqd: int, event: tuple[int, int, int] | None) -> int:
    """event: (value, signo, notify) or None to unregister."""
    host = _HostSigevent(value=event[0], signo=event[1], notify=event[2]) if event else None
    return _check(_syscall(SYS_mq_notify, ctypes.c_int(mqd),
                           ctypes.byref(host) if host is not None else None))


def mq_getsetattr(mqd: int, new: MqAttr | None) -> MqAttr:
    old = MqAttr()
    _check(_syscall(SYS_mq_getsetattr, ctypes.c_int(mqd), new, old))
    return old


class _HostItimerspec(ctypes.Structure):
    _fields_ = [("interval_sec", ctypes.c_int64), ("interval_nsec", ctypes.c_int64),
                ("value_sec", ctypes.c_int64), ("value_nsec", ctypes.c_int64)]


def timer_create(clock: int, signo: int, notify: int, value: int, tid: int) -> int:
    event = _HostSigevent(value=value, signo=signo, notify=notify, tid=tid)
    timer = ctypes.c_void_p()
    _check(_librt.timer_create(ctypes.c_int(clock), ctypes.byref(event), ctypes.byref(timer)))
    return timer.value or 0


def _settime(call, handle: object, flags: int, spec: tuple[int, int, int, int]
             ) -> tuple[int, int, int, int]:
    """timer_settime/timerfd_settime: the new (interval, value) in, the old one out."""
    new = _HostItimerspec(*spec)
    old = _HostItimerspec()
    _check(call(handle, ctypes.c_int(flags), ctypes.byref(new), ctypes.byref(old)))
    return old.interval_sec, old.interval_nsec, old.value_sec, old.value_nsec


def _gettime(call, handle: object) -> tuple[int, int, int, int]:
    cur = _HostItimerspec()
    _check(call(handle, ctypes.byref(cur)))
    return cur.interval_sec, cur.interval_nsec, cur.value_sec, cur.value_nsec


def timer_settime(timer: int, flags: int, spec: tuple[int, int, int, int]
                  ) -> tuple[int, int, int, int]:
    return _settime(_librt.timer_settime, ctypes.c_void_p(timer), flags, spec)


def timer_gettime(timer: int) -> tuple[int, int, int, int]:
    return _gettime(_librt.timer_gettime, ctypes.c_void_p(timer))


def timerfd_create(clock: int, flags: int) -> int:
    return _check(_libc.timerfd_create(ctypes.c_int(clock), ctypes.c_int(flags)))


def timerfd_settime(fd: int, flags: int, spec: tuple[int, int, int, int]
                    ) -> tuple[int, int, int, int]:
    return _settime(_libc.timerfd_settime, ctypes.c_int(fd), flags, spec)


def timerfd_gettime(fd: int) -> tuple[int, int, int, int]:
    return _gettime(_libc.timerfd_gettime, ctypes.c_int(fd))


def inotify_init1(flags: int) -> int:
    return _check(_libc.inotify_init1(ctypes.c_int(flags)))


def inotify_add_watch(fd: int, path: bytes, mask: int) -> int:
    return _check(_libc.inotify_add_watch(ctypes.c_int(fd), ctypes.c_char_p(path),
                                          ctypes.c_uint32(mask)))


def inotify_rm_watch(fd: int, wd: int) -> int:
    return _check(_libc.inotify_rm_watch(ctypes.c_int(fd), ctypes.c_int(wd)))


def timer_getoverrun(timer: int) -> int:
    return _check(_librt.timer_getoverrun(ctypes.c_void_p(timer)))


def timer_delete(timer: int) -> int:
    return _check(_librt.timer_delete(ctypes.c_void_p(timer)))


# ----------------------------------------------------------------- sockets
_libc.connect.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
_libc.connect.restype = ctypes.c_int


def connect(fd: int, address: bytes) -> int:
    """connect(2) with a raw sockaddr (its layout is the same on every Linux
    architecture for AF_UNIX, AF_INET and AF_INET6)."""
    return _check(_libc.connect(fd, address, len(address)))


def libc(name: str, *args: object) -> int:
    """Call a libc function that returns -1 on error with errno (sockets and
    such); pass pointers as ctypes.c_void_p, sizes as ctypes.c_size_t."""
    return _check(getattr(_libc, name)(*args))
