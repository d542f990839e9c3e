"""Augmentation at training time: the same recordings as other people and other sensors would give.

A simulator, or a handful of real people, shows a model a narrow slice of the world: some
cadences, some landing strengths, some orientations, one IMU. Each augmented copy of a
training recording changes what a counter must not depend on while keeping its labels
true, so the model learns the cue (a landing after a free fall, in rhythm) rather than
the slice:

1. **time warp**: the cadence is scaled by a factor (log-uniform), drifting slowly within
   the recording; the signal is resampled on the warped time axis and every event and
   segment moves with it, so a 120-per-minute jumper becomes a 150-per-minute one;
2. **amplitude**: the dynamic part (what is left after a one-second gravity estimate) is
   scaled, so landings are softer or harder without gravity reading more than 1 g;
3. **rotation**: a uniformly random 3-D rotation (another mounting), gravity included;
4. **noise**: white noise of a random level;
5. **clipping**: at a random IMU full scale (2 to 16 g), as a part set to a small range does;
6. **dropped samples**: single losses and short bursts (a busy bus, a full FIFO);

then the result is quantised to IMU counts at the recording's full scale, as a file holds.
Copies carry no gyroscope (the counters read accelerations only). Everything is drawn
from the generator it is given: same seed, same copies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from repcount import heavy
from repcount.data.recordings import Event, Recording, Segment
from repcount.learn.quant import raw_from_g


@dataclass(frozen=True)
class AugmentConfig:
    """The ranges of each augmentation; a range of (1, 1) or (0, 0) turns that one off."""

    warp: tuple[float, float] = (0.75, 1.33)  # cadence factor, log-uniform (>1: faster)
    warp_drift: float = 0.05  # slow relative variation of the factor within a recording
    amplitude: tuple[float, float] = (0.5, 2.0)  # factor on the dynamic part, log-uniform
    rotate: bool = True  # a uniformly random rotation (another mounting)
    noise_g: tuple[float, float] = (0.0, 0.03)  # standard deviation of added white noise
    full_scales_g: tuple[float, ...] = (2.0, 4.0, 8.0, 16.0)  # clip at one of these (() : never)
    drop: tuple[float, float] = (0.0, 0.01)  # share of samples lost one at a time
    drop_bursts_per_minute: float = 0.5  # bursts of 2 to 7 lost samples

    @classmethod
    def rotation_only(cls) -> AugmentConfig:
        """Today's training augmentation: turned copies and nothing else."""
        return cls(warp=(1.0, 1.0), warp_drift=0.0, amplitude=(1.0, 1.0), noise_g=(0.0, 0.0),
                   full_scales_g=(), drop=(0.0, 0.0), drop_bursts_per_minute=0.0)


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random 3-D rotation matrix (QR of a Gaussian matrix, signs fixed)."""
    qm, r = np.linalg.qr(rng.normal(size=(3, 3)))
    qm = qm * np.sign(np.diag(r))
    return qm if np.linalg.det(qm) > 0 else -qm


def _log_uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    low, high = bounds
    return low if low == high else float(np.exp(rng.uniform(np.log(low), np.log(high))))


def warp_times(rec: Recording, rng: np.random.Generator, cfg: AugmentConfig) -> tuple[np.ndarray, np.ndarray]:
    """A warped time axis: output times on the recording's rate, and the original time each reads.

    The cadence factor c means the output plays the original c times faster; it drifts
    slowly (a smoothed random walk of `warp_drift` relative size), so rhythm changes
    within a session too. Returns (t_out, t_src), both increasing.
    """
    factor = _log_uniform(rng, cfg.warp)
    rate = rec.meta.sample_rate_hz
    n = int(np.ceil(rec.duration * rate / (factor * np.exp(-3 * cfg.warp_drift)))) + 2
    if cfg.warp_drift:
        smooth = heavy.scipy_ndimage().uniform_filter1d
        walk = smooth(rng.normal(0, 1, n), max(1, int(4 * rate)), mode="nearest")
        walk = walk / max(float(np.std(walk)), 1e-9)
        speed = factor * np.exp(cfg.warp_drift * np.clip(walk, -3, 3))
    else:
        speed = np.full(n, factor)
    t_src = rec.t[0] + np.concatenate([[0.0], np.cumsum(speed[:-1])]) / rate
    t_out = rec.t[0] + np.arange(n) / rate
    keep = t_src <= rec.t[-1]
    return t_out[keep], t_src[keep]


def _warp(rec: Recording, t_out: np.ndarray, t_src: np.ndarray) -> Recording:
    """The recording resampled at t_src and stamped t_out; events and segments moved alike."""
    acc = np.stack([np.interp(t_src, rec.t, rec.acc[:, i]) for i in range(3)], axis=1)

    def moved(t: float) -> float:
        return round(float(np.interp(t, t_src, t_out)), 4)

    end = t_src[-1]
    events = [Event(moved(e.t), e.kind) for e in rec.events if t_src[0] <= e.t <= end]
    segments = [Segment(moved(s.start), moved(min(s.end, end)), s.activity)
                for s in rec.segments if s.start < end]
    return replace(rec, t=t_out, acc=acc, gyro=None, events=events, segments=segments)


def _scale_dynamics(acc: np.ndarray, rate: float, factor: float) -> np.ndarray:
    """Scale what moves, not gravity: the deviation from a one-second moving average."""
    gravity = heavy.scipy_ndimage().uniform_filter1d(acc, max(1, int(rate)), axis=0, mode="nearest")
    return gravity + factor * (acc - gravity)


def _dropped(n: int, rate: float, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    """Which samples survive: single losses and short bursts; the first and last always do."""
    keep = rng.random(n) >= rng.uniform(*cfg.drop)
    bursts = rng.integers(0, n, rng.poisson(n / rate / 60 * cfg.drop_bursts_per_minute))
    for b in bursts:
        keep[b: b + int(rng.integers(2, 8))] = False
    keep[0] = keep[-1] = True
    return keep


def augment(rec: Recording, rng: np.random.Generator, cfg: AugmentConfig) -> Recording:
    """One augmented copy of `rec` (warp, amplitude, rotation, noise, clipping, drops), labels kept true."""
    out = _warp(rec, *warp_times(rec, rng, cfg))
    rate = rec.meta.sample_rate_hz
    acc = _scale_dynamics(out.acc, rate, _log_uniform(rng, cfg.amplitude))
    if cfg.rotate:
        acc = acc @ random_rotation(rng).T
    acc = acc + rng.normal(0, rng.uniform(*cfg.noise_g), acc.shape)
    if cfg.full_scales_g:
        clip_at = float(rng.choice(cfg.full_scales_g))
        acc = raw_from_g(acc, clip_at).astype(np.float64) * (clip_at / 32768.0)  # the part's own counts
    keep = _dropped(len(acc), rate, rng, cfg)
    full_scale = rec.meta.full_scale_g
    acc = raw_from_g(acc[keep], full_scale).astype(np.float64) * (full_scale / 32768.0) + 0.0
    return replace(out, t=out.t[keep], acc=acc)


def augmented_copies(recs: Sequence[Recording], copies: int, seed: int,
                     cfg: AugmentConfig | None = None) -> list[Recording]:
    """The recordings followed by `copies` augmented copies of each, reproducible by `seed`.

    Each copy draws from its own generator (seed, recording number, copy number), so a
    copy does not change when another recording is added after it. Copies keep their
    user: a split by user puts them with their original.
    """
    cfg = cfg or AugmentConfig()
    out = list(recs)
    for i, rec in enumerate(recs):
        for c in range(copies):
            out.append(augment(rec, np.random.default_rng([seed, i, c]), cfg))
    return out
