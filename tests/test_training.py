"""The training path end to end: windows and labels, QAT, int8 export and its checks, the
int8 model in TFLite Micro's kernels, counting on recordings with known events, the cards.

A tiny model is trained once per module on synthetic impacts (tests/counting_data.py) in
seconds; it cannot reach the shipped models' accuracy, but it must count clean impacts.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from counting_data import impacts_recording
from repcount import heavy
from repcount.commands import evaluate as evaluate_cmd
from repcount.commands import train as train_cmd
from repcount.data.recordings import Meta, Recording, Segment, save
from repcount.errors import UserError
from repcount.learn import evaluation, export, fit, model, placement, quant, tasks, tflite_model, tflm
from repcount.learn.card import ModelDir


def parse(module: types.ModuleType, argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    module.add_arguments(p)
    return p.parse_args(argv)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("impacts")
    for i in range(4):
        save(impacts_recording(f"syn-u{i}", 45.0, 0.4 + 0.05 * i, seed=i), d / f"u{i}.rec")
    return d


TRAIN_ARGS = ["--task", "jump-rope", "--holdout-users", "1", "--quick", "--epochs", "4", "--seed", "3"]


@pytest.fixture(scope="module")
def trained(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("models") / "tiny"
    assert train_cmd.run(parse(train_cmd, [*TRAIN_ARGS, "--data", str(data_dir), "--out", str(out)])) == 0
    return out


def card_of(model_dir: Path) -> dict:
    return json.loads((model_dir / "card.json").read_text())


def test_labels_mark_the_steps_just_after_each_event() -> None:
    rec = impacts_recording("u", 20.0, 0.5, distractor_s=2.0)
    labels = model.step_labels(rec, ("jump",), out_stride=4, label_steps=2)
    first = rec.events_of(["jump"])[0]  # 2.5 s = sample 125 = step 31
    assert labels[31] == labels[32] == 1 and labels[30] == labels[33] == 0
    assert labels.sum() == 2 * len(rec.events)
    x = model.int8_input(rec, model.InputQuant.for_range(4.0, 8.0))
    g = model.Geometry()
    w = model.windows(x, g, 8)
    y = model.window_labels(labels, g, 8, len(w))
    assert w.shape[1:] == (96, 1, 3) and y.shape == (len(w), 24)
    assert y[4, 31 - 8] == 1 and y[4, 30 - 8] == 0  # window 4 starts 32 samples (8 steps) later
    assert first == pytest.approx(2.5)


def test_int8_input_is_the_devices_one_integer_rescale() -> None:
    q = model.InputQuant.for_range(4.0, 8.0)
    rec = impacts_recording("u", 4.0, 0.5, distractor_s=1.0)
    x = model.int8_input(rec, q)
    # 8 g full scale: 4096 counts per g; 1/32 g per int8 step: 128 counts per step, with
    # TFLM's double rounding (63 counts -> 31.5 -> 32 -> 0.5 -> 1), the scalar reference
    raw = quant.raw_from_g(rec.acc, 8.0)
    expected = [[quant.mbqm(int(v), q.multiplier, q.shift) for v in row] for row in raw]
    assert np.array_equal(x, np.clip(expected, -128, 127).astype(np.int8))
    assert quant.mbqm(63, q.multiplier, q.shift) == 1 and quant.mbqm(62, q.multiplier, q.shift) == 0
    assert (q.multiplier, q.shift) == (1 << 30, -6)  # 1/128 = 2^30 * 2^(-6-31)


def test_card_reads_back_the_converted_model(trained: Path) -> None:
    card = card_of(trained)
    m = tflite_model.read(trained / "model.tflite")
    export.check(m)
    assert card["model_hash"] == m.model_hash
    assert (card["input"]["scale"], card["input"]["zero_point"]) == export.input_quant(m) == (1 / 32, 0)
    assert (card["output"]["scale"], card["output"]["zero_point"]) == (1 / 256, -128)
    assert card["tflite_bytes"] == len(m.data) <= 20 * 1024
    assert 1024 <= card["arena_bytes"] <= 16 * 1024
    assert set(card["ops"]) <= {"CONV_2D", "DEPTHWISE_CONV_2D", "LOGISTIC", "RESHAPE"}
    assert card["macs_per_second"] <= 150_000
    assert card["training"]["held_out_users"] and not set(card["training"]["held_out_users"]) & set(
        card["training"]["train_users"]
    )


def test_arena_measured_is_the_smallest_that_works(trained: Path) -> None:
    data = (trained / "model.tflite").read_bytes()
    arena = card_of(trained)["arena_bytes"]
    x = np.zeros((1, 96, 1, 3), dtype=np.int8)
    tflm.run(data, x, arena_size=arena)
    with pytest.raises(RuntimeError):
        tflm.run(data, x, arena_size=arena - 64)


def test_int8_in_tflm_agrees_with_the_float_qat_model(trained: Path, data_dir: Path) -> None:
    pipes = evaluation.load_pipelines(ModelDir.open(trained), with_float=True)
    rec = evaluation.load_data([str(data_dir / "u1.rec")])[0]
    o8 = pipes.int8_outputs(rec)
    of = pipes.float_outputs(rec)
    diff = np.abs(model.dequantize(o8, 1 / 256, -128) - of)
    # on average under one output LSB (1/256) apart; at worst a few LSB of the logit that feeds
    # the sigmoid (slope <= 1/4; rounding differs layer by layer), i.e. several output LSB
    m = tflite_model.read(trained / "model.tflite")
    (logistic,) = [op for op in m.ops if op.name == "LOGISTIC"]
    logit_scale = float(m.tensors[logistic.inputs[0]].scale[0])
    assert diff.mean() <= 1 / 256
    assert diff.max() <= 4 * logit_scale / 4 + 1 / 256


def test_counts_held_out_recording_with_known_events(trained: Path, data_dir: Path) -> None:
    card = card_of(trained)
    (held,) = card["training"]["held_out_users"]
    pipes = evaluation.load_pipelines(ModelDir.open(trained), with_float=False)
    recs = [r for r in evaluation.load_data([str(data_dir)]) if r.meta.user == held]
    res = pipes.run(recs, ["int8"], lambda _: None)["results"]["int8"][0]
    s = evaluation.summarize([res], pipes.task)
    assert s["event_f1"] >= 0.95
    assert abs(s["predicted_events"] - s["true_events"]) <= 0.05 * s["true_events"]
    assert res.false_counts == 0
    # the card's held-out figures are what evaluate reproduces
    int8 = card["metrics"]["held_out"]["pipelines"]["int8"]
    assert int8["event_f1"] == pytest.approx(s["event_f1"])


def test_evaluate_json_has_the_architecture_names(
    trained: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--model", str(trained), "--data", str(data_dir), "--baseline", "peaks", "--json"]
    assert evaluate_cmd.run(parse(evaluate_cmd, argv)) == 0
    obj = json.loads(capsys.readouterr().out)
    assert set(obj["pipelines"]) == {"float", "int8", "baseline"}
    for p in obj["pipelines"].values():
        assert {"count_mape", "event_f1", "false_counts_per_hour", "by_group", "per_recording"} <= set(p)
        assert len(p["per_recording"]) == 4
    assert {"float_mae", "float_rmse", "float_max_abs", "float_l2r", "float_cosine"} <= set(
        obj["int8_vs_float"]
    )


def test_same_seed_gives_the_same_model(trained: Path, data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "again"
    assert train_cmd.run(parse(train_cmd, [*TRAIN_ARGS, "--data", str(data_dir), "--out", str(out)])) == 0
    assert (out / "model.tflite").read_bytes() == (trained / "model.tflite").read_bytes()
    assert card_of(out)["counting"] == card_of(trained)["counting"]


def test_augmentation_is_off_unless_asked_and_then_seeded(data_dir: Path) -> None:
    """Off: exactly the turned copies of a recipe without augmentation (the shipped models'
    bytes depend on it). On: N more copies per recording, the same for the same seed."""
    recs = evaluation.load_data([str(data_dir)])
    off = fit.training_recordings(recs, fit.Config(rotations=1), seed=3)
    turned = fit.augmented(recs, 1, seed=3)
    assert [r.acc.tolist() for r in off] == [r.acc.tolist() for r in turned]
    on = fit.training_recordings(recs, fit.Config(rotations=1, augment=2), seed=3)
    again = fit.training_recordings(recs, fit.Config(rotations=1, augment=2), seed=3)
    other = fit.training_recordings(recs, fit.Config(rotations=1, augment=2), seed=4)
    assert len(on) == 2 * len(recs) + 2 * len(recs)
    assert [r.acc.tolist() for r in on[: len(off)]] == [r.acc.tolist() for r in off]
    assert all(np.array_equal(a.acc, b.acc) and a.events == b.events for a, b in zip(on, again, strict=True))
    assert not np.array_equal(on[-1].acc, other[-1].acc)


def test_recipe_options_are_recorded_and_the_firmware_runs_the_result(
    trained: Path, data_dir: Path, tmp_path: Path
) -> None:
    """--augment, --input-range, --kernels and --highpass: the card records each (to retrain
    the model), a model without them records none, and the int8 model passes the firmware's
    checks with the high-pass stage's weights still the fixed moving average."""
    assert "augment" not in card_of(trained)["config"]
    assert "highpass" not in card_of(trained)["config"]["architecture"]
    out = tmp_path / "variant"
    argv = [*TRAIN_ARGS, "--rotations", "0", "--augment", "1", "--input-range", "8", "--kernels",
            "3", "5", "5", "5", "5", "--highpass", "9", "--data", str(data_dir), "--out", str(out)]
    assert train_cmd.run(parse(train_cmd, argv)) == 0
    card = ModelDir.open(out).card
    aug = card_of(out)["config"]["augment"]
    assert aug["copies"] == 1 and aug["full_scales_g"] == [2.0, 4.0, 8.0, 16.0] and card.config.augment == aug
    assert card.config.architecture.kernels == (3, 5, 5, 5, 5) and card.config.architecture.highpass == 9
    assert card.config.input_range_g == 8.0 and card.input.scale == 1 / 16
    assert {"DEPTHWISE_CONV_2D", "ADD"} <= set(card.ops)
    export.check(tflite_model.read(out / "model.tflite"))
    qat = evaluation.load_pipelines(ModelDir.open(out), with_float=True).float_model
    weights = {w.name.split("/")[-1]: w.numpy() for w in qat.get_layer("quant_moving_average").weights}
    assert np.array_equal(weights["depthwise_kernel:0"], np.full((9, 1, 3, 1), -1 / 9, dtype=np.float32))


