"""`--task activity`: a WISDM-style window classifier (200 x 3 windows), int8 like the counters.

The classic activity-recognition tutorials cut accelerometer streams into 200-sample
windows (10 s at WISDM's 20 Hz) and classify each one (walking, jogging, stairs, sitting,
standing, ...); a float BiLSTM reaches about 88 % with a user split. Here the same windows
go through a small Conv2D stack with (k, 1) kernels, global average pooling and a softmax,
trained quantization-aware and converted to int8 like the counting models, and the report
is a confusion matrix with per-class precision and recall, for the float model and the
int8 model in TFLite Micro's kernels.

A window is labelled with the activity of the segment that holds it entirely; windows that
straddle two segments are left out of training and evaluation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from repcount import heavy
from repcount.data.recordings import Recording
from repcount.errors import UserError
from repcount.firmware.native import generate as native
from repcount.learn import export, tasks, tflite_model, tflm
from repcount.learn.card import ModelCard
from repcount.learn.model import Geometry, InputQuant, dequantize, int8_input, windows

WINDOW = 200
HOP = 100
INPUT_RANGE_G = 4.0
CHANNELS = (8, 12, 16, 16)
STRIDES = (2, 2, 2, 1)


def labelled_windows(
    recs: Sequence[Recording], q: InputQuant, classes: Sequence[str] | None, stride: int
) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """int8 windows (N, 200, 1, 3), class indices, the class names, and each window's user."""
    g = Geometry(window=WINDOW, hop=stride, out_stride=1, take_start=0)
    if classes is None:  # every activity with a segment long enough to hold a window
        found = sorted(
            {
                s.activity
                for r in recs
                for s in r.segments
                if s.end - s.start >= WINDOW / r.meta.sample_rate_hz
            }
        )
    else:
        found = list(classes)
    index = {c: i for i, c in enumerate(found)}
    xs, ys, users = [], [], []
    for rec in recs:
        w = windows(int8_input(rec, q), g, stride)
        starts = rec.t[np.arange(len(w)) * stride] if len(w) else np.zeros(0)
        ends = rec.t[np.arange(len(w)) * stride + WINDOW - 1] if len(w) else np.zeros(0)
        label = np.full(len(w), -1)
        for s in rec.segments:
            if s.activity in index:
                label[(starts >= s.start) & (ends < s.end)] = index[s.activity]
        keep = label >= 0
        xs.append(w[keep])
        ys.append(label[keep])
        users += [rec.meta.user] * int(keep.sum())
    if not xs or sum(len(x) for x in xs) == 0:
        raise UserError(
            f"no {WINDOW}-sample window lies inside a labelled segment; activity recordings need "
            "@segment labels of at least 10 s (at 20 Hz)"
        )
    return np.concatenate(xs), np.concatenate(ys), found, users


def build_model(n_classes: int, seed: int, batch_size: int | None = None) -> Any:
    """Four Conv2D (5, 1) + BN + ReLU blocks, global average pooling, a Dense softmax (tf_keras)."""
    keras = heavy.keras()
    keras.utils.set_random_seed(seed)
    inp = keras.Input((WINDOW, 1, 3), batch_size=batch_size, name="imu")
    x = inp
    for i, (c, s) in enumerate(zip(CHANNELS, STRIDES, strict=True)):
        x = keras.layers.Conv2D(c, (5, 1), strides=(s, 1), padding="same", use_bias=False, name=f"conv{i}")(x)
        # momentum 0.9: activity data sets are small (a few hundred windows per class)
        x = keras.layers.BatchNormalization(momentum=0.9, name=f"bn{i}")(x)
        x = keras.layers.ReLU(name=f"relu{i}")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    out = keras.layers.Dense(n_classes, activation="softmax", name="classes")(x)
    return keras.Model(inp, out, name="repcount_activity")


@dataclass
class TrainedClassifier:
    """A fitted classifier: the QAT Keras model, the int8 bytes, its classes and input quantisation."""

    qat_model: Any
    tflite: bytes
    classes: list[str]
    q: InputQuant


