"""PSCI, the Arm Power State Coordination Interface, as the board's firmware.

Function IDs and return codes from Arm DEN 0022 (PSCI 1.1), the ones QEMU's
own implementation (target/arm/psci.c) answers for a one-CPU virt board:
PSCI_VERSION says 1.1 (what Linux 6.1 prints under qemu-system-arm 7.2:
"PSCIv1.1 detected in firmware"), MIGRATE_INFO_TYPE says no Trusted OS
(2), SYSTEM_OFF and SYSTEM_RESET end the run.  Anything else is
NOT_SUPPORTED, SMCCC_VERSION included (Linux then prints "SMC Calling
Convention v1.0", as under QEMU).  The conduit is `hvc #0` (see the psci
node in board_virt.py); the CPU has no EL2, so the instruction arrives as an
undefined instruction and cpu_loop.py hands it here.
"""

from __future__ import annotations

from dataclasses import dataclass

PSCI_VERSION = 0x84000000
PSCI_CPU_SUSPEND = 0x84000001
PSCI_CPU_OFF = 0x84000002
PSCI_CPU_ON = 0x84000003
PSCI_AFFINITY_INFO = 0x84000004
PSCI_MIGRATE = 0x84000005
PSCI_MIGRATE_INFO_TYPE = 0x84000006
PSCI_SYSTEM_OFF = 0x84000008
PSCI_SYSTEM_RESET = 0x84000009
PSCI_FEATURES = 0x8400000A
# The SMC64 twins of the functions that take addresses (bit 30 set).
PSCI64 = 0x40000000

VERSION_1_1 = 0x00010001
RET_SUCCESS = 0
RET_NOT_SUPPORTED = -1
RET_ALREADY_ON = -4
MIGRATE_INFO_NO_TOS = 2  # "Trusted OS is not present or does not require migration"
AFFINITY_ON = 0

IMPLEMENTED = {PSCI_VERSION, PSCI_CPU_SUSPEND, PSCI_CPU_OFF, PSCI_CPU_ON, PSCI_AFFINITY_INFO,
               PSCI_MIGRATE, PSCI_MIGRATE_INFO_TYPE, PSCI_SYSTEM_OFF, PSCI_SYSTEM_RESET, PSCI_FEATURES,
               PSCI_CPU_SUSPEND | PSCI64, PSCI_CPU_ON | PSCI64, PSCI_AFFINITY_INFO | PSCI64,
               PSCI_MIGRATE | PSCI64}


@dataclass
class PowerRequest(Exception):
    """The guest asked to power the machine off (reset=False) or to reset it."""

    reset: bool


def psci_call(function: int, arg1: int) -> int:
    """The value for r0; raises PowerRequest for SYSTEM_OFF/SYSTEM_RESET."""
    if function == PSCI_VERSION:
        return VERSION_1_1
    if function == PSCI_MIGRATE_INFO_TYPE:
        return MIGRATE_INFO_NO_TOS
    if function == PSCI_SYSTEM_OFF:
        raise PowerRequest(reset=False)
    if function == PSCI_SYSTEM_RESET:
        raise PowerRequest(reset=True)
    if function == PSCI_FEATURES:
        return RET_SUCCESS if arg1 in IMPLEMENTED else RET_NOT_SUPPORTED
    if function in (PSCI_CPU_ON, PSCI_CPU_ON | PSCI64):
        return RET_ALREADY_ON if arg1 == 0 else RET_NOT_SUPPORTED  # one CPU, MPIDR affinity 0
    if function in (PSCI_AFFINITY_INFO, PSCI_AFFINITY_INFO | PSCI64):
        return AFFINITY_ON if arg1 == 0 else RET_NOT_SUPPORTED
    return RET_NOT_SUPPORTED