def test_held_out_user_with_folds_ships_the_fold_without_that_user(
    trained: Path, data_dir: Path, tmp_path: Path
) -> None:
    """--test-users with --cv-users (the shipped steps model's recipe): the folds cover every
    named user, and the model written is the fold without the held-out user, trained once,
    byte for byte the model a plain training without that user gives, never trained on them."""
    (held,) = card_of(trained)["training"]["held_out_users"]
    other = next(u for u in ("syn-u0", "syn-u1") if u != held)
    args = [a for a in TRAIN_ARGS if a not in ("--holdout-users", "1")]
    assert len(args) == len(TRAIN_ARGS) - 2
    out = tmp_path / "cv"
    argv = [*args, "--data", str(data_dir), "--out", str(out)]
    argv += ["--test-users", held, "--cv-users", other, held]
    assert train_cmd.run(parse(train_cmd, argv)) == 0
    card, plain = card_of(out), card_of(trained)
    assert (out / "model.tflite").read_bytes() == (trained / "model.tflite").read_bytes()
    assert card["training"]["held_out_users"] == [held] and held not in card["training"]["train_users"]
    assert card["training"]["cv_users"] == [other, held]
    folds = card["metrics"]["leave_one_user_out"]["folds"]
    assert set(folds) == {other, held}
    assert card["metrics"]["held_out"] == folds[held] == plain["metrics"]["held_out"]


