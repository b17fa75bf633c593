"""RISC-V 64 registers for gdb (gdb/features/riscv/64bit-cpu.xml, 64bit-fpu.xml):
x0-x31 by their ABI names, pc (32); f0-f31 (33-64) by their ABI names; the
FP CSRs numbered as gdb numbers CSRs, 65 + the CSR number (fflags 0x001,
frm 0x002, fcsr 0x003)."""

from __future__ import annotations

from unicorn import riscv_const as R

from pyuser.targets.gdb_desc import Description, Feature, Reg, int_regs

_X_NAMES = ["zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "fp", "s1",
            *(f"a{i}" for i in range(8)), *(f"s{i}" for i in range(2, 12)),
            "t3", "t4", "t5", "t6"]
_F_NAMES = [*(f"ft{i}" for i in range(8)), "fs0", "fs1", *(f"fa{i}" for i in range(8)),
            *(f"fs{i}" for i in range(2, 12)), *(f"ft{i}" for i in range(8, 12))]

_CPU = [*int_regs(_X_NAMES, 64, [getattr(R, f"UC_RISCV_REG_X{i}") for i in range(32)]),
        Reg("pc", 64, R.UC_RISCV_REG_PC, "code_ptr")]
_FPU = [*int_regs(_F_NAMES, 64, [getattr(R, f"UC_RISCV_REG_F{i}") for i in range(32)],
                  "ieee_double", "float"),
        Reg("fflags", 32, R.UC_RISCV_REG_FFLAGS, group="float"),
        Reg("frm", 32, R.UC_RISCV_REG_FRM, group="float"),
        Reg("fcsr", 32, R.UC_RISCV_REG_FCSR, group="float")]

DESCRIPTION = Description("riscv:rv64", [
    Feature("org.gnu.gdb.riscv.cpu", _CPU),
    Feature("org.gnu.gdb.riscv.fpu", _FPU, regnums={"fflags": 66, "frm": 67, "fcsr": 68}),
])
