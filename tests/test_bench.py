"""The benchmark's verdicts, table and command rewriting, on a small results object (no bench
run), and one accuracy stage on the emulator."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from repcount.bench import report as benchreport
from repcount.bench import run as bench
from repcount.bench import stages as benchsetup
from repcount.cli import main
from repcount.errors import UserError
from repcount.firmware import render as firmware
from repcount.learn.card import ModelCard

STEPS_CARD = ModelCard.load(Path(__file__).resolve().parents[1] / "models" / "steps" / "card.json")


def card_with(name: str, **training: Any) -> ModelCard:
    """The shipped steps card renamed, with parts of its training record replaced."""
    assert STEPS_CARD.training is not None
    return replace(STEPS_CARD, name=name, training=replace(STEPS_CARD.training, **training))


def _pipeline(mape: float | None, f1: float, fph: float | None) -> dict[str, Any]:
    return {"count_mape": mape, "event_f1": f1, "false_counts_per_hour": fph, "by_group": {}}


def small_results() -> dict[str, Any]:
    """Two models: a jump-rope model meeting everything but replay speed, a steps model with gaps."""
    jump = {
        "task": "jump-rope", "model_hash": "00aa", "not_measured": {},
        "heldout": {"description": "6 simulated users never trained on (30 min)"},
        "pipelines": {"device": _pipeline(0.011, 0.985, 4.0), "float": _pipeline(0.009, 0.986, 4.0),
                      "int8": _pipeline(0.011, 0.985, 4.0), "baseline": _pipeline(0.08, 0.7, 60.0)},
        "bitexact_mismatches": 0, "count_mape_difference": -0.004, "tflite_bytes": 9376,
        "tflm_arena_bytes": 4288, "native_arena_bytes": 1344, "macs_per_second": 135_450,
        "flash_bytes": 11_852, "ram_bytes": 10_860, "serial_buffer_bytes": 2817,
        "instructions_per_second": 637_348, "replay_speed_x": 41.5, "instructions_per_mac": 1.4,
        "count_latency_p50_s": 0.52, "count_latency_p95_s": 0.81, "replay_speed_x_devices": 78.9,
        "hil_scaling_x": 1.9, "hil_same_verdicts": True,
        "training": {"seconds": 250.0, "limit_s": 600, "card_seconds_per_model": 240.0, "how": "card"},
    }  # fmt: skip
    steps = {
        "task": "steps", "model_hash": "00bb",
        "not_measured": {"instructions_per_second": "the emulator is not installed"},
        "heldout": {"description": "Oxford user oxford-jamie", "users_text": "oxford-jamie"},
        "pipelines": {"device": {**_pipeline(0.062, 0.9, None),
                                 "by_group": {"InHand": {"count_mape": 0.03}}}},
        "leave_one_user_out": {
            "description": "Oxford, leave-one-user-out over 3 users (card)",
            "int8": {"count_mape": 0.041, "event_f1": 0.91, "by_group": {"InHand": {"count_mape": 0.02},
                                                                         "BackPocket": {"count_mape": 0.09}}},
        },
        "bitexact_mismatches": 3, "count_mape_difference": 0.001, "tflite_bytes": 30_000,
        "tflm_arena_bytes": 4000, "native_arena_bytes": 5000, "macs_per_second": 100_000,
        "flash_bytes": 40_000, "ram_bytes": 9000, "serial_buffer_bytes": 2817,
        "instructions_per_second": None, "replay_speed_x": 80.0,
        "training": {"seconds": 200.0, "limit_s": 180, "card_seconds_per_model": None, "how": "quick"},
    }  # fmt: skip
    return {
        "date": "2026-11-21T01:00:00+00:00", "git_commit": "0123456789abcdef", "configuration": "full",
        "seconds": 1500.0, "machine": {"cores": 2, "cpu": "Test CPU", "memory_gb": 23.0, "os": "Linux"},
        "models": {"jumprope-wrist": jump, "steps": steps},
        "reference": {"model": "jumprope-wrist", "instructions_per_inference": 95_000,
                      "instructions_per_mac": 1.1, "instructions_per_second": 148_438, "not_measured": {}},
        "demo": {"seconds": 170.0, "train_seconds": 95.0}, "notes": ["a note"],
    }  # fmt: skip


def verdicts(results: dict[str, Any]) -> dict[tuple[str, str], bool | None]:
    return {(c["model"], c["key"]): c["met"] for c in benchreport.checks(results)}


def test_each_figure_is_judged_against_its_target() -> None:
    v = verdicts(small_results())
    assert v[("jumprope-wrist", "count_mape")] is True
    assert v[("jumprope-wrist", "event_f1")] is True
    assert v[("jumprope-wrist", "instructions_per_second")] is True
    assert v[("jumprope-wrist", "replay_speed_x")] is False  # 41.5 < 50
    assert v[("steps", "louo_count_mape")] is True
    assert v[("steps", "heldout_count_mape")] is False  # 6.2 % > 5 %
    assert v[("steps", "bitexact_mismatches")] is False
    assert v[("steps", "tflite_bytes")] is False  # 30,000 > 20 KiB
    assert v[("steps", "flash_bytes")] is False


def test_targets_only_apply_to_their_task() -> None:
    v = verdicts(small_results())
    assert ("steps", "event_f1") not in v  # the F1 target is jump rope's
    assert ("jumprope-wrist", "louo_count_mape") not in v


def test_a_bound_given_by_another_figure_or_the_training_configuration() -> None:
    v = verdicts(small_results())
    assert v[("jumprope-wrist", "native_arena_bytes")] is True  # 1344 <= its TFLM arena 4288
    assert v[("steps", "native_arena_bytes")] is False  # 5000 > its TFLM arena 4000
    assert v[("jumprope-wrist", "training_seconds")] is True  # 250 s, full: <= 600 s
    assert v[("steps", "training_seconds")] is False  # 200 s, quick: > 180 s


def test_ram_target_leaves_out_the_serial_buffers() -> None:
    r = small_results()
    r["models"]["jumprope-wrist"]["ram_bytes"] = 16 * 1024 + 2817  # exactly 16 KiB besides them
    assert verdicts(r)[("jumprope-wrist", "ram_bytes_besides_serial")] is True
    r["models"]["jumprope-wrist"]["ram_bytes"] += 1
    assert verdicts(r)[("jumprope-wrist", "ram_bytes_besides_serial")] is False


def test_a_figure_not_measured_has_no_verdict_and_its_reason_is_printed() -> None:
    r = small_results()
    assert verdicts(r)[("steps", "instructions_per_second")] is None
    table = benchreport.render(r)
    assert "not measured (the emulator is not installed)" in table


def test_table_marks_met_and_missed_next_to_the_target() -> None:
    table = benchreport.render(small_results())
    row = next(line for line in table.splitlines() if line.startswith("| HIL replay speed (×"))
    assert "≥ 50×" in row and "41.5× ❌ missed" in row and "80.0× ✅" in row
    row = next(line for line in table.splitlines() if line.startswith("| .tflite size"))
    assert "9,376 B ✅" in row and "30,000 B ❌ missed" in row
    assert "| jumprope-wrist | 6 simulated users never trained on (30 min) | int8 on the emulated" in table
    assert "1.10 % ✅ | 0.985 ✅ | 4.0 ✅" in table
    assert "missed: jumprope-wrist count_latency_p95_s, jumprope-wrist replay_speed_x," in table
    # steps: instructions per second and per MAC, count latency, HIL on 2 emulators, the card's training time
    assert "not measured: 5" in table


def test_table_shows_steps_per_placement() -> None:
    table = benchreport.render(small_results())
    assert "| placement | LOUO int8 | device, oxford-jamie |" in table
    assert "| BackPocket | 9.00 % | - |" in table
    assert "| InHand | 2.00 % | 3.00 % |" in table


def test_demo_time_and_its_quick_training_in_the_notes() -> None:
    r = small_results()
    table = benchreport.render(r)
    assert "170 s in all; its quick training step took 95 s (target ≤ 3 min) ✅." in table
    r["demo"] = {"not_measured": "bench --quick runs no demo"}
    assert "`make demo` was not timed: bench --quick runs no demo." in benchreport.render(r)
    r["demo"] = {"seconds": None, "train_seconds": 200.0, "not_measured": "tools/demo.sh failed (exit 2)"}
    assert ("not timed: tools/demo.sh failed (exit 2); before that, its quick training step took 200 s "
            "(target ≤ 3 min) ❌ missed.") in benchreport.render(r)


def test_readme_table_is_replaced_between_the_markers_only() -> None:
    text = f"# repcount\n\nintro\n{benchreport.START}\nold table\n{benchreport.END}\nafter\n"
    out = benchreport.rewrite_readme(text, "| new |\n")
    assert out == f"# repcount\n\nintro\n{benchreport.START}\n| new |\n{benchreport.END}\nafter\n"
    assert benchreport.rewrite_readme(out, "| new |\n") == out


def test_readme_without_markers_is_refused_with_how_to_fix() -> None:
    with pytest.raises(UserError, match="no `<!-- bench:start -->` ... `<!-- bench:end -->` markers"):
        benchreport.rewrite_readme("# repcount\n", "| t |\n")


def test_card_command_is_moved_to_new_data_and_output() -> None:
    """The bench retrains with the card's command, its data regenerated, without its folds."""
    card = card_with("steps", command=(
        "repcount train --task steps --data oxford build/model-data/steps-walking "
        "/somewhere/steps-running --test-users oxford-dario --cv-users oxford-jamie oxford-dario "
        "--seed 1 --out models/steps"))
    args = benchsetup.train_arguments(card)
    assert benchsetup.option_values(args, "--cv-users") == ["oxford-jamie", "oxford-dario"]
    moved = benchsetup.rewrite_command(
        args, lambda t: "OX" if t == "oxford" else f"new/{Path(t).name}", Path("tmp/out"),
        drop=("--cv-users",), extra=["--quick"],
    )  # fmt: skip
    assert moved == ["--task", "steps", "--data", "OX", "new/steps-walking", "new/steps-running",
                     "--test-users", "oxford-dario", "--seed", "1", "--out", "tmp/out",
                     "--quick"]  # fmt: skip


