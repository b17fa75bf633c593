"""Instruction and block counter: `-plugin insn[,out=FILE][,per_thread=on]`.

Counts every block executed and the instructions in it (capstone counts a
block's instructions once, when it is first seen), and prints at exit:

    insns: 1234
    blocks: 321

A block that faults part-way counts whole, as QEMU's libinsn counts it.
"""

from __future__ import annotations


def install(ctx, args):
    out = ctx.open_output(args.get("out"))
    per_thread = args.get("per_thread", "off") == "on"
    totals = {"insns": 0, "blocks": 0}
    by_thread: dict[int, int] = {}

    def translated(block):
        count = len(block.instructions)

        def executed(_block):
            totals["insns"] += count
            totals["blocks"] += 1
            if per_thread:
                tid = ctx.tid
                by_thread[tid] = by_thread.get(tid, 0) + count

        block.on_execute(executed)

    def report(_status):
        out.write(f"insns: {totals['insns']}\nblocks: {totals['blocks']}\n")
        for tid, count in sorted(by_thread.items()):
            out.write(f"thread {tid}: insns: {count}\n")

    ctx.on_block_translated(translated)
    ctx.on_exit(report)
