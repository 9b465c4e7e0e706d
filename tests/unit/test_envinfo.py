"""Peak memory per run: a run that follows a bigger one in the same process reports its own peak."""

import sys

import numpy as np
import pytest

from nasharness.envinfo import current_rss_mb, peak_rss_mb, reset_peak_rss


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="VmHWM and malloc_trim are Linux / glibc")
def test_reset_after_a_large_freed_allocation():
    chunks = [np.ones(2**12) for _ in range(25_000)]  # 25,000 x 32 KiB, below the mmap threshold: heap
    del chunks[1:]
    before = peak_rss_mb()
    assert before > current_rss_mb() - 1 and before >= 700, before
    assert reset_peak_rss()
    after = peak_rss_mb()
    # the freed heap went back to the system: the new window starts near what is alive, far below the old peak
    assert after < before - 600, (before, after)
    assert after == pytest.approx(current_rss_mb(), abs=64)
