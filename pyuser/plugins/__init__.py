"""The plugins shipped with pyuser, loaded by name: ``-plugin insn``, ``-plugin
syscalls``, ``-plugin memtrace``, ``-plugin drcov`` (docs/debugging.md).
Each is a plain plugin file defining ``install(ctx, args)``."""
