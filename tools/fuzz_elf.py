"""Fuzz pyuser's ELF loader with mutants of the bundled guest programs.

    python3 tools/fuzz_elf.py                 # 1,000 mutants over every target
    python3 tools/fuzz_elf.py -n 10000 --seed 7 --arch arm,aarch64 -j 2

For each target the seeds are tests/guest_bins' hello (static), hello-pie
(static-pie) and hello-dyn (dynamic; run with the cross toolchain's libc,
/usr/<triple>, as sysroot, or the host's own for x86_64).  Mutant i of a
seed comes from a random.Random seeded with "seed/target/program/i", so a
run is reproducible and one mutant can be rebuilt (--keep DIR writes the
files of the interesting ones).  Mutations: byte flips in the first 4 KiB,
truncations, extreme ELF-header and program-header fields (e_phnum 0 and
65535, offsets near 2^63, entries at the top of the address space), and bad
PT_INTERP segments (no terminator, a newline, bytes that are not UTF-8, past
the end of the file).

Every mutant runs in tools/sandbox.py's unprivileged user + pid + mount (and
net, ipc) namespace with a time limit, and its end is classified:

* error: status 1 and one line on stderr (the documented load error);
* signal: the emulator died of a signal (a guest signal, reported as qemu does);
* exit: any other exit status (the mutant ran, or failed in its own way);
* multiline: status 1 with more than one line on stderr (an unclear error);
* traceback: a Python traceback on stderr;
* hang: the time limit passed; the same mutant then runs under
  qemu-<arch>-static to tell whether qemu hangs too.

The bar: no traceback, no multi-line error, and no hang that qemu does not
also show.  The exit status says whether it was met (0) or not (1).
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sandbox import run_sandboxed  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
GUEST_SRC = REPO / "tests" / "guest_bins"
TRIPLES = {"arm": "arm-linux-gnueabihf", "aarch64": "aarch64-linux-gnu",
           "x86_64": "x86_64-linux-gnu", "i386": "i686-linux-gnu",
           "riscv64": "riscv64-linux-gnu", "mipsel": "mipsel-linux-gnu",
           "mips": "mips-linux-gnu"}
QEMU = {"arm": "qemu-arm-static", "aarch64": "qemu-aarch64-static",
        "x86_64": "qemu-x86_64-static", "i386": "qemu-i386-static",
        "riscv64": "qemu-riscv64-static", "mipsel": "qemu-mipsel-static",
        "mips": "qemu-mips-static"}
PROGRAMS = ("hello", "hello-pie", "hello-dyn")
OUTCOMES = ("error", "signal", "exit", "multiline", "traceback", "hang")
PT_INTERP = 3


@dataclass
class Seed:
    target: str
    name: str
    path: Path
    data: bytes
    sysroot: str | None


@dataclass
class Result:
    seed: Seed
    index: int
    mutation: str
    outcome: str
    detail: str
    qemu_hangs: bool | None = None


# --------------------------------------------------------------- the ELF layout

@dataclass
class Layout:
    """Where the fields of an ELF header and its program headers are."""

    order: str
    wide: bool  # ELF64
    phoff: int
    phentsize: int
    phnum: int

    @classmethod
    def of(cls, data: bytes) -> Layout:
        wide = data[4] == 2
        order = "<" if data[5] == 1 else ">"
        if wide:
            phoff, = struct.unpack_from(order + "Q", data, 32)
            phentsize, phnum = struct.unpack_from(order + "HH", data, 54)
        else:
            phoff, = struct.unpack_from(order + "I", data, 28)
            phentsize, phnum = struct.unpack_from(order + "HH", data, 42)
        return cls(order, wide, phoff, phentsize, phnum)

    # (offset, struct code) of each ELF-header field we mutate
    def header_field(self, name: str) -> tuple[int, str]:
        word = "Q" if self.wide else "I"
        fields = {"e_type": (16, "H"), "e_entry": (24, word),
                  "e_phoff": (32 if self.wide else 28, word),
                  "e_phentsize": (54 if self.wide else 42, "H"),
                  "e_phnum": (56 if self.wide else 44, "H")}
        return fields[name]

    def phdr_field(self, index: int, name: str) -> tuple[int, str]:
        base = self.phoff + index * self.phentsize
        if self.wide:
            fields = {"p_type": (0, "I"), "p_flags": (4, "I"), "p_offset": (8, "Q"),
                      "p_vaddr": (16, "Q"), "p_paddr": (24, "Q"), "p_filesz": (32, "Q"),
                      "p_memsz": (40, "Q"), "p_align": (48, "Q")}
        else:
            fields = {"p_type": (0, "I"), "p_offset": (4, "I"), "p_vaddr": (8, "I"),
                      "p_paddr": (12, "I"), "p_filesz": (16, "I"), "p_memsz": (20, "I"),
                      "p_flags": (24, "I"), "p_align": (28, "I")}
        offset, code = fields[name]
        return base + offset, code

    def read(self, data: bytes | bytearray, where: tuple[int, str]) -> int:
        return struct.unpack_from(self.order + where[1], data, where[0])[0]

    def write(self, data: bytearray, where: tuple[int, str], value: int) -> None:
        bits = struct.calcsize(where[1]) * 8
        struct.pack_into(self.order + where[1], data, where[0], value & ((1 << bits) - 1))

    def phdrs_of_type(self, data: bytes, p_type: int) -> list[int]:
        return [i for i in range(self.phnum)
                if self.read(data, self.phdr_field(i, "p_type")) == p_type]


def extreme(rng: random.Random, wide: bool, size: int) -> int:
    """A value where a loader's arithmetic tends to break."""
    top = (1 << 64) if wide else (1 << 32)
    return rng.choice([
        0, 1, 3, 0xFFF, 0x1000, size - 1, size, size + 1, size + 0x1000,
        top - 1, top - 2, top - 0x1000, top - 0x10, top >> 1, (top >> 1) - 1,
        (top >> 1) + 0x1000, 0x7FFFFFFF, 0x80000000, 0xFFFFF000, 1 << 63, (1 << 63) - 1,
        rng.randrange(top), rng.randrange(0x100000), rng.randrange(size + 1),
    ])


