"""Memory-access tracer: `-plugin memtrace[,range=START-END][,out=FILE]`.

One line per load or store in [START, END) (hex or decimal; default: all
memory, which is slow), as it happens:

    0x000104a8 store 0x0008c3f0 4 0x0000007f

(the PC of the accessing instruction, load/store, address, size, value).
Memory hooks make every store take Unicorn's slow path: use a narrow range.
"""

from __future__ import annotations


def install(ctx, args):
    out = ctx.open_output(args.get("out"))
    begin, end = 0, None
    if "range" in args:
        first, _, last = args["range"].partition("-")
        begin, end = int(first, 0), int(last, 0)
        if end <= begin:
            raise ValueError(f"empty range {args['range']}")
    width = 2 * ctx.word_size

    def access(event):
        kind = "store" if event.is_store else "load "
        out.write(f"0x{event.pc:0{width}x} {kind} 0x{event.address:0{width}x} {event.size} "
                  f"0x{event.value:0{2 * event.size}x}\n")

    ctx.on_memory(access, begin, end)
