"""The firmware engines (`tflm`, `native`) and the ops each supports, from engines.toml.

engines.toml is the one table of ops: the TFLM engine's op resolver methods, and the
native engine's op registry (which builder of native/ops.py computes each op, and which
shared C helpers each C kernel needs). Everything that decides whether an op can run
(export checks, firmware rendering, native generation) asks this module.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from functools import cache
from importlib import resources

from repcount.errors import UserError

ENGINES = ("tflm", "native")


@cache
def _table() -> dict:
    return tomllib.loads(resources.files("repcount.firmware").joinpath("engines.toml").read_text())


def supported_ops(engine: str) -> tuple[str, ...]:
    entry = _table().get(engine)
    if entry is None:
        raise UserError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    return tuple(entry["ops"].keys())


def tflm_resolver_method(op: str) -> str:
    """The MicroMutableOpResolver method that registers a builtin op, e.g. AddConv2D."""
    return _table()["tflm"]["ops"][op]


def native_builders() -> dict[str, str]:
    """Builtin op -> name of the function in repcount.firmware.native.ops that builds it."""
    return dict(_table()["native"]["ops"])


def native_kernel_helpers() -> dict[str, tuple[str, ...]]:
    """C kernel (e.g. rc_conv) -> the shared C helpers it calls (e.g. mbqm, requant)."""
    return {kernel: tuple(helpers) for kernel, helpers in _table()["native"]["kernels"].items()}


def check_ops(ops: Iterable[str], engine: str, where: str) -> None:
    """Fail at generation time, naming the op and where it came from, if unsupported."""
    unsupported = [op for op in dict.fromkeys(ops) if op not in supported_ops(engine)]
    if unsupported:
        raise UserError(
            f"{where}: op(s) {', '.join(unsupported)} not supported by the {engine!r} engine "
            f"(it supports {', '.join(supported_ops(engine))}); change the model so the "
            "converter does not emit them"
        )
