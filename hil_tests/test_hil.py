"""The three comparisons of a HIL run, per model, and the report a person reads.

Each test attaches its figures to the JUnit XML (`--junitxml`) with `record_property`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from hil_devices import Device
from repcount.data.recordings import Recording
from repcount.device import hil

pytestmark = pytest.mark.device

ARCHITECTURE_NAMES = (
    "bitexact_mismatches", "float_mae", "float_rmse", "float_max_abs", "float_l2r", "float_cosine",
    "count_mape", "event_f1", "false_counts_per_hour", "replay_speed_x",
)  # fmt: skip


def test_the_firmware_runs_the_model_under_test(hil_result: hil.HilRun, record_property: Callable) -> None:
    info = hil_result.info
    record_property("device", f"{info.board} {info.engine} {info.firmware_version}")
    assert info.model_hash == hil_result.target.identity["model_hash"]
    assert (info.window, info.hop) == (hil_result.target.card.window, hil_result.target.card.hop)


def test_a_device_outputs_are_bit_exact_with_tflite_micro(
    hil_result: hil.HilRun, record_property: Callable
) -> None:
    a = hil_result.bitexact
    record_property("bitexact_mismatches", a["bitexact_mismatches"])
    record_property("outputs_compared", a["outputs_compared"])
    assert a["outputs_compared"] > 0
    failure = hil.bitexact_failure(a)
    assert failure is None, failure
    # The failure above covers the events too (the Python counter on the same outputs); this
    # keeps that comparison from passing vacuously: the device counted where there was to count.
    assert all(r.device.event_steps for r in hil_result.runs if len(r.true_t) >= 20)


def test_b_device_outputs_agree_with_the_float_model(
    hil_result: hil.HilRun, record_property: Callable
) -> None:
    b = hil_result.float_agreement
    if b is None:
        pytest.skip(f"{hil_result.target.directory} has no float.keras")
    for name in ("float_mae", "float_rmse", "float_max_abs", "float_l2r", "float_cosine", "count_difference"):
        record_property(name, b[name])
    failure = hil.float_failure(b)
    assert failure is None, failure


def test_c_device_counts_match_the_labels(hil_result: hil.HilRun, record_property: Callable) -> None:
    c = hil_result.labels
    for name in ("count_mape", "event_f1", "false_counts_per_hour"):
        record_property(name, c[name])
    for row in c["per_recording"]:
        record_property(f"count_error[{row['recording']}]", row["count_error"])
    if c["card"] is None:
        pytest.skip(f"{hil_result.target.directory}/card.json holds no held-out figures to compare with")
    failure = hil.labels_failure(c, hil_result.margins)
    assert failure is None, failure


def test_replay_speed_is_measured_and_every_recording_was_replayed(
    hil_result: hil.HilRun, hil_data: list[Recording], hil_device: Device, record_property: Callable
) -> None:
    """Measured and reported, never asserted against a wall-clock target (the load varies)."""
    record_property("replay_speed_x", round(hil_result.replay_speed_x, 1))
    record_property("emulator_cpu_speed_x", hil_result.emulator_cpu_speed_x)
    assert (hil_result.emulator_cpu_speed_x is not None) == (hil_device.emulator is not None)
    record_property("retries", sum(r.device.attempts - 1 for r in hil_result.runs))
    assert [r.name for r in hil_result.runs] == hil.recording_names(hil_data)
    assert all(r.device.seconds > 0 for r in hil_result.runs)
    assert hil_result.replay_speed_x > 0


def test_the_report_has_the_figures_tables_and_a_plot_per_recording(
    hil_result: hil.HilRun, hil_data: list[Recording], tmp_path: Path
) -> None:
    md = hil.write_report(hil_result, hil_data, tmp_path)
    text = md.read_text()
    obj = json.loads((tmp_path / "report.json").read_text())
    assert set(ARCHITECTURE_NAMES) <= set(obj)
    assert obj["bitexact_mismatches"] == hil_result.bitexact["bitexact_mismatches"]
    assert "| a. device vs tflite_micro |" in text and "| c. device vs labels |" in text
    assert f"replay_speed_x {obj['replay_speed_x']}" in text
    for name in hil.recording_names(hil_data):
        assert f"| {name} |" in text
        for png in (f"plots/{name}.png", f"plots/{name}-outputs.png"):
            assert f"]({png})" in text
            assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
