"""Quantization-aware copy of a model, int8 conversion, and the checks every export passes.

The converter is run on a batch-size-1 copy of the QAT model (a `None` batch makes it emit
SHAPE/STRIDED_SLICE/PACK ops that TFLM does not register). The converted model is then
read back with `repcount.learn.tflite_model` and refused, loudly and by name, if it holds a float
tensor, a QUANTIZE/DEQUANTIZE pair, an op the firmware engines do not support, a batch
dimension other than 1, or an input quantisation other than the one the device applies.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from repcount import heavy
from repcount.errors import UserError
from repcount.firmware import engines
from repcount.learn import tflite_model
from repcount.learn.model import InputQuant


def quantize(float_model: Any, q: InputQuant) -> Any:
    """The tfmot QAT model of `float_model` (its weights kept), input range pinned to the device's.

    Pinning (a FixedQuantizer in the input QuantizeLayer) makes the converted input scale
    exactly `q.scale` instead of whatever min/max the training data happened to reach.
    tfmot's own `fix_input_output_range` would also pin the output and rebuilds the model
    with fresh random weights, so the config is edited here and the weights copied back
    (to every layer but the input QuantizeLayers, whose only state is the pinned range).
    """
    keras = heavy.keras()
    qk = heavy.tfmot().quantization.keras
    qm = qk.quantize_model(float_model)
    config = qm.get_config()
    fixed = qk.quantizers.FixedQuantizer(8, init_min=q.min_value, init_max=q.max_value, narrow_range=False)
    pinned_inputs = set()
    for layer in config["layers"]:
        if layer["class_name"] == "QuantizeLayer":
            layer["config"]["quantizer"] = keras.utils.legacy.serialize_keras_object(fixed)
            pinned_inputs.add(layer["config"]["name"])
    with qk.quantize_scope():
        pinned = keras.Model.from_config(config)
    for layer in pinned.layers:
        if layer.name not in pinned_inputs:
            layer.set_weights(qm.get_layer(layer.name).get_weights())
    return pinned


def copy_float_weights(qat_model: Any, float_model: Any) -> None:
    """Give `float_model` the float weights held by `qat_model`'s quantize wrappers.

    tfmot wraps each layer L as `quant_L`, which holds L's kernel, bias and BN statistics
    (under their own names) beside its quantizer ranges; those float weights are what a
    fine-tuning continues from. Matched by name, since a QAT model loaded from a file
    keeps them on the wrapper rather than on the inner layer. A layer or weight missing,
    or shaped otherwise, means another architecture: a UserError says so.
    """
    for layer in float_model.layers:
        if not layer.weights:
            continue
        try:
            held = {v.name.split("/")[-1]: v for v in qat_model.get_layer(f"quant_{layer.name}").weights}
            layer.set_weights([held[w.name.split("/")[-1]].numpy() for w in layer.weights])
        except (ValueError, KeyError) as exc:
            raise UserError(
                f"the float model has no layer quant_{layer.name} holding {layer.name}'s weights ({exc}); "
                "it is another architecture than its card's"
            ) from None


def convert(qat_model: Any, batch1_float_model: Any, q: InputQuant, representative: np.ndarray) -> bytes:
    """Full-integer int8 .tflite (int8 in, int8 out) from a batch-size-1 copy of `qat_model`."""
    tf = heavy.tensorflow()
    copy = quantize(batch1_float_model, q)
    copy.set_weights(qat_model.get_weights())
    conv = tf.lite.TFLiteConverter.from_keras_model(copy)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8

    def rep() -> Iterable[list[np.ndarray]]:
        for x in representative:
            yield [x[None].astype(np.float32)]

    conv.representative_dataset = rep
    with heavy.silenced_stderr():  # the converter's C++ prints its settings; its errors still raise
        return bytes(conv.convert())


def check(model: tflite_model.TfliteModel, q: InputQuant | None = None, engine: str = "native") -> None:
    """Refuse a converted model the firmware could not run exactly; UserError names the problem."""
    where = model.where()
    floats = [t.name for t in model.tensors if t.dtype == "float32"]
    if floats:
        raise UserError(
            f"{where}: float tensor(s) in the int8 graph: {', '.join(floats[:5])}; a layer did not "
            "quantize (e.g. AveragePooling2D as the last layer): change the model"
        )
    if "DEQUANTIZE" in model.op_names or "QUANTIZE" in model.op_names:
        raise UserError(
            f"{where}: QUANTIZE/DEQUANTIZE inside the int8 graph (ops: {', '.join(model.op_names)}); "
            "the model must be int8 from input to output with no requantisation step"
        )
    engines.check_ops(model.op_names, engine, where)
    for kind, idx in (("input", model.inputs), ("output", model.outputs)):
        for i in idx:
            t = model.tensors[i]
            if t.dtype != "int8":
                raise UserError(f"{where}: {kind} tensor {t.name!r} is {t.dtype}, expected int8")
            if not t.shape or t.shape[0] != 1:
                raise UserError(
                    f"{where}: {kind} tensor {t.name!r} has shape {t.shape}: batch dimension must be 1 "
                    "(convert a copy built with Input(..., batch_size=1))"
                )
    if q is not None:
        scale, zp = input_quant(model)
        if not (np.isclose(scale, q.scale, rtol=1e-6) and zp == q.zero_point):
            raise UserError(
                f"{where}: input quantisation is scale {scale}, zero point {zp}, but the device's "
                f"rescale assumes scale {q.scale}, zero point {q.zero_point}"
            )


def input_quant(model: tflite_model.TfliteModel) -> tuple[float, int]:
    """(scale, zero point) of the model's input tensor: what the device's input rescale must produce."""
    t = model.tensors[model.inputs[0]]
    return float(t.scale[0]), int(t.zero_point[0])


def output_quant(model: tflite_model.TfliteModel) -> tuple[float, int]:
    """(scale, zero point) of the model's output tensor: what turns int8 scores into probabilities."""
    t = model.tensors[model.outputs[0]]
    return float(t.scale[0]), int(t.zero_point[0])


