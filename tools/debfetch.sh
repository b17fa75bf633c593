#!/usr/bin/env bash
# debfetch.sh: download Debian 12 (bookworm) packages of a foreign
# architecture and unpack them into a directory, without touching the
# host's apt or dpkg state.
#
#   tools/debfetch.sh [--deps] ARCH DESTDIR PKG...
#
#   ARCH     Debian architecture name: armhf, arm64, i386, riscv64, ...
#   DESTDIR  where the packages' contents are unpacked (dpkg -x), created if
#            needed; files already there are overwritten.
#   PKG      package names, optionally PKG=VERSION.
#   --deps   also fetch the packages' Depends/Pre-Depends, recursively, as
#            apt's resolver picks them for an install onto an empty system
#            (for building a sysroot); without it only the named packages.
#
# How: apt gets a private state directory, .cache/apt-ARCH/ under the
# repository (or $DEBFETCH_CACHE/apt-ARCH), with its own package lists, an
# empty dpkg status file, and a source list derived from the host's own
# bookworm entries (only the architecture is changed).  The host's apt.conf
# settings (proxies and the like) still apply.  Nothing here runs
# `dpkg --add-architecture`, `dpkg -i` or writes below /var/lib/apt or
# /var/lib/dpkg.  Downloaded .debs are kept in .cache/apt-ARCH/debs/ and
# reused; the private package lists are refreshed when older than a day
# (DEBFETCH_UPDATE=always|never|auto changes that).
#
# Prints the absolute paths of the .deb files it unpacked, one a line.
set -euo pipefail

usage() {
    echo "usage: $0 [--deps] ARCH DESTDIR PKG..." >&2
    exit 2
}

die() {
    echo "debfetch: $*" >&2
    exit 1
}

with_deps=0
if [[ "${1:-}" == "--deps" ]]; then
    with_deps=1
    shift
fi
[[ $# -ge 3 ]] || usage
arch=$1
destdir=$2
shift 2
pkgs=("$@")

command -v apt-get >/dev/null || die "apt-get not found: this needs a Debian-based host"
command -v dpkg >/dev/null || die "dpkg not found"
[[ "$arch" =~ ^[a-z0-9]+$ ]] || die "bad architecture name: $arch"

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache_root=${DEBFETCH_CACHE:-$repo/.cache}
state=$cache_root/apt-$arch
mkdir -p "$state"/{lists/partial,cache/archives/partial,debs,etc/sources.list.d,etc/preferences.d}
state=$(cd "$state" && pwd)
: >"$state/status"
: >"$state/etc/sources.list"

# --- the private source list, derived from the host's --------------------
# Keep every host entry whose suite is bookworm, bookworm-updates,
# bookworm-security or bookworm-backports ("deb" type only), and rewrite
# it for $arch.  No mirror is named here: it is whatever the host uses.
write_sources() {
    python3 - "$arch" "$state/etc/sources.list.d/debfetch.sources" <<'PY'
import glob
import re
import sys

arch, out = sys.argv[1], sys.argv[2]
suite_ok = re.compile(r"^bookworm(-updates|-security|-backports)?$")
entries = []  # (uris, suites, components, signed_by)

def add(uris, suites, comps, signed_by):
    suites = [s for s in suites if suite_ok.match(s)]
    if uris and suites and comps:
        entries.append((uris, suites, comps, signed_by))

for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
    text = open(path, encoding="utf-8", errors="replace").read()
    for stanza in re.split(r"\n\s*\n", text):
        fields, key = {}, None
        for line in stanza.splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if line[0] in " \t" and key:
                fields[key] += " " + line.strip()
                continue
            if ":" in line:
                key, _, val = line.partition(":")
                key = key.strip().lower()
                fields[key] = val.strip()
        if fields.get("enabled", "yes").lower() == "no":
            continue
        if "deb" not in fields.get("types", "").split():
            continue
        add(fields.get("uris", "").split(), fields.get("suites", "").split(),
            fields.get("components", "").split(), fields.get("signed-by", ""))

one_line = re.compile(r"^\s*deb\s+(\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s+(.+)$")
for path in ["/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*.list"))]:
    try:
        lines = open(path, encoding="utf-8", errors="replace").read().splitlines()
    except OSError:
        continue
    for line in lines:
        m = one_line.match(line.split("#", 1)[0])
        if not m:
            continue
        opts = m.group(1) or ""
        sb = re.search(r"signed-by=(\S+?)\s*[\]\s]", opts + " ")
        add([m.group(2)], [m.group(3)], m.group(4).split(), sb.group(1) if sb else "")

if not entries:
    sys.exit("no bookworm entries in the host's apt sources")
seen = set()
with open(out, "w", encoding="utf-8") as f:
    for uris, suites, comps, signed_by in entries:
        key = (tuple(uris), tuple(suites), tuple(comps))
        if key in seen:
            continue
        seen.add(key)
        f.write("Types: deb\n")
        f.write(f"URIs: {' '.join(uris)}\n")
        f.write(f"Suites: {' '.join(suites)}\n")
        f.write(f"Components: {' '.join(comps)}\n")
        f.write(f"Architectures: {arch}\n")
        if signed_by:
            f.write(f"Signed-By: {signed_by}\n")
        f.write("\n")
PY
}
write_sources || die "could not derive a bookworm source list from /etc/apt/sources*"

