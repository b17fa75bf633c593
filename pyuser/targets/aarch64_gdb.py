"""AArch64 registers for gdb (gdb/features/aarch64-core.xml, aarch64-fpu.xml):
x0-x30, sp, pc, cpsr; v0-v31 as the vector union gdb's FPU feature defines,
then fpsr and fpcr."""

from __future__ import annotations

from unicorn import arm64_const as A

from pyuser.targets.gdb_desc import Description, Feature, Reg, int_regs

_X_IDS = [getattr(A, f"UC_ARM64_REG_X{i}") for i in range(31)]

_CORE = [*int_regs([f"x{i}" for i in range(31)], 64, _X_IDS),
         Reg("sp", 64, A.UC_ARM64_REG_SP, "data_ptr"),
         Reg("pc", 64, A.UC_ARM64_REG_PC, "code_ptr"),
         Reg("cpsr", 32, A.UC_ARM64_REG_PSTATE)]

# the union gdb's aarch64-fpu.xml gives each V register, by its field names
_FPU_TYPES = """
<vector id="v2d" type="ieee_double" count="2"/>
<vector id="v2u" type="uint64" count="2"/>
<vector id="v2i" type="int64" count="2"/>
<vector id="v4f" type="ieee_single" count="4"/>
<vector id="v4u" type="uint32" count="4"/>
<vector id="v4i" type="int32" count="4"/>
<vector id="v8u" type="uint16" count="8"/>
<vector id="v8i" type="int16" count="8"/>
<vector id="v16u" type="uint8" count="16"/>
<vector id="v16i" type="int8" count="16"/>
<vector id="v1u" type="uint128" count="1"/>
<vector id="v1i" type="int128" count="1"/>
<union id="vnd"><field name="f" type="v2d"/><field name="u" type="v2u"/><field name="s" type="v2i"/></union>
<union id="vns"><field name="f" type="v4f"/><field name="u" type="v4u"/><field name="s" type="v4i"/></union>
<union id="vnh"><field name="u" type="v8u"/><field name="s" type="v8i"/></union>
<union id="vnb"><field name="u" type="v16u"/><field name="s" type="v16i"/></union>
<union id="vnq"><field name="u" type="v1u"/><field name="s" type="v1i"/></union>
<union id="aarch64v"><field name="d" type="vnd"/><field name="s" type="vns"/><field name="h" type="vnh"/><field name="b" type="vnb"/><field name="q" type="vnq"/></union>
"""

_FPU = [*int_regs([f"v{i}" for i in range(32)], 128,
                  [getattr(A, f"UC_ARM64_REG_V{i}") for i in range(32)], "aarch64v", "vector"),
        Reg("fpsr", 32, A.UC_ARM64_REG_FPSR, group="float"),
        Reg("fpcr", 32, A.UC_ARM64_REG_FPCR, group="float")]

DESCRIPTION = Description("aarch64", [
    Feature("org.gnu.gdb.aarch64.core", _CORE),
    Feature("org.gnu.gdb.aarch64.fpu", _FPU, types=_FPU_TYPES),
])
