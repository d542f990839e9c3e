"""The heavy imports, each in one place: TensorFlow and its friends, tflite_micro, matplotlib, SciPy.

Why a module of its own: `repcount --help` and the commands that never train or plot must
start in a fraction of a second, so nothing heavy is imported at module level anywhere
else. And TensorFlow must be quiet: its C++ logging, oneDNN notice, CUDA probing (a red
`E0000 ... cuInit` line on a machine without a GPU) and absl warnings read like failures
to a user who sees them, so the environment that silences them is set here, once, before
the first TensorFlow import, and never in the callers.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Iterator
from types import ModuleType
from typing import Any

# Set before TensorFlow is first imported (setdefault: a user who asks for logs gets them).
TF_ENV = {
    "TF_CPP_MIN_LOG_LEVEL": "3",  # C++ logs: errors and above only
    "TF_ENABLE_ONEDNN_OPTS": "0",  # no oneDNN notice, and bit-stable CPU float results
    "TF_USE_LEGACY_KERAS": "1",  # tfmot needs Keras 2 (tf_keras)
    "CUDA_VISIBLE_DEVICES": "-1",  # no CUDA probing on machines without a GPU
    "GRPC_VERBOSITY": "ERROR",
    "ABSL_MIN_LOG_LEVEL": "3",
}


def quiet_tf_env() -> None:
    """Put TensorFlow's quiet settings into this process's environment (and children's)."""
    for key, value in TF_ENV.items():
        os.environ.setdefault(key, value)


@contextlib.contextmanager
def silenced_stderr() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null: C++ code (absl, CUDA stubs) writes there directly."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def tensorflow() -> ModuleType:
    """`tensorflow`, imported quietly (its import-time chatter goes to a discarded stderr)."""
    quiet_tf_env()
    warnings.filterwarnings("ignore", module=r"tensorflow.*")
    warnings.filterwarnings("ignore", module=r"tf_keras.*")
    warnings.filterwarnings("ignore", module=r"tensorflow_model_optimization.*")
    warnings.filterwarnings("ignore", category=UserWarning, message=r".*[Cc]onvert.*")
    with silenced_stderr():
        import tensorflow as tf
    tf.get_logger().setLevel("ERROR")
    with contextlib.suppress(ImportError):
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
    return tf


def keras() -> ModuleType:
    """`tf_keras` (Keras 2, which tfmot needs), after a quiet TensorFlow import."""
    tensorflow()
    with silenced_stderr():
        import tf_keras
    return tf_keras


def tfmot() -> ModuleType:
    """`tensorflow_model_optimization`, after a quiet TensorFlow import."""
    tensorflow()
    with silenced_stderr():
        import tensorflow_model_optimization
    return tensorflow_model_optimization


def tflm_runtime() -> Any:
    """`tflite_micro.runtime`: TFLM's own kernels on the host, the int8 reference."""
    quiet_tf_env()
    with silenced_stderr():
        from tflite_micro import runtime
    return runtime


def pyplot() -> Any:
    """`matplotlib.pyplot` on the Agg backend (files only: no screen is assumed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def scipy_signal() -> Any:
    """`scipy.signal` (filters, resampling, peak finding): only the simulators, importers and
    the classic detector need it, so `repcount --help` and the device commands never pay for it."""
    import scipy.signal

    return scipy.signal


def scipy_ndimage() -> Any:
    """`scipy.ndimage` (moving averages of the simulators and of augmentation)."""
    import scipy.ndimage

    return scipy.ndimage


def scipy_interpolate() -> Any:
    """`scipy.interpolate` (the simulator's monotone rope phase)."""
    import scipy.interpolate

    return scipy.interpolate
