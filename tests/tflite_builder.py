"""Write random int8 .tflite models directly with the flatbuffer schema's object API.

Converting with TensorFlow takes seconds per model; packing a `ModelT` takes a
millisecond, and it lets the bit-exactness tests reach what a converter rarely emits:
random stacks of every op the native engine supports, odd shapes, strides, dilations,
padding modes, per-tensor and per-channel weights, fused activations, constant operands.
Each model has one int8 input and one int8 output, like the firmware's models.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import flatbuffers
import numpy as np
from repcount.learn.tflite_model import schema

INT8, INT32 = 9, 2
ACTIVATIONS = (0, 1, 2, 3)  # NONE, RELU, RELU_N1_TO_1, RELU6

# Every op the native engine supports -> (the RandomModel method that appends one, its
# weight among the random choices, whether it needs a 4-D input). tests/test_native.py
# checks that this covers the engine's op registry (engines.toml [native.ops]), and the
# bit-exact test that the random models exercise every op in it.
GENERATORS: dict[str, tuple[str, int, bool]] = {
    "FULLY_CONNECTED": ("fc", 1, False),
    "LOGISTIC": ("logistic", 1, False),
    "SOFTMAX": ("softmax", 1, False),
    "QUANTIZE": ("quantize", 1, False),
    "RESHAPE": ("reshape", 1, False),
    "ADD": ("add", 1, False),
    "CONCATENATION": ("concat", 1, False),
    "CONV_2D": ("conv", 3, True),
    "DEPTHWISE_CONV_2D": ("depthwise", 2, True),
    "MAX_POOL_2D": ("maxpool", 1, True),
    "AVERAGE_POOL_2D": ("avgpool", 1, True),
    "MEAN": ("mean", 1, True),
    "PAD": ("pad", 1, True),
}


@dataclass
class Act:
    """An activation tensor being built: its index, shape and quantisation."""

    index: int
    shape: tuple[int, ...]
    scale: float
    zp: int


class ModelBuilder:
    """Accumulates tensors, buffers and operators; `finish` packs the flatbuffer."""

    def __init__(self) -> None:
        self.s = schema()
        self.tensors: list = []
        self.buffers: list = [self.s.BufferT()]  # buffer 0: the empty sentinel
        self.operators: list = []
        self.opcodes: dict[int, int] = {}

    def tensor(self, shape, dtype: int, scale=None, zp=None, qdim: int = 0, data=None) -> int:
        t = self.s.TensorT()
        t.shape = list(shape)
        t.type = dtype
        t.name = f"t{len(self.tensors)}"
        t.buffer = 0
        if data is not None:
            b = self.s.BufferT()
            b.data = np.ascontiguousarray(data).tobytes()
            self.buffers.append(b)
            t.buffer = len(self.buffers) - 1
        if scale is not None:
            q = self.s.QuantizationParametersT()
            q.scale = [float(x) for x in np.atleast_1d(scale)]
            q.zeroPoint = [int(x) for x in np.atleast_1d(zp if zp is not None else 0)]
            q.quantizedDimension = qdim
            t.quantization = q
        self.tensors.append(t)
        return len(self.tensors) - 1

    def act(self, shape, scale: float, zp: int) -> Act:
        s32 = np.float32(scale)
        return Act(self.tensor(shape, INT8, s32, zp), tuple(shape), float(s32), zp)

    def op(self, name: str, inputs: list[int], outputs: list[int], options=None,
           options_type: str = "") -> None:
        code = getattr(self.s.BuiltinOperator, name)
        if code not in self.opcodes:
            self.opcodes[code] = len(self.opcodes)
        o = self.s.OperatorT()
        o.opcodeIndex = self.opcodes[code]
        o.inputs = inputs
        o.outputs = outputs
        if options is not None:
            o.builtinOptionsType = getattr(self.s.BuiltinOptions, options_type)
            o.builtinOptions = options
        self.operators.append(o)

    def finish(self, inputs: list[int], outputs: list[int]) -> bytes:
        s = self.s
        g = s.SubGraphT()
        g.tensors, g.inputs, g.outputs, g.operators = self.tensors, inputs, outputs, self.operators
        g.name = "main"
        m = s.ModelT()
        m.version = 3
        m.subgraphs = [g]
        m.buffers = self.buffers
        m.description = "repcount random test model"
        codes = []
        for code, _ in sorted(self.opcodes.items(), key=lambda kv: kv[1]):
            c = s.OperatorCodeT()
            c.builtinCode = code
            c.deprecatedBuiltinCode = min(code, 127)
            c.version = 1
            codes.append(c)
        m.operatorCodes = codes
        b = flatbuffers.Builder(1024)
        b.Finish(m.Pack(b), file_identifier=b"TFL3")
        return bytes(b.Output())


class RandomModel:
    """One random model: a chain of ops from a random input, with occasional branches."""

    def __init__(self, rng: np.random.Generator, max_ops: int = 5) -> None:
        self.rng = rng
        self.b = ModelBuilder()
        self.max_ops = max_ops

    # --- random quantities -------------------------------------------------------------
    def scale(self, lo: float = 0.004, hi: float = 0.2) -> float:
        return float(np.exp(self.rng.uniform(math.log(lo), math.log(hi))))

    def zp(self) -> int:
        return int(self.rng.integers(-110, 111))

    def activation(self) -> int:
        return int(self.rng.choice(ACTIVATIONS, p=[0.5, 0.3, 0.05, 0.15]))

    def padding(self) -> int:
        return int(self.rng.integers(0, 2))  # SAME=0, VALID=1

    # --- the graph ---------------------------------------------------------------------
    def build(self) -> bytes:
        rng = self.rng
        h = int(rng.integers(1, 25))
        w = int(rng.choice([1, 1, 1, 2, 3, 5]))
        c = int(rng.integers(1, 7))
        x = self.b.act((1, h, w, c), self.scale(0.01, 0.1), self.zp())
        first = x
        n_ops = int(rng.integers(1, self.max_ops + 1))
        for _ in range(n_ops):
            x = self.step(x)
        if x.index == first.index:
            x = self.quantize(x)
        return self.b.finish([first.index], [x.index])

    def step(self, x: Act) -> Act:
        """Append one random op of GENERATORS that x's rank allows."""
        four_d = len(x.shape) == 4
        choices = [method for method, weight, needs_4d in GENERATORS.values() if four_d or not needs_4d
                   for _ in range(weight)]
        kind = str(self.rng.choice(choices))
        return getattr(self, kind)(x)

    def conv_out(self, size: int, k: int, stride: int, dil: int, padding: int) -> int:
        eff = (k - 1) * dil + 1
        return -(-size // stride) if padding == 0 else (size - eff + stride) // stride

    def window(self, x: Act, dilate: bool) -> tuple[int, ...] | None:
        """Random kernel, stride, dilation and padding giving a non-empty output."""
        rng = self.rng
        _, h, w, _ = x.shape
        for _ in range(10):
            kh, kw = int(rng.integers(1, min(h, 6) + 1)), int(rng.integers(1, min(w, 3) + 1))
            sh, sw = int(rng.choice([1, 1, 2, 3])), int(rng.choice([1, 1, 2]))
            dh = int(rng.choice([1, 1, 2])) if dilate and sh == 1 else 1
            dw = int(rng.choice([1, 2])) if dilate and sw == 1 and kw > 1 else 1
            pad = self.padding()
            oh, ow = self.conv_out(h, kh, sh, dh, pad), self.conv_out(w, kw, sw, dw, pad)
            if oh > 0 and ow > 0:
                return kh, kw, sh, sw, dh, dw, pad, oh, ow
        return None

    def weights(self, shape, per_channel: bool, axis: int) -> tuple[np.ndarray, np.ndarray]:
        w = self.rng.integers(-127, 128, size=shape).astype(np.int8)
        n = shape[axis] if per_channel else 1
        scales = np.array([self.scale(0.001, 0.05) for _ in range(n)], np.float32)
        return w, scales

    def out_scale(self, x: Act, w_scale: float, taps: int) -> float:
        """An output scale that keeps most accumulators inside int8 after requantisation."""
        spread = 70.0 * 73.0 * math.sqrt(max(taps, 1)) * x.scale * w_scale
        return float(spread / 45.0 * math.exp(self.rng.uniform(-0.7, 0.7)))

    def bias(self, x: Act, w_scales: np.ndarray, n: int) -> int:
        bscale = (np.float32(x.scale) * np.broadcast_to(w_scales, (n,))).astype(np.float32)
        data = self.rng.integers(-3000, 3001, size=n).astype(np.int32)
        return self.b.tensor((n,), INT32, bscale, np.zeros(n, np.int64), 0, data)

    def conv(self, x: Act) -> Act:
        win = self.window(x, dilate=True)
        if win is None:
            return self.quantize(x)
        kh, kw, sh, sw, dh, dw, pad, oh, ow = win
        ic = x.shape[3]
        oc = int(self.rng.integers(1, 9))
        per_channel = bool(self.rng.integers(0, 2))
        w, ws = self.weights((oc, kh, kw, ic), per_channel, 0)
        wt = self.b.tensor(w.shape, INT8, ws, np.zeros(len(ws), np.int64), 0, w)
        bt = self.bias(x, ws, oc)
        y = self.b.act((1, oh, ow, oc), self.out_scale(x, float(np.median(ws)), kh * kw * ic), self.zp())
        o = self.b.s.Conv2DOptionsT()
        o.padding, o.strideH, o.strideW = pad, sh, sw
        o.dilationHFactor, o.dilationWFactor = dh, dw
        o.fusedActivationFunction = self.activation()
        self.b.op("CONV_2D", [x.index, wt, bt], [y.index], o, "Conv2DOptions")
        return y

    def depthwise(self, x: Act) -> Act:
        win = self.window(x, dilate=True)
        if win is None:
            return self.quantize(x)
        kh, kw, sh, sw, dh, dw, pad, oh, ow = win
        ic = x.shape[3]
        mult = int(self.rng.choice([1, 1, 2, 3]))
        oc = ic * mult
        per_channel = bool(self.rng.integers(0, 2))
        w, ws = self.weights((1, kh, kw, oc), per_channel, 3)
        wt = self.b.tensor(w.shape, INT8, ws, np.zeros(len(ws), np.int64), 3, w)
        bt = self.bias(x, ws, oc)
        y = self.b.act((1, oh, ow, oc), self.out_scale(x, float(np.median(ws)), kh * kw), self.zp())
        o = self.b.s.DepthwiseConv2DOptionsT()
        o.padding, o.strideH, o.strideW, o.depthMultiplier = pad, sh, sw, mult
        o.dilationHFactor, o.dilationWFactor = dh, dw
        o.fusedActivationFunction = self.activation()
        self.b.op("DEPTHWISE_CONV_2D", [x.index, wt, bt], [y.index], o, "DepthwiseConv2DOptions")
        return y

    def fc(self, x: Act) -> Act:
        size = int(np.prod(x.shape))
        # either the whole tensor is one row, or each row of the last dimension is a batch
        depth = size if self.rng.integers(0, 2) or len(x.shape) < 2 else x.shape[-1]
        batches = size // depth
        units = int(self.rng.integers(1, 17))
        per_channel = bool(self.rng.integers(0, 4) == 0)
        w, ws = self.weights((units, depth), per_channel, 0)
        wt = self.b.tensor(w.shape, INT8, ws, np.zeros(len(ws), np.int64), 0, w)
        bt = self.bias(x, ws, units) if self.rng.integers(0, 4) else -1
        y = self.b.act((batches, units), self.out_scale(x, float(np.median(ws)), depth), self.zp())
        o = self.b.s.FullyConnectedOptionsT()
        o.fusedActivationFunction = self.activation()
        self.b.op("FULLY_CONNECTED", [x.index, wt, bt], [y.index], o, "FullyConnectedOptions")
        return y

    def pool(self, x: Act, name: str) -> Act:
        win = self.window(x, dilate=False)
        if win is None:
            return self.quantize(x)
        kh, kw, sh, sw, _, _, pad, oh, ow = win
        y = self.b.act((1, oh, ow, x.shape[3]), x.scale, x.zp)
        o = self.b.s.Pool2DOptionsT()
        o.padding, o.strideH, o.strideW, o.filterHeight, o.filterWidth = pad, sh, sw, kh, kw
        o.fusedActivationFunction = self.activation()
        self.b.op(name, [x.index], [y.index], o, "Pool2DOptions")
        return y

    def maxpool(self, x: Act) -> Act:
        return self.pool(x, "MAX_POOL_2D")

    def avgpool(self, x: Act) -> Act:
        return self.pool(x, "AVERAGE_POOL_2D")

    def mean(self, x: Act) -> Act:
        axes = [[1, 2], [1], [2], [2, 1], [-3]][int(self.rng.integers(0, 5))]
        keep = bool(self.rng.integers(0, 2))
        reduced = {a % 4 for a in axes}
        shape = tuple((1 if i in reduced else d) for i, d in enumerate(x.shape) if keep or i not in reduced)
        same = self.rng.integers(0, 3) == 0
        y = self.b.act(shape, x.scale if same else self.scale(0.005, 0.1), x.zp if same else self.zp())
        at = self.b.tensor((len(axes),), INT32, data=np.array(axes, np.int32))
        o = self.b.s.ReducerOptionsT()
        o.keepDims = keep
        self.b.op("MEAN", [x.index, at], [y.index], o, "ReducerOptions")
        return y

    def logistic(self, x: Act) -> Act:
        y = self.b.act(x.shape, 1.0 / 256.0, -128)
        self.b.op("LOGISTIC", [x.index], [y.index])
        return y

    def softmax(self, x: Act) -> Act:
        y = self.b.act(x.shape, 1.0 / 256.0, -128)
        o = self.b.s.SoftmaxOptionsT()
        o.beta = float(self.rng.choice([1.0, 1.0, 0.5, 2.0]))
        self.b.op("SOFTMAX", [x.index], [y.index], o, "SoftmaxOptions")
        return y

    def quantize(self, x: Act) -> Act:
        y = self.b.act(x.shape, self.scale(), self.zp())
        self.b.op("QUANTIZE", [x.index], [y.index])
        return y

    def reshape(self, x: Act) -> Act:
        size = int(np.prod(x.shape))
        if len(x.shape) == 4 and self.rng.integers(0, 2):
            _, h, w, c = x.shape
            shape = (1, h * w, 1, c)
        else:
            shape = (1, size)
        st = self.b.tensor((len(shape),), INT32, data=np.array(shape, np.int32))
        y = self.b.act(shape, x.scale, x.zp)
        o = self.b.s.ReshapeOptionsT()
        o.newShape = list(shape)
        self.b.op("RESHAPE", [x.index, st], [y.index], o, "ReshapeOptions")
        return y

    def same_shape_branch(self, x: Act, same_quant: bool) -> int:
        """A second operand of x's shape: a constant, or x through another op."""
        kind = int(self.rng.integers(0, 3))
        if kind == 0:
            data = self.rng.integers(-128, 128, size=x.shape).astype(np.int8)
            scale, zp = (x.scale, x.zp) if same_quant else (self.scale(), self.zp())
            return self.b.tensor(x.shape, INT8, np.float32(scale), zp, 0, data)
        if kind == 1 and len(x.shape) == 4:
            y = self.b.act(x.shape, x.scale, x.zp)
            o = self.b.s.Pool2DOptionsT()
            o.padding, o.strideH, o.strideW = 0, 1, 1
            o.filterHeight, o.filterWidth = int(self.rng.integers(1, 4)), 1
            self.b.op("MAX_POOL_2D", [x.index], [y.index], o, "Pool2DOptions")
            return y.index
        if same_quant:
            return x.index
        return self.quantize(x).index

    def add(self, x: Act) -> Act:
        other = self.same_shape_branch(x, same_quant=False)
        y = self.b.act(x.shape, self.scale(), self.zp())
        o = self.b.s.AddOptionsT()
        o.fusedActivationFunction = self.activation()
        operands = [x.index, other] if self.rng.integers(0, 2) else [other, x.index]
        self.b.op("ADD", operands, [y.index], o, "AddOptions")
        return y

    def concat(self, x: Act) -> Act:
        axis = int(self.rng.integers(-1, len(x.shape)))
        if len(x.shape) > 1 and axis == 0:
            axis = 1
        others = [self.same_shape_branch(x, same_quant=True) for _ in range(int(self.rng.integers(1, 3)))]
        operands = [x.index, *others]
        self.rng.shuffle(operands)
        shape = list(x.shape)
        shape[axis] *= len(operands)
        y = self.b.act(tuple(shape), x.scale, x.zp)
        o = self.b.s.ConcatenationOptionsT()
        o.axis = axis
        self.b.op("CONCATENATION", [int(i) for i in operands], [y.index], o, "ConcatenationOptions")
        return y

    def pad(self, x: Act) -> Act:
        pads = np.zeros((4, 2), np.int32)
        pads[1] = self.rng.integers(0, 3, size=2)
        pads[2] = self.rng.integers(0, 2, size=2)
        if self.rng.integers(0, 4) == 0:
            pads[3] = self.rng.integers(0, 2, size=2)
        pt = self.b.tensor((4, 2), INT32, data=pads)
        shape = tuple(int(d + p.sum()) for d, p in zip(x.shape, pads, strict=True))
        y = self.b.act(shape, x.scale, x.zp)
        self.b.op("PAD", [x.index, pt], [y.index], self.b.s.PadOptionsT(), "PadOptions")
        return y


def random_model(seed: int, max_ops: int = 5) -> bytes:
    """The .tflite bytes of random model number `seed` (deterministic)."""
    return RandomModel(np.random.default_rng(seed), max_ops).build()


@dataclass(frozen=True)
class StreamCase:
    """A random counting model and the pipeline's windows over it (native/stream.py)."""

    data: bytes
    window: int
    hop: int
    take_start: int
    take_count: int


class RandomStream(RandomModel):
    """Models of the shipped models' kind with random sizes: (k, 1) convolutions over a
    one-column window, any stride, SAME or VALID, 1, 2, 3 or odd channel counts, LOGISTIC
    or QUANTIZE after some of them, RESHAPEd to a vector or not; and a hop that is a whole
    number of steps at every layer, with a counted slice somewhere in the output (so padding
    reaches it in some models: those must run on windows)."""

    CHANNELS = (1, 2, 3, 5, 7, 8, 12)

    def time_conv(self, x: Act, stride: int) -> Act:
        kh = int(self.rng.integers(1, min(7, x.shape[1] + 1)))
        pad = self.padding()
        oh = self.conv_out(x.shape[1], kh, stride, 1, pad)
        ic, oc = x.shape[3], int(self.rng.choice(self.CHANNELS))
        w, ws = self.weights((oc, kh, 1, ic), bool(self.rng.integers(0, 2)), 0)
        wt = self.b.tensor(w.shape, INT8, ws, np.zeros(len(ws), np.int64), 0, w)
        bt = self.bias(x, ws, oc)
        y = self.b.act((1, oh, 1, oc), self.out_scale(x, float(np.median(ws)), kh * ic), self.zp())
        o = self.b.s.Conv2DOptionsT()
        o.padding, o.strideH, o.strideW, o.dilationHFactor, o.dilationWFactor = pad, stride, 1, 1, 1
        o.fusedActivationFunction = self.activation()
        self.b.op("CONV_2D", [x.index, wt, bt], [y.index], o, "Conv2DOptions")
        return y

    def case(self) -> StreamCase:
        rng = self.rng
        strides = [int(rng.choice([1, 1, 2])) for _ in range(int(rng.integers(1, 5)))]
        total = int(np.prod(strides))
        window = total * int(rng.integers(8, 25))
        x = self.b.act((1, window, 1, int(rng.choice([1, 2, 3, 3, 5]))), self.scale(0.01, 0.1), self.zp())
        first = x
        for stride in strides:
            x = self.time_conv(x, stride)
            if rng.random() < 0.25:
                x = self.logistic(x) if rng.integers(0, 2) else self.quantize(x)
        if rng.random() < 0.5:
            x = self.logistic(x)
        if rng.random() < 0.5:
            x = self.reshape(x)
        size = int(np.prod(x.shape))
        take_count = int(rng.integers(1, size + 1)) if rng.random() < 0.2 else max(1, size // 3)
        take_start = int(rng.integers(0, size - take_count + 1))
        hop = total * int(rng.integers(1, max(2, window // total)))
        return StreamCase(self.b.finish([first.index], [x.index]), window, min(hop, window - total),
                          take_start, take_count)


def random_stream_case(seed: int) -> StreamCase:
    """Random streaming case number `seed` (deterministic)."""
    return RandomStream(np.random.default_rng(seed)).case()
