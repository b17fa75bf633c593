"""Booting Debian 12's armmp kernel: the initramfs and disk image the tests boot.

The kernel and busybox come from Debian's packages (tools/make-linux-armmp.sh,
cached in .cache/linux-armmp/).  The initramfs is a gzip'd "newc" cpio
written here (the format of the kernel's Documentation/driver-api/
early-userspace/buffer-format.rst): busybox, the modules the disk test needs,
and /init, a shell script.
"""

from __future__ import annotations

import gzip
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KERNEL_CACHE = ROOT / ".cache" / "linux-armmp"

# Loaded in this order (each needs the ones before it): virtio-mmio transport,
# virtio-blk, and ext4 with what it links against (crc16, mbcache, jbd2; the
# crc32c it asks the crypto API for); virtio-net and what it links against
# (failover, net_failover; AF_PACKET, which udhcpc needs, is built in).
MODULES = ["drivers/virtio/virtio_mmio", "drivers/block/virtio_blk", "lib/crc16", "fs/mbcache",
           "fs/jbd2/jbd2", "crypto/crc32c_generic", "fs/ext4/ext4",
           "net/core/failover", "drivers/net/net_failover", "drivers/net/virtio_net"]


def fetch_kernel() -> Path:
    out = subprocess.run(["bash", str(ROOT / "tools" / "make-linux-armmp.sh"), str(KERNEL_CACHE)],
                         check=True, capture_output=True, text=True, timeout=900)
    return Path(out.stdout.strip().splitlines()[-1])


def _cpio_entry(name: str, mode: int, data: bytes, ino: int) -> bytes:
    encoded = name.encode() + b"\0"
    fields = (ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(encoded), 0)
    header = b"070701" + "".join(f"{v:08X}" for v in fields).encode()
    out = header + encoded
    out += b"\0" * (-len(out) % 4) + data
    return out + b"\0" * (-len(data) % 4)


def build_initramfs(kernel_dir: Path, init_script: str, out: Path,
                    extra: dict[str, tuple[int, bytes]] | None = None) -> Path:
    entries: list[tuple[str, int, bytes]] = [(d, 0o40755, b"") for d in
                                             ("bin", "sbin", "dev", "proc", "sys", "mnt", "lib", "lib/modules")]
    entries.append(("bin/busybox", 0o100755, (kernel_dir / "busybox").read_bytes()))
    entries.append(("bin/sh", 0o120777, b"busybox"))
    entries.append(("init", 0o100755, init_script.encode()))
    entries += [(name, mode, data) for name, (mode, data) in (extra or {}).items()]
    for module in MODULES:
        name = module.rsplit("/", 1)[-1] + ".ko"
        entries.append((f"lib/modules/{name}", 0o100644, (kernel_dir / "modules" / f"{module}.ko").read_bytes()))
    blob = b"".join(_cpio_entry(n, m, d, i) for i, (n, m, d) in enumerate(entries, 1))
    blob += _cpio_entry("TRAILER!!!", 0, b"", 0)
    out.write_bytes(gzip.compress(blob, 6, mtime=0))
    return out


def build_ext4(files: dict[str, bytes], workdir: Path, out: Path, size_mb: int = 8) -> Path:
    """An ext4 image holding `files`, by mke2fs -d (no root, no mount)."""
    tree = workdir / "ext4-tree"
    tree.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (tree / name).write_bytes(data)
    subprocess.run(["mke2fs", "-q", "-F", "-t", "ext4", "-d", str(tree), str(out), f"{size_mb}M"],
                   check=True, capture_output=True, timeout=60,
                   env={"PATH": "/usr/sbin:/sbin:/usr/bin:/bin", "E2FSPROGS_FAKE_TIME": "1700000000"})
    return out
