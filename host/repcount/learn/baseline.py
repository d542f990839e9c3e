"""A classic windowed peak-detection counter: the baseline the CNN has to beat.

What phone step counters and the Oxford step counter's optimised algorithm do: take the
acceleration magnitude (orientation-free), remove gravity with a 1 s moving average,
smooth with a short moving average, and count peaks that stand above both an absolute
floor and a threshold relative to the signal's local spread (a 2 s window), at least a
minimum interval apart. It has no notion of activity, so distractors count.

`evaluate --baseline peaks` runs it next to the float and int8 models.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from repcount import heavy
from repcount.data.recordings import Recording
from repcount.learn.tasks import Task


@dataclass(frozen=True)
class PeakParams:
    min_interval_s: float  # the fastest plausible cadence
    floor_g: float  # a peak must rise this far above gravity
    relative: float  # ... and this many local standard deviations above the local mean
    offset_s: float = 0.0  # labelled event time minus peak time (median on training users)
    smooth_s: float = 0.1
    gravity_s: float = 1.0
    local_s: float = 2.0


PARAMS = {
    # the smoothed magnitude peaks after touch-down: median lag 0.124 s on the simulated
    # wrist training users (seed 1, users 1-16); step peaks sit within the 0.2 s tolerance
    "jump-rope": PeakParams(min_interval_s=0.25, floor_g=0.6, relative=0.8, offset_s=-0.124),
    "steps": PeakParams(min_interval_s=0.28, floor_g=0.08, relative=0.5),
}


def _moving_average(x: np.ndarray, n: int) -> np.ndarray:
    n = max(int(n), 1)
    kernel = np.ones(n) / n
    padded = np.pad(x, (n // 2, n - 1 - n // 2), mode="edge")
    return np.convolve(padded, kernel, mode="valid")


def params_for(task: Task) -> PeakParams:
    """The task's tuned parameters; a task that counts nothing (activity) has none."""
    p = PARAMS.get(task.name)
    if p is None:
        raise ValueError(f"no baseline parameters for task {task.name!r}")
    return p


def detection_function(rec: Recording, p: PeakParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per sample: the smoothed gravity-free magnitude, its local mean and local spread.

    Shared with the cold start of `repcount label` (learn/placement.py), which places
    exactly N events on the same signal this detector thresholds.
    """
    rate = rec.meta.sample_rate_hz
    mag = np.linalg.norm(rec.acc, axis=1)
    x = mag - _moving_average(mag, round(p.gravity_s * rate))
    x = _moving_average(x, round(p.smooth_s * rate))
    n_local = round(p.local_s * rate)
    mean = _moving_average(x, n_local)
    std = np.sqrt(np.maximum(_moving_average(x * x, n_local) - mean * mean, 0.0))
    return x, mean, std


def detect(rec: Recording, task: Task, params: PeakParams | None = None) -> np.ndarray:
    """Times (s) of the peaks the baseline counts in a recording."""
    find_peaks = heavy.scipy_signal().find_peaks

    p = params or params_for(task)
    x, mean, std = detection_function(rec, p)
    peaks, _ = find_peaks(x, distance=max(1, round(p.min_interval_s * rec.meta.sample_rate_hz)))
    keep = (x[peaks] >= p.floor_g) & (x[peaks] >= mean[peaks] + p.relative * std[peaks])
    return rec.t[peaks[keep]] + p.offset_s
