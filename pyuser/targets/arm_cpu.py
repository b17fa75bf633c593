"""The ARM CPU core as Unicorn provides it, shared by user mode and system mode.

Everything here is about bringing a Unicorn ARM instance into a usable state;
what a *Linux process* needs on top (MMU tables, kuser page, syscall ABI) lives
in :mod:`pyuser.targets.arm`.
"""

from __future__ import annotations

from unicorn import UC_ARCH_ARM, UC_MODE_ARM, Uc
from unicorn import arm_const as A

from pyuser.limits import fit_translation_buffer

# Models offered by `-cpu`. cortex-a15 is the default: it has VFPv4, NEON,
# the integer divider and LPAE, which is what Debian armhf is built for.
CPU_MODELS: dict[str, int] = {
    "cortex-a7": A.UC_CPU_ARM_CORTEX_A7,
    "cortex-a8": A.UC_CPU_ARM_CORTEX_A8,
    "cortex-a9": A.UC_CPU_ARM_CORTEX_A9,
    "cortex-a15": A.UC_CPU_ARM_CORTEX_A15,
    "max": A.UC_CPU_ARM_MAX,
}
DEFAULT_CPU_MODEL = "cortex-a15"

# Coprocessor register selectors (cp, is64, sec, crn, crm, opc1, opc2) for
# uc reg_read/reg_write of UC_ARM_REG_CP_REG.  From the ARMv7-A ARM, B4.1.
SCTLR = (15, 0, 0, 1, 0, 0, 0)
TTBR0 = (15, 0, 0, 2, 0, 0, 0)
TTBCR = (15, 0, 0, 2, 0, 0, 2)
DACR = (15, 0, 0, 3, 0, 0, 0)
VBAR = (15, 0, 0, 12, 0, 0, 0)

SCTLR_M = 1 << 0  # MMU enable
CPSR_MODE_USR = 0x10
CPSR_MODE_SVC = 0x13
CPSR_THUMB = 1 << 5


def write_cp(uc: Uc, reg: tuple[int, ...], value: int) -> None:
    uc.reg_write(A.UC_ARM_REG_CP_REG, (*reg, value))


def read_cp(uc: Uc, reg: tuple[int, ...]) -> int:
    return uc.reg_read(A.UC_ARM_REG_CP_REG, reg)


def create_arm_cpu(model: str = DEFAULT_CPU_MODEL, *, page_size: int = 4096) -> Uc:
    """A fresh Unicorn ARM CPU of `model` with VFP/NEON usable.

    The CPU model must be chosen before anything else touches the instance,
    and the page size before the first mapping (Unicorn fixes both at the
    instance's first use).
    """
    uc = Uc(UC_ARCH_ARM, UC_MODE_ARM)
    uc.ctl_set_cpu_model(CPU_MODELS[model])
    fit_translation_buffer(uc)  # before the engine allocates it (ulimit -v)
    uc.ctl_set_page_size(page_size)
    enable_vfp(uc)
    return uc


def enable_vfp(uc: Uc) -> None:
    """VFP/NEON are off at reset: grant cp10/cp11 full access, set FPEXC.EN."""
    # CPACR through its named register: the generic CP_REG path ignores
    # writes to it on this Unicorn build (measured: it reads back 0).
    uc.reg_write(A.UC_ARM_REG_C1_C0_2, uc.reg_read(A.UC_ARM_REG_C1_C0_2) | (0xF << 20))
    uc.reg_write(A.UC_ARM_REG_FPEXC, 0x40000000)
