"""Process identity, resources, and exit."""

from __future__ import annotations

import ctypes
import functools
import os
import resource
import time
from types import ModuleType

from pyuser.errors import ProcessExit, ThreadExit
from pyuser.memory import GuestFault
from pyuser.syscalls import hostcalls
from pyuser.syscalls.base import SyscallFamily
from pyuser.syscalls.byteorder import host_abi
from pyuser.syscalls.table import syscall
from pyuser.syscalls.types import Fd, Id, OutBuf, Ptr, SyscallError, UInt


@functools.cache
def host_cpu_count() -> int:
    """The kernel's nr_cpu_ids: one past the highest possible CPU."""
    try:
        with open("/sys/devices/system/cpu/possible") as f:
            return int(f.read().replace("-", ",").split(",")[-1]) + 1
    except (OSError, ValueError):
        return os.cpu_count() or 1


def _host_domainname() -> str:
    try:
        with open("/proc/sys/kernel/domainname") as f:
            return f.read().rstrip("\n")
    except OSError:
        return "(none)"


@functools.cache
def _host_resources(abi: ModuleType) -> dict[int, int]:
    """The target's RLIMIT_* numbers -> the host's, by name."""
    host = host_abi().CONST
    return {number: host[name] for name, number in abi.CONST.items()
            if name.startswith("RLIMIT_") and name != "RLIMIT_NLIMITS" and name in host}


_RLIMIT_INFINITY_64 = (1 << 64) - 1


