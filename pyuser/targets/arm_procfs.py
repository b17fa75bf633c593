"""/proc/cpuinfo as 32-bit ARM Linux writes it (arch/arm/kernel/setup.c, c_show).

One block per CPU: the model name with the MIDR's revision and the ELF
platform, the features named by the set HWCAP bits (the kernel's
hwcap_str/hwcap2_str order), and the MIDR fields; then the machine lines.
The MIDR is read from the emulated CPU itself.
"""

from __future__ import annotations

import os

from unicorn import Uc

from pyuser.targets import arm_cpu

# Feature names by HWCAP bit number, as the kernel prints them
HWCAP_NAMES = ("swp", "half", "thumb", "26bit", "fastmult", "fpa", "vfp", "edsp", "java",
               "iwmmxt", "crunch", "thumbee", "neon", "vfpv3", "vfpv3d16", "tls", "vfpv4",
               "idiva", "idivt", "vfpd32", "lpae", "evtstrm")
HWCAP2_NAMES = ("aes", "pmull", "sha1", "sha2", "crc32")

MIDR = (15, 0, 0, 0, 0, 0, 0)  # c0, c0, 0: Main ID Register (ARMv7-A ARM, B4.1.105)


def _names(bits: int, names: tuple[str, ...]) -> list[str]:
    return [name for i, name in enumerate(names) if bits & (1 << i)]


def cpuinfo(uc: Uc, hwcap: int, hwcap2: int, platform: str) -> bytes:
    midr = arm_cpu.read_cp(uc, MIDR)
    features = " ".join(_names(hwcap, HWCAP_NAMES) + _names(hwcap2, HWCAP2_NAMES))
    # MIDR.Architecture 0xF means "see the feature registers": ARMv7 prints 7
    architecture = 7 if (midr >> 16) & 0xF == 0xF else (midr >> 16) & 0xF
    block = (
        f"model name\t: ARMv7 Processor rev {midr & 0xF} ({platform})\n"
        f"BogoMIPS\t: 48.00\n"
        f"Features\t: {features} \n"
        f"CPU implementer\t: 0x{midr >> 24:02x}\n"
        f"CPU architecture: {architecture}\n"
        f"CPU variant\t: 0x{(midr >> 20) & 0xF:x}\n"
        f"CPU part\t: 0x{(midr >> 4) & 0xFFF:03x}\n"
        f"CPU revision\t: {midr & 0xF}\n\n"
    )
    count = len(os.sched_getaffinity(0))
    text = "".join(f"processor\t: {n}\n{block}" for n in range(count))
    text += "Hardware\t: Generic DT based system\nRevision\t: 0000\nSerial\t\t: 0000000000000000\n"
    return text.encode()
