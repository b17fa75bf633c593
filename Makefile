# pyuser's developer entry points.
#
#   make test     on a fresh Debian 12 machine, as root: installs everything
#                 (apt packages, .venv, guest programs) and runs all tests
#   make run      builds and runs the bundled demo guest (hello) under pyuser
#   make lint     ruff
#   make bench    pyuser vs qemu-arm-static vs native
#   make fuzz-syscalls [N=100000] [FUZZ_ARCH=arm,mips] [SEED=1]
#                 random hostile syscalls on every target, in a sandbox
#                 (docs/robustness.md); fails on a traceback or a hang
#   make sysroot-armhf   a Debian 12 armhf sysroot in .cache/ (for -L)
#   make fuzz-elf N=10000   mutated ELF files through every target (docs/robustness.md)
#   make soak     minutes of thread/fork/exec/mmap churn; RSS and fds must stay flat
#   make clean    build outputs (distclean: also .venv and .cache)

PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
GUEST_ARCH ?= arm
GUEST_BUILD := tests/guest_bins/build/$(GUEST_ARCH)

.PHONY: all deps venv guest-bins run test test-ports test-system-slow lint bench clean distclean sysroot-armhf fuzz-syscalls fuzz-elf soak

all: venv guest-bins

deps:
	bash tools/install-deps.sh

# The stamp is rebuilt when pyproject.toml changes.
# compat editable mode: a plain .pth path entry, no import-hook finder to load
# at every start; bytecode compiled up front (start-up time is measured).
$(VENV)/.installed: pyproject.toml
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q -e '.[test]' ruff --config-settings editable_mode=compat
	$(VPY) -m compileall -q pyuser $(VENV)/lib >/dev/null || true
	touch $@

venv: $(VENV)/.installed

guest-bins:
	$(MAKE) -C tests/guest_bins ARCH=$(GUEST_ARCH)

run: deps venv guest-bins
	$(VENV)/bin/pyuser-$(GUEST_ARCH) $(GUEST_BUILD)/hello

test: deps venv guest-bins
	$(VPY) -m pytest -q

# The whole guest-program suite on the ports of issue 18 (mips64el, mips64,
# armel, ...): the default run has a slice of it (tests/test_targets.py PORTS)
test-ports: deps venv
	$(VPY) -m pytest -q -m ports_full tests/test_targets.py tests/test_userland_ports.py

# Linux under pyuser-system-arm beyond the default run's one boot: a reboot
# (two boots, about 4 minutes on 2 cores); the default run has reboot.elf
test-system-slow: deps venv
	$(VPY) -m pytest -q -m system_slow tests/system

lint: venv
	$(VENV)/bin/ruff check pyuser tests tools

# BENCH_ARCH=all (or a comma-separated list) for every target
BENCH_ARCH ?= arm
# bytecode of pyuser's own modules recompiled first: under
# PYTHONDONTWRITEBYTECODE a module edited since `make venv` is compiled again
# at every start (+8 ms of hello after editing a few core modules)
bench: venv guest-bins
	$(VPY) -m compileall -q pyuser >/dev/null
	$(VPY) tools/bench.py --arch $(BENCH_ARCH)

# Mutants of the bundled guest programs, each in an unprivileged user+pid+mount
# namespace (the tool runs unshare --user --map-root-user --pid --fork
# --mount-proc) with a time limit (tools/fuzz_elf.py; docs/robustness.md).
fuzz-elf: N ?= 1000
SEED ?= 1
FUZZ_ARCH ?= all
fuzz-elf: venv
	$(VPY) tools/fuzz_elf.py -n $(N) --seed $(SEED) --arch $(FUZZ_ARCH)

# SOAK_SECONDS=300 by default; SOAK_ARCH=arm (tools/soak.py; docs/robustness.md)
SOAK_SECONDS ?= 300
SOAK_ARCH ?= arm
soak: venv
	$(VPY) tools/soak.py --seconds $(SOAK_SECONDS) --arch $(SOAK_ARCH)

# N calls per target, each target's guest programs built first (and the x86
# builds the fuzzer replays calls with natively)
fuzz-syscalls: N ?= 2000
comma := ,
FUZZ_TARGETS := $(if $(filter all,$(FUZZ_ARCH)),arm aarch64 x86_64 i386 riscv64 mipsel mips,$(subst $(comma), ,$(FUZZ_ARCH)) i386 x86_64)
fuzz-syscalls: venv
	for arch in $(sort $(FUZZ_TARGETS)); do $(MAKE) -C tests/guest_bins ARCH=$$arch target || exit 1; done
	$(VPY) tools/fuzz_syscalls.py --arch $(FUZZ_ARCH) -n $(N) --seed $(SEED)

# Debian 12 armhf userland (libc, coreutils, busybox, python3, ...) for
# `pyuser-arm -L .cache/sysroot-armhf`; the tests build it on first use.
# (tools/make-sysroot.sh gives pyuser-sysroot the tests' package list.)
sysroot-armhf:
	bash tools/make-sysroot.sh armhf

# The same for another Debian architecture: make sysroot-mips64el, sysroot-armel, ...
sysroot-%:
	bash tools/make-sysroot.sh $*

# clean: build outputs; distclean: also the venv and the download cache.
clean:
	$(MAKE) -C tests/guest_bins clean
	rm -rf .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) .cache
