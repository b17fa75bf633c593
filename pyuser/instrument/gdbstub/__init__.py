"""The gdbstub (`-g PORT`): see pyuser.instrument.gdbstub.stub."""