def _convert(keras_model: Any, int8_io: bool) -> bytes:
    tf = heavy.tensorflow()
    conv = tf.lite.TFLiteConverter.from_keras_model(keras_model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    shape = [int(d or 1) for d in keras_model.input_shape]
    conv.representative_dataset = lambda: (
        [np.random.default_rng(i).normal(size=shape).astype(np.float32)] for i in range(8)
    )
    if int8_io:
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = conv.inference_output_type = tf.int8
    return bytes(conv.convert())


def _tiny(activation: str, batch_size: int | None = 1) -> Any:
    keras = heavy.keras()
    inp = keras.Input((16, 1, 3), batch_size=batch_size)
    x = keras.layers.Conv2D(4, (3, 1), padding="same", activation=activation)(inp)
    return keras.Model(inp, keras.layers.Conv2D(1, (1, 1), activation="sigmoid")(x))


def test_check_refuses_float_input_and_quantize_ops() -> None:
    m = tflite_model.read(_convert(_tiny("relu"), int8_io=False))
    with pytest.raises(UserError, match="float tensor"):
        export.check(m)


def test_check_refuses_an_op_the_engines_do_not_support() -> None:
    m = tflite_model.read(_convert(_tiny("tanh"), int8_io=True))
    with pytest.raises(UserError, match="TANH.*not supported"):
        export.check(m)


def test_check_refuses_a_batch_dimension_other_than_1() -> None:
    m = tflite_model.read(_convert(_tiny("relu", batch_size=2), int8_io=True))
    with pytest.raises(UserError, match="batch dimension must be 1"):
        export.check(m)


def test_check_refuses_an_input_scale_the_device_does_not_apply(trained: Path) -> None:
    m = tflite_model.read(trained / "model.tflite")
    with pytest.raises(UserError, match="device's rescale assumes scale 0.0625"):
        export.check(m, model.InputQuant.for_range(8.0, 8.0))


def test_user_errors_before_training(data_dir: Path, tmp_path: Path) -> None:
    base = ["--task", "jump-rope", "--data", str(data_dir), "--out", str(tmp_path / "m")]
    with pytest.raises(UserError, match="only 4 users; keep at least one for training"):
        train_cmd.run(parse(train_cmd, [*base, "--holdout-users", "4"]))
    with pytest.raises(UserError, match="no recordings with mount 'handle' \\(mounts present: wrist\\)"):
        train_cmd.run(parse(train_cmd, [*base, "--mount", "handle"]))
    with pytest.raises(UserError, match="in both --data and --test-data"):
        train_cmd.run(parse(train_cmd, [*base, "--test-data", str(data_dir / "u0.rec")]))
    with pytest.raises(UserError, match="--cv-users: no recordings of nobody"):
        train_cmd.run(parse(train_cmd, [*base, "--cv-users", "nobody"]))
    with pytest.raises(UserError, match="--test-users: no recordings of nobody \\(users present: syn-u0"):
        train_cmd.run(parse(train_cmd, [*base, "--test-users", "nobody"]))
    with pytest.raises(UserError, match="--test-users names every user of --data"):
        train_cmd.run(parse(train_cmd, [*base, "--test-users", "syn-u0", "syn-u1", "syn-u2", "syn-u3"]))


def _activity_recording(user: str, seed: int) -> Recording:
    """20 Hz: 40 s sitting (noise) and 40 s walking (2 Hz arm swing), three times over."""
    rng = np.random.default_rng(seed)
    t = np.arange(4800) / 20.0
    acc = rng.normal(0, 0.02, (len(t), 3))
    acc[:, 2] += 1.0
    segs = []
    for k in range(6):
        activity = "walking" if k % 2 else "sitting"
        segs.append(Segment(40.0 * k, 40.0 * (k + 1), activity))
        if activity == "walking":
            on = (t >= 40.0 * k) & (t < 40.0 * (k + 1))
            acc[on, 0] += 0.5 * np.sin(2 * np.pi * 2.0 * t[on])
    return Recording(Meta(20.0, 8.0, "wrist", user), t, acc, None, segs, [])


def test_activity_classifier_int8_report(tmp_path: Path) -> None:
    from repcount.learn import activity

    recs = [_activity_recording(f"a{i}", i) for i in range(3)]
    t = activity.fit(recs[:2], 8.0, epochs=15, qat_epochs=3, seed=1, progress=lambda _: None)
    m = tflite_model.read(t.tflite)
    assert set(m.op_names) <= {"CONV_2D", "MEAN", "FULLY_CONNECTED", "SOFTMAX", "RESHAPE"}
    assert t.classes == ["sitting", "walking"]
    card = types.SimpleNamespace(input_quant=t.q, classes=tuple(t.classes))  # what measure reads of a card
    rep = activity.measure(card, t.tflite, t.qat_model, recs[2:])
    assert np.sum(rep["int8"]["confusion"]) == 42  # 7 windows of 200 every 100 in each 800-sample segment
    assert rep["int8"]["accuracy"] >= 0.8 and rep["float"]["accuracy"] >= 0.8
    assert set(rep["int8"]["per_class"]["walking"]) == {"precision", "recall", "windows"}


def test_classification_report_counts() -> None:
    from repcount.learn import activity

    r = activity.classification_report(np.array([0, 0, 1, 1, 1]), np.array([0, 1, 1, 1, 0]), ["a", "b"])
    assert r["confusion"] == [[1, 1], [1, 2]]
    assert r["accuracy"] == pytest.approx(0.6)
    assert r["per_class"]["b"] == {
        "precision": pytest.approx(2 / 3),
        "recall": pytest.approx(2 / 3),
        "windows": 3,
    }


def test_activity_needs_20_hz_recordings(data_dir: Path, tmp_path: Path) -> None:
    argv = ["--task", "activity", "--data", str(data_dir), "--out", str(tmp_path / "a")]
    with pytest.raises(
        UserError, match="recordings are at 50 Hz \\(simulate or import them with --rate 20\\)"
    ):
        train_cmd.run(parse(train_cmd, argv))
    with pytest.raises(UserError, match="--cv-users is for the counting tasks"):
        train_cmd.run(parse(train_cmd, [*argv, "--cv-users", "syn-u0"]))


def _cli_train(argv: list[str]) -> subprocess.CompletedProcess[str]:
    """`python -m repcount.cli train ARGV` as a user runs it: exit code, stdout, stderr."""
    cmd = [sys.executable, "-m", "repcount.cli", "train", *argv]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)


