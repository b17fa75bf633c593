#!/usr/bin/env bash
# make-sysroot.sh: build the tests' Debian 12 sysroot for a guest
# architecture, for `pyuser-<arch> -L SYSROOT` (and qemu-<arch>-static -L SYSROOT).
#
#   tools/make-sysroot.sh [ARCH [DESTDIR]]
#
#   ARCH     Debian architecture (default armhf)
#   DESTDIR  default .cache/sysroot-ARCH under the repository
#
# The packages are tools/deps/sysroot-packages.txt plus what they depend on;
# the work is `pyuser-sysroot`'s (pyuser.sysroot: a private apt state in
# .cache/apt-ARCH, dpkg -x, absolute links made relative, the usr/bin/python3
# link, a stamp so that a second run with the same list does nothing; see
# docs/userland.md).  Prints DESTDIR.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
arch=${1:-armhf}
dest=${2:-$repo/.cache/sysroot-$arch}
list=$repo/tools/deps/sysroot-packages.txt

mapfile -t pkgs < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$list" | grep -v '^$')
python=$repo/.venv/bin/python
if [[ ! -x $python ]]; then
    python=python3
    export PYTHONPATH=$repo${PYTHONPATH:+:$PYTHONPATH}
fi
exec "$python" -m pyuser.sysroot.cli --arch "$arch" --cache "${DEBFETCH_CACHE:-$repo/.cache}" \
    --update "${DEBFETCH_UPDATE:-auto}" "$dest" "${pkgs[@]}"
