"""The counting model: its geometry, its int8 input, its labels, its windows and its layers.

Everything here is shared by training, evaluation and the tests, so the windows a model
was trained on and the windows it is evaluated on are cut by the same code. TensorFlow is
imported only inside `build_model`, through repcount.heavy (the CLI must start fast).

Input. A window of `window` samples x 3 axes, laid out (window, 1, 3) so Conv2D and
DepthwiseConv2D with (k, 1) kernels (which tfmot can quantize, unlike Conv1D) run along
time. The device turns its raw int16 IMU counts into the model's int8 input with one
integer rescale (`repcount.learn.quant.quantize_input`); the float and QAT models are trained
on exactly those int8 values, dequantised, so the device does no float preprocessing.

Output. One sigmoid score per `out_stride` samples of the window: score j says "an event
happened in samples [j * out_stride, (j + 1) * out_stride) or just before". Labels are
wake-word style: the `label_steps` steps starting at the step that holds the event are 1,
everything else 0 (docs/training.md says why).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from repcount import heavy
from repcount.data.recordings import Recording
from repcount.learn import quant


@dataclass(frozen=True)
class Geometry:
    """How windows, scores and the counting stream line up (see repcount/counting.py)."""

    window: int = 96
    hop: int = 32
    out_stride: int = 4
    take_start: int = 8

    @property
    def output_len(self) -> int:
        return self.window // self.out_stride

    @property
    def take_count(self) -> int:
        return self.hop // self.out_stride

    def validate(self) -> None:
        if self.window % self.out_stride or self.hop % self.out_stride:
            raise ValueError("window and hop must be multiples of out_stride")
        if self.out_stride not in (1, 2, 4, 8):
            raise ValueError("out_stride must be 1, 2, 4 or 8 (stride-2 convolutions)")
        if self.take_start + self.take_count > self.output_len:
            raise ValueError("take_start + hop/out_stride exceeds the window's outputs")


@dataclass(frozen=True)
class InputQuant:
    """The int8 input: scale (g per LSB), zero point, and the device's integer rescale."""

    scale: float
    zero_point: int
    multiplier: int
    shift: int
    full_scale_g: float

    @classmethod
    def for_range(cls, range_g: float, full_scale_g: float) -> InputQuant:
        """Symmetric int8 covering [-range_g, range_g) with zero point 0.

        A power-of-two range keeps the scale exact in float32, so the converter writes
        back exactly this scale (export checks it).
        """
        scale = range_g / 128.0
        m, s = quant.input_rescale(full_scale_g, scale)
        return cls(scale, 0, m, s, full_scale_g)

    @property
    def min_value(self) -> float:
        return (-128 - self.zero_point) * self.scale

    @property
    def max_value(self) -> float:
        return (127 - self.zero_point) * self.scale

    def card(self) -> dict[str, float | int]:
        return {
            "scale": self.scale,
            "zero_point": self.zero_point,
            "multiplier": self.multiplier,
            "shift": self.shift,
        }


def int8_input(rec: Recording, q: InputQuant) -> np.ndarray:
    """The int8 samples (n, 3) the device feeds the model: IMU counts, then one rescale."""
    raw = quant.raw_from_g(rec.acc, q.full_scale_g)
    return quant.quantize_input(raw, q.multiplier, q.shift, q.zero_point)