# --------------------------------------------------------------- the mutations

def flip_bytes(data: bytearray, rng: random.Random, _lay: Layout) -> str:
    count = rng.randint(1, 8)
    where = [rng.randrange(min(4096, len(data))) for _ in range(count)]
    for at in where:
        data[at] ^= rng.randint(1, 255)
    return "flip " + ",".join(f"{at:#x}" for at in where)


def truncate(data: bytearray, rng: random.Random, _lay: Layout) -> str:
    cut = rng.choice([rng.randrange(64), rng.randrange(64, 4096), rng.randrange(len(data))])
    del data[cut:]
    return f"truncate {cut}"


def phdr_extreme(data: bytearray, rng: random.Random, lay: Layout) -> str:
    index = rng.randrange(lay.phnum)
    name = rng.choice(["p_type", "p_offset", "p_vaddr", "p_filesz", "p_memsz", "p_flags",
                       "p_align", "p_offset", "p_vaddr", "p_filesz", "p_memsz"])
    value = extreme(rng, lay.wide, len(data))
    if name == "p_type":
        value = rng.choice([0, 1, 2, 3, 4, 6, 7, 0x6474E550, 0x6474E551, 0x6474E552,
                            0x70000000, 0xFFFFFFFF])
    lay.write(data, lay.phdr_field(index, name), value)
    return f"phdr[{index}].{name}={value:#x}"


def header_extreme(data: bytearray, rng: random.Random, lay: Layout) -> str:
    name = rng.choice(["e_type", "e_entry", "e_entry", "e_phoff", "e_phoff",
                       "e_phentsize", "e_phnum", "e_phnum"])
    if name == "e_phnum":
        value = rng.choice([0, 65535, 0xFFFF - 1, lay.phnum + 1, lay.phnum * 2,
                            rng.randrange(65536)])
    elif name == "e_phentsize":
        value = rng.choice([0, 1, lay.phentsize - 1, lay.phentsize + 1, lay.phentsize * 2,
                            65535, rng.randrange(65536)])
    elif name == "e_type":
        value = rng.choice([0, 1, 2, 3, 4, 0xFE00, 0xFFFF])
    else:
        value = extreme(rng, lay.wide, len(data))
    lay.write(data, lay.header_field(name), value)
    return f"{name}={value:#x}"


