"""`repcount label` end to end: simulated sessions whose timed jumps are replaced by one
@count per bout, placed by the cold start and by a shipped model, against the hidden truth."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from repcount.data.recordings import Count, load, save
from repcount.data.simulation import simulate_user
from repcount.learn import metrics, placement, tasks

REPO = Path(__file__).resolve().parents[1]
JR = tasks.get("jump-rope")


def label(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "repcount.cli", "label", *map(str, args)],
                          capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def count_only(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    """Two simulated wrist sessions with one @count per jump-rope bout and no timed jump,
    plus one recording without counts; and the hidden true jump times per file."""
    data = tmp_path_factory.mktemp("count-only")
    truth = {}
    for user in (101, 102):
        rec = simulate_user("jump-rope", "wrist", user, 2.0, seed=5)
        save(placement.counted_only(rec, JR), data / f"u{user}.rec")
        truth[f"u{user}.rec"] = rec.events_of(JR.event_kinds)
    save(simulate_user("walking", "wrist", 3, 0.5, seed=5), data / "walk.rec")
    return data, truth


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def matched_share(out: Path, truth: dict[str, np.ndarray], tolerance_s: float = 0.1) -> float:
    tp = total = 0
    for name, true_t in truth.items():
        placed = load(out / name).events_of(["jump"])
        assert len(placed) == len(true_t)  # exactly N per count, so exactly the true total
        tp += metrics.event_scores(true_t, placed, tolerance_s)["tp"]
        total += len(true_t)
    return tp / total


def test_cold_start_places_exactly_n_and_leaves_inputs_untouched(count_only, tmp_path: Path) -> None:
    data, truth = count_only
    before = digests(data)
    out = tmp_path / "placed"
    run = label("--data", data, "--out", out)
    assert run.returncode == 0, run.stderr
    assert digests(data) == before
    for name in truth:
        rec = load(out / name)
        assert rec.meta.extra["events_placed_by"] == "cold-start"
        assert rec.meta.extra["placed_kinds"] == "jump"
        for c in rec.counts:
            inside = [e for e in rec.events if e.kind == "jump" and c.start <= e.t < c.end]
            assert len(inside) == c.n
    assert (out / "walk.rec").read_bytes() == (data / "walk.rec").read_bytes()  # copied unchanged
    assert matched_share(out, truth) >= 0.9
    assert "FLAGGED" in run.stdout or "0 flagged" in run.stdout


def test_a_shipped_model_places_the_hidden_truth(count_only, tmp_path: Path) -> None:
    data, truth = count_only
    out = tmp_path / "placed"
    run = label("--model", REPO / "models" / "jumprope-wrist", "--data", data, "--out", out, "--json")
    assert run.returncode == 0, run.stderr
    obj = json.loads(run.stdout)
    card = json.loads((REPO / "models" / "jumprope-wrist" / "card.json").read_text())
    assert obj["placed_by"] == f"model jumprope-wrist {card['model_hash']}"
    assert obj["copied_recordings"] == ["walk.rec"]
    assert sorted(obj["placed_recordings"]) == sorted(truth)
    flags = [c["flagged"] for c in obj["counts"]]
    assert flags == sorted(flags, reverse=True)  # flagged counts come first
    assert all(len(c["placed"]) == c["n"] for c in obj["counts"])
    assert load(out / "u101.rec").meta.extra["events_placed_by"] == obj["placed_by"]
    assert matched_share(out, truth) >= 0.95


def test_outputs_are_never_replaced_without_force(count_only, tmp_path: Path) -> None:
    data, _ = count_only
    out = tmp_path / "placed"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    run = label("--data", data, "--out", out)
    assert run.returncode == 2 and "already exists" in run.stderr
    assert (out / "keep.txt").read_text() == "mine"
    plots = tmp_path / "plots"
    assert label("--data", data, "--out", out, "--force", "--plot", plots).returncode == 0
    assert not (out / "keep.txt").exists()
    assert sorted(p.name for p in plots.iterdir()) == ["u101.png", "u102.png"]  # placed ones only


def test_counts_that_cannot_be_placed_are_clear_errors(count_only, tmp_path: Path) -> None:
    data, _ = count_only
    rec = load(data / "u101.rec")
    c = rec.counts[0]
    save(replace(rec, counts=[Count(c.start, c.start + 1.0, "jump", 40)]), tmp_path / "bad.rec")
    run = label("--data", tmp_path / "bad.rec", "--out", tmp_path / "out")
    assert run.returncode == 2
    assert "bad.rec: @count" in run.stderr and "do not fit" in run.stderr
    assert not (tmp_path / "out").exists()
    save(replace(rec, counts=[Count(c.start, c.end, "step", 3)]), tmp_path / "steps.rec")
    run = label("--model", REPO / "models" / "jumprope-wrist", "--data", tmp_path / "steps.rec",
                "--out", tmp_path / "out")
    assert run.returncode == 2 and "counts of step, but model jumprope-wrist counts" in run.stderr
