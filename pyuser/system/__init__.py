"""System mode: a bare-metal Arm `virt` board on Unicorn.

The board is a tree of devices and buses (:mod:`.qdev`) whose realize and
unrealize are structural mirrors of each other (:mod:`.undo`); the address map
(:mod:`.memory`) is the Python model of the board and Unicorn only follows it.
See docs/system.md.
"""
