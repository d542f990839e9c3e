"""The `native` engine: dependency-free C99 generated from an int8 .tflite, bit-exact with TFLM.

No interpreter, no heap, no floating point on the device: every scale becomes an integer
multiplier and shift at generation time (ops.py), weights and constants are `const`
(flash), and the activations live in one static arena whose offsets are planned here from
the tensors' lifetimes (greedy by size, like TFLM's planner). The model's input is read in
place from the caller's buffer and its output written straight into the caller's buffer,
so neither occupies the arena; a RESHAPE is a rename, not a copy, where it can be.

    from repcount.firmware.native import generate as native
    from repcount.learn import tflite_model
    model = tflite_model.read("models/jump-rope/model.tflite")
    native.generate(model, Path("build/fw"))   # -> [build/fw/rc_engine_native.c]
    native.macs(model)                         # multiply-accumulates per inference

Given the pipeline's windows (`stream.Geometry`: window, hop and the counted slice), a
model that can streams instead (stream.py): each layer computes only its new steps per
hop into rings, the counted outputs bit-exact with the window computation;
`streaming(model, geometry)` says whether it does, or why not.

The ops it supports, the builder of ops.py that computes each and the C helpers each
kernel needs are the native op registry in engines.toml (docs/adding-an-op.md). The C
kernels are Jinja templates in firmware_templates/engines/native/; the arithmetic
follows TFLM's reference kernels (../shared/docs/tflm-int8.md) and is checked byte for
byte against the `tflite_micro` runtime by tests/test_native_bitexact.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from repcount.errors import UserError
from repcount.firmware import engines
from repcount.firmware.native import stream
from repcount.firmware.native.ops import Kernel, builder_of, kernels_of
from repcount.firmware.templates import render_to
from repcount.learn.tflite_model import TfliteModel

ALIGN = 4  # arena offsets are word aligned


@dataclass
class ArenaPlan:
    """Where each activation tensor lives: a C pointer expression per tensor index."""

    where: dict[int, str]
    offsets: dict[int, int]  # arena tensors (roots) -> byte offset
    arena_bytes: int
    aliases: dict[int, int] = field(default_factory=dict)  # reshape output -> tensor it renames


def _check(model: TfliteModel) -> None:
    for op in model.ops:
        builder_of(model, op)  # refuses an op outside the registry, by name and index
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise UserError(f"{model.where()}: the native engine needs one input and one output tensor, "
                        f"found {len(model.inputs)} and {len(model.outputs)}")
    for op in model.ops:
        # the activations: whatever is computed, and every input not stored in the model
        activations = [i for i in op.inputs if i >= 0 and model.tensors[i].data is None]
        _check_int8(model, op.index, op.name, [*activations, *op.outputs])
    if model.inputs[0] == model.outputs[0]:
        raise UserError(f"{model.where()}: the model's output is its input; there is nothing to run")


def _check_int8(model: TfliteModel, index: int, name: str, tensors: list[int]) -> None:
    """Every tensor a kernel reads or writes as data is int8 (its constants have their own
    checks in ops.py, e.g. int32 biases)."""
    for i in tensors:
        t = model.tensors[i]
        if t.dtype != "int8":
            raise UserError(
                f"{model.where()}: op {index} ({name}) uses {t.dtype} tensor {t.name!r}; "
                "the native engine runs int8 models only (export the model full-integer)"
            )


def _aliases(model: TfliteModel) -> dict[int, int]:
    """RESHAPE outputs that can share their input's bytes (not the graph's output)."""
    out: dict[int, int] = {}
    for op in model.ops:
        if op.name == "RESHAPE" and op.outputs[0] != model.outputs[0]:
            src = op.inputs[0]
            if model.tensors[src].data is None:
                out[op.outputs[0]] = out.get(src, src)
    return out


def plan_arena(model: TfliteModel) -> ArenaPlan:
    """Greedy placement of every intermediate tensor by first-to-last use (largest first)."""
    aliases = _aliases(model)
    gin, gout = model.inputs[0], model.outputs[0]
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for k, op in enumerate(model.ops):
        if op.name == "RESHAPE" and op.outputs[0] in aliases:
            continue
        for i in op.inputs:
            if i >= 0 and model.tensors[i].data is None:
                r = aliases.get(i, i)
                last[r] = k
        for i in op.outputs:
            r = aliases.get(i, i)
            first.setdefault(r, k)
            last[r] = max(last.get(r, k), k)
    roots = [r for r in first if r not in (gin, gout)]
    roots.sort(key=lambda r: (-model.tensors[r].nbytes, first[r]))
    offsets: dict[int, int] = {}
    for r in roots:
        size = model.tensors[r].nbytes
        busy = sorted(
            (offsets[p], offsets[p] + model.tensors[p].nbytes)
            for p in offsets
            if not (last[p] < first[r] or last[r] < first[p])
        )
        at = 0
        for lo, hi in busy:
            if at + size <= lo:
                break
            at = max(at, -(-hi // ALIGN) * ALIGN)
        offsets[r] = at
    arena = max((offsets[r] + model.tensors[r].nbytes for r in offsets), default=0)
    where: dict[int, str] = {}
    for t in model.tensors:
        r = aliases.get(t.index, t.index)
        if t.data is not None:
            where[t.index] = f"rc_t{t.index}"
        elif r == gin:
            where[t.index] = "input"
        elif r == gout:
            where[t.index] = "output"
        elif r in offsets:
            where[t.index] = f"rc_arena + {offsets[r]}"
    return ArenaPlan(where=where, offsets=offsets, arena_bytes=arena, aliases=aliases)


def _c_values(values: np.ndarray, per_line: int = 16) -> list[str]:
    flat = [str(int(v)) for v in np.asarray(values).reshape(-1)]
    return [", ".join(flat[i : i + per_line]) for i in range(0, len(flat), per_line)] or ["0"]


def _kernels(model: TfliteModel, plan: ArenaPlan) -> list[Kernel]:
    """Every kernel call of the model in order (a RESHAPE the plan renames needs none).

    A constant operand a kernel reads as data (ADD's, CONCATENATION's) must be int8 too,
    and every kernel must have its entry in engines.toml [native.kernels], which says what
    C helpers to emit for it."""
    helpers = engines.native_kernel_helpers()
    out = []
    for op in model.ops:
        if op.name == "RESHAPE" and op.outputs[0] in plan.aliases:
            continue
        for k in kernels_of(model, op):
            if k.func not in helpers:
                raise UserError(f"engines.toml: C kernel {k.func} (built for {op.name}) has no entry in "
                                "[native.kernels] naming the helpers it calls")
            _check_int8(model, op.index, op.name, [*k.inputs, *k.outputs])
            out.append(k)
    return out


def _fixed_point_constants() -> dict[str, int]:
    """gemmlowp's constants, from their definitions: exp(-1/8), 1/3, exp(-2^k), 48/17, -32/17."""

    def q(x: float, frac: int = 31) -> int:
        return int(round(x * 2**frac))

    c = {"exp_m1_8": q(math.exp(-1 / 8)), "one_third": q(1 / 3), "c48_17": q(48 / 17, 29),
         "cm32_17": q(-32 / 17, 29)}
    for k in range(-2, 5):
        c[f"exp_m2p{k + 2}"] = q(math.exp(-(2.0**k)))
    return c


