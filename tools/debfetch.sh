#!/usr/bin/env bash
# debfetch.sh: download Debian 12 (bookworm) packages of a foreign
# architecture and unpack them into a directory, without touching the
# host's apt or dpkg state.
#
#   tools/debfetch.sh [--deps] ARCH DESTDIR PKG...
#
#   ARCH     Debian architecture name: armhf, arm64, i386, mips64el, ...
#   DESTDIR  where the packages' contents are unpacked (dpkg -x), created if
#            needed; files already there are overwritten.
#   PKG      package names, optionally PKG=VERSION.
#   --deps   also fetch the packages' Depends/Pre-Depends, recursively, as
#            apt's resolver picks them for an install onto an empty system.
#
# The work is pyuser.sysroot.apt's (the code behind `pyuser-sysroot`): a
# private apt state in .cache/apt-ARCH/ under the repository (or
# $DEBFETCH_CACHE/apt-ARCH), package lists refreshed when older than a day
# (DEBFETCH_UPDATE=always|never|auto changes that), downloaded .debs kept
# and reused.  Prints the absolute paths of the .deb files it unpacked.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export DEBFETCH_CACHE=${DEBFETCH_CACHE:-$repo/.cache}
python=$repo/.venv/bin/python
if [[ ! -x $python ]]; then
    python=python3
    export PYTHONPATH=$repo${PYTHONPATH:+:$PYTHONPATH}
fi
exec "$python" -m pyuser.sysroot.apt "$@"
