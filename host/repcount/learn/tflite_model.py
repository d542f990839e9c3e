"""Read an int8 .tflite flatbuffer without TensorFlow: tensors, quantisation, ops, options.

Everything downstream of training (op resolver, arena, native engine, checks) reads the
model through this one module. The flatbuffer schema comes from the `tflite_micro`
wheel, whose module path has moved between versions, hence the defensive import.
"""

from __future__ import annotations

import hashlib
import importlib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from repcount.errors import UserError

_SCHEMA_MODULES = (
    "tflite_micro.tensorflow.lite.micro.python.schema_py_generated",
    "tflite_micro.tensorflow.lite.python.schema_py_generated",
    "tflite_micro.python.tflite_micro.schema_py_generated",
)
# TensorType codes -> numpy dtypes (the ones an int8 model uses)
DTYPES = {0: np.float32, 2: np.int32, 3: np.uint8, 4: np.int64, 9: np.int8, 7: np.int16}
DTYPE_NAMES = {0: "float32", 2: "int32", 3: "uint8", 4: "int64", 9: "int8", 7: "int16"}


@cache
def schema() -> Any:
    """The generated flatbuffer schema module (tflite_micro ships one)."""
    for name in _SCHEMA_MODULES:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise ImportError("no TFLite flatbuffer schema module found in the tflite_micro package")


@cache
def builtin_names() -> dict[int, str]:
    ops = schema().BuiltinOperator
    return {v: k for k, v in vars(ops).items() if not k.startswith("_") and isinstance(v, int)}


@dataclass
class Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    scale: np.ndarray  # float32, one per channel or one
    zero_point: np.ndarray  # int64
    quantized_dimension: int
    data: np.ndarray | None  # constant data (weights, bias, shapes), None for activations

    @property
    def size(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1

    @property
    def nbytes(self) -> int:
        return self.size * np.dtype(DTYPES[_code(self.dtype)]).itemsize


@dataclass
class Op:
    index: int
    name: str  # builtin op name, e.g. CONV_2D
    inputs: list[int]
    outputs: list[int]
    options: Any  # the schema's XxxOptionsT object, or None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class TfliteModel:
    path: Path | None
    data: bytes
    tensors: list[Tensor]
    ops: list[Op]
    inputs: list[int]
    outputs: list[int]

    @property
    def op_names(self) -> list[str]:
        """Distinct op names in order of first use."""
        return list(dict.fromkeys(op.name for op in self.ops))

    @property
    def model_hash(self) -> str:
        return model_hash(self.data)

    def where(self) -> str:
        return str(self.path) if self.path else "the model"


def _code(dtype: str) -> int:
    return {v: k for k, v in DTYPE_NAMES.items()}[dtype]


def model_hash(data: bytes) -> str:
    """First 8 bytes of the SHA-256 of the .tflite, as 16 hex digits (the protocol's hash)."""
    return hashlib.sha256(data).hexdigest()[:16]


def read(source: str | Path | bytes) -> TfliteModel:
    """Parse a .tflite file (or its bytes); UserError if it is not a readable model."""
    path = None if isinstance(source, bytes) else Path(source)
    if path is not None and not path.is_file():
        raise UserError(f"{path}: no such model file")
    data = source if isinstance(source, bytes) else path.read_bytes()  # type: ignore[union-attr]
    s = schema()
    try:
        if len(data) < 8 or data[4:8] != b"TFL3":
            raise ValueError("missing TFL3 identifier")
        m = s.ModelT.InitFromPackedBuf(bytearray(data), 0)
    except Exception as exc:  # a corrupt flatbuffer raises anything from struct to Index errors
        raise UserError(f"{path or 'model bytes'}: not a TFLite flatbuffer ({exc})") from None
    if not m.subgraphs or len(m.subgraphs) != 1:
        raise UserError(f"{path}: expected exactly one subgraph, found {len(m.subgraphs or [])}")
    g = m.subgraphs[0]
    names = builtin_names()
    tensors = []
    for i, t in enumerate(g.tensors):
        q = t.quantization
        scale = np.asarray(q.scale if q is not None and q.scale is not None else [], np.float32)
        zp = np.asarray(q.zeroPoint if q is not None and q.zeroPoint is not None else [], np.int64)
        buf = m.buffers[t.buffer] if t.buffer < len(m.buffers) else None
        raw = None if buf is None or buf.data is None or len(buf.data) == 0 else bytes(buf.data)
        dtype = DTYPE_NAMES.get(t.type, f"type{t.type}")
        arr = None
        if raw is not None and t.type in DTYPES:
            shape = tuple(int(d) for d in (t.shape if t.shape is not None else []))
            arr = np.frombuffer(raw, dtype=DTYPES[t.type]).reshape(shape or ())
        tensors.append(
            Tensor(
                index=i,
                name=(t.name or b"").decode() if isinstance(t.name, bytes) else str(t.name or ""),
                shape=tuple(int(d) for d in (t.shape if t.shape is not None else [])),
                dtype=dtype,
                scale=scale,
                zero_point=zp,
                quantized_dimension=int(q.quantizedDimension) if q is not None else 0,
                data=arr,
            )
        )
    ops = []
    for i, o in enumerate(g.operators):
        code = m.operatorCodes[o.opcodeIndex]
        builtin = max(int(code.builtinCode), int(code.deprecatedBuiltinCode))
        name = names.get(builtin, f"BUILTIN_{builtin}")
        if name == "CUSTOM":
            cc = code.customCode
            name = f"CUSTOM:{cc.decode() if isinstance(cc, bytes) else cc}"
        ops.append(
            Op(
                index=i,
                name=name,
                inputs=[int(x) for x in (o.inputs if o.inputs is not None else [])],
                outputs=[int(x) for x in (o.outputs if o.outputs is not None else [])],
                options=o.builtinOptions,
            )
        )
    return TfliteModel(
        path=path,
        data=bytes(data),
        tensors=tensors,
        ops=ops,
        inputs=[int(x) for x in g.inputs],
        outputs=[int(x) for x in g.outputs],
    )