def _calls(model: TfliteModel, kernels: list[Kernel], plan: ArenaPlan | None) -> tuple[list, list, list]:
    """(consts, tables, calls) of the kernels: each call's struct rc_pJ with its constant
    arrays and RAM tables, and its tensor arguments where the arena plan put them (none
    when streaming: the stream's rings are its operands)."""
    consts = []
    used_consts = sorted({i for k in kernels for i in k.inputs if model.tensors[i].data is not None})
    for i in used_consts:
        consts.append(dict(ctype="int8_t", name=f"rc_t{i}", rows=_c_values(model.tensors[i].data)))
    calls, tables = [], []
    for j, k in enumerate(kernels):
        fields = {key: str(int(v)) for key, v in k.fields.items()}
        for key, (ctype, values) in k.arrays.items():
            name = f"rc_k{j}_{key}"
            consts.append(dict(ctype=ctype, name=name, rows=_c_values(values)))
            fields[key] = name
        for key, size in k.tables.items():
            fields[key] = f"rc_k{j}_{key}"
            tables.append(dict(name=fields[key], size=size))
        args = [] if plan is None else [plan.where[i] for i in (*k.inputs, *k.outputs)]
        calls.append(dict(func=k.func, struct=k.struct, name=f"rc_p{j}", fields=fields, init=k.init,
                          args=args))
    return consts, tables, calls


