"""Generator B: reproducible by seed, its own people, labels true to what it placed, its own physics."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
from repcount.commands import simulate as simulate_command
from repcount.data import generator_b
from repcount.data.generator_b.body import contact_time
from repcount.data.recordings import load
from repcount.errors import UserError


def simulate(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="repcount simulate")
    simulate_command.add_arguments(parser)
    assert simulate_command.run(parser.parse_args(argv)) == 0


def test_same_seed_same_bytes_other_seed_other_session(tmp_path: Path) -> None:
    argv = ["--generator", "b", "--mount", "handle", "--users", "2", "--minutes", "1", "--first-user", "101"]
    simulate([*argv, "--seed", "4", "--out", str(tmp_path / "a")])
    simulate([*argv, "--seed", "4", "--out", str(tmp_path / "b")])
    simulate([*argv, "--seed", "5", "--out", str(tmp_path / "c")])
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir())
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["users"] == ["simb-jr-u101", "simb-jr-u102"]  # never one of A's sim-/simw- users
    assert manifest["generator"] == "repcount simulate --generator b"
    a = load(tmp_path / "a" / "simb-jr-u101-jump-rope-handle-s4.rec")
    c = load(tmp_path / "c" / "simb-jr-u101-jump-rope-handle-s5.rec")
    assert a.meta.extra["generator"] == "b" and a.meta.extra["person"] == c.meta.extra["person"]
    assert a.acc.shape != c.acc.shape or not np.array_equal(a.acc, c.acc)


@pytest.mark.parametrize("user", [1, 2, 3])
def test_jumps_are_labelled_inside_bouts_and_distractors_hold_none(user: int) -> None:
    rec = generator_b.simulate_user("jump-rope", "wrist", user, 2.0, seed=1)
    jumps = rec.events_of(["jump", "double-under"])
    bouts = rec.segments_of(["jump-rope"])
    assert len(jumps) > 30 and bouts
    assert all(any(s.start <= t <= s.end for s in bouts) for t in jumps)
    segs = sorted(rec.segments, key=lambda s: s.start)
    assert segs[0].start == 0
    assert all(a.end == pytest.approx(b.start) for a, b in zip(segs, segs[1:], strict=False))
    negatives = generator_b.simulate_user("distractors", "wrist", user, 4.0, seed=1)
    assert not negatives.events_of(["jump", "double-under"]).size
    assert {s.activity for s in negatives.segments} <= set(generator_b.DISTRACTORS)


def test_running_in_place_is_hops_with_free_fall_at_a_jump_cadence() -> None:
    """The hardest distractor: a pocket reads ~0 g in the air and lands hard, 140-210 times a minute."""
    found = 0
    for user in range(1, 7):
        rec = generator_b.simulate_user("distractors", "pocket", user, 4.0, seed=2)
        for seg in rec.segments_of(["running-in-place"]):
            inside = (rec.t > seg.start + 1) & (rec.t < seg.end - 1)
            mag = np.linalg.norm(rec.acc[inside], axis=1)
            assert np.percentile(mag, 2) < 0.6 and np.percentile(mag, 97) > 1.6
            found += 1
    assert found >= 2


def test_cadence_follows_from_the_body_and_spans_slow_to_fast_jumpers() -> None:
    rates = []
    for user in range(1, 16):
        jumps = generator_b.simulate_user("jump-rope", "pocket", user, 1.0, seed=3).events_of(["jump"])
        gaps = np.diff(jumps)
        rates.append(60 / np.median(gaps[gaps < 1.5]))
    assert min(rates) < 100 and max(rates) > 180
    # A stiffer leg makes a shorter ground contact: the spring-mass model, not a set rhythm.
    assert contact_time(1.0, 1.0, 2 * np.pi * 4.0) < contact_time(1.0, 1.0, 2 * np.pi * 2.0)


def test_values_are_counts_at_the_files_full_scale() -> None:
    rec = generator_b.simulate_user("jump-rope", "handle", 5, 0.5, seed=1, full_scale=4.0)
    counts = rec.acc / (4 / 32768)
    assert np.array_equal(counts, np.round(counts)) and np.all(np.diff(rec.t) > 0)
    assert np.median(np.diff(rec.t)) == pytest.approx(0.02, rel=0.01)


@pytest.mark.parametrize("kwargs,message", [
    ({"activity": "walking"},
     "generator b makes no 'walking' sessions; choose one of jump-rope, distractors"),
    ({"mount": "bag"}, "generator b has no mount 'bag'; choose one of wrist, handle, pocket"),
    ({"rate": 400.0}, "sample rate 400.0 Hz is out of range for generator b"),
])
def test_bad_arguments_are_explained(kwargs: dict, message: str) -> None:
    args = {"activity": "jump-rope", "mount": "wrist", "user_index": 1, "minutes": 1.0, "seed": 1, **kwargs}
    with pytest.raises(UserError, match="^" + message.replace(".", r"\.")):
        generator_b.simulate_user(**args)


def test_generator_b_has_one_population(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="generator b has one population of its own"):
        simulate(["--generator", "b", "--population", "wide", "--out", str(tmp_path)])
