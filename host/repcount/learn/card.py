"""The model card (docs/model-card.md) as types, and the one check of a model directory.

A model directory holds `model.tflite` (the truth after training), `card.json` (what
training measured and what the pipeline around the model needs: rate, full scale,
geometry, the integer input rescale, the output grid, the counting parameters) and
`float.keras`. Every command that reads one (evaluate, firmware, hil, bench) opens it
with `ModelDir.open`, so a card is read once, validated once, and a card that does not
belong to its `.tflite` (another model's file, an edited full scale, a made-up hash) is
refused the same way everywhere, naming the file and the field, before any work starts.

`ModelCard` mirrors card.json field by field and in order: `to_json()` of a loaded card
is byte-identical to the file `train` wrote. Reports that only people read (`metrics`)
stay plain dictionaries.
"""

from __future__ import annotations

import json
import math
import types
import typing
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, TypeVar, Union

import numpy as np

from repcount.data.recordings import Recording
from repcount.errors import UserError
from repcount.learn import quant, tflite_model
from repcount.learn.counting import CountingParams
from repcount.learn.model import Geometry, InputQuant

CARD_FILE = "card.json"
TFLITE_FILE = "model.tflite"
FLOAT_FILE = "float.keras"
FULL_SCALES_G = (2.0, 4.0, 8.0, 16.0)  # the ranges a 16-bit IMU offers
ACTIVITY_TASK = "activity"  # the window classifier: classes, no counting

T = TypeVar("T")


def optional(default: Any = None) -> Any:
    """A field a card may leave out (older cards, or another task); absent ones are not written back."""
    return field(default=default, metadata={"optional": True})


@dataclass(frozen=True)
class InputScaling:
    """The int8 input: scale (g per LSB), zero point, and the device's integer rescale of raw counts."""

    scale: float
    zero_point: int
    multiplier: int
    shift: int


@dataclass(frozen=True)
class OutputScaling:
    """The int8 output grid: score = (q - zero_point) * scale."""

    scale: float
    zero_point: int


@dataclass(frozen=True)
class Counting:
    """The counting post-processor's parameters (repcount.learn.counting) and the event time offset."""

    threshold: int
    refractory: int
    take_start: int
    take_count: int
    out_stride: int
    event_offset_s: float

    @property
    def params(self) -> CountingParams:
        """The integer parameters the counter (and its C twin) runs with."""
        return CountingParams(
            self.threshold, self.refractory, self.take_start, self.take_count, self.out_stride
        )


@dataclass(frozen=True)
class ArchitectureCard:
    """Channels and kernels of the convolution stack, as `train --arch` took them."""

    channels: tuple[int, ...]
    kernels: tuple[int, ...]
    highpass: int | None = optional()  # `train --highpass N`: the input minus its N-sample moving average


@dataclass(frozen=True)
class TrainingConfig:
    """What shaped the trained model (repcount.learn.fit.Config), recorded for retraining."""

    architecture: ArchitectureCard
    input_range_g: float
    label_steps: int
    train_stride: int
    rotations: int
    epochs: int
    qat_epochs: int
    batch_size: int
    learning_rate: float
    augment: dict[str, Any] | None = optional()  # `train --augment`: the copies and their ranges


@dataclass(frozen=True, kw_only=True)
class TrainingRecord:
    """How the model was trained: the exact command, seed, data and which users it never saw."""

    command: str | None
    seed: int
    data: tuple[str, ...]
    test_data: tuple[str, ...]
    train_users: tuple[str, ...]
    held_out_users: tuple[str, ...]
    cv_users: tuple[str, ...] | None = optional()
    train_recordings: int | None = optional()
    seconds: float | None = optional()
    quick: bool | None = optional()
    init_model: dict[str, Any] | None = optional()  # `train --init`: the model fine-tuned (name, model_hash)
    count_only: tuple[str, ...] | None = optional()  # recordings whose events were placed from @count labels


