"""Per-op constants of the native engine, computed as TFLite Micro's Prepare computes them.

Each builder takes one operator of the model and returns the calls of C kernels that
compute it, with what each kernel needs:
dimensions, requantisation multipliers and shifts (from `quant.quantize_multiplier`,
with TFLM's float32-versus-double choices, ../shared/docs/tflm-int8.md), activation
clamps, and weights rearranged for the kernel's loops. Zero-point terms that are
constant are folded into the bias here, so the device's inner loops are plain int8 dot
products. Nothing here runs on the device; generate.py turns these into C.

Which builder handles which op is the native op registry in engines.toml ([native.ops]),
read by `builders`; docs/adding-an-op.md says how to add one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np

from repcount.errors import UserError
from repcount.firmware import engines
from repcount.learn.quant import quantize_multiplier
from repcount.learn.tflite_model import Op, Tensor, TfliteModel

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
ACT_NONE, ACT_RELU, ACT_RELU_N1_TO_1, ACT_RELU6 = 0, 1, 2, 3


@dataclass
class Kernel:
    """One call of a C kernel: its parameter struct, constant arrays and tensor operands."""

    func: str  # C kernel, e.g. rc_conv
    struct: str  # its parameter type, e.g. rc_conv_t
    fields: dict[str, Any]  # scalar fields (ints) and array fields (names of `arrays`)
    arrays: dict[str, tuple[str, np.ndarray]] = field(default_factory=dict)  # key -> (C type, values)
    inputs: list[int] = field(default_factory=list)  # tensor indices read
    outputs: list[int] = field(default_factory=list)  # tensor indices written
    macs: int = 0
    window: int = 0  # bytes of the shared window buffer the kernel gathers into (rc_conv)
    tables: dict[str, int] = field(default_factory=dict)  # key -> bytes of a RAM table (int8)
    init: str = ""  # C function that fills the tables once, from rc_engine_init


def scale(t: Tensor) -> float:
    return float(t.scale[0]) if t.scale.size else 0.0


def zero_point(t: Tensor) -> int:
    return int(t.zero_point[0]) if t.zero_point.size else 0


def activation_range(act: int, out: Tensor) -> tuple[int, int]:
    """CalculateActivationRangeQuantized: clamps from the output's float32 scale."""
    s, zp = np.float32(scale(out)), zero_point(out)

    def q(f: float) -> int:
        v = np.float32(f) / s  # float32 division, then round half away from zero
        return zp + int(math.copysign(math.floor(abs(float(v)) + 0.5), float(v)))

    lo, hi = -128, 127
    if act == ACT_RELU:
        lo = max(lo, q(0.0))
    elif act == ACT_RELU6:
        lo, hi = max(lo, q(0.0)), min(hi, q(6.0))
    elif act == ACT_RELU_N1_TO_1:
        lo, hi = max(lo, q(-1.0)), min(hi, q(1.0))
    elif act != ACT_NONE:
        raise UserError(f"fused activation code {act} is not supported by the native engine")
    return lo, hi


