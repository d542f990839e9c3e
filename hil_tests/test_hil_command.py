"""`repcount hil` from the command line: the JSON figures, the report, and clear refusals."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from repcount.commands import hil as hil_command
from repcount.data.recordings import Meta, Recording, save
from repcount.device import hil
from repcount.errors import UserError

ARCHITECTURE_NAMES = (
    "bitexact_mismatches", "float_mae", "float_rmse", "float_max_abs", "float_l2r", "float_cosine",
    "count_mape", "event_f1", "false_counts_per_hour", "replay_speed_x",
)  # fmt: skip


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="repcount hil")
    hil_command.add_arguments(p)
    return p.parse_args(argv)


@pytest.mark.device
@pytest.mark.one_model
def test_hil_command_prints_the_figures_as_json_and_writes_the_report(
    hil_model: Path, hil_data: list[Any], needs_emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture
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
    assert code == (0 if obj["passed"] else 1)
    assert Path(obj["report"]).read_text().startswith(f"# HIL report: {obj['model']}")


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