class ProcessCalls(SyscallFamily):
    # ------------------------------------------------------------ exit
    @syscall
    def exit(self, status: int) -> int:
        raise ThreadExit(status & 0xFF)

    @syscall
    def exit_group(self, status: int) -> int:
        raise ProcessExit(status & 0xFF)

    # ------------------------------------------------------------ identity
    @syscall
    def getpid(self) -> int:
        return os.getpid()

    @syscall
    def getppid(self) -> int:
        return os.getppid()

    @syscall
    def gettid(self) -> int:
        return self.proc.current_tid()

    @syscall("getuid32", "getuid")
    def getuid32(self) -> int:
        return os.getuid()

    @syscall("geteuid32", "geteuid")
    def geteuid32(self) -> int:
        return os.geteuid()

    @syscall("getgid32", "getgid")
    def getgid32(self) -> int:
        return os.getgid()

    @syscall("getegid32", "getegid")
    def getegid32(self) -> int:
        return os.getegid()

    @syscall("getresuid32", "getresuid")
    def getresuid32(self, ruid: Ptr, euid: Ptr, suid: Ptr) -> int:
        for address, value in zip((ruid, euid, suid), os.getresuid(), strict=True):
            self.mem.write(address, self.target.pack("I", value))
        return 0

    @syscall("getresgid32", "getresgid")
    def getresgid32(self, rgid: Ptr, egid: Ptr, sgid: Ptr) -> int:
        for address, value in zip((rgid, egid, sgid), os.getresgid(), strict=True):
            self.mem.write(address, self.target.pack("I", value))
        return 0

    @syscall("getgroups32", "getgroups")
    def getgroups32(self, size: int, groups: Ptr) -> int:
        host = os.getgroups()
        if size == 0:
            return len(host)
        if size < len(host):
            raise SyscallError("EINVAL")
        self.mem.write(groups, self.target.pack(f"{len(host)}I", *host))
        return len(host)

    @syscall("setuid32", "setuid")
    def setuid32(self, uid: Id) -> int:
        os.setuid(uid)
        return 0

    @syscall("setgid32", "setgid")
    def setgid32(self, gid: Id) -> int:
        os.setgid(gid)
        return 0

    @syscall("setresuid32", "setresuid")
    def setresuid32(self, r: Id, e: Id, s: Id) -> int:
        os.setresuid(r, e, s)
        return 0

    @syscall("setresgid32", "setresgid")
    def setresgid32(self, r: Id, e: Id, s: Id) -> int:
        os.setresgid(r, e, s)
        return 0

    @syscall("setfsuid32", "setfsuid")
    def setfsuid32(self, uid: Id) -> int:
        return hostcalls.setfsuid(uid)

    @syscall("setfsgid32", "setfsgid")
    def setfsgid32(self, gid: Id) -> int:
        return hostcalls.setfsgid(gid)

    @syscall
    def getpgid(self, pid: int) -> int:
        return os.getpgid(pid)

    @syscall
    def setpgid(self, pid: int, pgid: int) -> int:
        os.setpgid(pid, pgid)
        return 0

    @syscall
    def getpgrp(self) -> int:
        return os.getpgrp()

    @syscall
    def getsid(self, pid: int) -> int:
        return os.getsid(pid)

    @syscall
    def setsid(self) -> int:
        os.setsid()  # returns None; the new session's id is the caller's pid
        return os.getpid()

    # ------------------------------------------------------------ system info
    @syscall
    def uname(self, buf: Ptr) -> int:
        host = os.uname()
        out = self.abi.new_utsname()
        fields = {"sysname": host.sysname, "nodename": host.nodename, "release": host.release,
                  "version": host.version, "machine": self.target.uname_machine,
                  "domainname": _host_domainname()}
        for name, text in fields.items():
            data = text.encode()[:64]  # char[65] arrays, NUL-terminated
            getattr(out, name)[:len(data)] = data
        self.mem.write_struct(buf, out)
        return 0

    # The host's names, as under qemu-user: a privileged guest renames the
    # machine (its UTS namespace)
    @syscall
    def sethostname(self, name: Ptr, length: int) -> int:
        return hostcalls.sethostname(self._uts_name(name, length), length)

    @syscall
    def setdomainname(self, name: Ptr, length: int) -> int:
        return hostcalls.setdomainname(self._uts_name(name, length), length)

    def _uts_name(self, name: int, length: int) -> bytes | None:
        """The name's bytes, or None (NULL to the host) when the length is out
        of range or the pointer bad: the host then answers EPERM, EINVAL or
        EFAULT as Linux orders them."""
        if not 0 <= length <= 64:
            return None
        try:
            return self.mem.read(name, length)
        except GuestFault:
            return None

    @syscall
    def sysinfo(self, info: Ptr) -> int:
        out = self.abi.sysinfo()
        with open("/proc/meminfo", "rb") as f:
            meminfo = {line.split(b":")[0]: int(line.split()[1]) * 1024 for line in f}
        load = os.getloadavg()
        mask = self.target.word_mask
        unit = 1
        total = meminfo.get(b"MemTotal", 0)
        while total // unit > mask:
            unit <<= 1
        out.uptime = int(time.clock_gettime(time.CLOCK_BOOTTIME))
        out.loads[:] = [int(x * 65536) & mask for x in load]
        out.totalram = total // unit
        out.freeram = meminfo.get(b"MemFree", 0) // unit
        out.sharedram = meminfo.get(b"Shmem", 0) // unit
        out.bufferram = meminfo.get(b"Buffers", 0) // unit
        out.totalswap = meminfo.get(b"SwapTotal", 0) // unit
        out.freeswap = meminfo.get(b"SwapFree", 0) // unit
        out.procs = min(len([p for p in os.listdir("/proc") if p.isdigit()]), 0xFFFF)
        out.mem_unit = unit
        self.mem.write_struct(info, out)
        return 0

    @syscall
    def getrandom(self, buf: OutBuf, count: UInt, flags: UInt) -> int:
        data = os.getrandom(count, flags & 3)
        buf[:len(data)] = data
        return len(data)

    # ------------------------------------------------------------ limits, usage
    # RLIMIT_* numbers differ on MIPS (NOFILE is 5 there, RSS on the host), and
    # so does RLIM_INFINITY of the long-sized calls (0x7fffffff on MIPS o32):
    # resources are matched by name with the host's.
    def _host_resource(self, which: int) -> int:
        host = _host_resources(self.abi).get(which)
        if host is None:
            raise SyscallError("EINVAL")
        return host

    def _guest_rlimit(self, value: int, infinity: int) -> int:
        return infinity if value == resource.RLIM_INFINITY or value > infinity else value

    @syscall("ugetrlimit", "getrlimit")
    def ugetrlimit(self, which: UInt, rlim: Ptr) -> int:
        soft, hard = self._host_rlimit(which)
        infinity = self.abi.CONST["RLIM_INFINITY"]
        out = self.abi.rlimit()
        out.rlim_cur = self._guest_rlimit(soft, infinity)
        out.rlim_max = self._guest_rlimit(hard, infinity)
        self.mem.write_struct(rlim, out)
        return 0

    def _host_rlimit(self, which: int) -> tuple[int, int]:
        if which == self.abi.CONST["RLIMIT_STACK"]:
            return self.proc.stack_size, resource.getrlimit(resource.RLIMIT_STACK)[1]
        return resource.getrlimit(self._host_resource(which))

    @syscall
    def setrlimit(self, which: UInt, rlim: Ptr) -> int:
        value = self.mem.read_struct(rlim, self.abi.rlimit)
        infinity = self.abi.CONST["RLIM_INFINITY"]
        soft = resource.RLIM_INFINITY if value.rlim_cur >= infinity else value.rlim_cur
        hard = resource.RLIM_INFINITY if value.rlim_max >= infinity else value.rlim_max
        self._set_host_rlimit(which, soft, hard)
        return 0

    def _set_host_rlimit(self, which: int, soft: int, hard: int) -> None:
        host = self._host_resource(which)
        if which in (self.abi.CONST["RLIMIT_STACK"], self.abi.CONST["RLIMIT_AS"],
                     self.abi.CONST["RLIMIT_DATA"]):
            return  # they describe the guest, not the emulator: accept and keep
        try:
            resource.setrlimit(host, (soft, hard))
        except ValueError:
            raise SyscallError("EINVAL") from None

    @syscall
    def prlimit64(self, pid: int, which: UInt, new: Ptr, old: Ptr) -> int:
        wanted = None
        if new:
            value = self.mem.read_struct(new, self.abi.rlimit64)
            wanted = (resource.RLIM_INFINITY if value.rlim_cur == _RLIMIT_INFINITY_64
                      else value.rlim_cur,
                      resource.RLIM_INFINITY if value.rlim_max == _RLIMIT_INFINITY_64
                      else value.rlim_max)
        if pid in (0, os.getpid()):
            previous = self._host_rlimit(which) if old else None
            if wanted is not None:
                self._set_host_rlimit(which, *wanted)
        else:  # another process's limits (prlimit -p): the host's, by host pid
            host = self._host_resource(which)
            previous = (resource.prlimit(pid, host, wanted) if wanted is not None
                        else resource.prlimit(pid, host))
        if old:
            out = self.abi.rlimit64()
            out.rlim_cur, out.rlim_max = (_RLIMIT_INFINITY_64 if v == resource.RLIM_INFINITY
                                          else v for v in previous)
            self.mem.write_struct(old, out)
        return 0

    # ------------------------------------------------------------ capabilities
    # struct __user_cap_header_struct {u32 version; int pid} and one or two
    # __user_cap_data_struct {u32 effective, permitted, inheritable}: u32s
    # everywhere (include/uapi/linux/capability.h); the host judges versions,
    # pids and privilege.
    _CAP_VERSION_1 = 0x19980330  # one data struct; versions 2 and 3 take two

    def _cap_header(self, header: int) -> ctypes.Array:
        return (ctypes.c_uint32 * 2)(*self.target.unpack("2I", self.mem.read(header, 8)))

    def _cap_data_count(self, host_header: ctypes.Array) -> int:
        return 1 if host_header[0] == self._CAP_VERSION_1 else 2

    @syscall
    def capget(self, header: Ptr, data: Ptr) -> int:
        host_header = self._cap_header(header)
        host_data = (ctypes.c_uint32 * 6)() if data else None
        asked = host_header[0]
        try:
            hostcalls.capget(host_header, host_data)
        finally:  # an unknown version comes back as the kernel's, with EINVAL
            if host_header[0] != asked:
                self.mem.write(header, self.target.pack("I", host_header[0]))
        if data:
            count = 3 * self._cap_data_count(host_header)
            self.mem.write(data, self.target.pack(f"{count}I", *host_data[:count]))
        return 0

    @syscall
    def capset(self, header: Ptr, data: Ptr) -> int:
        host_header = self._cap_header(header)
        count = 3 * self._cap_data_count(host_header)
        values = self.target.unpack(f"{count}I", self.mem.read(data, 4 * count))
        asked = host_header[0]
        try:
            return hostcalls.capset(host_header, (ctypes.c_uint32 * 6)(*values))
        finally:
            if host_header[0] != asked:
                self.mem.write(header, self.target.pack("I", host_header[0]))

    @syscall
    def getrusage(self, who: int, usage: Ptr) -> int:
        host_who = {0: resource.RUSAGE_SELF, -1: resource.RUSAGE_CHILDREN,
                    1: getattr(resource, "RUSAGE_THREAD", 1)}.get(who)
        if host_who is None:
            raise SyscallError("EINVAL")
        r = resource.getrusage(host_who)
        out = self.abi.rusage()
        out.ru_utime.tv_sec = int(r.ru_utime)
        out.ru_utime.tv_usec = int((r.ru_utime % 1) * 1e6)
        out.ru_stime.tv_sec = int(r.ru_stime)
        out.ru_stime.tv_usec = int((r.ru_stime % 1) * 1e6)
        for name in ("ru_maxrss", "ru_ixrss", "ru_idrss", "ru_isrss", "ru_minflt", "ru_majflt",
                     "ru_nswap", "ru_inblock", "ru_oublock", "ru_msgsnd", "ru_msgrcv",
                     "ru_nsignals", "ru_nvcsw", "ru_nivcsw"):
            setattr(out, name, getattr(r, name) & self.target.word_mask)
        self.mem.write_struct(usage, out)
        return 0

    @syscall
    def times(self, buf: Ptr) -> int:
        t = os.times()
        ticks = os.sysconf("SC_CLK_TCK")
        mask = self.target.word_mask
        if buf:
            self.mem.write(buf, self.target.pack("4I", *(int(x * ticks) & mask for x in t[:4])))
        return int(t.elapsed * ticks) & mask

    # ------------------------------------------------------------ thread setup
    @syscall
    def set_tid_address(self, tidptr: Ptr) -> int:
        self.proc.current_thread().clear_child_tid = tidptr
        return self.proc.current_tid()

    @syscall
    def set_robust_list(self, head: Ptr, length: UInt) -> int:
        self.proc.current_thread().robust_list = head
        return 0

    @syscall
    def get_robust_list(self, pid: int, head_ptr: Ptr, len_ptr: Ptr) -> int:
        w = self.target.word_size
        fmt = "I" if w == 4 else "Q"
        self.mem.write(head_ptr, self.target.pack(fmt, self.proc.current_thread().robust_list))
        self.mem.write(len_ptr, self.target.pack(fmt, 3 * w))
        return 0

    @syscall
    def rseq(self, rseq: Ptr, length: UInt, flags: int, sig: UInt) -> int:
        # as qemu-user does: glibc then runs without restartable sequences
        raise SyscallError("ENOSYS")

    # prctl options whose arguments are plain values, passed to the host: the
    # emulator is the guest's process, so the host's answer is the guest's.
    # (Option numbers are include/uapi/linux/prctl.h's on every architecture.)
    _PRCTL_HOST = ("PR_SET_DUMPABLE", "PR_GET_DUMPABLE", "PR_SET_NO_NEW_PRIVS",
                   "PR_GET_NO_NEW_PRIVS", "PR_SET_CHILD_SUBREAPER", "PR_SET_TIMERSLACK",
                   "PR_GET_TIMERSLACK", "PR_CAPBSET_READ", "PR_CAPBSET_DROP", "PR_SET_KEEPCAPS",
                   "PR_GET_KEEPCAPS", "PR_GET_SECUREBITS", "PR_SET_SECUREBITS",
                   "PR_SET_THP_DISABLE", "PR_GET_THP_DISABLE", "PR_CAP_AMBIENT")

    @syscall
    def prctl(self, option: int, arg2: UInt, arg3: UInt, arg4: UInt, arg5: UInt) -> int:
        c = self.abi.CONST
        if option == c["PR_SET_NAME"]:
            # the kernel copies at most 15 bytes and needs no NUL within them
            in_page = min(16, 0x1000 - (arg2 & 0xFFF))
            name = self.mem.read(arg2, in_page)
            if b"\0" not in name and in_page < 16:
                name += self.mem.read(arg2 + in_page, 16 - in_page)
            self.proc.rename_current_thread(name.split(b"\0")[0][:15])
            return 0
        if option == c["PR_GET_NAME"]:
            self.mem.write(arg2, self.proc.current_thread_name()[:15].ljust(16, b"\0"))
            return 0
        if option == c["PR_SET_PDEATHSIG"]:
            host_signal = self.target.signal_to_host.get(arg2, arg2) if arg2 else 0
            return hostcalls.prctl(option, host_signal)
        if option == c["PR_GET_PDEATHSIG"]:
            host_signal = hostcalls.prctl_int_out(option)
            guest = self.target.signal_from_host.get(host_signal, host_signal) if host_signal \
                else 0
            self.mem.write(arg2, self.target.pack("i", guest))
            return 0
        if option == c["PR_GET_CHILD_SUBREAPER"]:
            self.mem.write(arg2, self.target.pack("i", hostcalls.prctl_int_out(option)))
            return 0
        if option in self._prctl_host_options():
            return hostcalls.prctl(option, arg2, arg3, arg4, arg5)
        if option == c.get("PR_SET_VMA"):  # names for anonymous mappings: not kept
            return 0
        raise SyscallError("EINVAL")  # PR_SET_SECCOMP among them: it would filter the emulator

    def _prctl_host_options(self) -> set[int]:
        c = self.abi.CONST
        return {c[name] for name in self._PRCTL_HOST if name in c}

    @syscall
    def personality(self, persona: UInt) -> int:
        return 0

    # cpu_set_t is an array of unsigned longs in the guest's byte order; guest
    # tids are host tids, so pid goes to the host as it is (0: this thread)
    @syscall
    def sched_getaffinity(self, pid: int, size: UInt, mask: Ptr) -> int:
        w = self.target.word_size
        # kernel/sched/core.c: the buffer must hold every possible CPU and be
        # whole longs; the result is that many longs, or fewer if the buffer is
        nbytes = -(-host_cpu_count() // (8 * w)) * w
        if size * 8 < host_cpu_count() or size % w:
            raise SyscallError("EINVAL")
        bits = sum(1 << cpu for cpu in os.sched_getaffinity(pid))
        nbytes = min(size, nbytes)
        words = [(bits >> (8 * w * i)) & self.target.word_mask for i in range(nbytes // w)]
        self.mem.write(mask, self.target.pack(f"{len(words)}{'I' if w == 4 else 'Q'}", *words))
        return nbytes

    @syscall
    def sched_setaffinity(self, pid: int, size: UInt, mask: Ptr) -> int:
        w = self.target.word_size
        # bits past the kernel's own mask are ignored, as Linux ignores them
        size = min(size, -(-host_cpu_count() // 64) * 8)
        data = self.mem.read(mask, size) + bytes(-size % w)
        words = self.target.unpack(f"{len(data) // w}{'I' if w == 4 else 'Q'}", data)
        bits = sum(word << (8 * w * i) for i, word in enumerate(words))
        os.sched_setaffinity(pid, [cpu for cpu in range(bits.bit_length()) if bits >> cpu & 1])
        return 0

    @syscall
    def getcpu(self, cpu: Ptr, node: Ptr, cache: Ptr) -> int:
        here, numa_node = hostcalls.getcpu()
        if cpu:
            self.mem.write(cpu, self.target.pack("I", here))
        if node:
            self.mem.write(node, self.target.pack("I", numa_node))
        return 0

    # ------------------------------------------------------------ scheduling policy
    # SCHED_* numbers and struct sched_param (one int) are the same everywhere
    @syscall
    def sched_getscheduler(self, pid: int) -> int:
        return os.sched_getscheduler(pid)

    @syscall
    def sched_setscheduler(self, pid: int, policy: int, param: Ptr) -> int:
        (priority,) = self.target.unpack("i", self.mem.read(param, 4))
        os.sched_setscheduler(pid, policy, os.sched_param(priority))
        return 0

    @syscall
    def sched_getparam(self, pid: int, param: Ptr) -> int:
        self.mem.write(param, self.target.pack("i", os.sched_getparam(pid).sched_priority))
        return 0

    @syscall
    def sched_setparam(self, pid: int, param: Ptr) -> int:
        (priority,) = self.target.unpack("i", self.mem.read(param, 4))
        os.sched_setparam(pid, os.sched_param(priority))
        return 0

    @syscall
    def sched_get_priority_max(self, policy: int) -> int:
        return os.sched_get_priority_max(policy)

    @syscall
    def sched_get_priority_min(self, policy: int) -> int:
        return os.sched_get_priority_min(policy)

    @syscall
    def sched_rr_get_interval(self, pid: int, interval: Ptr) -> int:
        self.write_timespec(interval, round(os.sched_rr_get_interval(pid) * 1e9), False)
        return 0

    @syscall
    def sched_rr_get_interval_time64(self, pid: int, interval: Ptr) -> int:
        self.write_timespec(interval, round(os.sched_rr_get_interval(pid) * 1e9), True)
        return 0

    @syscall
    def nice(self, increment: int) -> int:
        os.nice(increment)
        return 0

    @syscall("setreuid32", "setreuid")
    def setreuid32(self, r: Id, e: Id) -> int:
        os.setreuid(r, e)
        return 0

    @syscall("setregid32", "setregid")
    def setregid32(self, r: Id, e: Id) -> int:
        os.setregid(r, e)
        return 0

    @syscall("setgroups32", "setgroups")
    def setgroups32(self, size: int, groups: Ptr) -> int:
        if size < 0 or size > 65536:
            raise SyscallError("EINVAL")
        os.setgroups(list(self.target.unpack(f"{size}I", self.mem.read(groups, 4 * size)))
                     if size else [])
        return 0

    # ------------------------------------------------------------ pidfds
    @syscall
    def pidfd_open(self, pid: int, flags: UInt) -> int:
        return os.pidfd_open(pid, flags)

    @syscall
    def pidfd_send_signal(self, pidfd: Fd, signo: int, info: Ptr, flags: UInt) -> int:
        if info:  # a caller-made siginfo cannot be carried over: as kill(2) does
            raise SyscallError("EINVAL")
        host = self.target.signal_to_host.get(signo, signo) if signo else 0
        return hostcalls.pidfd_send_signal(pidfd, host, flags)

    # I/O priorities (ionice): IOPRIO_WHO_* and the class/data encoding are the
    # same on every architecture (include/uapi/linux/ioprio.h); who is a host pid
    @syscall
    def ioprio_get(self, which: int, who: int) -> int:
        return hostcalls.ioprio_get(which, who)

    @syscall
    def ioprio_set(self, which: int, who: int, ioprio: int) -> int:
        return hostcalls.ioprio_set(which, who, ioprio)

    @syscall
    def getpriority(self, which: int, who: int) -> int:
        return 20 - os.getpriority(which, who)

    @syscall
    def setpriority(self, which: int, who: int, prio: int) -> int:
        os.setpriority(which, who, prio)
        return 0
