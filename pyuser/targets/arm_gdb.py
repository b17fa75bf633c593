"""ARM registers for gdb (gdb/features/arm/arm-core.xml, arm-vfpv3.xml, and the
empty org.gnu.gdb.arm.neon feature that tells gdb to show q0-q15 over d0-d31).

cpsr is register 25: numbers 16-24 belonged to the FPA registers, which gdb
keeps reserved."""

from __future__ import annotations

from unicorn import arm_const as A

from pyuser.targets.gdb_desc import Description, Feature, Reg, int_regs

_CORE = [*int_regs([f"r{i}" for i in range(13)], 32,
                   [getattr(A, f"UC_ARM_REG_R{i}") for i in range(13)]),
         Reg("sp", 32, A.UC_ARM_REG_SP, "data_ptr"),
         Reg("lr", 32, A.UC_ARM_REG_LR),
         Reg("pc", 32, A.UC_ARM_REG_PC, "code_ptr"),
         Reg("cpsr", 32, A.UC_ARM_REG_CPSR)]

_VFP = [*int_regs([f"d{i}" for i in range(32)], 64,
                  [getattr(A, f"UC_ARM_REG_D{i}") for i in range(32)], "ieee_double",
                  "float"),
        Reg("fpscr", 32, A.UC_ARM_REG_FPSCR, group="float")]

DESCRIPTION = Description("arm", [
    Feature("org.gnu.gdb.arm.core", _CORE, regnums={"cpsr": 25}),
    Feature("org.gnu.gdb.arm.vfp", _VFP),
    Feature("org.gnu.gdb.arm.neon", []),
])
