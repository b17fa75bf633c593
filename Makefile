# pyuser's developer entry points.
#
#   make test     on a fresh Debian 12 machine, as root: installs everything
#                 (apt packages, .venv, guest programs) and runs all tests
#   make run      builds and runs the bundled demo guest (hello) under pyuser
#   make lint     ruff
#   make bench    pyuser vs qemu-arm-static vs native
#   make sysroot-armhf   a Debian 12 armhf sysroot in .cache/ (for -L)
#   make clean    build outputs (distclean: also .venv and .cache)

PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
GUEST_ARCH ?= arm
GUEST_BUILD := tests/guest_bins/build/$(GUEST_ARCH)

.PHONY: all deps venv guest-bins run test test-ports lint bench clean distclean sysroot-armhf

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

lint: venv
	$(VENV)/bin/ruff check pyuser tests tools

# BENCH_ARCH=all (or a comma-separated list) for every target
BENCH_ARCH ?= arm
bench: venv guest-bins
	$(VPY) tools/bench.py --arch $(BENCH_ARCH)

# Debian 12 armhf userland (libc, coreutils, busybox, python3, ...) for
# `pyuser-arm -L .cache/sysroot-armhf`; the tests build it on first use.
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