@dataclass(frozen=True, kw_only=True)
class ModelCard:
    """card.json, typed; field order is the file's order (docs/model-card.md says what each means)."""

    name: str
    task: str
    mount: str
    sample_rate_hz: float
    full_scale_g: float
    window: int
    hop: int
    input_len: int
    output_len: int
    classes: tuple[str, ...] | None = optional()
    input: InputScaling
    output: OutputScaling
    counting: Counting | None = optional()
    model_hash: str
    tflite_bytes: int
    ops: tuple[str, ...]
    macs_per_inference: int | None = optional()
    macs_per_second: int | None = optional()
    arena_bytes: int | None = optional()
    config: TrainingConfig | None = optional()
    training: TrainingRecord | None = optional()
    metrics: dict[str, Any] | None = optional()

    @classmethod
    def load(cls, path: str | Path) -> ModelCard:
        """Read and validate a card.json; UserError naming the file and the field otherwise."""
        p = Path(path)
        if not p.is_file():
            raise UserError(f"{p}: no such model card; a model directory holds {TFLITE_FILE} and {CARD_FILE}")
        try:
            obj = json.loads(p.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UserError(
                f"{p}: not valid JSON ({exc}); re-train the model or restore its {CARD_FILE}"
            ) from None
        return cls.from_dict(obj, str(p))

    @classmethod
    def from_dict(cls, obj: Any, where: str = CARD_FILE) -> ModelCard:
        """A card from its JSON object (as `train` builds it), validated: types, then ranges."""
        card = _parse(cls, obj, where, "")
        card._check(where)
        return card

    def to_dict(self) -> dict[str, Any]:
        """The JSON object, keys in the file's order, absent optional fields left out."""
        return _dump(self)

    def to_json(self) -> str:
        """card.json's text, as `train` writes it."""
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @property
    def is_counter(self) -> bool:
        return self.task != ACTIVITY_TASK

    @property
    def input_quant(self) -> InputQuant:
        """The device's input quantisation (raw IMU counts at full_scale_g -> int8)."""
        i = self.input
        return InputQuant(i.scale, i.zero_point, i.multiplier, i.shift, self.full_scale_g)

    @property
    def geometry(self) -> Geometry:
        """Window, hop and the counting stream's slice (a counting model's card only)."""
        c = self.counter
        return Geometry(self.window, self.hop, c.out_stride, c.take_start)

    @property
    def counting_params(self) -> CountingParams:
        return self.counter.params

    @property
    def counter(self) -> Counting:
        """The counting parameters; a clear error for a model that counts nothing (activity)."""
        if self.counting is None:
            raise UserError(f"{self.name}: a {self.task!r} model counts nothing (its card has no counting)")
        return self.counting

    def check_recording(self, rec: Recording, model: str | None = None) -> None:
        """The model runs on samples at its own rate: a recording at another rate is refused."""
        rate, want = float(rec.meta.sample_rate_hz), self.sample_rate_hz
        if abs(rate - want) > 1e-6:
            where = rec.path if rec.path is not None else rec.name
            raise UserError(
                f"{where}: recorded at {rate:g} Hz but the model runs at {want:g} Hz; resample it to "
                f"{want:g} Hz first (model {model or self.name}; `repcount import` resamples, "
                "`repcount capture` records at the model's rate)"
            )

    def _check(self, where: str) -> None:
        """Ranges and consistency of the fields, each failure naming its field."""

        def bad(name: str, why: str) -> UserError:
            return UserError(f"{where}: field {name}: {why}")

        if not self.name:
            raise bad("name", "empty")
        if not (self.sample_rate_hz > 0 and math.isfinite(self.sample_rate_hz)):
            raise bad("sample_rate_hz", f"must be a positive rate in Hz, got {self.sample_rate_hz}")
        if self.full_scale_g not in FULL_SCALES_G:
            raise bad(
                "full_scale_g",
                f"must be one of {', '.join(f'{g:g}' for g in FULL_SCALES_G)}, got {self.full_scale_g:g}",
            )
        for name in ("window", "hop", "input_len", "output_len"):
            if getattr(self, name) <= 0:
                raise bad(name, f"must be positive, got {getattr(self, name)}")
        if self.hop > self.window:
            raise bad("hop", f"{self.hop} exceeds the window of {self.window} samples")
        if len(self.model_hash) != 16 or any(ch not in "0123456789abcdef" for ch in self.model_hash):
            raise bad(
                "model_hash",
                f"{self.model_hash!r} is not 16 lowercase hex digits (the .tflite's "
                "SHA-256 prefix); re-train the model or restore its card",
            )
        self._check_quant(bad)
        if self.is_counter:
            self._check_counting(bad)
        elif self.classes is None or len(self.classes) != self.output_len:
            raise bad(
                "classes",
                f"an {ACTIVITY_TASK} model needs one class name per output "
                f"({self.output_len}), got {0 if self.classes is None else len(self.classes)}",
            )

    def _check_quant(self, bad: Any) -> None:
        for name, q in (("input", self.input), ("output", self.output)):
            if not (q.scale > 0 and math.isfinite(q.scale)):
                raise bad(f"{name}.scale", f"must be positive, got {q.scale}")
            if not -128 <= q.zero_point <= 127:
                raise bad(f"{name}.zero_point", f"must be an int8, got {q.zero_point}")
        if not 0 <= self.input.multiplier < 2**31:
            raise bad("input.multiplier", f"must be in [0, 2^31), got {self.input.multiplier}")
        if not -31 <= self.input.shift <= 31:
            raise bad("input.shift", f"must be in [-31, 31], got {self.input.shift}")

    def _check_counting(self, bad: Any) -> None:
        if self.counting is None:
            raise bad("counting", "missing")
        c = self.counting
        if not -128 <= c.threshold <= 127:
            raise bad("counting.threshold", f"must be an int8 score, got {c.threshold}")
        if c.refractory < 0:
            raise bad("counting.refractory", f"must be >= 0 steps, got {c.refractory}")
        if c.out_stride <= 0 or self.window % c.out_stride or self.hop % c.out_stride:
            raise bad(
                "counting.out_stride", f"{c.out_stride} must divide window {self.window} and hop {self.hop}"
            )
        if c.take_count * c.out_stride != self.hop:
            raise bad(
                "counting.take_count",
                f"{c.take_count} steps of {c.out_stride} samples must tile the hop of {self.hop} samples",
            )
        if c.take_start < 0 or c.take_start + c.take_count > self.output_len:
            raise bad(
                "counting.take_start",
                f"take_start {c.take_start} + take_count {c.take_count} does "
                f"not fit output_len {self.output_len}",
            )
        if not math.isfinite(c.event_offset_s):
            raise bad("counting.event_offset_s", f"must be finite, got {c.event_offset_s}")


@dataclass(frozen=True)
class ModelDir:
    """A model directory checked as a whole: its card belongs to its .tflite."""

    path: Path
    card: ModelCard
    tflite: tflite_model.TfliteModel

    @classmethod
    def open(cls, path: str | Path) -> ModelDir:
        """Read card.json and model.tflite and check they describe the same model.

        The .tflite's SHA-256 prefix must be the card's `model_hash`, and the card's
        geometry (input_len = window x 3, output_len) and quantisation (input and output
        scale and zero point, and the input rescale computed from `full_scale_g`) must be
        the .tflite's: a card edited by hand or copied beside another model's file would
        otherwise make every figure computed with it false.
        """
        p = Path(path)
        if not p.is_dir():
            raise UserError(
                f"{p}: no such model directory (a model directory holds {TFLITE_FILE} and "
                f"{CARD_FILE}; train one with `repcount train --out DIR`)"
            )
        card_path = p / CARD_FILE
        if not card_path.is_file():
            raise UserError(f"{p}: no {CARD_FILE}; a model directory holds {TFLITE_FILE} and {CARD_FILE}")
        card = ModelCard.load(card_path)
        tfl_path = p / TFLITE_FILE
        if not tfl_path.is_file():
            raise UserError(f"{p}: no {TFLITE_FILE}; a model directory holds {TFLITE_FILE} and {CARD_FILE}")
        model = tflite_model.read(tfl_path)
        check_pair(card, model, str(card_path))
        return cls(p, card, model)

    @property
    def model_bytes(self) -> bytes:
        return self.tflite.data

    @property
    def card_path(self) -> Path:
        return self.path / CARD_FILE

    @property
    def float_path(self) -> Path:
        return self.path / FLOAT_FILE

    def check_recording(self, rec: Recording) -> None:
        """A recording this model can be run on: recorded at the model's sample rate."""
        self.card.check_recording(rec, str(self.path))


def check_pair(card: ModelCard, model: tflite_model.TfliteModel, where: str = CARD_FILE) -> None:
    """The card describes this .tflite: same hash, geometry and quantisation (see ModelDir.open)."""
    if model.model_hash != card.model_hash:
        raise UserError(
            f"{where}: field model_hash: {card.model_hash} is not the hash of {model.where()} "
            f"({model.model_hash}); the card belongs to another model: keep each card with its .tflite"
        )
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise UserError(
            f"{model.where()}: expected one input and one output tensor, found "
            f"{len(model.inputs)} and {len(model.outputs)}"
        )
    tin, tout = model.tensors[model.inputs[0]], model.tensors[model.outputs[0]]
    if tin.dtype != "int8" or tout.dtype != "int8":
        raise UserError(f"{model.where()}: input and output must be int8, got {tin.dtype} -> {tout.dtype}")
    if tin.size != card.input_len or card.input_len != card.window * 3 or tout.size != card.output_len:
        raise UserError(
            f"{where}: window {card.window} x 3, input_len {card.input_len} and output_len "
            f"{card.output_len} disagree with {model.where()} ({tin.size} inputs, {tout.size} outputs)"
        )
    if len(tin.scale) != 1 or len(tout.scale) != 1:
        raise UserError(f"{model.where()}: input and output must be quantised per tensor")
    in_scale, in_zp = float(tin.scale[0]), int(tin.zero_point[0])
    expected = quant.input_rescale(card.full_scale_g, in_scale)
    i = card.input
    if (np.float32(i.scale), i.zero_point) != (tin.scale[0], in_zp) or (i.multiplier, i.shift) != expected:
        raise UserError(
            f"{where}: input scale/zero_point/multiplier/shift {i.scale:g}/{i.zero_point}/{i.multiplier}/"
            f"{i.shift} with full_scale_g {card.full_scale_g:g} do not match {model.where()} (expected "
            f"{in_scale:g}/{in_zp}/{expected[0]}/{expected[1]}); the card belongs to another model "
            "(or was edited): restore the card `train` wrote with this .tflite"
        )
    o = card.output
    if (np.float32(o.scale), o.zero_point) != (tout.scale[0], int(tout.zero_point[0])):
        raise UserError(
            f"{where}: output scale/zero_point {o.scale:g}/{o.zero_point} disagree with {model.where()} "
            f"({float(tout.scale[0]):g}/{int(tout.zero_point[0])}); the card belongs to another model "
            "(or was edited): restore the card `train` wrote with this .tflite"
        )


def _parse(tp: Any, value: Any, where: str, name: str) -> Any:
    """`value` (from JSON) as type `tp`, or a UserError naming the field."""

    def bad(why: str) -> UserError:
        return UserError(f"{where}: field {name or '(top level)'}: {why}")

    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _parse(inner, value, where, name)
    if is_dataclass(tp):
        return _parse_dataclass(tp, value, where, name)
    if tp is Any:
        return value
    if origin is tuple:
        if not isinstance(value, list):
            raise bad(f"must be a list, got {json.dumps(value)}")
        return tuple(_parse(args[0], v, where, f"{name}[{k}]") for k, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise bad(f"must be an object, got {json.dumps(value)}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad(f"must be a number, got {json.dumps(value)}")
        if not math.isfinite(value):
            raise bad(f"must be finite, got {value}")
        return float(value)
    if tp in (int, str, bool):
        if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
            raise bad(
                f"must be {'an integer' if tp is int else 'a string' if tp is str else 'true or false'}, "
                f"got {json.dumps(value)}"
            )
        return value
    raise TypeError(f"card field {name}: unsupported type {tp}")


def _parse_dataclass(cls: type[T], value: Any, where: str, name: str) -> T:
    if not isinstance(value, dict):
        raise UserError(
            f"{where}: field {name or '(top level)'}: must be an object, got {json.dumps(value)[:40]}"
        )
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = [k for k in value if k not in known]
    if unknown:
        raise UserError(
            f"{where}: field {_join(name, unknown[0])}: unknown (a card holds {', '.join(sorted(known))})"
        )
    kwargs = {}
    for f in fields(cls):  # type: ignore[arg-type]
        sub = _join(name, f.name)
        if f.name not in value:
            if f.metadata.get("optional"):
                continue
            raise UserError(f"{where}: field {sub}: missing")
        kwargs[f.name] = _parse(hints[f.name], value[f.name], where, sub)
    return cls(**kwargs)


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _dump(obj: Any) -> Any:
    if is_dataclass(obj) and not isinstance(obj, type):
        out = {}
        for f in fields(obj):
            v = getattr(obj, f.name)
            if v is None and f.metadata.get("optional"):
                continue
            out[f.name] = _dump(v)
        return out
    if isinstance(obj, tuple | list):
        return [_dump(v) for v in obj]
    return obj
