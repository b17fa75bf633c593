"""esbuild's FreeBSD builds (a real Go program, from the npm registry) under
pyuser against its Linux build of the same version, run natively: the same
--version, and byte-identical bundled and minified output of a small
TypeScript project (tests/data/esbuild_project)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import urllib.request
from pathlib import Path

import pytest

VERSION = "0.28.2"
REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / ".cache" / "freebsd"
PROJECT = Path(__file__).resolve().parent / "data" / "esbuild_project"


def _download(package: str, dest: Path) -> None:
    """What `npm pack` does: the registry's tarball, checked against its integrity."""
    with urllib.request.urlopen(f"https://registry.npmjs.org/{package}/{VERSION}",
                                timeout=60) as r:
        dist = json.load(r)["dist"]
    with urllib.request.urlopen(dist["tarball"], timeout=120) as r:
        data = r.read()
    algorithm, _, digest = dist["integrity"].partition("-")
    if base64.b64encode(hashlib.new(algorithm, data).digest()).decode() != digest:
        pytest.fail(f"{package}@{VERSION}: tarball does not match its integrity", pytrace=False)
    dest.write_bytes(data)


def esbuild(platform: str) -> Path:
    """bin/esbuild of @esbuild/<platform>@VERSION, fetched once into .cache/freebsd/."""
    package = f"@esbuild/{platform}"
    unpacked = CACHE / f"esbuild-{platform}-{VERSION}"
    binary = unpacked / "package" / "bin" / "esbuild"
    if binary.exists():
        return binary
    CACHE.mkdir(parents=True, exist_ok=True)
    tarball = CACHE / f"esbuild-{platform}-{VERSION}.tgz"
    if not tarball.exists():
        if shutil.which("npm"):
            r = subprocess.run(["npm", "pack", "--silent", f"{package}@{VERSION}"], cwd=CACHE,
                               capture_output=True, text=True, timeout=300)
            if r.returncode != 0:
                pytest.fail(f"npm pack {package}@{VERSION} failed: {r.stderr}", pytrace=False)
        else:
            _download(package, tarball)
    with tarfile.open(tarball) as tar:
        tar.extractall(unpacked, filter="data")
    return binary


@pytest.fixture(scope="module")
def linux_esbuild() -> Path:
    return esbuild("linux-x64")


@pytest.mark.parametrize("platform", ["freebsd-x64", "freebsd-arm64"])
def test_version(platform, linux_esbuild):
    native = subprocess.run([str(linux_esbuild), "--version"], capture_output=True, text=True,
                            timeout=60)
    r = subprocess.run([sys.executable, "-m", "pyuser", str(esbuild(platform)), "--version"],
                       capture_output=True, text=True, timeout=120)
    assert (r.returncode, r.stdout) == (0, f"{VERSION}\n") == (native.returncode, native.stdout)


@pytest.mark.parametrize("platform", ["freebsd-x64", "freebsd-arm64"])
def test_bundle_and_minify_byte_identical(platform, linux_esbuild, tmp_path):
    args = ["src/index.ts", "--bundle", "--minify", "--format=esm", "--target=es2019",
            "--sourcemap", "--metafile=meta.json"]
    outputs = {}
    for name, command in (("linux", [str(linux_esbuild)]),
                          ("freebsd", [sys.executable, "-m", "pyuser", str(esbuild(platform))])):
        work = tmp_path / name
        shutil.copytree(PROJECT, work)
        r = subprocess.run([*command, *args, "--outfile=out/bundle.js"], cwd=work,
                           capture_output=True, text=True, timeout=180,
                           env=dict(os.environ, NO_COLOR="1"))
        assert r.returncode == 0, r.stderr
        outputs[name] = {p.name: p.read_bytes() for p in sorted((work / "out").iterdir())}
        outputs[name]["meta.json"] = (work / "meta.json").read_bytes()
    assert sorted(outputs["freebsd"]) == ["bundle.js", "bundle.js.map", "meta.json"]
    assert outputs["freebsd"] == outputs["linux"]
    assert b"Hello, ${" in outputs["freebsd"]["bundle.js"]  # the bundle holds the project
    assert b"tree-shaken away" not in outputs["freebsd"]["bundle.js"]


def test_detection_by_brand_note(tmp_path):
    """With EI_OSABI 0, the "FreeBSD" ABI note alone (esbuild's toolchain writes
    one: NT_FREEBSD_ABI_TAG) picks the FreeBSD personality."""
    from pyuser.loader.elf import guess_target

    data = bytearray(esbuild("freebsd-x64").read_bytes())
    assert data[7] == 9  # ELFOSABI_FREEBSD
    data[7] = 0
    program = tmp_path / "esbuild"
    program.write_bytes(bytes(data))
    program.chmod(0o755)
    assert guess_target(str(program)) == "freebsd-x86_64"
    r = subprocess.run([sys.executable, "-m", "pyuser", str(program), "--version"],
                       capture_output=True, text=True, timeout=120)
    assert (r.returncode, r.stdout) == (0, f"{VERSION}\n")