def dequantize(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Int8 values back to float32 as TFLite defines it, (q - zero_point) * scale: the float model's input."""
    return ((np.asarray(x, dtype=np.float32) - zero_point) * np.float32(scale)).astype(np.float32)


def sample_index(rec: Recording, times: np.ndarray) -> np.ndarray:
    """Fractional sample index of each time (samples may jitter or drop, so interpolate)."""
    return np.interp(times, rec.t, np.arange(len(rec.t), dtype=np.float64))


def sample_time(rec: Recording, index: np.ndarray) -> np.ndarray:
    """Time of a fractional sample index, the inverse of `sample_index`."""
    return np.interp(index, np.arange(len(rec.t), dtype=np.float64), rec.t)


def step_labels(rec: Recording, kinds: tuple[str, ...], out_stride: int, label_steps: int) -> np.ndarray:
    """Per-step 0/1 targets over the whole recording (step s = samples [s*os, (s+1)*os))."""
    n_steps = len(rec.t) // out_stride
    labels = np.zeros(n_steps, dtype=np.float32)
    steps = np.floor(sample_index(rec, rec.events_of(kinds)) / out_stride).astype(np.int64)
    for s in steps:
        labels[max(s, 0) : min(s + label_steps, n_steps)] = 1.0
    return labels


def windows(x: np.ndarray, g: Geometry, stride: int) -> np.ndarray:
    """Windows (N, window, 1, 3) starting every `stride` samples (a view, not a copy)."""
    n = (len(x) - g.window) // stride + 1
    if n <= 0:
        return np.zeros((0, g.window, 1, 3), dtype=x.dtype)
    view = np.lib.stride_tricks.sliding_window_view(x, (g.window, 3))[::stride, 0]
    return view[:n, :, None, :]


def window_labels(labels: np.ndarray, g: Geometry, stride: int, n_windows: int) -> np.ndarray:
    """Targets (N, output_len) of the windows `windows(x, g, stride)` cuts."""
    first = np.arange(n_windows) * (stride // g.out_stride)
    idx = first[:, None] + np.arange(g.output_len)[None, :]
    padded = np.concatenate([labels, np.zeros(g.output_len, dtype=labels.dtype)])
    return padded[idx]


@dataclass(frozen=True)
class Architecture:
    """Channels and kernels of the convolution stack; two layers stride 2 for out_stride 4."""

    channels: tuple[int, ...] = (8, 12, 12, 12, 12)
    kernels: tuple[int, ...] = (5, 5, 5, 5, 5)
    highpass: int = 0  # > 0: the input minus its moving average over this many samples (fixed weights)


def strides(arch: Architecture, out_stride: int) -> list[int]:
    """Stride-2 on the layers after the first, as many as out_stride needs."""
    n2 = int(np.log2(out_stride))
    return [2 if 1 <= i <= n2 else 1 for i in range(len(arch.channels))]


def highpass(x: Any, length: int) -> Any:
    """x minus its centred moving average over `length` samples: gravity and posture removed.

    Two int8 ops both engines run: a DEPTHWISE_CONV_2D whose weights are all -1/length
    (one value per channel, so int8 holds it exactly) and an ADD of it to the input. The
    weights are set, not learnt, so what the stage removes is the same for every model
    and every person; the window's ends see a shorter average (zero padding), which the
    layers after it learn to discount.
    """
    keras = heavy.keras()
    neg_mean = keras.layers.DepthwiseConv2D(
        (length, 1), padding="same", use_bias=False, trainable=False, name="moving_average",
        depthwise_initializer=keras.initializers.Constant(-1.0 / length),
    )(x)
    return keras.layers.Add(name="highpass")([x, neg_mean])


def build_model(g: Geometry, arch: Architecture, seed: int, batch_size: int | None = None) -> Any:
    """The float Keras model (tf_keras): (window, 1, 3) -> (output_len,) sigmoid scores.

    Conv2D + BatchNormalization + ReLU blocks (tfmot folds the BN into the conv) and a
    1x1 Conv2D sigmoid head; `batch_size=1` builds the copy the converter needs.
    """
    keras = heavy.keras()
    keras.utils.set_random_seed(seed)
    inp = keras.Input((g.window, 1, 3), batch_size=batch_size, name="imu")
    x = highpass(inp, arch.highpass) if arch.highpass else inp
    for i, (c, k, s) in enumerate(zip(arch.channels, arch.kernels, strides(arch, g.out_stride), strict=True)):
        x = keras.layers.Conv2D(c, (k, 1), strides=(s, 1), padding="same", use_bias=False, name=f"conv{i}")(x)
        x = keras.layers.BatchNormalization(name=f"bn{i}")(x)
        x = keras.layers.ReLU(name=f"relu{i}")(x)
    x = keras.layers.Conv2D(1, (1, 1), activation="sigmoid", name="score")(x)
    out = keras.layers.Reshape((g.output_len,), name="scores")(x)
    return keras.Model(inp, out, name="repcount")