def fit(
    recs: Sequence[Recording],
    full_scale_g: float,
    epochs: int,
    qat_epochs: int,
    seed: int,
    progress: Callable[[str], None],
) -> TrainedClassifier:
    """Float then QAT training on the labelled windows of `recs`, int8 conversion and its checks."""
    tf = heavy.tensorflow()
    keras = heavy.keras()
    tf.config.experimental.enable_op_determinism()
    q = InputQuant.for_range(INPUT_RANGE_G, full_scale_g)
    x8, y, classes, _ = labelled_windows(recs, q, None, stride=HOP // 4)
    x = dequantize(x8, q.scale, q.zero_point)
    progress(
        f"{len(x)} windows, classes: {', '.join(f'{c} {int((y == i).sum())}' for i, c in enumerate(classes))}"
    )
    model = build_model(len(classes), seed)
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=64, epochs=epochs, shuffle=True, verbose=0)
    qat = export.quantize(model, q)
    qat.compile(keras.optimizers.Adam(6e-4), "sparse_categorical_crossentropy", metrics=["accuracy"])
    qat.fit(x, y, batch_size=64, epochs=qat_epochs, shuffle=True, verbose=0)
    rep = x[np.random.default_rng(seed).choice(len(x), size=min(len(x), 256), replace=False)]
    tfl = export.convert(qat, build_model(len(classes), seed, batch_size=1), q, rep)
    export.check(tflite_model.read(tfl), q)
    progress(f"converted: {len(tfl)} bytes, checks passed")
    return TrainedClassifier(qat, tfl, classes, q)


def confusion(true: np.ndarray, pred: np.ndarray, n: int) -> np.ndarray:
    """The n x n confusion matrix (rows true, columns predicted), counting every class even if absent."""
    m = np.zeros((n, n), dtype=np.int64)
    np.add.at(m, (true, pred), 1)
    return m


def classification_report(true: np.ndarray, pred: np.ndarray, classes: Sequence[str]) -> dict:
    """Accuracy, confusion matrix (rows: true class) and per-class precision and recall."""
    m = confusion(true, pred, len(classes))
    per_class = {}
    for i, c in enumerate(classes):
        tp, predicted, actual = int(m[i, i]), int(m[:, i].sum()), int(m[i].sum())
        per_class[c] = {
            "precision": tp / predicted if predicted else None,
            "recall": tp / actual if actual else None,
            "windows": actual,
        }
    return {
        "accuracy": float(np.trace(m) / m.sum()) if m.sum() else None,
        "confusion": m.tolist(),
        "classes": list(classes),
        "per_class": per_class,
    }


def make_card(name: str, task: tasks.Task, mount: str, t: TrainedClassifier) -> dict:
    """docs/model-card.md for a classifier, from the converted model read back."""
    m = tflite_model.read(t.tflite)
    in_scale, in_zp = export.input_quant(m)
    out_scale, out_zp = export.output_quant(m)
    macs = native.macs(m)
    return {
        "name": name,
        "task": task.name,
        "mount": mount,
        "sample_rate_hz": task.sample_rate_hz,
        "full_scale_g": task.full_scale_g,
        "window": WINDOW,
        "hop": HOP,
        "input_len": WINDOW * 3,
        "output_len": len(t.classes),
        "classes": t.classes,
        "input": {**t.q.card(), "scale": in_scale, "zero_point": in_zp},
        "output": {"scale": out_scale, "zero_point": out_zp},
        "model_hash": m.model_hash,
        "tflite_bytes": len(t.tflite),
        "ops": m.op_names,
        "macs_per_inference": macs,
        "macs_per_second": round(macs * task.sample_rate_hz / HOP),
        "arena_bytes": tflm.measure_arena(t.tflite),
    }


def measure(card: ModelCard, model_bytes: bytes, float_model: Any, recs: Sequence[Recording]) -> dict:
    """Float and int8 (TFLM) reports on the windows of `recs`, classes as in the card."""
    q = card.input_quant
    x8, y, classes, _ = labelled_windows(recs, q, list(card.classes or ()), stride=HOP)
    out: dict = {"int8": classification_report(y, tflm.run(model_bytes, x8).argmax(axis=1), classes)}
    if float_model is not None:
        p = np.asarray(float_model(dequantize(x8, q.scale, q.zero_point), training=False))
        out["float"] = classification_report(y, p.argmax(axis=1), classes)
    return out