def test_models_trained_counts_a_fold_that_is_the_shipped_model_once() -> None:
    base = "repcount train --task steps --data oxford --cv-users a b c --seed 1 --out models/steps"
    shipped_fold = card_with("s", command=base + " --test-users c", held_out_users=("c",), seconds=300.0)
    everybody = card_with("s", command=base, held_out_users=(), seconds=400.0)
    assert bench._models_trained(shipped_fold) == 3 and bench._models_trained(everybody) == 4
    assert bench._card_time(shipped_fold, 3)["card_seconds_per_model"] == 100.0


def test_a_card_without_a_train_command_is_reported() -> None:
    with pytest.raises(UserError, match="jr: its card records no training command"):
        benchsetup.train_arguments(card_with("jr", command=None))
    with pytest.raises(UserError, match="is not `repcount train"):
        benchsetup.train_arguments(card_with("jr", command="python train.py"))


def test_regenerated_data_must_hold_the_card_users() -> None:
    card = card_with("jr", train_users=("sim-jr-u001",), held_out_users=("sim-jr-u101",))
    benchsetup.check_users(card, {"jumprope-wrist-test": ["sim-jr-u101"]})
    with pytest.raises(UserError, match="holds users sim-jr-u102 that the card does not name"):
        benchsetup.check_users(card, {"jumprope-wrist-test": ["sim-jr-u101", "sim-jr-u102"]})