def bad_interp(data: bytearray, rng: random.Random, lay: Layout) -> str:
    """Break an existing PT_INTERP, or turn another program header into one."""
    interps = lay.phdrs_of_type(data, PT_INTERP)
    if interps:
        index = interps[0]
    else:
        others = [i for i in range(lay.phnum)
                  if lay.read(data, lay.phdr_field(i, "p_type")) != 1]
        index = rng.choice(others or list(range(lay.phnum)))
        lay.write(data, lay.phdr_field(index, "p_type"), PT_INTERP)
        offset = rng.randrange(len(data))
        lay.write(data, lay.phdr_field(index, "p_offset"), offset)
        lay.write(data, lay.phdr_field(index, "p_filesz"), rng.randint(1, 64))
    offset = lay.read(data, lay.phdr_field(index, "p_offset"))
    size = lay.read(data, lay.phdr_field(index, "p_filesz"))
    kind = rng.choice(["unterminated", "newline", "not-utf8", "past-eof", "size", "missing",
                       "empty"])
    name_end = min(offset + size, len(data)) - 1
    if kind == "unterminated" and 0 <= name_end < len(data):
        data[name_end] = ord("x")
    elif kind == "newline" and offset + 2 < len(data):
        data[rng.randrange(offset + 1, max(offset + 2, name_end))] = ord("\n")
    elif kind == "not-utf8" and offset + 2 < len(data):
        data[rng.randrange(offset + 1, max(offset + 2, name_end))] = rng.choice([0xFF, 0xC3, 0x80])
    elif kind == "past-eof":
        lay.write(data, lay.phdr_field(index, "p_offset"),
                  rng.choice([len(data), len(data) + 1, len(data) - 2, extreme(rng, lay.wide,
                                                                               len(data))]))
    elif kind == "size":
        lay.write(data, lay.phdr_field(index, "p_filesz"), extreme(rng, lay.wide, len(data)))
    elif kind == "missing" and offset + 2 < len(data):
        data[offset + 1] = ord("Z")
    elif kind == "empty" and offset < len(data):
        data[offset] = 0
    return f"interp[{index}] {kind}"


MUTATIONS = [(flip_bytes, 4), (truncate, 2), (phdr_extreme, 4), (header_extreme, 3),
             (bad_interp, 2)]


def mutant(seed: Seed, fuzz_seed: int, index: int) -> tuple[str, bytes]:
    """Mutant `index` of `seed`: one to three mutations, always the same ones."""
    rng = random.Random(f"{fuzz_seed}/{seed.target}/{seed.name}/{index}")
    data = bytearray(seed.data)
    steps = []
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        try:
            lay = Layout.of(data)
        except (struct.error, IndexError):
            break
        if lay.phnum == 0 or lay.phoff + lay.phnum * lay.phentsize > len(data) or \
                lay.phentsize < (56 if lay.wide else 32):
            fns = [flip_bytes, truncate, header_extreme]
            weights = [1, 1, 1]
        else:
            fns = [f for f, _ in MUTATIONS]
            weights = [w for _, w in MUTATIONS]
        if len(data) < 64:
            break
        fn = rng.choices(fns, weights)[0]
        steps.append(fn(data, rng, lay))
    return "; ".join(steps) or "none", bytes(data)


# --------------------------------------------------------------- running

def build_seeds(targets: list[str]) -> list[Seed]:
    seeds = []
    for target in targets:
        out = GUEST_SRC / "build" / target
        wanted = [str(out / p) for p in PROGRAMS]
        subprocess.run(["make", "-s", "-C", str(GUEST_SRC), f"ARCH={target}", *wanted],
                       check=True, stdout=subprocess.DEVNULL)
        sysroot = None if target == "x86_64" else f"/usr/{TRIPLES[target]}"
        for name in PROGRAMS:
            path = out / name
            seeds.append(Seed(target, name, path, path.read_bytes(),
                              sysroot if name == "hello-dyn" else None))
    return seeds


def emulator_command(tool: str, seed: Seed, path: str) -> list[str]:
    return [tool, *(["-L", seed.sysroot] if seed.sysroot else []), path]


