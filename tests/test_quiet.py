"""A user sees repcount's own output only: no TensorFlow, absl, oneDNN or CUDA log lines.

Run without any TF_* variable in the environment, as a user's shell is: repcount itself
must silence TensorFlow (repcount.heavy), not the Makefile.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# What TensorFlow's C++ and Python layers print when left alone.
NOISE = re.compile(
    r"absl|oneDNN|onednn|cuda|cuInit|cudart|E0000|I0000|W0000|tensorflow/|TF-TRT|"
    r"fully_quantize|UserWarning|DeprecationWarning|WARNING:tensorflow|rebuild TensorFlow",
    re.IGNORECASE,
)


def _user_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("TF_", "CUDA_", "ABSL_", "GRPC_"))}


def _noise(text: str) -> list[str]:
    return [line for line in text.splitlines() if NOISE.search(line)]


def test_importing_the_heavy_stack_prints_nothing() -> None:
    code = ("from repcount import heavy\n"
            "tf = heavy.tensorflow(); heavy.keras(); heavy.tfmot(); heavy.tflm_runtime()\n"
            "print(tf.constant(1).numpy())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_user_env(),
                         check=True)
    assert out.stdout.strip() == "1"
    assert out.stderr == "", out.stderr


@pytest.mark.slow
def test_evaluate_with_the_float_model_prints_only_repcount(tmp_path: Path) -> None:
    data = tmp_path / "data"
    sim = subprocess.run([sys.executable, "-m", "repcount.cli", "simulate", "--users", "1",
                          "--minutes", "0.5", "--out", str(data)],
                         capture_output=True, text=True, env=_user_env())
    assert sim.returncode == 0, sim.stderr
    out = subprocess.run([sys.executable, "-m", "repcount.cli", "evaluate", "--model",
                          str(ROOT / "models" / "jumprope-wrist"), "--data", str(data), "--json"],
                         capture_output=True, text=True, env=_user_env())
    assert out.returncode == 0, out.stderr
    assert not _noise(out.stdout + out.stderr), _noise(out.stdout + out.stderr)
