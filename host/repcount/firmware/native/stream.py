"""Streaming evaluation: each output of each layer computed once, across hops.

The pipeline runs the model on windows of `window` samples every `hop` samples and counts
only the output steps [take_start, take_start + take_count). Consecutive windows overlap,
so most of what a window computation produces was computed by the window before, or is
thrown away. When the model is a chain of time convolutions (CONV_2D over a one-column
input, each followed by any number of elementwise LOGISTIC/QUANTIZE, the graph ending in
RESHAPEs) and

- no padding reaches the counted outputs: the receptive field of every counted step, at
  every layer, lies inside that layer's input, so its value does not depend on where the
  window starts, and
- the hop is a whole number of steps at every layer (a multiple of each cumulative stride),
  so a step of layer l in window k is the step `t - hop / stride_l` of window k + 1,

then every counted score equals TFLM's window computation while each layer computes only
its new steps per hop (`hop / stride_l` of them). `plan` finds, per layer, the cone of steps
the counted outputs need (`lo`..`hi`) and the ring of steps the next layer's new steps read
(`cap`); rc_engine_native.c.j2 runs them (`rc_stream`). The engine checks that a window
continues the one before (its first window - hop samples equal the last ones of the
previous window, which it keeps) and otherwise recomputes the cone from the window alone,
so any sequence of windows gets exact results. Output steps outside the counted ones are
not computed: the engine writes the output zero point there.

A model that cannot stream is said so (`check`: the reason), and runs on windows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from repcount.firmware.native.ops import Kernel, kernels_of, zero_point
from repcount.learn.card import ModelCard
from repcount.learn.tflite_model import Op, TfliteModel

ELEMENTWISE = ("LOGISTIC", "QUANTIZE")


@dataclass(frozen=True)
class Geometry:
    """The pipeline's windows and counted slice (the model card's window, hop and counting)."""

    window: int
    hop: int
    take_start: int
    take_count: int

    @classmethod
    def of_card(cls, card: ModelCard) -> Geometry | None:
        """The geometry the firmware's pipeline runs a carded model with (None without counting)."""
        c = card.counting
        return None if c is None else cls(card.window, card.hop, c.take_start, c.take_count)


@dataclass
class Stage:
    """One time convolution and the elementwise ops applied in place to its new steps."""

    conv: Kernel
    post: list[Kernel]
    steps: int  # output steps in a window computation
    channels: int  # output channels: bytes per step
    stride: int
    pad: int  # leading padding of the window computation (only positions, never read)
    taps: int  # kernel height: input steps per output step
    shift: int  # steps per hop at this layer's output
    lo: int = 0  # the counted outputs' cone at this layer, window steps lo..hi
    hi: int = 0
    cap: int = 0  # steps the ring holds