def test_data_is_made_by_the_models_script_without_training(tmp_path: Path) -> None:
    """The script's simulate steps run (into the bench's DATA), its train steps do not."""
    repo = tmp_path / "repo"
    (repo / "tools").mkdir(parents=True)
    (repo / benchsetup.MODELS_SCRIPT).write_text(
        'set -e\nDATA="${DATA:-build/model-data}"\n'
        '"$REPCOUNT" simulate --activity walking --mount pocket --users 1 --minutes 0.25 --seed 3 '
        '--out "$DATA/steps-walking"\n'
        '"$REPCOUNT" train --task steps --data "$DATA/steps-walking" --out models/steps\n'
    )  # fmt: skip
    root = benchsetup.regenerate_data(repo, tmp_path / "data", lambda _msg: None)
    assert benchsetup.manifest_users(root / "steps-walking") == ["sim-wk-u001"]
    assert not (repo / "models").exists()
    assert benchsetup.data_dir("build/model-data/steps-walking", root) == str(root / "steps-walking")
    assert benchsetup.data_dir("oxford", root) == "oxford"
    with pytest.raises(UserError, match="the card's data elsewhere/mine is not made by tools/train-shipped"):
        benchsetup.data_dir("elsewhere/mine", root)


def test_render_command_writes_table_and_readme(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results, md, readme = tmp_path / "r.json", tmp_path / "r.md", tmp_path / "README.md"
    results.write_text(json.dumps(small_results()))
    readme.write_text(f"intro\n{benchreport.START}\n{benchreport.END}\n")
    argv = ["bench", "--render", "--out", str(results), "--markdown", str(md), "--readme", str(readme)]
    assert main(argv) == 0
    table = md.read_text()
    assert table in readme.read_text() and table in capsys.readouterr().out
    assert "Targets met: **" in table
    rewritten = json.loads(results.read_text())
    assert rewritten["models"] == small_results()["models"]  # the figures as measured
    assert {c["goal"] for c in rewritten["checks"]} >= {"jump-rope accuracy goal", "steps accuracy goal"}


def test_targets_say_what_they_are_not_which_issue() -> None:
    """A reader of the README cannot open the project's tracker: no target names an issue."""
    table = benchreport.render(small_results())
    assert "issue" not in table.lower()
    rows = table.splitlines()
    row = next(line for line in rows if line.startswith("| count MAPE, device, held-out user |"))
    assert "≤ 5 % (steps accuracy goal)" in row
    assert all("issue" not in c["goal"] for c in benchreport.checks(small_results()))


def test_render_of_a_file_that_is_not_results(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "r.json"
    bad.write_text("{}")
    assert main(["bench", "--render", "--out", str(bad), "--markdown", str(tmp_path / "r.md")]) == 2
    assert "not a results file of repcount bench (no models, machine, date, configuration)" in (
        capsys.readouterr().err
    )


def test_a_stage_that_fails_leaves_its_figures_not_measured_with_the_reason() -> None:
    from repcount.bench import run as bench

    def no_emulator() -> dict[str, Any]:
        raise UserError("qemu-system-arm is not installed")

    def crash() -> dict[str, Any]:
        raise RuntimeError("arena bisection crashed")

    entry: dict[str, Any] = {"not_measured": {}}
    bench._stage(entry, ("flash_bytes",), lambda _msg: None, no_emulator)
    bench._stage(entry, ("tflm_arena_bytes",), lambda _msg: None, crash)
    bench._stage(entry, ("tflite_bytes",), lambda _msg: None, lambda: {"tflite_bytes": 9376})
    assert entry == {"tflite_bytes": 9376, "not_measured": {
        "flash_bytes": "qemu-system-arm is not installed",
        "tflm_arena_bytes": "RuntimeError: arena bisection crashed"}}  # fmt: skip


def test_model_directories_without_a_card_are_refused(tmp_path: Path) -> None:
    from repcount.bench import run as bench

    with pytest.raises(UserError, match="not a model directory"):
        bench.model_dirs([tmp_path])


def test_accuracy_stage_reports_imported_traces_by_placement(tmp_path: Path) -> None:
    """The steps stage on the emulator: Oxford traces are named by trace in the HIL (not by
    user), and the device's figures must still land under their placement, equal to the
    int8 model's in the tflite_micro runtime."""
    from repcount.data.importers import load_oxford

    (model,) = [d for d in bench.model_dirs() if d.name == "steps"]
    recs = [r for r in load_oxford() if r.meta.user == "oxford-dario"]
    recs = [r for r in recs if r.meta.extra["placement"] == "BackPocket"][:1]
    result = bench.accuracy(model, recs, tmp_path / "fw", lambda _msg: None)
    assert result["bitexact_mismatches"] == 0, result["hil_failures"]
    device, int8 = result["pipelines"]["device"], result["pipelines"]["int8"]
    assert set(device["by_group"]) == {"BackPocket"}
    assert device["count_mape"] == int8["count_mape"] and device["event_f1"] == int8["event_f1"]
    assert set(device["per_user"]) == set(int8["per_user"]) == {"oxford-dario"}
    assert device["worst_user"] == int8["worst_user"] and device["worst_user"]["user"] == "oxford-dario"
    assert result["count_latency_events"] > 0
    assert 0 < result["count_latency_p50_s"] <= result["count_latency_p95_s"]
    # one recording: the run on two emulators starts one, so there is no sharing to measure
    assert result["hil_devices"] == 1 and result["hil_scaling_x"] is None and result["hil_same_verdicts"]


def test_cost_latency_and_sharing_targets() -> None:
    """Issue 18's figures: instructions per MAC, count latency p95, HIL on 2 emulators over one,
    and the reference model's instructions per second next to TFLM's anchors."""
    r = small_results()
    v = verdicts(r)
    assert v[("jumprope-wrist", "instructions_per_mac")] is True  # 1.4 <= 1.5
    assert v[("jumprope-wrist", "count_latency_p95_s")] is False  # 0.81 s > 0.8 s
    assert v[("jumprope-wrist", "hil_scaling_x")] is True  # 1.9 >= 1.7
    assert v[("steps", "hil_scaling_x")] is None  # not measured
    assert v[("reference-model", "reference_instructions_per_second")] is True  # 148,438 <= 150,000
    r["reference"]["instructions_per_second"] = 150_001
    assert verdicts(r)[("reference-model", "reference_instructions_per_second")] is False
    table = benchreport.render(small_results())
    rows = table.splitlines()
    latency = next(line for line in rows if line.startswith("| count latency p95"))
    assert "≤ 0.8 s" in latency and "0.81 s ❌ missed" in latency
    ref = next(line for line in rows if line.startswith("| repcount native, jumprope-wrist"))
    assert "148,438 ✅" in ref and "95,000" in ref
    assert "| TensorFlow Lite Micro, reference kernels (anchor) | 1,294,558 | 14.9 | 2,022,747 |" in table
    assert "| TensorFlow Lite Micro + CMSIS-NN (anchor) | 374,234 | 4.32 | 584,741 |" in table


def test_results_without_a_reference_render_as_before() -> None:
    """Results of an older bench (no reference model measured) keep their table: no anchors."""
    r = small_results()
    del r["reference"]
    assert "anchor" not in benchreport.render(r)
    assert all(c["model"] != "reference-model" for c in benchreport.checks(r))


class _Run:
    def __init__(self, speed: float, devices: int, f1: float = 0.99) -> None:
        self.s = {"replay_speed_x": speed, "devices": [{}] * devices, "bitexact": {"bitexact_mismatches": 0},
                  "labels": {"event_f1": f1}, "latency": {"count_latency_p95_s": 0.7}, "passed": True}

    def summary(self) -> dict[str, Any]:
        return self.s


def test_hil_throughput_with_several_devices() -> None:
    got = bench.hil_throughput(_Run(60.0, 1), _Run(111.0, 2))
    assert got == {"hil_devices": 2, "replay_speed_x_devices": 111.0, "hil_scaling_x": 1.85,
                   "hil_same_verdicts": True}  # fmt: skip
    assert bench.hil_throughput(_Run(60.0, 1), _Run(111.0, 2, f1=0.5))["hil_same_verdicts"] is False
    assert bench.hil_throughput(_Run(60.0, 1), _Run(61.0, 1))["hil_scaling_x"] is None  # one recording


def test_the_reference_cost_is_the_steady_state_per_mac_the_engine_computes(monkeypatch, tmp_path):
    """Issue 18's cost figures divide the steady inference by the MACs the streaming engine
    computes, not by a window's; the first (cold) inference is reported apart."""
    measured = {"macs_per_inference": 86_688, "macs_computed_per_inference": 28_896,
                "instructions_per_inference": 63_630, "instructions_first_inference": 118_909,
                "instructions_per_mac": 2.2, "instructions_per_second": 99_422}  # fmt: skip
    project = SimpleNamespace(warnings=[], context={"native": {"streaming": True}})
    monkeypatch.setattr(firmware, "render", lambda *a, **k: project)
    monkeypatch.setattr(firmware, "measure", lambda p: dict(measured))
    ref = bench.reference_cost(Path(__file__).resolve().parents[1] / bench.REFERENCE_MODEL, tmp_path)
    assert ref["streaming"] is True
    assert ref["instructions_per_inference"] == 63_630 and ref["instructions_first_inference"] == 118_909
    assert ref["macs_per_second"] == 135_450  # a window's MACs at 1.5625 inferences per second
    assert ref["macs_computed_per_second"] == 45_150  # what the streaming engine computes
