"""Shared fixtures of the host tests: small recordings written by hand, the shared data dir."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from repcount.data.recordings import Event, Meta, Recording, Segment

REPO_ROOT = Path(__file__).resolve().parents[1]

GOOD_HEADER = """\
# repcount-recording: 1
# sample_rate_hz: 50
# full_scale_g: 8
# mount: wrist
# user: test-u1
t,ax,ay,az
"""


@pytest.fixture
def good_header() -> str:
    """The metadata and column header of a minimal valid recording (line 6 is the header)."""
    return GOOD_HEADER


@pytest.fixture
def write_text(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write `text` to a file named `name` in the test's tmp dir and return its path."""

    def write(text: str, name: str = "r.rec") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def small_recording() -> Recording:
    """Two seconds of IMU-quantised samples with a segment and two events."""
    rng = np.random.default_rng(0)
    lsb = 8 / 32768
    n = 100
    t = np.round(np.arange(n) * 0.02 + rng.uniform(0, 1e-3, n), 6)
    acc = np.round(rng.normal(0, 1, (n, 3)) / lsb) * lsb + 0.0
    meta = Meta(sample_rate_hz=50, full_scale_g=8, mount="wrist", user="test-u1", board="host-linux",
                extra={"source": "test"})
    return Recording(meta, t, acc, None, [Segment(0.1, 1.9, "jump-rope")],
                     [Event(0.5, "jump"), Event(1.25, "double-under")])


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The shared directory beside the repository (or $REPCOUNT_SHARED); skip if absent."""
    path = Path(os.environ.get("REPCOUNT_SHARED", REPO_ROOT.parent / "shared"))
    if not path.is_dir():
        pytest.skip(f"shared data directory {path} not found (set REPCOUNT_SHARED)")
    return path


def pytest_addoption(parser: pytest.Parser) -> None:
    """--fuzz-iterations: inputs for the C protocol fuzzer (`make fuzz-long` passes 20 million)."""
    parser.addoption("--fuzz-iterations", type=int, default=300_000,
                     help="random and mutated inputs fed to the C protocol receiver under ASan/UBSan")
    parser.addoption("--bitexact-models", type=int, default=200,
                     help="random models whose generated native C is compared with the TFLM runtime")
