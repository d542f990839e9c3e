"""Fitting one counting model: windows and targets, float training, QAT, int8 conversion.

The recipe (docs/training.md): cut windows from the recordings (int8 inputs exactly as the
device computes them, wake-word targets on the score steps just after each event, turned
copies of each recording for orientation, and with `augment` copies warped, scaled,
turned, noisy, clipped and with dropped samples: repcount.learn.augment), train the float
model, fine-tune it quantization-aware (tfmot, input range pinned to the device's), convert
a batch-size-1 copy to a full-integer int8 .tflite and refuse it unless the firmware can
run it exactly, then choose the counting parameters on the same training recordings.

Determinism is part of the contract: the shipped models are retrained byte for byte from
their cards' commands, so the order of the random draws here (weights, shuffling,
rotations, representative windows) and of the TensorFlow ops must not change.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from repcount import heavy
from repcount.data.recordings import Recording
from repcount.errors import UserError
from repcount.learn import export, tasks, tflite_model
from repcount.learn.augment import AugmentConfig, augmented_copies, random_rotation
from repcount.learn.model import (
    Architecture,
    Geometry,
    InputQuant,
    build_model,
    dequantize,
    int8_input,
    step_labels,
    window_labels,
    windows,
)
from repcount.learn.thresholds import choose_counting

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Config:
    """Everything that shapes a trained model; recorded in the card."""

    geometry: Geometry = field(default_factory=Geometry)
    arch: Architecture = field(default_factory=Architecture)
    input_range_g: float = 4.0  # int8 input covers [-4 g, 4 g): scale 1/32 g
    label_steps: int = 2
    train_stride: int = 8  # samples between training windows
    rotations: int = 2  # extra copies of each training recording, turned to random orientations
    augment: int = 0  # extra copies of each, augmented (repcount.learn.augment); 0: none, as shipped
    augment_ranges: AugmentConfig = field(default_factory=AugmentConfig)
    epochs: int = 16
    qat_epochs: int = 6
    batch_size: int = 64
    learning_rate: float = 3e-3


QUICK = {"epochs": 6, "qat_epochs": 2}
# int8 input range per task: rope landings reach several g at the wrist; a phone in a bag
# or a pocket sees steps of a few tenths of a g, which a finer step (1/64 g) keeps visible
INPUT_RANGE_G = {"jump-rope": 4.0, "steps": 2.0}


@dataclass
class Trained:
    """A fitted model: the QAT Keras model (saved as float.keras), the int8 bytes, its counting."""

    qat_model: Any
    tflite: bytes
    counting: dict
    q: InputQuant
    train_users: list[str]


def augmented(recs: Sequence[Recording], copies: int, seed: int) -> list[Recording]:
    """The recordings plus `copies` turned copies of each: the sensor may sit any way round.

    A wrist band or a handle can be worn at any angle, and the user's own data cannot
    show every angle; turning the acceleration vector is exactly what another mounting
    would have measured (gravity included), so the model learns orientation-free cues.
    """
    rng = np.random.default_rng(seed)
    out = list(recs)
    for rec in recs:
        for _ in range(copies):
            out.append(replace(rec, acc=rec.acc @ random_rotation(rng).T))
    return out


def training_recordings(recs: Sequence[Recording], cfg: Config, seed: int) -> list[Recording]:
    """The recordings, their turned copies, then (with `cfg.augment`) their augmented copies.

    The turned copies draw first and alone from the seed's generator, so with augmentation
    off the draws (and the model's bytes) are those of a recipe that never knew of it;
    augmented copies draw from their own generators (seed, recording, copy).
    """
    out = augmented(recs, cfg.rotations, seed)
    if cfg.augment:
        out += augmented_copies(recs, cfg.augment, seed, cfg.augment_ranges)[len(recs):]
    return out


def training_arrays(
    recs: Sequence[Recording], task: tasks.Task, cfg: Config, q: InputQuant
) -> tuple[np.ndarray, np.ndarray]:
    """Dequantised int8 windows (N, window, 1, 3) and their per-step targets (N, output_len)."""
    xs, ys = [], []
    g = cfg.geometry
    for rec in recs:
        x = windows(int8_input(rec, q), g, cfg.train_stride)
        labels = step_labels(rec, task.event_kinds, g.out_stride, cfg.label_steps)
        xs.append(dequantize(x, q.scale, q.zero_point))
        ys.append(window_labels(labels, g, cfg.train_stride, len(x)))
    if not xs or sum(len(x) for x in xs) == 0:
        raise UserError(f"recordings too short: each needs at least {g.window} samples")
    return np.concatenate(xs), np.concatenate(ys)


def _epoch_log(label: str, progress: Progress) -> Any:
    """A Keras callback printing one line per epoch on stderr (stdout is kept for --json)."""
    keras = heavy.keras()

    class Log(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            parts = ", ".join(f"{k} {v:.4f}" for k, v in (logs or {}).items())
            progress(f"{label} epoch {epoch + 1}/{self.params['epochs']}: {parts}")

    return Log()


def _fit_phase(
    model: Any, x: np.ndarray, y: np.ndarray, batch_size: int, epochs: int, label: str, progress: Progress,
    pinned: dict[str, np.ndarray],
) -> None:
    """One training phase (float or QAT): both must shuffle and log alike for the runs to stay comparable."""
    model.fit(
        x,
        y,
        batch_size=batch_size,
        epochs=epochs,
        shuffle=True,
        verbose=0,
        callbacks=[_epoch_log(label, progress), *([_pin(pinned)] if pinned else [])],
    )


def set_weights(model: Any) -> dict[str, np.ndarray]:
    """The weights of the layers built non-trainable (the high-pass stage), by layer and weight name."""
    return {f"{layer.name}/{w.name.split('/')[-1]}": w.numpy()
            for layer in model.layers if not layer.trainable for w in layer.weights}


def _pin(pinned: dict[str, np.ndarray]) -> Any:
    """A Keras callback putting set weights back after every batch, in the float or the QAT model.

    tfmot's wrapper lists a non-trainable layer's kernel among its trainable weights (the
    high-pass stage's moving average drifted by 5 % in QAT without this); restored after
    each step, the next forward pass, and so the quantizer's range, sees the set values.
    """
    keras = heavy.keras()

    class Pin(keras.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            for layer in self.model.layers:
                name = layer.name.removeprefix("quant_")
                for w in layer.weights:
                    value = pinned.get(f"{name}/{w.name.split('/')[-1]}")
                    if value is not None:
                        w.assign(value)

    return Pin()


def fit(
    recs: Sequence[Recording],
    task: tasks.Task,
    cfg: Config,
    seed: int,
    progress: Progress,
    init: Any = None,
) -> Trained:
    """Train float then QAT on `recs`, convert and check the int8 model, choose counting params.

    `init`, a QAT model of the same geometry and architecture (a model directory's
    float.keras), fine-tunes its float weights instead of the seed's random ones; the
    seed still draws the same random numbers in the same order, so nothing else changes.
    """
    tf = heavy.tensorflow()
    keras = heavy.keras()
    tf.config.experimental.enable_op_determinism()
    q = InputQuant.for_range(cfg.input_range_g, task.full_scale_g)
    x, y = training_arrays(training_recordings(recs, cfg, seed), task, cfg, q)
    progress(f"{len(x)} training windows from {len(recs)} recordings, {y.mean():.1%} positive steps")
    model = build_model(cfg.geometry, cfg.arch, seed)
    if init is not None:
        export.copy_float_weights(init, model)
    model.compile(keras.optimizers.Adam(cfg.learning_rate), "binary_crossentropy")
    pinned = set_weights(model)
    _fit_phase(model, x, y, cfg.batch_size, cfg.epochs, "float", progress, pinned)
    qat = export.quantize(model, q)
    qat.compile(keras.optimizers.Adam(cfg.learning_rate / 5), "binary_crossentropy")
    _fit_phase(qat, x, y, cfg.batch_size, cfg.qat_epochs, "QAT", progress, pinned)
    rng = np.random.default_rng(seed)
    rep = x[rng.choice(len(x), size=min(len(x), 256), replace=False)]
    tfl = export.convert(qat, build_model(cfg.geometry, cfg.arch, seed, batch_size=1), q, rep)
    export.check(tflite_model.read(tfl), q)
    progress(f"converted: {len(tfl)} bytes, checks passed; choosing counting parameters on training users")
    params = choose_counting(recs, task, cfg.geometry, q, tfl)
    return Trained(qat, tfl, params, q, sorted({r.meta.user for r in recs}))