apt_opts=(
    -o "APT::Architecture=$arch"
    -o "APT::Architectures=$arch"
    -o "Dir::State=$state"
    -o "Dir::State::Lists=$state/lists"
    -o "Dir::State::status=$state/status"
    -o "Dir::Cache=$state/cache"
    -o "Dir::Cache::archives=$state/cache/archives"
    -o "Dir::Etc::SourceList=$state/etc/sources.list"
    -o "Dir::Etc::SourceParts=$state/etc/sources.list.d"
    -o "Dir::Etc::Preferences=$state/etc/preferences"
    -o "Dir::Etc::PreferencesParts=$state/etc/preferences.d"
    -o "APT::Get::List-Cleanup=1"
    -o "Acquire::Languages=none"
    -o "APT::Install-Recommends=0"
)
# As root, apt downloads as the unprivileged _apt user, which cannot write
# into a private directory under the checkout: download as ourselves.
if [[ $(id -u) -eq 0 ]]; then
    apt_opts+=(-o "APT::Sandbox::User=root")
fi

# --- refresh the private package lists when needed ------------------------
stamp=$state/updated.stamp
need_update=1
case "${DEBFETCH_UPDATE:-auto}" in
    always) need_update=1 ;;
    never) need_update=0 ;;
    auto)
        if [[ -f $stamp ]] && [[ -n $(find "$stamp" -mmin -1440 2>/dev/null) ]] &&
            cmp -s "$state/etc/sources.list.d/debfetch.sources" "$state/sources.used"; then
            need_update=0
        fi
        ;;
    *) die "DEBFETCH_UPDATE must be always, never or auto" ;;
esac
if [[ $need_update -eq 1 ]]; then
    echo "debfetch: updating the private $arch package lists in $state" >&2
    # A mirror caught mid-sync can fail one index; apt then keeps the others.
    # Retry once, then carry on with what was fetched, if anything was.
    if apt-get "${apt_opts[@]}" -q update >&2 || apt-get "${apt_opts[@]}" -q update >&2; then
        :
    else
        echo "debfetch: warning: some package lists failed to download; using the rest" >&2
    fi
    cp "$state/etc/sources.list.d/debfetch.sources" "$state/sources.used"
    touch "$stamp"
    compgen -G "$state/lists/*_Packages*" >/dev/null ||
        die "apt-get update fetched no package list for $arch"
fi

# --- which packages ---------------------------------------------------------
if [[ $with_deps -eq 1 ]]; then
    # apt's own resolver, simulating an install onto the empty private
    # status: one choice per "a | b" alternative and per virtual package
    # (what `apt-get install` on an empty system would pick), Depends and
    # Pre-Depends only.  Each "Inst NAME (VERSION ...)" line is one package.
    mapfile -t resolved < <(
        apt-get "${apt_opts[@]}" -q -s install "${pkgs[@]}" |
            sed -n 's/^Inst \([^ ]*\) (\([^ ]*\) .*/\1=\2/p'
    )
    [[ ${#resolved[@]} -gt 0 ]] || die "dependency resolution found nothing for: ${pkgs[*]}"
    # Keep an explicit =VERSION the caller gave.
    declare -A wanted=()
    for p in "${resolved[@]}"; do wanted[${p%%=*}]=$p; done
    for p in "${pkgs[@]}"; do
        if [[ $p == *=* ]]; then wanted[${p%%=*}]=$p; fi
    done
    pkgs=("${wanted[@]}")
fi

# --- download (reusing earlier downloads) -----------------------------------
debs=()
for p in "${pkgs[@]}"; do
    name=${p%%=*}
    if [[ $p == *=* ]]; then
        version=${p#*=}
    else
        version=$(apt-cache "${apt_opts[@]}" policy "$name" 2>/dev/null |
            awk '/Candidate:/ {print $2; exit}')
    fi
    [[ -n $version && $version != "(none)" ]] ||
        die "package $name is not available for $arch"
    # apt names the file NAME_VERSION_ARCH.deb with the epoch colon as %3a.
    fver=${version//:/%3a}
    deb=""
    for a in "$arch" all; do
        if [[ -s $state/debs/${name}_${fver}_$a.deb ]]; then
            deb=$state/debs/${name}_${fver}_$a.deb
            break
        fi
    done
    if [[ -z $deb ]]; then
        echo "debfetch: downloading $name=$version ($arch)" >&2
        (cd "$state/debs" && apt-get "${apt_opts[@]}" -q download "$name=$version" >&2) ||
            die "apt-get download $name=$version failed"
        for a in "$arch" all; do
            if [[ -s $state/debs/${name}_${fver}_$a.deb ]]; then
                deb=$state/debs/${name}_${fver}_$a.deb
            fi
        done
        [[ -n $deb ]] || die "downloaded $name but cannot find its .deb in $state/debs"
    fi
    debs+=("$deb")
done

# --- unpack -----------------------------------------------------------------
mkdir -p "$destdir"
for deb in "${debs[@]}"; do
    dpkg -x "$deb" "$destdir" || die "dpkg -x $deb failed"
    echo "$deb"
done
