"""Code coverage in drcov format: `-plugin drcov[,out=FILE]` (default
drcov.<program>.<pid>.log).

drcov is DynamoRIO's coverage format, which Lighthouse (IDA, Binary Ninja),
bncov, lcov converters and others read (format as written by DynamoRIO's
drcov tool, version 2): a text header, a module table, then "BB Table: N
bbs" followed by N binary records {uint32 start offset from the module's
base; uint16 size; uint16 module id}, little-endian.  The modules are the
guest's file mappings (the program, its interpreter, its libraries) at
exit; a block outside every file mapping (the vectors page, JIT code) is
not recorded.
"""

from __future__ import annotations

import os
import struct


def install(ctx, args):
    blocks: set[tuple[int, int]] = set()

    ctx.on_block_translated(lambda block: blocks.add((block.address, block.size)))

    def modules():
        spans: dict[str, list[int]] = {}
        for start, end, _prot, name, _offset in ctx.mappings():
            if name.startswith("/"):
                span = spans.setdefault(name, [start, end])
                span[0], span[1] = min(span[0], start), max(span[1], end)
        return sorted(((b, e, n) for n, (b, e) in spans.items()))

    def write(_status):
        program = os.path.basename(ctx.process.exe_guest_path) or "guest"
        path = args.get("out") or f"drcov.{program}.{os.getpid()}.log"
        table = modules()
        records = []
        for address, size in sorted(blocks):
            for index, (base, end, _name) in enumerate(table):
                if base <= address < end:
                    records.append(struct.pack("<IHH", address - base, min(size, 0xFFFF),
                                               index))
                    break
        with open(path, "wb") as f:
            f.write(b"DRCOV VERSION: 2\nDRCOV FLAVOR: drcov\n")
            f.write(f"Module Table: version 2, count {len(table)}\n".encode())
            f.write(b"Columns: id, base, end, entry, checksum, timestamp, path\n")
            for index, (base, end, name) in enumerate(table):
                f.write(f"{index:3d}, 0x{base:016x}, 0x{end:016x}, 0x{0:016x}, 0x{0:08x}, "
                        f"0x{0:08x}, {name}\n".encode())
            f.write(f"BB Table: {len(records)} bbs\n".encode())
            f.write(b"".join(records))

    ctx.on_exit(write)
