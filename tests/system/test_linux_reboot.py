"""Linux's `reboot` under both emulators: the machine resets and boots again.

Two boots each (about 4 minutes under pyuser-system-arm on 2 cores), so it
runs under `make test-system-slow`; the default run checks a reset with
reboot.elf (test_firmware.py).  The first boot writes a mark on a raw disk
and runs `reboot -f`; the second finds the mark and powers off.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from .linux_guest import ROOT, build_initramfs, fetch_kernel

SCRIPT = """#!/bin/sh
/bin/busybox mkdir -p /usr/bin /usr/sbin
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t devtmpfs dev /dev
for m in virtio_mmio virtio_blk; do insmod /lib/modules/$m.ko; done
if [ "$(dd if=/dev/vda bs=4 count=1 2>/dev/null)" = boot ]; then
    echo "== second boot"
    printf done | dd of=/dev/vda bs=4 count=1 conv=notrunc 2>/dev/null
    sync
    poweroff -f
fi
echo "== first boot"
printf boot | dd of=/dev/vda bs=4 count=1 conv=notrunc 2>/dev/null
sync
reboot -f
"""


@pytest.mark.system_slow
def test_reboot_boots_linux_again_as_qemu(tmp_path) -> None:
    kernel_dir = fetch_kernel()
    initrd = build_initramfs(kernel_dir, SCRIPT, tmp_path / "initrd.gz")
    for name in ("qemu", "pyuser"):
        disk = tmp_path / f"{name}.img"
        disk.write_bytes(bytes(1 << 20))
        common = ["-M", "virt", "-m", "256M", "-nographic", "-kernel", str(kernel_dir / "vmlinuz"),
                  "-initrd", str(initrd), "-append", "console=ttyAMA0 quiet panic=-1",
                  "-drive", f"file={disk},format=raw,if=none,id=d0", "-device", "virtio-blk-device,drive=d0"]
        cmd = ["qemu-system-arm", "-cpu", "cortex-a15", *common] if name == "qemu" else \
            [sys.executable, "-m", "pyuser.system.cli", *common]
        result = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=900,
                                env=dict(os.environ, PYTHONPATH=str(ROOT)))
        lines = [line.split("] ")[-1] for line in result.stdout.decode(errors="replace").replace("\r", "").splitlines()
                 if line.startswith("== ") or "reboot: " in line]
        assert (result.returncode, lines) == (0, ["== first boot", "reboot: Restarting system",
                                                  "== second boot", "reboot: Power down"]), name
        assert disk.read_bytes()[:4] == b"done", name