def _same_or_valid(size: int, k: int, stride: int, dil: int, padding: int) -> tuple[int, int]:
    """(output size, leading pad) as TFLM's ComputePaddingHeightWidth."""
    eff = (k - 1) * dil + 1
    out = (size + stride - 1) // stride if padding == 0 else (size + stride - eff) // stride
    pad = max(0, ((out - 1) * stride + eff - size) // 2)
    return out, pad


def _dims4(t: Tensor) -> tuple[int, int, int, int]:
    if len(t.shape) != 4:
        raise UserError(f"tensor {t.name!r} has shape {list(t.shape)}; this op needs 4-D (N, H, W, C)")
    if t.shape[0] != 1:
        raise UserError(f"tensor {t.name!r} has batch {t.shape[0]}; the native engine needs batch 1")
    return t.shape  # type: ignore[return-value]


def _multipliers(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pairs = [quantize_multiplier(float(x)) for x in d]
    return np.array([m for m, _ in pairs], np.int32), np.array([s for _, s in pairs], np.int8)


def _bias(model: TfliteModel, op: Op, n: int) -> np.ndarray:
    if len(op.inputs) < 3 or op.inputs[2] < 0:
        return np.zeros(n, np.int64)
    b = model.tensors[op.inputs[2]]
    if b.data is None or b.dtype != "int32":
        raise UserError(f"op {op.index} ({op.name}): bias must be a constant int32 tensor")
    return b.data.astype(np.int64).reshape(n)


def _fold(bias: np.ndarray, wsum: np.ndarray, in_zp: int, op: Op) -> np.ndarray:
    """bias - zp_in * sum(w): the zero-point term hoisted out of the device's loops."""
    folded = bias - in_zp * wsum
    if folded.min() < INT32_MIN or folded.max() > INT32_MAX:
        raise UserError(f"op {op.index} ({op.name}): bias plus zero-point term overflows int32")
    return folded.astype(np.int32)


def _weights(model: TfliteModel, op: Op) -> Tensor:
    w = model.tensors[op.inputs[1]]
    if w.data is None or w.dtype != "int8":
        raise UserError(f"op {op.index} ({op.name}): weights must be a constant int8 tensor")
    if w.zero_point.size and np.any(w.zero_point != 0):
        raise UserError(f"op {op.index} ({op.name}): int8 weights must have zero point 0")
    return w


def conv(model: TfliteModel, op: Op) -> list[Kernel]:
    """CONV_2D: one dot product per output pixel and channel (rc_conv)."""
    return [_conv(model, op, depthwise=False)]


def depthwise_conv(model: TfliteModel, op: Op) -> list[Kernel]:
    """DEPTHWISE_CONV_2D: each output channel from its own input channel (rc_depthwise)."""
    return [_conv(model, op, depthwise=True)]


def _conv(model: TfliteModel, op: Op, depthwise: bool) -> Kernel:
    x, y = model.tensors[op.inputs[0]], model.tensors[op.outputs[0]]
    w = _weights(model, op)
    o = op.options
    _, ih, iw, ic = _dims4(x)
    _, oh, ow, oc = _dims4(y)
    if depthwise:
        _, kh, kw, _ = w.shape
        mult = oc // ic
        # [1, kh, kw, oc] -> [oc][kh][kw] so each output channel's taps are contiguous
        wdata = np.ascontiguousarray(w.data.reshape(kh * kw, oc).T)
        wsum = wdata.astype(np.int64).sum(axis=1)
        taps = kh * kw
    else:
        _, kh, kw, wic = w.shape
        if wic != ic:
            raise UserError(f"op {op.index} (CONV_2D): grouped convolution is not supported")
        mult = 1
        wdata = w.data
        wsum = wdata.astype(np.int64).reshape(oc, -1).sum(axis=1)
        taps = kh * kw * ic
    oh2, ph = _same_or_valid(ih, kh, o.strideH, o.dilationHFactor, o.padding)
    ow2, pw = _same_or_valid(iw, kw, o.strideW, o.dilationWFactor, o.padding)
    if (oh2, ow2) != (oh, ow):
        raise UserError(f"op {op.index} ({op.name}): output shape {y.shape} does not match its options")
    s_in, s_out = float(scale(x)), float(scale(y))
    ws = np.broadcast_to(w.scale.astype(np.float64), (oc,))
    m, s = _multipliers(s_in * ws / s_out)  # double products, per channel (PopulateConvolution...)
    in_zp = zero_point(x)
    lo, hi = activation_range(o.fusedActivationFunction, y)
    contiguous = int(kw == iw and o.dilationHFactor == 1 and o.dilationWFactor == 1)
    fields = dict(
        ih=ih, iw=iw, ic=ic, oh=oh, ow=ow, oc=oc, kh=kh, kw=kw, sh=o.strideH, sw=o.strideW,
        dh=o.dilationHFactor, dw=o.dilationWFactor, ph=ph, pw=pw, in_zp=in_zp, out_zp=zero_point(y),
        act_min=lo, act_max=hi,
    )
    bias = _fold(_bias(model, op, oc), wsum, in_zp, op)
    if depthwise:
        fields["mult"] = mult
        arrays = {"w": ("int8_t", wdata.reshape(-1)), "bias": ("int32_t", bias), "mult_q": ("int32_t", m),
                  "shift": ("int8_t", s)}
    else:
        span, arrays = _dot_arrays(wdata.reshape(oc, taps), bias, m, s)
        fields.update(span=span, row=iw * ic, in_bytes=x.size, contiguous=contiguous)
    return Kernel(
        func="rc_depthwise" if depthwise else "rc_conv",
        struct="rc_depthwise_t" if depthwise else "rc_conv_t",
        fields=fields,
        arrays=arrays,
        inputs=[op.inputs[0]],
        outputs=[op.outputs[0]],
        macs=oh * ow * oc * taps,
        window=0 if depthwise else span,
    )


def _dot_arrays(w: np.ndarray, bias: np.ndarray, m: np.ndarray, s: np.ndarray) -> tuple[int, dict]:
    """rc_conv's constants for weights [oc][taps]: (span, arrays), bias, multipliers and
    shifts run to a whole block of four channels."""
    oc, taps = w.shape
    blocks = -(-oc // 4) * 4
    return -(-taps // 4) * 4, {
        "w": ("int32_t", conv_weight_words(w)), "bias": ("int32_t", _pad(bias, blocks)),
        "mult": ("int32_t", _pad(m, blocks)), "shift": ("int8_t", _pad(s, blocks)),
    }


def _pad(values: np.ndarray, n: int) -> np.ndarray:
    """values followed by zeros up to n entries (the padding channels of a block of four)."""
    out = np.zeros(n, values.dtype)
    out[: values.size] = values
    return out


def conv_weight_words(w: np.ndarray) -> np.ndarray:
    """CONV_2D weights [oc][taps] laid out for rc_conv_block: blocks of four output channels, and in
    each block, per group of four taps t..t+3, per channel, the two int32 words
    (w[t] | w[t+2] << 16, w[t+1] | w[t+3] << 16): the int16 pairs SMLAD multiplies with the
    SXTB16-unpacked input word (bytes 0,2 and 1,3): the low half holds w[t] as 16 bits.
    Padding taps and channels are zero."""
    oc, taps = w.shape
    blocks, words = -(-oc // 4), -(-taps // 4)
    full = np.zeros((blocks * 4, words * 4), np.int64)
    full[:oc, :taps] = w
    t = full.reshape(blocks, 4, words, 4).transpose(0, 2, 1, 3)  # [block][word][channel][tap]
    pairs = (t[..., [0, 1]] & 0xFFFF) + 65536 * t[..., [2, 3]]  # [block][word][channel][2]
    return pairs.astype(np.int32).reshape(-1)


def fully_connected(model: TfliteModel, op: Op) -> list[Kernel]:
    """FULLY_CONNECTED runs as rc_conv: each batch row is a one-pixel window of depth taps,
    read in place, and each unit an output channel."""
    x, y = model.tensors[op.inputs[0]], model.tensors[op.outputs[0]]
    w = _weights(model, op)
    units, depth = w.shape
    if y.shape[-1] != units or x.size % depth or y.size != (x.size // depth) * units:
        raise UserError(f"op {op.index} (FULLY_CONNECTED): shapes {x.shape} x {w.shape} -> {y.shape} differ")
    batches = x.size // depth
    s_in, s_out = scale(x), scale(y)
    if w.scale.size > 1:  # per channel: double products
        m, s = _multipliers(s_in * w.scale.astype(np.float64) / s_out)
    else:  # per tensor: the product is taken in float32 first (GetQuantizedConvolutionMultipler)
        m, s = _multipliers(np.array([float(np.float32(s_in) * np.float32(w.scale[0])) / s_out]))
    in_zp = zero_point(x)
    wsum = w.data.astype(np.int64).sum(axis=1)
    lo, hi = activation_range(op.options.fusedActivationFunction, y)
    bias = _fold(_bias(model, op, units), wsum, in_zp, op)
    span, arrays = _dot_arrays(w.data.reshape(units, depth), bias, np.broadcast_to(m, (units,)),
                               np.broadcast_to(s, (units,)))
    return [Kernel(
        func="rc_conv",
        struct="rc_conv_t",
        fields=dict(ih=batches, iw=1, ic=depth, oh=batches, ow=1, oc=units, kh=1, kw=1, sh=1, sw=1, dh=1,
                    dw=1, ph=0, pw=0, in_zp=in_zp, out_zp=zero_point(y), act_min=lo, act_max=hi, span=span,
                    row=depth, in_bytes=x.size, contiguous=1),
        arrays=arrays,
        inputs=[op.inputs[0]],
        outputs=[op.outputs[0]],
        macs=batches * units * depth,
        window=span,
    )]


def pool(model: TfliteModel, op: Op) -> list[Kernel]:
    """MAX_POOL_2D / AVERAGE_POOL_2D over the in-bounds part of each window, as TFLM
    (rc_max_pool, rc_avg_pool)."""
    x, y = model.tensors[op.inputs[0]], model.tensors[op.outputs[0]]
    o = op.options
    _, ih, iw, c = _dims4(x)
    _, oh, ow, _ = _dims4(y)
    _, ph = _same_or_valid(ih, o.filterHeight, o.strideH, 1, o.padding)
    _, pw = _same_or_valid(iw, o.filterWidth, o.strideW, 1, o.padding)
    lo, hi = activation_range(o.fusedActivationFunction, y)
    return [Kernel(
        func="rc_max_pool" if op.name == "MAX_POOL_2D" else "rc_avg_pool",
        struct="rc_pool_t",
        fields=dict(ih=ih, iw=iw, c=c, oh=oh, ow=ow, fh=o.filterHeight, fw=o.filterWidth,
                    sh=o.strideH, sw=o.strideW, ph=ph, pw=pw, act_min=lo, act_max=hi),
        inputs=[op.inputs[0]],
        outputs=[op.outputs[0]],
    )]


def mean(model: TfliteModel, op: Op) -> list[Kernel]:
    """MEAN over adjacent axes as [outer, n, inner], with 1/n folded into the multiplier as
    TFLM folds it (rc_mean)."""
    x, y = model.tensors[op.inputs[0]], model.tensors[op.outputs[0]]
    axes_t = model.tensors[op.inputs[1]]
    if axes_t.data is None:
        raise UserError(f"op {op.index} (MEAN): the axes must be a constant tensor")
    rank = len(x.shape)
    axes = {int(a) % rank for a in np.atleast_1d(axes_t.data)}
    # view the input as [outer, reduced, inner]: only possible if the reduced axes (ignoring
    # size-1 dimensions) are contiguous
    big = [i for i, d in enumerate(x.shape) if d > 1]
    red = [i for i in big if i in axes]
    if red and any(i not in axes for i in big if red[0] < i < red[-1]):
        raise UserError(f"op {op.index} (MEAN): reducing non-adjacent axes {sorted(axes)} is not supported")
    n = int(np.prod([x.shape[i] for i in axes])) if axes else 1
    outer = int(np.prod([x.shape[i] for i in big if red and i < red[0]] or [1]))
    inner = x.size // (outer * n)
    m, s = quantize_multiplier(scale(x) / scale(y))
    k = min(n.bit_length() - 1, 32, 31 + s)  # TFLM folds 1/n into the multiplier
    m2 = (m << k) // n if m >= 0 else -((-m << k) // n)
    in_zp = zero_point(x)
    return [Kernel(
        func="rc_mean",
        struct="rc_mean_t",
        fields=dict(outer=outer, n=n, inner=inner, bias=-in_zp * n, mult=m2, shift=s - k,
                    out_zp=zero_point(y)),
        inputs=[op.inputs[0]],
        outputs=[op.outputs[0]],
    )]


def logistic(model: TfliteModel, op: Op) -> list[Kernel]:
    """LOGISTIC in Q4.27 with gemmlowp's fixed-point exp and 1/(1+x), through a 256-entry
    table filled at init (rc_logistic)."""
    x, y = model.tensors[op.inputs[0]], model.tensors[op.outputs[0]]
    if zero_point(y) != -128:
        raise UserError(f"op {op.index} (LOGISTIC): output zero point must be -128")
    q, e = math.frexp(scale(x) * float(1 << 27))  # input as Q4.27
    m = int(math.floor(q * 2**31 + 0.5))
    radius = math.floor(15.0 * float(1 << 27) / math.ldexp(1.0, e))
    return [Kernel(
        func="rc_logistic",
        struct="rc_logistic_t",
        fields=dict(n=x.size, in_zp=zero_point(x), radius=radius, mult=m, shift=e),
        inputs=[op.inputs[0]],
        outputs=[op.outputs[0]],
        tables={"table": 256},  # int8 has 256 values: computed once at init, looked up per element
        init="rc_logistic_init",
    )]


def softmax(model: TfliteModel, op: Op) -> list[Kernel]:
    """SOFTMAX over the last axis, exp of (x - max) in Q5.26 as TFLM's int8 reference (rc_softmax)."""
    x, y = model.tensors[op.inputs[0]], model.tensors[op.outputs[0]]
    if zero_point(y) != -128:
        raise UserError(f"op {op.index} (SOFTMAX): output zero point must be -128")
    beta = float(np.float32(op.options.beta)) if op.options is not None else 1.0
    real = min(beta * scale(x) * float(1 << 26), float(2**31 - 1))  # diff as Q5.26
    m, ls = quantize_multiplier(real)
    diff_min = -math.floor(31.0 * float(1 << 26) / math.ldexp(1.0, ls))
    depth = x.shape[-1]
    return [Kernel(
        func="rc_softmax",
        struct="rc_softmax_t",
        fields=dict(outer=x.size // depth, depth=depth, mult=m, shift=ls, diff_min=diff_min),
        inputs=[op.inputs[0]],
        outputs=[op.outputs[0]],
    )]


def add(model: TfliteModel, op: Op) -> list[Kernel]:
    """ADD of two same-shape operands rescaled with 20 bits of headroom, as TFLM (rc_add)."""
    a, b, y = (model.tensors[i] for i in (*op.inputs[:2], op.outputs[0]))
    if a.size != y.size or b.size != y.size:
        raise UserError(f"op {op.index} (ADD): broadcasting {a.shape} + {b.shape} is not supported")
    twice_max = 2.0 * float(max(np.float32(scale(a)), np.float32(scale(b))))
    m1, s1 = quantize_multiplier(scale(a) / twice_max)
    m2, s2 = quantize_multiplier(scale(b) / twice_max)
    mo, so = quantize_multiplier(twice_max / (float(1 << 20) * scale(y)))
    lo, hi = activation_range(op.options.fusedActivationFunction, y)
    return [Kernel(
        func="rc_add",
        struct="rc_add_t",
        fields=dict(n=y.size, zp1=zero_point(a), zp2=zero_point(b), m1=m1, s1=s1, m2=m2, s2=s2,
                    mo=mo, so=so, out_zp=zero_point(y), act_min=lo, act_max=hi),
        inputs=list(op.inputs[:2]),
        outputs=[op.outputs[0]],
    )]


def quantize(model: TfliteModel, op: Op) -> list[Kernel]:
    """QUANTIZE int8 -> int8: one requantisation per element (rc_requantize)."""
    x, y = model.tensors[op.inputs[0]], model.tensors[op.outputs[0]]
    if x.dtype != "int8" or y.dtype != "int8":
        raise UserError(f"op {op.index} (QUANTIZE): only int8 -> int8 is supported ({x.dtype} -> {y.dtype})")
    m, s = quantize_multiplier(scale(x) / scale(y))
    return [Kernel(
        func="rc_requantize",
        struct="rc_requantize_t",
        fields=dict(n=x.size, in_zp=zero_point(x), mult=m, shift=s, out_zp=zero_point(y)),
        inputs=[op.inputs[0]],
        outputs=[op.outputs[0]],
    )]


def pad(model: TfliteModel, op: Op) -> list[Kernel]:
    """PAD of an up-to-4-D input with the output zero point (rc_pad)."""
    x, y = model.tensors[op.inputs[0]], model.tensors[op.outputs[0]]
    p = model.tensors[op.inputs[1]]
    if p.data is None or len(x.shape) > 4:
        raise UserError(f"op {op.index} (PAD): paddings must be constant and the input at most 4-D")
    before = [0] * (4 - len(x.shape)) + [int(v) for v in p.data.reshape(-1, 2)[:, 0]]
    d = [1] * (4 - len(x.shape)) + list(x.shape)
    o = [1] * (4 - len(y.shape)) + list(y.shape)
    return [Kernel(
        func="rc_pad",
        struct="rc_pad_t",
        fields=dict(d0=d[0], d1=d[1], d2=d[2], d3=d[3], o1=o[1], o2=o[2], o3=o[3], out_size=y.size,
                    b0=before[0], b1=before[1], b2=before[2], b3=before[3], value=zero_point(y)),
        inputs=[op.inputs[0]],
        outputs=[op.outputs[0]],
    )]


def copy_blocks(model: TfliteModel, op: Op) -> list[Kernel]:
    """CONCATENATION (and a RESHAPE that must copy): block copies, no arithmetic."""
    y = model.tensors[op.outputs[0]]
    if op.name == "RESHAPE":
        parts, axis = [op.inputs[0]], 0
        outer, row = 1, y.size
    else:
        axis = op.options.axis % len(y.shape)
        parts = list(op.inputs)
        outer = int(np.prod(y.shape[:axis] or [1]))
        row = y.size // outer
        for i in parts:
            t = model.tensors[i]
            if scale(t) != scale(y) or zero_point(t) != zero_point(y):
                raise UserError(f"op {op.index} (CONCATENATION): inputs must share the output's quantisation")
    kernels, offset = [], 0
    for i in parts:
        chunk = model.tensors[i].size // outer
        kernels.append(Kernel(
            func="rc_copy_blocks",
            struct="rc_copy_t",
            fields=dict(outer=outer, chunk=chunk, stride=row, offset=offset),
            inputs=[i],
            outputs=[op.outputs[0]],
        ))
        offset += chunk
    return kernels


Builder = Callable[[TfliteModel, Op], list[Kernel]]


@cache
def builders() -> dict[str, Builder]:
    """The op registry (engines.toml [native.ops]) resolved to this module's builders.

    A name that is not a builder here is a mistake in engines.toml, reported as such
    rather than as a KeyError in the middle of a generation."""
    out: dict[str, Builder] = {}
    for op_name, func in engines.native_builders().items():
        build = globals().get(func)
        if not callable(build):
            raise UserError(f"engines.toml: [native.ops] {op_name} = {func!r}, but "
                            "repcount/firmware/native/ops.py has no function of that name")
        out[op_name] = build
    return out


def builder_of(model: TfliteModel, op: Op) -> Builder:
    """The builder of one operator; an op outside the registry is refused by name and index."""
    build = builders().get(op.name)
    if build is None:
        raise UserError(
            f"{model.where()}: operator #{op.index} is {op.name}, which the native engine does not "
            f"support (it supports {', '.join(builders())}); change the model so the converter "
            "does not emit it, or add the op to the engine (docs/adding-an-op.md)"
        )
    return build


def kernels_of(model: TfliteModel, op: Op) -> list[Kernel]:
    """The kernel calls that compute one operator."""
    return builder_of(model, op)(model, op)
