"""x86 registers for gdb, 64-bit and 32-bit (gdb/features/i386/64bit-core.xml,
64bit-sse.xml, 64bit-linux.xml, 64bit-segments.xml and their 32-bit twins).

gdb's st0-st7 are the x87 stack, ST(0) the top (pyuser.targets.gdb_desc.X87
maps them onto Unicorn's physical FP0-FP7); orig_rax/orig_eax, which gdb needs to restart an interrupted
syscall, reads as -1 (no syscall to restart at a debugger stop)."""

from __future__ import annotations

from unicorn import x86_const as X

from pyuser.targets.gdb_desc import X87, ZERO, Description, Feature, Reg, int_regs

_VEC128 = """
<vector id="v4f" type="ieee_single" count="4"/>
<vector id="v2d" type="ieee_double" count="2"/>
<vector id="v16i8" type="int8" count="16"/>
<vector id="v8i16" type="int16" count="8"/>
<vector id="v4i32" type="int32" count="4"/>
<vector id="v2i64" type="int64" count="2"/>
<union id="vec128"><field name="v4_float" type="v4f"/><field name="v2_double" type="v2d"/><field name="v16_int8" type="v16i8"/><field name="v8_int16" type="v8i16"/><field name="v4_int32" type="v4i32"/><field name="v2_int64" type="v2i64"/><field name="uint128" type="uint128"/></union>
"""

_SEGMENTS = [Reg(name, 32, getattr(X, f"UC_X86_REG_{name.upper()}"))
             for name in ("cs", "ss", "ds", "es", "fs", "gs")]

_X87 = [*(Reg(f"st{i}", 80, X.UC_X86_REG_FP0, "i387_ext", X87, index=i,
              aux=X.UC_X86_REG_FPSW) for i in range(8)),
        Reg("fctrl", 32, X.UC_X86_REG_FPCW, group="float"),
        Reg("fstat", 32, X.UC_X86_REG_FPSW, group="float"),
        Reg("ftag", 32, X.UC_X86_REG_FPTAG, group="float"),
        Reg("fiseg", 32, X.UC_X86_REG_FCS, group="float"),
        Reg("fioff", 32, X.UC_X86_REG_FIP, group="float"),
        Reg("foseg", 32, X.UC_X86_REG_FDS, group="float"),
        Reg("fooff", 32, X.UC_X86_REG_FDP, group="float"),
        Reg("fop", 32, X.UC_X86_REG_FOP, group="float")]


def _sse(count: int) -> list[Reg]:
    return [*(Reg(f"xmm{i}", 128, getattr(X, f"UC_X86_REG_XMM{i}"), "vec128", group="vector")
              for i in range(count)),
            Reg("mxcsr", 32, X.UC_X86_REG_MXCSR, group="vector")]


_NAMES64 = ["rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp",
            *(f"r{i}" for i in range(8, 16))]
_CORE64 = [*int_regs(_NAMES64, 64, [getattr(X, f"UC_X86_REG_{n.upper()}") for n in _NAMES64]),
           Reg("rip", 64, X.UC_X86_REG_RIP, "code_ptr"),
           Reg("eflags", 32, X.UC_X86_REG_EFLAGS),
           *_SEGMENTS, *_X87]

_NAMES32 = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"]
_CORE32 = [*int_regs(_NAMES32, 32, [getattr(X, f"UC_X86_REG_{n.upper()}") for n in _NAMES32]),
           Reg("eip", 32, X.UC_X86_REG_EIP, "code_ptr"),
           Reg("eflags", 32, X.UC_X86_REG_EFLAGS),
           *_SEGMENTS, *_X87]

DESCRIPTION_64 = Description("i386:x86-64", [
    Feature("org.gnu.gdb.i386.core", _CORE64),
    Feature("org.gnu.gdb.i386.sse", _sse(16), types=_VEC128),
    Feature("org.gnu.gdb.i386.linux", [Reg("orig_rax", 64, None, kind=ZERO)]),
    Feature("org.gnu.gdb.i386.segments", [Reg("fs_base", 64, X.UC_X86_REG_FS_BASE),
                                          Reg("gs_base", 64, X.UC_X86_REG_GS_BASE)]),
])

DESCRIPTION_32 = Description("i386", [
    Feature("org.gnu.gdb.i386.core", _CORE32),
    Feature("org.gnu.gdb.i386.sse", _sse(8), types=_VEC128),
    Feature("org.gnu.gdb.i386.linux", [Reg("orig_eax", 32, None, kind=ZERO)]),
])
