"""`repcount hil` from the command line: the JSON figures, the report, the emulated board as
the default device, the exit codes, and clear refusals before anything is replayed."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hil_devices import Device
from repcount import cli
from repcount.commands import hil as hil_command
from repcount.data.recordings import Meta, Recording, save
from repcount.device import hil
from repcount.errors import UserError

ARCHITECTURE_NAMES = (
    "bitexact_mismatches", "float_mae", "float_rmse", "float_max_abs", "float_l2r", "float_cosine",
    "count_mape", "event_f1", "false_counts_per_hour", "replay_speed_x", "count_latency_p50_s",
    "count_latency_p95_s",
)  # fmt: skip


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="repcount hil")
    hil_command.add_arguments(p)
    return p.parse_args(argv)


@pytest.mark.device
@pytest.mark.one_model
def test_hil_command_prints_the_figures_as_json_and_writes_the_report(
    hil_model: Path, hil_data: list[Recording], needs_emulator: Device, tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    name = hil.recording_names(hil_data)[0]
    rec_file = save(hil_data[0], tmp_path / "data" / f"{name}.rec")
    code = hil_command.run(parse([
        "--firmware", str(needs_emulator.firmware), "--model", str(hil_model), "--data", str(rec_file.parent),
        "--no-float", "--report", str(tmp_path / "report"), "--json",
    ]))  # fmt: skip
    out = capsys.readouterr().out
    obj = json.loads(out)  # stdout holds the one JSON object and nothing else
    assert set(ARCHITECTURE_NAMES) <= set(obj)
    assert obj["bitexact_mismatches"] == 0 and obj["float_mae"] is None  # --no-float: comparison b not run
    assert obj["labels"]["per_recording"][0]["recording"] == name
    assert 0 < obj["count_latency_p50_s"] <= obj["count_latency_p95_s"]  # seconds, on the device's clock
    assert [d["recordings"] for d in obj["devices"]] == [[name]] and obj["failed_devices"] == []
    assert code == (0 if obj["passed"] else 1)
    assert (obj["error"] is None) == obj["passed"]
    assert Path(obj["report"]).read_text().startswith(f"# HIL report: {obj['model']}")


def run_cli(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, dict[str, Any], str]:
    """`repcount hil ARGV --json` in this process: exit code, the one JSON object on stdout, stderr."""
    code = cli.main(["hil", *argv, "--json"])
    out, err = capsys.readouterr()
    return code, json.loads(out), err


def short_recordings(out: Path, samples: int = 20) -> Path:
    """A directory with one recording shorter than any model's window: nothing to infer on."""
    rec = Recording(Meta(sample_rate_hz=50, full_scale_g=8, mount="wrist", user="u1"),
                    np.arange(samples) * 0.02, np.zeros((samples, 3)))  # fmt: skip
    save(rec, out / "short.rec")
    return out


