"""Small synthetic counting recordings for the training, evaluation and counting tests.

Not a simulator (that is repcount.data.simulation): just periodic landing-like impacts on
gravity after a stretch of slow arm swings, so a tiny model learns to count in seconds
and the tests know exactly where every event is.
"""

from __future__ import annotations

import numpy as np
from repcount.data.recordings import Event, Meta, Recording, Segment

RATE = 50.0


def impacts_recording(
    user: str,
    seconds: float = 60.0,
    period: float = 0.5,
    seed: int = 0,
    distractor_s: float = 10.0,
    mount: str = "wrist",
) -> Recording:
    """`distractor_s` of swings without impacts (activity `standing`), then jump-rope impacts."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    acc = np.zeros((n, 3))
    acc[:, 2] = 1.0
    acc += rng.normal(0, 0.02, acc.shape)
    events = []
    tt = distractor_s + 0.5
    while tt < seconds - 0.5:
        events.append(tt)
        tt += period * rng.uniform(0.9, 1.1)
    for e in events:
        acc[:, 2] += 2.5 * np.exp(-0.5 * ((t - e) / 0.03) ** 2)  # landing
        acc[:, 2] -= 0.8 * np.exp(-0.5 * ((t - e + period / 2) / (period / 5)) ** 2)  # flight
    d = t < distractor_s
    acc[d, 0] += 0.6 * np.sin(2 * np.pi * t[d])
    lsb = 8 / 32768
    acc = np.round(acc / lsb) * lsb
    segments = [Segment(0.0, distractor_s, "standing"), Segment(distractor_s, seconds, "jump-rope")]
    return Recording(Meta(RATE, 8.0, mount, user), t, acc, None, segments, [Event(e, "jump") for e in events])
