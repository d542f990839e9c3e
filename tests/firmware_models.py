"""Small int8 models for the firmware tests, converted with TensorFlow (tf_keras).

The layout is the shipped models' (a window of (T, 1, 3) through Conv2D with (k, 1)
kernels, a per-step sigmoid score), so the renderer sees the converter's real output.
`head="tanh"` converts to a TANH op, which neither engine supports.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from repcount import heavy
from repcount.learn import quant, tflite_model, tflm

WINDOW, HOP, OUT_STRIDE = 32, 8, 4
FULL_SCALE_G = 8
RATE_HZ = 50


def convert(head: str) -> bytes:
    """A batch-size-1 CNN (random weights) fully converted to int8."""
    keras = heavy.keras()
    keras.utils.set_random_seed(1)
    inp = keras.Input((WINDOW, 1, 3), batch_size=1)
    x = keras.layers.Conv2D(8, (5, 1), strides=(2, 1), padding="same", activation="relu")(inp)
    x = keras.layers.DepthwiseConv2D((3, 1), padding="same", activation="relu")(x)
    x = keras.layers.Conv2D(8, (3, 1), strides=(2, 1), padding="same", activation="relu")(x)
    x = keras.layers.Conv2D(1, (3, 1), padding="same", activation=head)(x)
    out = keras.layers.Reshape((WINDOW // OUT_STRIDE,))(x)
    model = keras.Model(inp, out)
    samples = np.random.default_rng(0).normal(0, 2.5, (16, 1, WINDOW, 1, 3))  # reaches beyond 4 g
    return int8_tflite(model, samples)


def int8_tflite(model, samples: np.ndarray) -> bytes:
    """Full-integer conversion (int8 input and output) of a Keras model, calibrated on `samples`
    (one batch-size-1 input each): what the tests need of the converter, without QAT."""
    tf = heavy.tensorflow()

    def representative():
        for sample in samples:
            yield [sample.astype(np.float32)]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    with heavy.silenced_stderr():
        return converter.convert()


def write_model_dir(directory: Path, data: bytes, name: str, mount: str = "wrist") -> Path:
    """model.tflite plus a card.json (docs/model-card.md) derived from it, arena measured."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "model.tflite").write_bytes(data)
    m = tflite_model.read(data)
    tin, tout = m.tensors[m.inputs[0]], m.tensors[m.outputs[0]]
    multiplier, shift = quant.input_rescale(FULL_SCALE_G, float(tin.scale[0]))
    card = {
        "name": name,
        "task": "jump-rope",
        "mount": mount,
        "sample_rate_hz": RATE_HZ,
        "full_scale_g": FULL_SCALE_G,
        "window": WINDOW,
        "hop": HOP,
        "input_len": WINDOW * 3,
        "output_len": tout.size,
        "input": {"scale": float(tin.scale[0]), "zero_point": int(tin.zero_point[0]),
                  "multiplier": multiplier, "shift": shift},
        "output": {"scale": float(tout.scale[0]), "zero_point": int(tout.zero_point[0])},
        "counting": {"threshold": 40, "refractory": 3, "take_start": 3, "take_count": HOP // OUT_STRIDE,
                     "out_stride": OUT_STRIDE, "event_offset_s": 0.0},
        "model_hash": m.model_hash,  # the renderer takes the hash from the .tflite, after checking this
        "tflite_bytes": len(data),
        "ops": ["NOT_TRUSTED"],
        "arena_bytes": tflm.measure_arena(data),
    }
    (directory / "card.json").write_text(json.dumps(card, indent=2))
    return directory
