"""Debian 12 (bookworm) packages of a foreign architecture, fetched and
unpacked without touching the host's apt or dpkg state.

apt gets a private state directory, ``<cache>/apt-<arch>/``, with its own
package lists, an empty dpkg status file, and a source list derived from
the host's own bookworm entries (only the architecture is changed); the
host's apt.conf settings (proxies and the like) still apply.  Nothing here
runs ``dpkg --add-architecture`` or ``dpkg -i``, or writes below
/var/lib/apt or /var/lib/dpkg.  Downloaded .debs are kept in
``<cache>/apt-<arch>/debs/`` and reused; the private package lists are
refreshed when older than a day (or as `update` says).

The layout of the state directory (file names, the derived source list
byte for byte) is the one tools/debfetch.sh has always written, so caches
made by earlier checkouts stay valid.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from pyuser.errors import UserError, printable

# exit statuses of pyuser-sysroot (docs/userland.md)
EXIT_FAILED = 1  # a package is not available, apt or dpkg failed
EXIT_NOT_WRITABLE = 3  # the destination or the cache cannot be written
EXIT_NO_NETWORK = 4  # the package lists or packages could not be downloaded

LISTS_MAX_AGE = 24 * 3600  # seconds before the private lists are refreshed
_SUITE = re.compile(r"^bookworm(-updates|-security|-backports)?$")
_ONE_LINE = re.compile(r"^\s*deb\s+(\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s+(.+)$")
# what apt says when it could not reach a mirror at all (no use retrying)
_UNREACHABLE = re.compile(r"Temporary failure resolving|Could not resolve|Network is "
                          r"unreachable|Could not connect|No route to host")
# ... or when a download failed on the way
_NETWORK_WORDS = re.compile(_UNREACHABLE.pattern + r"|Connection failed|Connection timed out|"
                            r"Failed to fetch")


class SysrootError(UserError):
    exit_status = EXIT_FAILED


class NotWritable(SysrootError):
    exit_status = EXIT_NOT_WRITABLE


class NoNetwork(SysrootError):
    exit_status = EXIT_NO_NETWORK


def apt_message(output: str) -> str:
    """apt's first error (E: ...), else its first failed fetch (W: Failed
    to fetch URL  REASON), else its first line; one line, without the prefix."""
    lines = [" ".join(line.split()) for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("E:")]
    failed = [line for line in lines if line.startswith("W:") and "Failed to fetch" in line]
    return printable((errors or failed or lines or ["no output"])[0].removeprefix("E: ")
                     .removeprefix("W: "))


def _failed(result: subprocess.CompletedProcess) -> bool:
    """apt-get update exits 0 when an index failed to download (it warns)."""
    return result.returncode != 0 or "Failed to fetch" in result.stderr


# ---------------------------------------------------------------- sources


def host_sources(arch: str) -> str:
    """The private deb822 source list: the host's bookworm entries ("deb"
    type, suites bookworm, -updates, -security, -backports) for `arch`."""
    entries: list[tuple[list[str], list[str], list[str], str]] = []

    def add(uris: list[str], suites: list[str], comps: list[str], signed_by: str) -> None:
        suites = [s for s in suites if _SUITE.match(s)]
        if uris and suites and comps:
            entries.append((uris, suites, comps, signed_by))

    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        for stanza in re.split(r"\n\s*\n", text):
            fields: dict[str, str] = {}
            key = None
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

    for path in ["/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*.list"))]:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                lines = f.read().splitlines()
        except OSError:
            continue
        for line in lines:
            m = _ONE_LINE.match(line.split("#", 1)[0])
            if not m:
                continue
            opts = m.group(1) or ""
            sb = re.search(r"signed-by=(\S+?)\s*[\]\s]", opts + " ")
            add([m.group(2)], [m.group(3)], m.group(4).split(), sb.group(1) if sb else "")

    if not entries:
        raise SysrootError("no Debian 12 (bookworm) entries in the host's apt sources "
                           "(/etc/apt/sources.list*): this needs a Debian 12 host")
    seen = set()
    out = []
    for uris, suites, comps, signed_by in entries:
        key = (tuple(uris), tuple(suites), tuple(comps))
        if key in seen:
            continue
        seen.add(key)
        out.append("Types: deb\n")
        out.append(f"URIs: {' '.join(uris)}\n")
        out.append(f"Suites: {' '.join(suites)}\n")
        out.append(f"Components: {' '.join(comps)}\n")
        out.append(f"Architectures: {arch}\n")
        if signed_by:
            out.append(f"Signed-By: {signed_by}\n")
        out.append("\n")
    return "".join(out)


# ---------------------------------------------------------------- apt


@dataclass
class Package:
    name: str
    version: str


class PrivateApt:
    """apt-get and apt-cache for `arch` with the state in `cache/apt-<arch>`."""

    def __init__(self, arch: str, cache: Path) -> None:
        if not re.fullmatch(r"[a-z0-9]+", arch):
            raise SysrootError(f"bad Debian architecture name '{printable(arch)}'")
        for tool in ("apt-get", "apt-cache", "dpkg"):
            if shutil.which(tool) is None:
                raise SysrootError(f"{tool} not found: this needs a Debian host")
        self.arch = arch
        self.state = Path(cache).absolute() / f"apt-{arch}"
        try:
            for sub in ("lists/partial", "cache/archives/partial", "debs",
                        "etc/sources.list.d", "etc/preferences.d"):
                (self.state / sub).mkdir(parents=True, exist_ok=True)
            (self.state / "status").write_bytes(b"")
            (self.state / "etc" / "sources.list").write_bytes(b"")
            self.sources = self.state / "etc" / "sources.list.d" / "debfetch.sources"
            self.sources.write_text(host_sources(arch), encoding="utf-8")
        except OSError as e:
            raise NotWritable(f"cannot write the apt cache {printable(str(self.state))}: "
                              f"{e.strerror}") from None
        s = self.state
        self.options = [
            "-o", f"APT::Architecture={arch}", "-o", f"APT::Architectures={arch}",
            "-o", f"Dir::State={s}", "-o", f"Dir::State::Lists={s}/lists",
            "-o", f"Dir::State::status={s}/status", "-o", f"Dir::Cache={s}/cache",
            "-o", f"Dir::Cache::archives={s}/cache/archives",
            "-o", f"Dir::Etc::SourceList={s}/etc/sources.list",
            "-o", f"Dir::Etc::SourceParts={s}/etc/sources.list.d",
            "-o", f"Dir::Etc::Preferences={s}/etc/preferences",
            "-o", f"Dir::Etc::PreferencesParts={s}/etc/preferences.d",
            "-o", "APT::Get::List-Cleanup=1", "-o", "Acquire::Languages=none",
            "-o", "APT::Install-Recommends=0",
        ]
        # As root, apt downloads as the unprivileged _apt user, which cannot
        # write into a private directory under the checkout: download as ourselves.
        if os.geteuid() == 0:
            self.options += ["-o", "APT::Sandbox::User=root"]

    def _run(self, tool: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
        env = {**os.environ, "LC_ALL": "C"}  # apt's messages, parsed below, in English
        return subprocess.run([tool, *self.options, "-q", *args], capture_output=True,
                              text=True, cwd=cwd, env=env, stdin=subprocess.DEVNULL)

    def _has_lists(self) -> bool:
        return any(self.state.glob("lists/*_Packages*"))

    def update(self, when: str = "auto") -> None:
        """Refresh the private package lists: "always", "never", or "auto"
        (when older than a day or made from other sources)."""
        if when not in ("always", "never", "auto"):
            raise SysrootError("the update policy must be always, never or auto")
        stamp = self.state / "updated.stamp"
        used = self.state / "sources.used"
        if when == "never" or when == "auto" and stamp.exists() \
                and time.time() - stamp.stat().st_mtime < LISTS_MAX_AGE \
                and used.exists() and used.read_bytes() == self.sources.read_bytes():
            return
        print(f"pyuser-sysroot: updating the private {self.arch} package lists in "
              f"{self.state}", file=sys.stderr)
        # A mirror caught mid-sync can fail one index; apt then keeps the
        # others.  Retry once (unless no mirror could be reached at all), then
        # carry on with what was fetched, if anything.
        result = self._run("apt-get", "update")
        if _failed(result) and not _UNREACHABLE.search(result.stderr):
            result = self._run("apt-get", "update")
        message = apt_message(result.stderr + result.stdout)
        if not self._has_lists():
            raise NoNetwork(f"cannot download the Debian package lists for {self.arch} "
                            f"(no network?): {message}")
        if _failed(result):
            print(f"pyuser-sysroot: warning: some package lists failed to download "
                  f"({message}); using the rest", file=sys.stderr)
        shutil.copyfile(self.sources, used)
        stamp.touch()

    def resolve(self, names: list[str]) -> list[Package]:
        """The packages and their Depends/Pre-Depends, as apt's resolver picks
        them for an install onto an empty system (one choice per "a | b" and
        per virtual package); an explicit NAME=VERSION is kept."""
        result = self._run("apt-get", "-s", "install", *names)
        if result.returncode != 0:
            raise SysrootError(self._unavailable(result, names))
        chosen: dict[str, str] = {}
        for line in result.stdout.splitlines():
            m = re.match(r"^Inst (\S+) \((\S+) ", line)
            if m:
                chosen[m.group(1)] = m.group(2)
        if not chosen:
            raise SysrootError(f"dependency resolution found nothing for: {' '.join(names)}")
        for name in names:
            if "=" in name:
                base, _, version = name.partition("=")
                chosen[base] = version
        return [Package(n, v) for n, v in chosen.items()]

    def _unavailable(self, result: subprocess.CompletedProcess, names: list[str]) -> str:
        text = result.stdout + result.stderr
        m = re.search(r"Unable to locate package (\S+)", text) or \
            re.search(r"Package '?(\S+?)'? has no installation candidate", text)
        if m:
            return f"package {printable(m.group(1))} is not available for {self.arch}"
        return f"apt cannot install {' '.join(names)} for {self.arch}: {apt_message(text)}"

    def candidates(self, names: list[str]) -> list[Package]:
        """The named packages alone, at their candidate (or given) versions."""
        packages = []
        for name in names:
            base, _, version = name.partition("=")
            if not version:
                policy = self._run("apt-cache", "policy", base).stdout
                m = re.search(r"Candidate:\s*(\S+)", policy)
                version = m.group(1) if m else ""
            if not version or version == "(none)":
                raise SysrootError(f"package {printable(base)} is not available for {self.arch}")
            packages.append(Package(base, version))
        return packages

    def _cached(self, package: Package) -> Path | None:
        # apt names the file NAME_VERSION_ARCH.deb with the epoch colon as %3a
        fver = package.version.replace(":", "%3a")
        for arch in (self.arch, "all"):
            deb = self.state / "debs" / f"{package.name}_{fver}_{arch}.deb"
            if deb.is_file() and deb.stat().st_size > 0:
                return deb
        return None

    def download(self, packages: list[Package]) -> list[Path]:
        """The .deb files, downloaded into the cache unless already there."""
        missing = [p for p in packages if self._cached(p) is None]
        if missing:
            print(f"pyuser-sysroot: downloading {len(missing)} {self.arch} package"
                  f"{'s' if len(missing) != 1 else ''}", file=sys.stderr)
            result = self._run("apt-get", "download",
                               *(f"{p.name}={p.version}" for p in missing),
                               cwd=self.state / "debs")
            if result.returncode != 0:
                text = result.stdout + result.stderr
                kind = NoNetwork if _NETWORK_WORDS.search(text) else SysrootError
                raise kind(f"cannot download the {self.arch} packages"
                           f"{' (no network?)' if kind is NoNetwork else ''}: "
                           f"{apt_message(result.stderr + result.stdout)}")
        debs = []
        for p in packages:
            deb = self._cached(p)
            if deb is None:
                raise SysrootError(f"downloaded {p.name} but cannot find its .deb in "
                                   f"{self.state / 'debs'}")
            debs.append(deb)
        return debs


def unpack(debs: list[Path], dest: Path) -> None:
    """dpkg -x each package into dest (no maintainer scripts run)."""
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise NotWritable(f"cannot create {printable(str(dest))}: {e.strerror}") from None
    for deb in debs:
        result = subprocess.run(["dpkg", "-x", str(deb), str(dest)], capture_output=True,
                                text=True, stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            message = apt_message(result.stderr)
            kind = NotWritable if re.search(r"Permission denied|Read-only file system|"
                                            r"No space left", message) else SysrootError
            raise kind(f"dpkg -x {deb.name} into {printable(str(dest))} failed: {message}")


def fetch(arch: str, dest: Path, names: list[str], *, deps: bool = False,
          cache: Path, update: str = "auto") -> list[Path]:
    """Download `names` (with their dependencies when `deps`) for `arch`
    and unpack them into dest; the .deb files unpacked."""
    apt = PrivateApt(arch, cache)
    apt.update(update)
    packages = apt.resolve(names) if deps else apt.candidates(names)
    debs = apt.download(packages)
    unpack(debs, dest)
    return debs


def main(argv: list[str] | None = None) -> int:
    """tools/debfetch.sh's command line: [--deps] ARCH DESTDIR PKG...;
    prints the .deb files it unpacked.  The cache is $DEBFETCH_CACHE (the
    wrapper sets the repository's .cache), DEBFETCH_UPDATE the policy."""
    args = list(sys.argv[1:] if argv is None else argv)
    deps = bool(args) and args[0] == "--deps"
    if deps:
        args.pop(0)
    if len(args) < 3:
        print("usage: debfetch.sh [--deps] ARCH DESTDIR PKG...", file=sys.stderr)
        return 2
    arch, dest, *names = args
    cache = Path(os.environ.get("DEBFETCH_CACHE") or Path.cwd() / ".cache")
    try:
        for deb in fetch(arch, Path(dest), names, deps=deps, cache=cache,
                         update=os.environ.get("DEBFETCH_UPDATE", "auto")):
            print(deb)
    except UserError as e:
        print(f"debfetch: {e}", file=sys.stderr)
        return e.exit_status
    return 0


if __name__ == "__main__":
    sys.exit(main())
