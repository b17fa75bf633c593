#!/usr/bin/env bash
# install-deps.sh: install the Debian packages listed in
# tools/deps/apt-packages.txt that are not installed yet.
#
# Meant for Debian 12 as root (CI, a fresh machine).  Runs `apt-get update`
# once, and only when something is missing; non-interactive.  As a normal
# user it only reports what is missing (and fails if anything is).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
list=${1:-$here/deps/apt-packages.txt}

mapfile -t wanted < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$list" | grep -v '^$')

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "install-deps: not a Debian system (no dpkg-query); install these by hand:" >&2
    printf '  %s\n' "${wanted[@]}" >&2
    exit 1
fi

missing=()
for pkg in "${wanted[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
    [[ $status == installed ]] || missing+=("$pkg")
done

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "install-deps: all ${#wanted[@]} packages already installed"
    exit 0
fi

echo "install-deps: missing: ${missing[*]}"
if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: run as root (or: sudo apt-get install ${missing[*]})" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# A mirror caught mid-sync can fail one index (exit 100) while the rest is
# fine: go on and let the install itself decide.
apt-get update -q || echo "install-deps: warning: apt-get update reported errors" >&2
apt-get install -y -q --no-install-recommends "${missing[@]}"