@dataclass
class Plan:
    """How one model streams; `stages` in order, the last one's steps lo..hi are the output's."""

    geometry: Geometry
    in_channels: int
    stages: list[Stage] = field(default_factory=list)
    out_zp: int = 0
    output_len: int = 0

    @property
    def overlap_bytes(self) -> int:
        """Input bytes two consecutive windows share: what the engine compares."""
        g = self.geometry
        return (g.window - g.hop) * self.in_channels

    @property
    def state_bytes(self) -> int:
        """Bytes the engine keeps across inferences: the rings and the previous overlap."""
        return sum(ring_bytes(s) for s in self.stages) + self.overlap_bytes

    @property
    def macs(self) -> int:
        """Multiply-accumulates of one inference that continues the previous window."""
        return sum(min(s.shift, s.hi - s.lo + 1) * s.conv.macs // s.steps for s in self.stages)


class NotStreamable(Exception):
    """Why a model cannot stream exactly (the message is shown to the user)."""


def ring_bytes(stage: Stage) -> int:
    """A ring's bytes: its steps, and up to 3 more that the 4-byte loads of the last window may
    touch (they meet zero weights)."""
    return stage.cap * stage.channels + 3


def _chain(model: TfliteModel) -> list[Op]:
    """The ops as a chain: each reads the previous op's output (the first, the model's input)."""
    want = model.inputs[0]
    for op in model.ops:
        activations = [i for i in op.inputs if i >= 0 and model.tensors[i].data is None]
        if activations != [want]:
            raise NotStreamable(f"op {op.index} ({op.name}) does not read only the previous op's output")
        want = op.outputs[0]
    if want != model.outputs[0]:
        raise NotStreamable("the last op's output is not the model's output")
    return list(model.ops)


def _stage(model: TfliteModel, op: Op, in_channels: int) -> Stage:
    x, y = model.tensors[op.inputs[0]], model.tensors[op.outputs[0]]
    if len(x.shape) != 4 or x.shape[2] != 1 or y.shape[2] != 1 or x.shape[3] != in_channels:
        raise NotStreamable(f"op {op.index} (CONV_2D) is not a convolution over time (input {list(x.shape)})")
    (conv,) = kernels_of(model, op)
    f = conv.fields
    if f["dh"] != 1 or f["kw"] != 1:
        raise NotStreamable(f"op {op.index} (CONV_2D) has a dilated or two-dimensional kernel")
    return Stage(conv=conv, post=[], steps=f["oh"], channels=f["oc"], stride=f["sh"], pad=f["ph"],
                 taps=f["kh"], shift=0)


def _stages(model: TfliteModel) -> tuple[list[Stage], int]:
    """The stages of a chain, and the steps of its output (the last stage's)."""
    stages: list[Stage] = []
    x = model.tensors[model.inputs[0]]
    channels = x.shape[-1] if len(x.shape) == 4 else 0
    reshaped = False
    for op in _chain(model):
        if op.name == "RESHAPE":
            reshaped = True
            continue
        if reshaped:
            raise NotStreamable(f"op {op.index} ({op.name}) follows a RESHAPE")
        if op.name == "CONV_2D":
            stages.append(_stage(model, op, channels))
            channels = stages[-1].channels
        elif op.name in ELEMENTWISE and stages:
            stages[-1].post.extend(kernels_of(model, op))
        else:
            raise NotStreamable(f"op {op.index} ({op.name}) is not a time convolution "
                                "or an elementwise op after one")
    if not stages:
        raise NotStreamable("the model has no convolution")
    return stages, stages[-1].steps


def plan(model: TfliteModel, geometry: Geometry) -> Plan:
    """The streaming plan of a model for these windows; NotStreamable says why there is none."""
    g = geometry
    x, y = model.tensors[model.inputs[0]], model.tensors[model.outputs[0]]
    if len(x.shape) != 4 or x.shape[1] != g.window:
        raise NotStreamable(f"the model's input {list(x.shape)} is not a window of {g.window} steps")
    if not 0 < g.hop < g.window:
        raise NotStreamable(f"hop {g.hop} does not make overlapping windows of {g.window}")
    stages, steps = _stages(model)
    channels = stages[-1].channels
    if y.size != steps * channels:
        raise NotStreamable(f"the output {list(y.shape)} is not the last convolution's {steps} steps")
    if g.take_count < 1 or g.take_start < 0 or g.take_start + g.take_count > y.size:
        raise NotStreamable(f"the counted slice {g.take_start}+{g.take_count} is not inside the output")
    stride = 1
    for k, s in enumerate(stages):
        stride *= s.stride
        if g.hop % stride:
            raise NotStreamable(f"hop {g.hop} is not a multiple of layer {k + 1}'s total stride {stride}: "
                                "its steps do not align across hops")
        s.shift = g.hop // stride
    lo, hi = g.take_start // channels, (g.take_start + g.take_count - 1) // channels
    for k in range(len(stages) - 1, -1, -1):
        s = stages[k]
        s.lo, s.hi = lo, hi
        lo, hi = lo * s.stride - s.pad, hi * s.stride - s.pad + s.taps - 1
        size = stages[k - 1].steps if k else g.window
        if lo < 0 or hi >= size:
            raise NotStreamable(f"padding reaches the counted outputs: layer {k + 1} needs input steps "
                                f"{lo}..{hi} of 0..{size - 1}")
    for k, s in enumerate(stages):
        n = s.hi - s.lo + 1
        if k + 1 < len(stages):
            nxt = stages[k + 1]
            new = min(nxt.shift, nxt.hi - nxt.lo + 1)
            s.cap = min(n, nxt.stride * (new - 1) + nxt.taps)
        else:
            s.cap = n
    return Plan(geometry=g, in_channels=x.shape[-1], stages=stages, out_zp=zero_point(y), output_len=y.size)


def check(model: TfliteModel, geometry: Geometry) -> str | None:
    """None if the model streams exactly for these windows, else why it runs on windows."""
    try:
        plan(model, geometry)
    except NotStreamable as exc:
        return str(exc)
    return None