def classify(kind: str, value: int | None, stderr: str) -> tuple[str, str]:
    lines = [line for line in stderr.splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    if "Traceback (most recent call last)" in stderr:
        return "traceback", _raise_site(lines)
    if kind == "timeout":
        return "hang", ""
    if kind == "signal":
        return "signal", f"signal {value}"
    if value == 1 and len(lines) == 1:
        return "error", last
    if value == 1 and len(lines) > 1:
        return "multiline", " | ".join(lines[:3])
    return "exit", f"status {value}"


def _raise_site(lines: list[str]) -> str:
    """Where a traceback was raised: its last pyuser frame and the exception type."""
    frames = [line.strip() for line in lines if line.strip().startswith("File ")]
    ours = [f for f in frames if "/pyuser/" in f] or frames
    site = ours[-1].split("/pyuser/")[-1] if ours else "?"
    return f"{lines[-1].split(':')[0]} at {site}"


def run_one(seed: Seed, fuzz_seed: int, index: int, workdir: Path, timeout: float,
            venv_bin: Path) -> Result:
    mutation, data = mutant(seed, fuzz_seed, index)
    path = workdir / f"{seed.target}-{seed.name}-{index}"
    path.write_bytes(data)
    path.chmod(0o755)
    try:
        tool = str(venv_bin / f"pyuser-{seed.target}")
        r = run_sandboxed(emulator_command(tool, seed, str(path)), timeout)
        outcome, detail = classify(r.kind, r.value, r.stderr)
        result = Result(seed, index, mutation, outcome, detail)
        if outcome == "hang":
            q = run_sandboxed(emulator_command(QEMU[seed.target], seed, str(path)), timeout)
            result.qemu_hangs = q.kind == "timeout"
        return result
    finally:
        path.unlink()


def rebuild(seed: Seed, fuzz_seed: int, index: int, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{seed.target}-{seed.name}-{fuzz_seed}-{index}"
    path.write_bytes(mutant(seed, fuzz_seed, index)[1])
    path.chmod(0o755)
    return path


def fuzz(targets: list[str], count: int, fuzz_seed: int, jobs: int, timeout: float,
         venv_bin: Path, progress: bool = False) -> list[Result]:
    seeds = build_seeds(targets)
    work = [(seeds[i % len(seeds)], i // len(seeds)) for i in range(count)]
    results = []
    with tempfile.TemporaryDirectory(prefix="fuzz-elf-") as tmp:
        os.chmod(tmp, 0o755)
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(run_one, s, fuzz_seed, i, Path(tmp), timeout, venv_bin)
                       for s, i in work]
            for n, future in enumerate(futures, 1):
                results.append(future.result())
                if progress and n % 100 == 0:
                    print(f"  {n}/{count}", file=sys.stderr, flush=True)
    return results


def failures(results: list[Result]) -> list[Result]:
    """The results that break the bar."""
    return [r for r in results if r.outcome in ("traceback", "multiline")
            or (r.outcome == "hang" and not r.qemu_hangs)]


def summary(results: list[Result]) -> str:
    by_target: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for r in results:
        by_target[r.seed.target][r.outcome] += 1
    header = f"{'target':<9} {'mutants':>7} " + " ".join(f"{o:>9}" for o in OUTCOMES)
    lines = [header]
    total: collections.Counter = collections.Counter()
    for target, counts in by_target.items():
        total.update(counts)
        lines.append(f"{target:<9} {sum(counts.values()):>7} "
                     + " ".join(f"{counts[o]:>9}" for o in OUTCOMES))
    lines.append(f"{'all':<9} {sum(total.values()):>7} "
                 + " ".join(f"{total[o]:>9}" for o in OUTCOMES))
    hangs = [r for r in results if r.outcome == "hang"]
    if hangs:
        both = sum(1 for r in hangs if r.qemu_hangs)
        lines.append(f"hangs: {len(hangs)}, of which qemu also hangs on {both}")
        lines += [f"  {r.seed.target} {r.seed.name} #{r.index} ({r.mutation}): "
                  f"{'qemu hangs too' if r.qemu_hangs else 'qemu does not hang'}" for r in hangs]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--count", type=int, default=1000, help="mutants in all")
    parser.add_argument("--seed", type=int, default=1, help="the mutator's seed")
    parser.add_argument("--arch", default="all", help="comma-separated targets, or all")
    parser.add_argument("-j", "--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per mutant")
    parser.add_argument("--keep", type=Path, help="write the failing mutants here")
    parser.add_argument("--venv", type=Path, default=REPO / ".venv" / "bin")
    args = parser.parse_args()
    targets = list(TRIPLES) if args.arch == "all" else args.arch.split(",")
    for t in targets:
        if t not in TRIPLES:
            parser.error(f"unknown target {t}")
    if shutil.which("unshare") is None:
        parser.error("unshare (util-linux) is needed for the sandbox")
    results = fuzz(targets, args.count, args.seed, args.jobs, args.timeout, args.venv,
                   progress=True)
    print(summary(results))
    bad = failures(results)
    by_place = collections.Counter((r.outcome, r.detail) for r in bad)
    for (outcome, detail), n in by_place.most_common():
        example = next(r for r in bad if (r.outcome, r.detail) == (outcome, detail))
        print(f"{outcome} x{n}: {detail}\n    e.g. {example.seed.target} {example.seed.name} "
              f"#{example.index}: {example.mutation}")
        if args.keep:
            print(f"    kept: {rebuild(example.seed, args.seed, example.index, args.keep)}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
