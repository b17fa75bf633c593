#!/usr/bin/env bash
# make-sysroot.sh: build a Debian 12 sysroot for a guest architecture, for
# `pyuser-<arch> -L SYSROOT` (and qemu-<arch>-static -L SYSROOT).
#
#   tools/make-sysroot.sh [ARCH [DESTDIR]]
#
#   ARCH     Debian architecture (default armhf)
#   DESTDIR  default .cache/sysroot-ARCH under the repository
#
# The packages are tools/deps/sysroot-packages.txt plus what they depend on
# (tools/debfetch.sh --deps: apt-get download and dpkg -x with a private apt
# state; the host's apt and dpkg are not touched).  dpkg -x runs no
# maintainer scripts, so the links those would make are added here
# (usr/bin/python3).  A stamp file records the package list: a second run
# with the same list does nothing.  Prints DESTDIR.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
arch=${1:-armhf}
dest=${2:-$repo/.cache/sysroot-$arch}
list=$repo/tools/deps/sysroot-packages.txt

mapfile -t pkgs < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$list" | grep -v '^$')
stamp=$dest/.sysroot-done
want="$arch ${pkgs[*]}"
if [[ -f $stamp && $(<"$stamp") == "$want" ]]; then
    echo "$dest"
    exit 0
fi

# Unpack into a fresh directory next to the destination, then move it in
# place: an interrupted run never leaves a half-built sysroot behind.
tmp=$dest.tmp.$$
trap 'rm -rf "$tmp"' EXIT
rm -rf "$tmp"
bash "$repo/tools/debfetch.sh" --deps "$arch" "$tmp" "${pkgs[@]}" >/dev/null

# Absolute symlinks (mips64el's /lib64/ld.so.1 -> /lib/mips64el-linux-gnuabi64/
# ld.so.1) would point into the host when followed from outside a chroot, as
# -L does: make each one relative to its own directory inside the sysroot.
while IFS= read -r -d '' link; do
    target=$(readlink "$link")
    [[ $target == /* ]] || continue
    rel=$(realpath -m --relative-to="$(dirname "$link")" "$tmp$target")
    ln -sfn "$rel" "$link"
done < <(find "$tmp" -type l -print0)

if [[ -x $tmp/usr/bin/python3.11 && ! -e $tmp/usr/bin/python3 ]]; then
    ln -s python3.11 "$tmp/usr/bin/python3"
fi
[[ -e $tmp/lib/ld-linux-armhf.so.3 || $arch != armhf ]] ||
    { echo "make-sysroot: no dynamic loader in the sysroot" >&2; exit 1; }

printf '%s' "$want" >"$tmp/.sysroot-done"
rm -rf "$dest"
mv "$tmp" "$dest"
trap - EXIT
echo "$dest"
