"""The `tflite_micro` runtime (TFLM's own kernels) as the int8 reference on the host.

`run` feeds int8 inputs through TFLM's interpreter, as the firmware's `tflm` engine does;
`measure_arena` finds the smallest tensor arena that lets the model allocate and invoke.
No call of the runtime reports the arena it uses, and an arena of a few hundred bytes
kills the process with SIGSEGV instead of raising, so the bisection runs in a child
process and starts above that size. tflite_micro is imported through repcount.heavy only.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Iterable
from typing import Any

import numpy as np

from repcount import heavy
from repcount.errors import UserError

MIN_PROBE_ARENA = 1024  # below ~400 bytes the runtime segfaults; from ~512 up it raises

_BISECT = """
import sys
import numpy as np
from tflite_micro import runtime
data = open(sys.argv[1], "rb").read()
lo, hi = int(sys.argv[2]), int(sys.argv[3])

def ok(n):
    try:
        it = runtime.Interpreter.from_bytes(data, arena_size=n)
        d = it.get_input_details(0)
        it.set_input(np.zeros(d["shape"], dtype=d["dtype"]), 0)
        it.invoke()
        return True
    except RuntimeError:
        return False

if not ok(hi):
    print(-1)
    sys.exit(0)
while hi - lo > 16:
    mid = (lo + hi) // 2 // 16 * 16
    if ok(mid):
        hi = mid
    else:
        lo = mid
print(hi)
"""


def interpreter(model_bytes: bytes, arena_size: int | None = None) -> Any:
    """TFLM's interpreter on the host for `model_bytes` (tflite_micro, through repcount.heavy)."""
    return heavy.tflm_runtime().Interpreter.from_bytes(bytes(model_bytes), arena_size=arena_size)


def run(model_bytes: bytes, inputs: Iterable[np.ndarray], arena_size: int | None = None) -> np.ndarray:
    """int8 outputs (one row per input) of the model run by TFLM on each int8 input in turn."""
    it = interpreter(model_bytes, arena_size)
    shape = it.get_input_details(0)["shape"]
    outs = []
    for x in inputs:
        it.set_input(np.asarray(x, dtype=np.int8).reshape(shape), 0)
        it.invoke()
        outs.append(np.array(it.get_output(0)).reshape(-1))
    return np.stack(outs) if outs else np.zeros((0, 0), dtype=np.int8)


def measure_arena(model_bytes: bytes, upper: int | None = None) -> int:
    """Smallest arena (bytes, multiple of 16) with which TFLM allocates and invokes the model."""
    hi = upper or max(64 * 1024, 10 * len(model_bytes))
    with tempfile.NamedTemporaryFile(suffix=".tflite") as f:
        f.write(model_bytes)
        f.flush()
        proc = subprocess.run(
            [sys.executable, "-c", _BISECT, f.name, str(MIN_PROBE_ARENA), str(hi)],
            capture_output=True,
            text=True,
            check=False,
        )
    if proc.returncode != 0:
        raise RuntimeError(f"arena bisection crashed (exit {proc.returncode}): {proc.stderr.strip()[-400:]}")
    value = int(proc.stdout.strip().splitlines()[-1])
    if value < 0:
        raise UserError(f"the model does not fit in a {hi}-byte TFLM arena; make it smaller")
    return value
