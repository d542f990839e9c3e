"""Augmentation at training time: reproducible by seed, labels that stay true, IMU-like values."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from repcount.data.recordings import Event, Meta, Recording, Segment
from repcount.learn.augment import AugmentConfig, augment, augmented_copies

RATE = 50.0
OFF = AugmentConfig(warp=(1.0, 1.0), warp_drift=0.0, amplitude=(1.0, 1.0), rotate=False, noise_g=(0.0, 0.0),
                    full_scales_g=(), drop=(0.0, 0.0), drop_bursts_per_minute=0.0)


def spikes(seconds: float = 60.0, every: float = 0.5, user: str = "aug-u1") -> Recording:
    """Gravity on z plus a sharp 3 g spike on x at each labelled jump: where the labels must stay."""
    t = np.arange(int(seconds * RATE)) / RATE
    acc = np.zeros((len(t), 3))
    acc[:, 2] = 1.0
    times = np.arange(2.0, seconds - 2.0, every)
    acc[np.round(times * RATE).astype(int), 0] = 3.0
    meta = Meta(sample_rate_hz=RATE, full_scale_g=16, mount="wrist", user=user, extra={"source": "test"})
    return Recording(meta, t, acc, None, [Segment(0.0, float(t[-1]), "jump-rope")],
                     [Event(round(float(x), 4), "jump") for x in times])


def test_same_seed_same_copies_and_other_seeds_other_copies():
    recs = [spikes(), spikes(user="aug-u2", every=0.4)]
    a, b = augmented_copies(recs, 2, seed=5), augmented_copies(recs, 2, seed=5)
    c = augmented_copies(recs, 2, seed=6)
    assert len(a) == 6 and a[:2] == recs
    for x, y, z in zip(a[2:], b[2:], c[2:], strict=True):
        assert np.array_equal(x.t, y.t) and np.array_equal(x.acc, y.acc) and x.events == y.events
        assert x.meta.user == z.meta.user  # copies stay with their user for splits by user
        assert x.acc.shape != z.acc.shape or not np.array_equal(x.acc, z.acc)
    # A copy does not change when another recording is added after its own.
    more = augmented_copies([*recs, spikes(user="aug-u3")], 2, seed=5)
    assert np.array_equal(more[3].acc, a[2].acc)


@pytest.mark.parametrize("warp", [(0.7, 0.7), (1.4, 1.4), (0.75, 1.33)])
def test_labels_move_with_the_warp(warp):
    """After warping, the spikes sit where the moved events say, and the cadence changed as asked."""
    rec = spikes()
    cfg = replace(OFF, warp=warp, warp_drift=0.05 if warp[0] != warp[1] else 0.0)
    out = augment(rec, np.random.default_rng(1), cfg)
    jumps = out.events_of(["jump"])
    assert len(jumps) >= 0.6 * len(rec.events) * min(1.0, 1 / warp[1])
    peaks = out.t[np.abs(out.acc[:, 0]) > 0.3]
    # Every labelled jump has its spike within a sample (linear interpolation spreads it over two).
    nearest = np.min(np.abs(jumps[:, None] - peaks[None, :]), axis=1)
    assert np.all(nearest <= 1.0 / RATE + 1e-6)
    if warp[0] == warp[1]:
        assert np.median(np.diff(jumps)) == pytest.approx(0.5 / warp[0], rel=0.02)
    seg = out.segments[0]
    assert seg.start == pytest.approx(out.t[0]) and seg.end <= out.t[-1] + 1e-6


def test_clipping_stays_within_a_full_scale_and_values_are_imu_counts():
    rec = spikes()
    rec.acc[:, 0] *= 4  # 12 g spikes
    cfg = replace(OFF, full_scales_g=(2.0,))
    out = augment(rec, np.random.default_rng(3), cfg)
    assert 1.99 < out.acc.max() <= 2.0 and out.acc.min() >= -2.0  # clipped at 2 g, stored in 16 g counts
    assert out.acc[:, 0].max() == out.acc.max()
    counts = out.acc / (16 / 32768)
    assert np.array_equal(counts, np.round(counts))


def test_rotation_preserves_the_magnitude():
    rec = spikes()
    rng = np.random.default_rng(0)
    rec = replace(rec, acc=rec.acc + rng.normal(0, 0.3, rec.acc.shape))
    out = augment(rec, np.random.default_rng(4), replace(OFF, rotate=True))
    assert not np.allclose(out.acc, rec.acc, atol=0.05)
    lsb = 16 / 32768
    assert np.allclose(np.linalg.norm(out.acc, axis=1), np.linalg.norm(rec.acc, axis=1), atol=2 * lsb)


def test_amplitude_scales_motion_not_gravity_and_drops_lose_samples():
    rec = spikes()
    out = augment(rec, np.random.default_rng(2), replace(OFF, amplitude=(2.0, 2.0)))
    assert np.median(out.acc[:, 2]) == pytest.approx(1.0, abs=0.01)
    assert out.acc[:, 0].max() == pytest.approx(2 * 3.0 * (1 - 1 / RATE), rel=0.02)
    dropped = augment(rec, np.random.default_rng(2), replace(OFF, drop=(0.05, 0.05)))
    assert 0.9 * len(rec.t) < len(dropped.t) < 0.99 * len(rec.t)
    assert np.all(np.diff(dropped.t) > 0)
    assert [e.t for e in dropped.events] == [e.t for e in rec.events]


def test_the_default_config_does_everything_at_once():
    rec = spikes()
    out = augment(rec, np.random.default_rng(9), AugmentConfig())
    assert len(out.events) > 50 and np.all(np.diff(out.t) > 0)
    assert out.meta == rec.meta