def _refused(res: subprocess.CompletedProcess[str], match: str) -> None:
    """Exit 2, one clear line on stderr naming the problem, no traceback, nothing written."""
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("repcount train: error: "), res.stderr
    assert "Traceback" not in res.stderr + res.stdout
    assert re.search(match, lines[0]), lines[0]


@pytest.mark.parametrize(
    ("flag", "value", "match"),
    [
        ("--epochs", "0", "--epochs 0: must be at least 1"),
        ("--epochs", "-1", "--epochs -1: must be at least 1"),
        ("--train-stride", "0", "--train-stride 0: must be at least 1"),
        ("--train-stride", "6", "--train-stride must be a multiple of the output stride \\(4\\)"),
        ("--rotations", "-2", "--rotations -2: must be at least 0"),
        ("--augment", "-1", "--augment -1: must be at least 0"),
        ("--channels", "8 12", "--channels: at least 3 layers"),
        ("--kernels", "5 5", "--channels and --kernels: one positive number per layer each, got 5 channels "
                             "and 2 kernels"),
        ("--seed", "-1", "--seed -1: must be at least 0"),
    ],
)
def test_cli_refuses_bad_numbers_before_any_work(
    data_dir: Path, tmp_path: Path, flag: str, value: str, match: str
) -> None:
    out = tmp_path / "m"
    argv = ["--task", "jump-rope", "--data", str(data_dir), "--out", str(out), flag, *value.split()]
    res = _cli_train(argv)
    _refused(res, match)
    assert not out.exists()