def _stream_context(p: stream.Plan) -> dict:
    """The stream's stages for the template: which rc_pJ each runs, and their geometry."""
    stages, j = [], 0
    for s in p.stages:
        post = [dict(func=f"{k.func}_n", name=f"rc_p{j + 1 + i}") for i, k in enumerate(s.post)]
        stages.append(dict(conv=f"rc_p{j}", post=post, bytes=stream.ring_bytes(s), stride=s.stride, pad=s.pad,
                           taps=s.taps, shift=s.shift, lo=s.lo, hi=s.hi, cap=s.cap, row=s.channels))
        j += 1 + len(s.post)
    last = p.stages[-1]
    return dict(window=p.geometry.window, hop=p.geometry.hop, in_row=p.in_channels, overlap=p.overlap_bytes,
                stages=stages, out_zp=p.out_zp, out_begin=last.lo * last.channels,
                out_end=(last.hi + 1) * last.channels)


def streaming(model: TfliteModel, geometry: stream.Geometry) -> tuple[bool, str]:
    """(True, what it saves) if the engine streams for these windows, else (False, why not)."""
    _check(model)
    try:
        p = stream.plan(model, geometry)
    except stream.NotStreamable as exc:
        return False, f"runs on whole windows: {exc}"
    window = macs(model)
    return True, f"computes each layer's new steps only: {p.macs:,} of {window:,} MACs per inference"


def context(model: TfliteModel, geometry: stream.Geometry | None = None) -> dict:
    """Everything the native engine's templates need, from the model alone, or streaming
    for these windows if the model can (stream.py; otherwise whole windows)."""
    _check(model)
    p: stream.Plan | None = None
    if geometry is not None:
        try:
            p = stream.plan(model, geometry)
        except stream.NotStreamable:
            p = None
    if p is None:
        arena = plan_arena(model)
        kernels = _kernels(model, arena)
        consts, tables, calls = _calls(model, kernels, arena)
        arena_bytes, window = arena.arena_bytes, max((k.window for k in kernels), default=0)
        extra: set[str] = set()
    else:
        kernels = [k for s in p.stages for k in (s.conv, *s.post)]
        consts, tables, calls = _calls(model, kernels, None)
        arena_bytes, window, extra = p.state_bytes, p.stages[0].conv.window, {"copy"}
    helpers = engines.native_kernel_helpers()
    gin, gout = model.tensors[model.inputs[0]], model.tensors[model.outputs[0]]
    return dict(
        model_hash=model.model_hash,
        input_len=gin.size,
        output_len=gout.size,
        arena_bytes=arena_bytes,
        window_bytes=window,
        kernels=sorted({k.func for k in kernels}),
        helpers=sorted({h for k in kernels for h in helpers[k.func]} | extra),
        consts=consts,
        tables=tables,
        calls=calls,
        macs=sum(k.macs for k in kernels) if p is None else p.macs,
        fx=_fixed_point_constants(),
        stream=None if p is None else _stream_context(p),
    )


def generate(model: TfliteModel, out_dir: Path, geometry: stream.Geometry | None = None) -> list[Path]:
    """Write rc_engine_native.c (implements core/rc_engine.h) into out_dir; return the files.
    With the pipeline's geometry the engine streams when the model can (`streaming`)."""
    ctx = context(model, geometry)
    return [render_to("engines/native/rc_engine_native.c.j2", ctx, Path(out_dir) / "rc_engine_native.c")]


def macs(model: TfliteModel) -> int:
    """Multiply-accumulates per inference of CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED
    (every kernel tap, padding included: what the device's loops execute)."""
    _check(model)
    plan = plan_arena(model)
    return sum(k.macs for k in _kernels(model, plan))


def arena_bytes(model: TfliteModel) -> int:
    """Bytes of the native engine's static arena for this model."""
    _check(model)
    return plan_arena(model).arena_bytes
