"""ARM registers for gdb (gdb/features/arm/arm-core.xml and the VFP feature).

cpsr is register 25: numbers 16-24 belonged to the FPA registers, which gdb
keeps reserved.  The VFP feature lists d0-d31, then the NEON q0-q15 as
registers of their own (over the same storage), then fpscr -- the layout
qemu-arm's stub gives, with which gdb 13 shows d, q and s registers (with an
empty org.gnu.gdb.arm.neon feature instead it showed no q registers)."""

from __future__ import annotations

from unicorn import arm_const as A

from pyuser.targets.gdb_desc import Description, Feature, Reg, int_regs

_CORE = [*int_regs([f"r{i}" for i in range(13)], 32,
                   [getattr(A, f"UC_ARM_REG_R{i}") for i in range(13)]),
         Reg("sp", 32, A.UC_ARM_REG_SP, "data_ptr"),
         Reg("lr", 32, A.UC_ARM_REG_LR),
         Reg("pc", 32, A.UC_ARM_REG_PC, "code_ptr"),
         Reg("cpsr", 32, A.UC_ARM_REG_CPSR)]

# gdb's NEON views of a D and a Q register
_NEON_TYPES = """
<vector id="neon_uint8x8" type="uint8" count="8"/>
<vector id="neon_uint16x4" type="uint16" count="4"/>
<vector id="neon_uint32x2" type="uint32" count="2"/>
<vector id="neon_float32x2" type="ieee_single" count="2"/>
<union id="neon_d"><field name="u8" type="neon_uint8x8"/><field name="u16" type="neon_uint16x4"/><field name="u32" type="neon_uint32x2"/><field name="u64" type="uint64"/><field name="f32" type="neon_float32x2"/><field name="f64" type="ieee_double"/></union>
<vector id="neon_uint8x16" type="uint8" count="16"/>
<vector id="neon_uint16x8" type="uint16" count="8"/>
<vector id="neon_uint32x4" type="uint32" count="4"/>
<vector id="neon_uint64x2" type="uint64" count="2"/>
<vector id="neon_float32x4" type="ieee_single" count="4"/>
<vector id="neon_float64x2" type="ieee_double" count="2"/>
<union id="neon_q"><field name="u8" type="neon_uint8x16"/><field name="u16" type="neon_uint16x8"/><field name="u32" type="neon_uint32x4"/><field name="u64" type="neon_uint64x2"/><field name="f32" type="neon_float32x4"/><field name="f64" type="neon_float64x2"/></union>
"""

_VFP = [*int_regs([f"d{i}" for i in range(32)], 64,
                  [getattr(A, f"UC_ARM_REG_D{i}") for i in range(32)], "neon_d", "float"),
        *int_regs([f"q{i}" for i in range(16)], 128,
                  [getattr(A, f"UC_ARM_REG_Q{i}") for i in range(16)], "neon_q", "vector"),
        Reg("fpscr", 32, A.UC_ARM_REG_FPSCR, group="float")]

DESCRIPTION = Description("arm", [
    Feature("org.gnu.gdb.arm.core", _CORE, regnums={"cpsr": 25}),
    Feature("org.gnu.gdb.arm.vfp", _VFP, types=_NEON_TYPES),
])
