#!/usr/bin/env bash
# make-linux-armmp.sh: Debian 12's armhf multi-platform kernel and a static
# busybox, for booting Linux under pyuser-system-arm and qemu-system-arm.
#
#   tools/make-linux-armmp.sh [DESTDIR]
#
#   DESTDIR  default .cache/linux-armmp under the repository
#
# Fetches (tools/debfetch.sh: apt-get download + dpkg -x with a private apt
# state, the host's apt and dpkg untouched) the package the linux-image-armmp
# meta-package points at today (Debian's security updates replace it) and
# busybox-static, and leaves in DESTDIR:
#   vmlinuz           the zImage
#   busybox           the static armhf busybox
#   modules/          the kernel's modules (lib/modules/VERSION/kernel)
#   version           the kernel version string
# A second run with the same kernel package does nothing.  Prints DESTDIR.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dest=${1:-$repo/.cache/linux-armmp}
fetch=$repo/tools/debfetch.sh

# The meta-package's Depends names the versioned image package.
meta_deb=$(bash "$fetch" armhf "$dest.meta.$$" linux-image-armmp | tail -n 1)
rm -rf "$dest.meta.$$"
image_pkg=$(dpkg-deb -f "$meta_deb" Depends | sed -n 's/^\(linux-image-[^ ,]*-armmp\).*/\1/p')
[[ -n $image_pkg ]] || { echo "make-linux-armmp: no kernel package in $meta_deb" >&2; exit 1; }

stamp=$dest/.done
if [[ -f $stamp && $(<"$stamp") == "$image_pkg" ]]; then
    echo "$dest"
    exit 0
fi

tmp=$dest.tmp.$$
trap 'rm -rf "$tmp"' EXIT
rm -rf "$tmp"
mkdir -p "$tmp/root"
DEBFETCH_UPDATE=never bash "$fetch" armhf "$tmp/root" "$image_pkg" busybox-static >/dev/null
version=${image_pkg#linux-image-}
mv "$tmp/root/boot/vmlinuz-$version" "$tmp/vmlinuz"
mv "$tmp/root/bin/busybox" "$tmp/busybox"
mv "$tmp/root/lib/modules/$version/kernel" "$tmp/modules"
echo "$version" >"$tmp/version"
rm -rf "$tmp/root"
echo "$image_pkg" >"$tmp/.done"
rm -rf "$dest"
mv "$tmp" "$dest"
trap - EXIT
echo "$dest"