def test_cli_refuses_data_without_events_of_the_task(data_dir: Path, tmp_path: Path) -> None:
    """Distractor-only data (or another task's) would train a model that never counts."""
    rec = evaluation.load_data([str(data_dir / "u0.rec")])[0]
    save(dataclasses.replace(rec, events=[]), tmp_path / "none.rec")
    out = tmp_path / "m"
    res = _cli_train(["--task", "jump-rope", "--data", str(tmp_path / "none.rec"), "--out", str(out)])
    _refused(res, "--data: no events of kind jump, double-under in the 1 training recordings")
    res = _cli_train(["--task", "steps", "--data", str(data_dir), "--out", str(out)])
    _refused(res, "--data: no events of kind step in the 4 training recordings")
    assert not out.exists()


def test_cli_refuses_an_existing_out_before_training(trained: Path, data_dir: Path, tmp_path: Path) -> None:
    """An existing model directory is never replaced without --force, and a file never by a directory."""
    before = (trained / "model.tflite").read_bytes()
    res = _cli_train([*TRAIN_ARGS, "--data", str(data_dir), "--out", str(trained)])
    _refused(res, f"--out {re.escape(str(trained))}: already exists; .* pass --force")
    assert (trained / "model.tflite").read_bytes() == before
    a_file = tmp_path / "model.txt"
    a_file.write_text("mine")
    for extra in ([], ["--force"]):
        res = _cli_train([*TRAIN_ARGS, "--data", str(data_dir), "--out", str(a_file), *extra])
        _refused(res, "is a file; name a directory")
    assert a_file.read_text() == "mine"


