"""Generator B's accelerometer: orientation, a sinc^3 decimator, drifting errors, a coarse ADC.

Unlike generator A's IMU (a Butterworth low-pass, white noise, jittered time stamps), B's
part oversamples at the fine rate and decimates with a cascaded moving average (a sinc^3
filter, as sigma-delta parts do) to its output data rate (50, 100 or 200 Hz); the device
then keeps every k-th sample (no further filter: what the sinc^3 lets through aliases).
Its errors: scale and cross-axis (a non-orthogonal frame), a bias that drifts with the
part's warm-up, a cubic non-linearity, white plus 1/f noise, a 12-, 14- or 16-bit
converter at the part's own range (clipping there), a clock off by a few hundred ppm,
and the odd FIFO overflow losing a burst of samples.
"""

from __future__ import annotations

import numpy as np

from repcount import heavy
from repcount.data.generator_b.body import Frame, G, arm_transmission
from repcount.learn.quant import raw_from_g


def _rotate(v: np.ndarray, axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rodrigues: each row of v turned by its angle about the unit `axis`."""
    c, s = np.cos(angle)[:, None], np.sin(angle)[:, None]
    return v * c + np.cross(axis, v) * s + np.outer(v @ axis, axis) * (1 - c)


def _random_quaternion_matrix(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random rotation from a random unit quaternion (B's own way of mounting)."""
    q = rng.normal(size=4)
    w, x, y, z = q / np.linalg.norm(q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def specific_force(fr: Frame) -> np.ndarray:
    """Specific force (m/s^2) in the limb's frame: trunk (through the arm), landings, limb, gravity."""
    if fr.mount == "pocket":  # the thigh carries the trunk and amplifies the landings
        vertical = fr.trunk + 1.3 * fr.landing
    else:
        vertical = arm_transmission(fr, fr.trunk + fr.landing) + fr.person.arm_direct * fr.landing
    f = fr.limb.copy()
    f[:, 2] += vertical + G
    smooth = heavy.scipy_ndimage().uniform_filter1d(fr.posture, int(0.4 * fr.rate), axis=0, mode="nearest")
    f = _rotate(f, np.array([0.0, 1.0, 0.0]), -smooth[:, 0])
    f = _rotate(f, np.array([1.0, 0.0, 0.0]), -smooth[:, 1])
    return _rotate(f, np.array(fr.person.flex_axis), -fr.flex)


def _pink(rng: np.random.Generator, n: int) -> np.ndarray:
    """Unit-variance 1/f noise (white noise shaped by 1/sqrt(f) in the frequency domain)."""
    spectrum = np.fft.rfft(rng.normal(size=n))
    f = np.arange(len(spectrum), dtype=np.float64)
    spectrum[1:] /= np.sqrt(f[1:])
    spectrum[0] = 0
    x = np.fft.irfft(spectrum, n)
    return x / max(float(np.std(x)), 1e-12)


def read(fr: Frame, rate: float, full_scale: float, total: float) -> tuple[np.ndarray, np.ndarray]:
    """Time stamps (s) and accelerations (g, 16-bit counts at `full_scale`) the device records."""
    rng = fr.rng
    sensed = specific_force(fr) @ _random_quaternion_matrix(rng).T / G
    odr = float(rng.choice([o for o in (50.0, 100.0, 200.0) if o >= rate] or [rate]))
    taps = max(1, int(round(fr.rate / odr)))
    filtered, ndimage = sensed, heavy.scipy_ndimage()
    for _ in range(3):
        filtered = ndimage.uniform_filter1d(filtered, taps, axis=0, mode="nearest", origin=(taps - 1) // 2)
    ppm = rng.uniform(-300, 300) * 1e-6
    keep_every = max(1, int(round(odr / rate)))
    n = int(total * odr / (1 + ppm))
    t = (np.arange(0, n, keep_every) + rng.uniform(0, 1)) * (1 + ppm) / odr
    t = t[t <= total]
    grid = np.arange(fr.n) / fr.rate
    acc = np.stack([np.interp(t, grid, filtered[:, i]) for i in range(3)], axis=1)
    cross_axis = rng.uniform(-0.02, 0.02, (3, 3)) * (1 - np.eye(3))
    mix = np.eye(3) + np.diag(rng.uniform(-0.05, 0.05, 3)) + cross_axis
    acc = acc @ mix.T
    acc = acc + rng.uniform(-0.003, 0.003, 3) * acc**3
    warm = 1 - np.exp(-t / rng.uniform(60, 300))
    acc = acc + rng.uniform(-0.08, 0.08, 3) + np.outer(warm, rng.uniform(-0.03, 0.03, 3))
    acc = acc + rng.uniform(0.002, 0.015) * rng.normal(size=acc.shape)
    acc = acc + rng.uniform(0.001, 0.008) * np.stack([_pink(rng, len(t)) for _ in range(3)], axis=1)
    part_range = float(rng.choice([2.0, 4.0, 8.0, 16.0], p=[0.15, 0.3, 0.35, 0.2]))
    bits = int(rng.choice([12, 14, 16]))
    step = part_range / 2 ** (bits - 1)
    acc = np.clip(np.round(acc / step) * step, -part_range, part_range - step)
    keep = np.ones(len(t), dtype=bool)
    for start in rng.integers(0, len(t), rng.poisson(total / 180)):
        keep[start: start + int(rng.integers(5, 25))] = False  # a FIFO overflow
    keep[0] = True
    lsb = full_scale / 32768.0
    return np.round(t[keep], 4), raw_from_g(acc[keep], full_scale).astype(np.float64) * lsb + 0.0
