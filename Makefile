# pyuser's developer entry points.
#
#   make test     on a fresh Debian 12 machine, as root: installs everything
#                 (apt packages, .venv, guest programs) and runs all tests
#   make run      builds and runs the bundled demo guest (hello) under pyuser
#   make lint     ruff
#   make bench    pyuser vs qemu-arm-static vs native
#   make clean    build outputs (distclean: also .venv and .cache)

PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
GUEST_ARCH ?= arm
GUEST_BUILD := tests/guest_bins/build/$(GUEST_ARCH)

.PHONY: all deps venv guest-bins run test lint bench clean distclean

all: venv guest-bins

deps:
	bash tools/install-deps.sh

# The stamp is rebuilt when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q -e '.[test]' ruff
	touch $@

venv: $(VENV)/.installed

guest-bins:
	$(MAKE) -C tests/guest_bins ARCH=$(GUEST_ARCH)

run: venv guest-bins
	$(VENV)/bin/pyuser-$(GUEST_ARCH) $(GUEST_BUILD)/hello

test: deps venv guest-bins
	$(VPY) -m pytest -q

lint: venv
	$(VENV)/bin/ruff check pyuser tests tools

bench: venv guest-bins
	$(VPY) tools/bench.py

# clean: build outputs; distclean: also the venv and the download cache.
clean:
	$(MAKE) -C tests/guest_bins clean
	rm -rf .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) .cache