@pytest.fixture(scope="module")
def mixed_dir(trained: Path, data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One timed recording of a training user and two count-only recordings of new users."""
    d = tmp_path_factory.mktemp("mixed")
    held = card_of(trained)["training"]["held_out_users"]
    timed = next(i for i in range(4) if f"syn-u{i}" not in held)
    shutil.copy(data_dir / f"u{timed}.rec", d / f"u{timed}.rec")
    for i in (4, 5):
        rec = impacts_recording(f"syn-u{i}", 45.0, 0.38 + 0.1 * (i - 4), seed=i)
        save(placement.counted_only(rec, tasks.get("jump-rope")), d / f"u{i}-counted.rec")
    return d


def test_init_fine_tunes_on_timed_and_count_only_recordings(
    trained: Path, data_dir: Path, mixed_dir: Path, tmp_path: Path
) -> None:
    """`train --init`: the init model places the counted jumps, fine-tuning runs through QAT,
    conversion and checks, and the new card names the init model and the count-only recordings."""
    init = card_of(trained)
    (held,) = init["training"]["held_out_users"]
    out = tmp_path / "tuned"
    argv = ["--task", "jump-rope", "--init", str(trained), "--data", str(mixed_dir), "--test-data",
            str(data_dir / f"u{held[-1]}.rec"), "--quick", "--epochs", "2", "--seed", "3", "--out", str(out)]
    assert train_cmd.run(parse(train_cmd, argv)) == 0
    card = card_of(out)
    assert card["training"]["init_model"] == {"name": init["name"], "model_hash": init["model_hash"]}
    assert card["training"]["count_only"] == ["u4-counted", "u5-counted"]
    assert card["config"] == init["config"] | {"epochs": 2, "qat_epochs": 2}
    assert ModelDir.open(out).card.model_hash == card["model_hash"] != init["model_hash"]
    int8 = card["metrics"]["held_out"]["pipelines"]["int8"]
    assert int8["event_f1"] >= 0.9


def test_count_only_without_init_is_placed_by_the_cold_start(
    data_dir: Path, mixed_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "cold"
    argv = ["--task", "jump-rope", "--data", str(mixed_dir), "--quick", "--epochs", "1", "--seed", "3",
            "--out", str(out)]
    assert train_cmd.run(parse(train_cmd, argv)) == 0
    card = card_of(out)
    assert card["training"]["count_only"] == ["u4-counted", "u5-counted"]
    assert "init_model" not in card["training"]


def test_float_weights_come_out_of_a_qat_model() -> None:
    """What `--init` starts from: the float weights inside the QAT wrappers, every layer of them."""
    g, arch = model.Geometry(), model.Architecture()
    source = model.build_model(g, arch, seed=1)
    qat = export.quantize(source, model.InputQuant.for_range(4.0, 8.0))
    fresh = model.build_model(g, arch, seed=2)
    export.copy_float_weights(qat, fresh)
    assert len(fresh.get_weights()) == len(source.get_weights())
    for a, b in zip(fresh.get_weights(), source.get_weights(), strict=True):
        assert np.array_equal(a, b)
    with pytest.raises(UserError, match="another architecture than its card's"):
        other = model.build_model(g, model.Architecture(channels=(4, 12, 12, 12, 12)), seed=1)
        export.copy_float_weights(qat, other)


def test_cli_refuses_an_init_model_of_another_task(trained: Path, data_dir: Path, tmp_path: Path) -> None:
    res = _cli_train(["--task", "steps", "--init", str(trained), "--data", str(data_dir), "--out",
                      str(tmp_path / "m")])
    _refused(res, "a 'jump-rope' model; --task steps would change what it computes")


def test_cli_refuses_count_only_held_out_recordings(trained: Path, mixed_dir: Path, tmp_path: Path) -> None:
    res = _cli_train(["--task", "jump-rope", "--data", str(mixed_dir), "--test-users", "syn-u4", "--out",
                      str(tmp_path / "m")])
    _refused(res, "u4-counted: @count spans without timed events; held-out recordings are measured")