@pytest.mark.device
@pytest.mark.one_model
def test_with_neither_port_nor_firmware_the_emulated_board_runs_the_models_firmware(
    hil_model: Path, hil_data: list[Recording], needs_emulator: Device, tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    rec_file = save(hil_data[0], tmp_path / "data" / f"{hil.recording_names(hil_data)[0]}.rec")
    argv = ["--model", str(hil_model), "--data", str(rec_file.parent), "--no-float"]
    code, obj, err = run_cli(argv, capsys)
    assert (code, obj["passed"], obj["error"]) == (0, True, None), obj["failures"]
    assert obj["device"]["board"] == "qemu-mps2-an386" and obj["device"]["engine"] == "native"
    assert obj["bitexact"]["outputs_compared"] > 0
    assert "firmware for qemu-mps2-an386 (native engine)" in err


@pytest.mark.host
@pytest.mark.one_model
def test_nothing_to_compare_is_no_pass_but_exit_2_before_any_replay(
    hil_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Recordings shorter than a window would give "0 of 0 outputs differ": refused before the
    device is asked anything (loop:// would otherwise fail with no answer to HELLO)."""
    data = short_recordings(tmp_path)
    code, obj, err = run_cli(["--port", "loop://", "--model", str(hil_model), "--data", str(data)], capsys)
    assert code == 2 and obj["exit_code"] == 2
    assert obj["error"].startswith("nothing to compare: every recording is shorter than the model's window")
    assert "HELLO" not in obj["error"] and "Traceback" not in err


@pytest.mark.host
@pytest.mark.one_model
def test_a_run_that_compared_no_output_does_not_pass_comparison_a(hil_target: hil.Target) -> None:
    nothing = hil.compare_bitexact([], hil_target.pipes.params)
    assert nothing["outputs_compared"] == 0
    failure = hil.bitexact_failure(nothing)
    assert failure is not None and failure.startswith("nothing was compared")


@pytest.mark.host
@pytest.mark.one_model
@pytest.mark.parametrize("where", ["existing-file", "under-a-file", "existing-dir"])
def test_a_report_path_in_the_way_is_refused_before_the_replay(
    where: str, hil_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    (tmp_path / "afile").write_text("mine\n")
    (tmp_path / "adir").mkdir()
    report, expected = {
        "existing-file": ("afile", "--report {}: is a file; name a directory"),
        "under-a-file": ("afile/report", f"--report {{}}: {tmp_path / 'afile'} is a file, not a directory"),
        "existing-dir": ("adir", "--report {}: already exists; choose another name, or pass --force"),
    }[where]  # fmt: skip
    data = short_recordings(tmp_path / "data", samples=500)
    argv = ["--port", "loop://", "--model", str(hil_model), "--data", str(data)]
    code, obj, err = run_cli([*argv, "--report", str(tmp_path / report)], capsys)
    assert code == 2
    assert obj["error"].startswith(expected.format(tmp_path / report))  # not the HELLO that loop:// fails
    assert (tmp_path / "afile").read_text() == "mine\n" and not any((tmp_path / "adir").iterdir())
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.host
@pytest.mark.one_model
def test_a_port_without_repcount_firmware_is_a_clear_error(hil_model: Path, tmp_path: Path) -> None:
    rec = Recording(Meta(sample_rate_hz=50, full_scale_g=8, mount="wrist", user="u1"),
                    np.arange(200) * 0.02, np.zeros((200, 3)))  # fmt: skip
    save(rec, tmp_path / "r.rec")
    args = parse(["--port", "loop://", "--model", str(hil_model), "--data", str(tmp_path), "--no-float"])
    with pytest.raises(UserError, match="no answer to HELLO after 5 tries: is the board running repcount"):
        hil_command.run(args)


@pytest.mark.host
@pytest.mark.parametrize(("argv", "message"), [
    (["--data", "d"], "--model is required"),
    (["--model", "m"], "--data is required"),
    (["--model", "m", "--data", "d", "--port", "loop://", "--firmware", "fw"], "--firmware and --port name"),
    (["--model", "m", "--data", "d", "--attempts", "many"], "--attempts must be a whole number, got 'many'"),
    (["--model", "m", "--data", "d", "--baud", "0"], "--baud must be at least 1, got 0"),
    (["--model", "m", "--data", "d", "--emulators", "0"], "--emulators must be at least 1, got 0"),
    (["--model", "m", "--data", "d", "--port", "loop://", "--emulators", "2"], "--emulators starts emulated"),
    (["--model", "m", "--data", "d", "--port", "loop://", "loop://"], "--port names a device twice"),
])  # fmt: skip
def test_bad_arguments_give_exit_2_and_the_json_error(
    argv: list[str], message: str, capsys: pytest.CaptureFixture
) -> None:
    """What argparse would refuse with a usage text is one line, and one JSON object under --json."""
    code, obj, err = run_cli(argv, capsys)
    assert code == 2 and obj["error"].startswith(message)
    assert err == f"repcount hil: error: {obj['error']}\n"


@pytest.mark.host
def test_zero_attempts_is_refused_before_anything_runs() -> None:
    args = parse(["--port", "loop://", "--model", "no-such-model", "--data", "nowhere", "--attempts", "0"])
    with pytest.raises(UserError, match=r"--attempts must be at least 1, got 0"):
        hil_command.run(args)


@pytest.mark.host
@pytest.mark.one_model
def test_a_recording_at_another_rate_is_refused_with_the_fix(hil_target: hil.Target) -> None:
    rec = Recording(Meta(sample_rate_hz=100, full_scale_g=8, mount="wrist", user="u1"),
                    np.arange(10) * 0.01, np.zeros((10, 3)))  # fmt: skip
    with pytest.raises(UserError, match=r"recorded at 100 Hz but the model runs at 50 Hz; resample it"):
        hil.check_recording(rec, hil_target.card)


@pytest.mark.host
def test_unknown_users_are_refused_naming_the_users_present() -> None:
    rec = Recording(Meta(sample_rate_hz=50, full_scale_g=8, mount="wrist", user="alice"),
                    np.arange(10) * 0.02, np.zeros((10, 3)))  # fmt: skip
    assert hil.select([rec], None) == [rec]
    with pytest.raises(UserError, match=r"no recordings of users bob \(users present: alice\)"):
        hil.select([rec], ["bob"])


@pytest.mark.host
def test_labels_verdict_uses_the_cards_figures_plus_the_margins() -> None:
    margins = hil.Margins(count_mape=0.1, event_f1=0.1, false_counts_per_hour=60)
    card = {"count_mape": 0.05, "event_f1": 0.9, "false_counts_per_hour": 10.0}
    ok = {"count_mape": 0.15, "event_f1": 0.8, "false_counts_per_hour": 70.0, "card": card}
    assert hil.labels_failure(ok, margins) is None
    bad = {**ok, "count_mape": 0.16, "event_f1": 0.79, "false_counts_per_hour": 71.0}
    message = hil.labels_failure(bad, margins)
    assert message is not None
    assert "count MAPE 0.160 > card 0.050 + 0.1" in message
    assert "event F1 0.790 < card 0.900 - 0.1" in message
    assert "71 false counts per hour > card 10 + 60" in message
    assert hil.labels_failure({**bad, "card": None}, margins) is None
