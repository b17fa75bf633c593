"""ARM kuser helpers, EFAULT for bad guest pointers, ENOSYS for unknown syscalls."""

EXPECTED = """\
kuser version >= 5: 1
get_tls == thread pointer: 1
cmpxchg: success=1 word=9, stale=1 word=9
cmpxchg64: success=1 wide=0x200000001, stale=1
write from a bad pointer: -1 EFAULT
read into a bad pointer: -1 EFAULT
uname into a bad pointer: -1 EFAULT
open of a bad path pointer: -1 EFAULT
fstat of a bad fd: -1 EBADF
fsync(-1): -1 EBADF
flock(-1): -1 EBADF
lseek(0x7fffffff): -1 EBADF
fchown of a bad fd to uid 0xfffff000: -1 EBADF
setresuid(-1, -1, -1): 0 ok
ioctl FIOCLEX of a bad fd, argument 0xfffff000: -1 EBADF
fcntl(-1, F_GETFD): -1 EBADF
kill(own pid with garbage in the upper half, 0): 0 ok
syscall 9999: -1 ENOSYS
cacheflush: 0
"""


def test_kernel_abi(guest_bins, assert_same_as_qemu):
    assert_same_as_qemu([guest_bins / "kernelabi"], stdout=EXPECTED)


def test_unknown_syscall_reported_once_under_d_unimp(guest_bins, run_pyuser):
    r = run_pyuser(["-d", "unimp", guest_bins / "kernelabi"])
    assert r.returncode == 0
    assert r.stdout == EXPECTED
    assert r.stderr.splitlines().count("Unsupported syscall: 9999 (?)") == 1


def test_no_unimp_report_without_the_option(guest_bins, run_pyuser):
    r = run_pyuser([guest_bins / "kernelabi"])
    assert r.stderr == ""
