"""TFLite Micro's integer requantisation, in Python, for constants and reference checks.

The firmware never uses floating point: every scale becomes an int32 multiplier and a
shift here, at generation time, with exactly TFLM's rounding (../shared/docs/tflm-int8.md),
and the C side applies them with the same double rounding. The device's input
quantisation (raw int16 IMU counts to the model's int8 input) is the one integer rescale
it does before the model; `quantize_input` is its reference.
"""

from __future__ import annotations

import math

import numpy as np

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1


def quantize_multiplier(d: float) -> tuple[int, int]:
    """(m, e) with d ~= m * 2^(e-31), m in [2^30, 2^31), as TFLM's QuantizeMultiplier."""
    if d == 0.0:
        return 0, 0
    q, e = math.frexp(d)
    m = int(math.copysign(math.floor(abs(q) * 2**31 + 0.5), q))
    if m == 2**31:
        m //= 2
        e += 1
    if e < -31:
        return 0, 0
    return m, e


def srdhm(a: int, b: int) -> int:
    """Saturating rounding doubling high multiply (gemmlowp)."""
    if a == b == INT32_MIN:
        return INT32_MAX
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    num = ab + nudge
    q = abs(num) >> 31  # C's truncating division by 2^31
    return q if num >= 0 else -q


def rdbpot(x: int, e: int) -> int:
    """Rounding divide by power of two, round half away from zero."""
    mask = (1 << e) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> e) + (1 if remainder > threshold else 0)


def mbqm(x: int, m: int, shift: int) -> int:
    """MultiplyByQuantizedMultiplier(x, m, shift) with TFLM's default double rounding."""
    left = max(shift, 0)
    right = max(-shift, 0)
    return rdbpot(srdhm(_wrap32(x * (1 << left)), m), right)


def _wrap32(x: int) -> int:
    return (x + 2**31) % 2**32 - 2**31


def raw_from_g(acc_g: np.ndarray, full_scale_g: float) -> np.ndarray:
    """IMU counts (int16) of accelerations in g at a full-scale range, as a 16-bit IMU reads."""
    raw = np.round(np.asarray(acc_g, dtype=np.float64) * (32768.0 / full_scale_g))
    return np.clip(raw, -32768, 32767).astype(np.int16)


def input_rescale(full_scale_g: float, input_scale: float) -> tuple[int, int]:
    """(multiplier, shift) turning raw counts into multiples of the model's input scale."""
    return quantize_multiplier((full_scale_g / 32768.0) / input_scale)


def mbqm_array(x: np.ndarray, m: int, shift: int) -> np.ndarray:
    """`mbqm` over an int array whose shifted values fit in int32 (vectorised, same result)."""
    left, right = max(shift, 0), max(-shift, 0)
    ab = (np.asarray(x, dtype=np.int64) << left) * np.int64(m)
    num = ab + np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    q = np.abs(num) >> 31
    q = np.where(num >= 0, q, -q)
    mask = (1 << right) - 1
    return (q >> right) + ((q & mask) > (mask >> 1) + (q < 0)).astype(np.int64)


def quantize_input(raw: np.ndarray, multiplier: int, shift: int, zero_point: int) -> np.ndarray:
    """The device's input quantisation: int8 = clamp(zp + MBQM(raw, M, s)). Reference for C."""
    q = zero_point + mbqm_array(raw, multiplier, shift)
    return np.clip(q, -128, 127).astype(np.int8)
