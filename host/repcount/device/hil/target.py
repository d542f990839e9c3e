"""What HIL compares the device with: the model (card, int8 model, host pipelines) and the
recordings replayed to it, checked before anything is sent.

A recording must be at the model's rate (the device is sent samples as its IMU would
deliver them) and give the device at least one window to infer on: a run that compares
nothing must not pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from repcount.data.importers import load_oxford
from repcount.data.recordings import Recording
from repcount.errors import UserError
from repcount.learn import evaluation, tflite_model
from repcount.learn.card import ModelCard, ModelDir

Identity = dict[str, str | int | float]  # INFO's fields as a firmware of the model says them


def model_identity(card: ModelCard, model_hash: str) -> Identity:
    """What a firmware rendered from this model says in INFO (the fields HIL checks)."""
    c = card.counter
    return {
        "model_hash": model_hash,
        "window": card.window,
        "hop": card.hop,
        "output_len": card.output_len,
        "threshold": c.threshold,
        "refractory": c.refractory,
        "take_start": c.take_start,
        "take_count": c.take_count,
        "out_stride": c.out_stride,
        "sample_rate_hz": card.sample_rate_hz,
        "full_scale_g": int(card.full_scale_g),
    }


@dataclass
class Target:
    """The model HIL compares with: card, int8 model, host pipelines (repcount.learn.evaluation)."""

    directory: Path
    card: ModelCard
    pipes: evaluation.Pipelines
    has_float: bool

    @property
    def name(self) -> str:
        return self.card.name

    @property
    def identity(self) -> Identity:
        return model_identity(self.card, tflite_model.model_hash(self.pipes.model_bytes))


def load_target(model_dir: Path, with_float: bool = True) -> Target:
    """The model directory's card and pipelines; the float model if it is there and wanted."""
    model = ModelDir.open(model_dir)
    has_float = with_float and model.float_path.is_file()
    pipes = evaluation.load_pipelines(model, has_float)
    return Target(model.path, model.card, pipes, has_float)


def check_recording(rec: Recording, card: ModelCard) -> None:
    """The device is sent samples at the model's rate, so a recording must be at that rate."""
    card.check_recording(rec)


def check_recordings(recordings: Sequence[Recording], card: ModelCard) -> None:
    """Refuse, before any replay, recordings that would leave nothing to compare.

    No recording, or none as long as one window: the device would infer nothing, every
    comparison would hold vacuously, and "0 of 0 outputs differ" is no verdict."""
    if not recordings:
        raise UserError("no recordings to replay; give --data with recording files or directories")
    for rec in recordings:
        check_recording(rec, card)
    window = card.window
    if all(len(rec.acc) < window for rec in recordings):
        longest = max(len(rec.acc) for rec in recordings)
        raise UserError(
            f"nothing to compare: every recording is shorter than the model's window of {window} "
            f"samples ({window / card.sample_rate_hz:g} s; the longest has {longest}), so "
            "the device would infer nothing; give longer recordings"
        )


def recording_names(recordings: Sequence[Recording]) -> list[str]:
    """A distinct name per recording for tables and plot files: the file name, else the
    imported trace's name (Oxford), else the user; repeats get -2, -3, ..."""
    names: list[str] = []
    for rec in recordings:
        base = rec.name if rec.path is not None else str(rec.meta.extra.get("trace", rec.name))
        name, k = base, 1
        while name in names:
            k += 1
            name = f"{base}-{k}"
        names.append(name)
    return names


def select(recordings: Sequence[Recording], users: Sequence[str] | None) -> list[Recording]:
    """The recordings of --users (all if none given); a UserError naming the users present if none match."""
    if not users:
        return list(recordings)
    kept = [r for r in recordings if r.meta.user in set(users)]
    if not kept:
        present = ", ".join(sorted({r.meta.user for r in recordings}))
        raise UserError(f"no recordings of users {', '.join(users)} (users present: {present})")
    return kept


def unseen_oxford_traces(card: ModelCard) -> list[Recording]:
    """The Oxford traces of the people a steps model never saw: its card's held-out users
    (--test-users) who are not among its training users (a --cv-users fold's user is).
    The HIL suite and the benchmark replay them; UserError when there are none."""
    training = card.training
    users = sorted(set(training.held_out_users) - set(training.train_users)) if training else []
    if not users:
        raise UserError(f"{card.name}: its card names no held-out user (train it with --test-users)")
    traces = [r for r in load_oxford() if r.meta.user in users]
    if not traces:
        raise UserError(f"{card.name}: no Oxford traces of its held-out users {', '.join(users)}")
    return traces
