"""A 20-second slice of tools/soak.py (`make soak` runs 5 minutes).

The guest (tests/guest_bins/soak.c) churns while the emulator's RSS and
descriptors are sampled; after warm-up they must stay flat.
"""

from __future__ import annotations

import sys
from pathlib import Path

from conftest import REPO

sys.path.insert(0, str(REPO / "tools"))
import soak  # noqa: E402

SECONDS = 20
VENV_BIN = Path(sys.executable).parent
RSS_BAR_MB = 4
RSS_CAP_MB = 300  # a leak stops the soak here rather than eat the CI machine


def run(activities: str, max_rss_growth_mb: float | None) -> tuple[soak.SoakResult, list[str]]:
    result = soak.soak("arm", SECONDS, activities, interval=1.0, warmup=5.0, venv_bin=VENV_BIN,
                       rss_cap_mb=RSS_CAP_MB)
    return result, soak.verdict(result, max_rss_growth_mb, max_fd_growth=0)


def test_soak_processes_maps_files():
    """fork, fork + exec, mmap/munmap, open/close: nothing grows."""
    result, failed = run("femo", max_rss_growth_mb=RSS_BAR_MB)
    assert not failed, "\n".join(failed) + "\n" + soak.curves(result)


def test_soak_threads():
    """4 threads created and joined per round: descriptors and RSS stay flat
    (a joined thread leaves nothing behind: threads share the process's
    engine)."""
    result, failed = run("t", max_rss_growth_mb=RSS_BAR_MB)
    assert not failed, "\n".join(failed) + "\n" + soak.curves(result)
