"""MIPS32 registers for gdb, either byte order (gdb/features/mips-cpu.xml,
mips-cp0.xml, mips-fpu.xml, mips-linux.xml): gdb's fixed numbering puts
status at 32, lo/hi at 33/34, badvaddr/cause at 35/36, pc at 37, f0-f31 at
38-69, then fcsr, fir and the Linux `restart` register.  Unicorn does not
expose badvaddr and cause to its register API: they read as 0."""

from __future__ import annotations

from unicorn import mips_const as M

from pyuser.targets.gdb_desc import ZERO, Description, Feature, Reg, int_regs

_CPU = [*int_regs([f"r{i}" for i in range(32)], 32,
                  [getattr(M, f"UC_MIPS_REG_{i}") for i in range(32)]),
        Reg("lo", 32, M.UC_MIPS_REG_LO), Reg("hi", 32, M.UC_MIPS_REG_HI),
        Reg("pc", 32, M.UC_MIPS_REG_PC, "code_ptr")]
_CP0 = [Reg("status", 32, M.UC_MIPS_REG_CP0_STATUS), Reg("badvaddr", 32, None, kind=ZERO),
        Reg("cause", 32, None, kind=ZERO)]
_FPU = [*int_regs([f"f{i}" for i in range(32)], 32,
                  [getattr(M, f"UC_MIPS_REG_F{i}") for i in range(32)], "ieee_single", "float"),
        Reg("fcsr", 32, M.UC_MIPS_REG_FCSR, group="float"),
        Reg("fir", 32, M.UC_MIPS_REG_FIR, group="float")]


def description(little_endian: bool) -> Description:
    return Description("mips", [
        Feature("org.gnu.gdb.mips.cpu", _CPU, regnums={"lo": 33, "hi": 34, "pc": 37}),
        Feature("org.gnu.gdb.mips.cp0", _CP0, regnums={"status": 32, "badvaddr": 35,
                                                       "cause": 36}),
        Feature("org.gnu.gdb.mips.fpu", _FPU, first_regnum=38),
        Feature("org.gnu.gdb.mips.linux", [Reg("restart", 32, None, kind=ZERO)]),
    ], little_endian=little_endian)
