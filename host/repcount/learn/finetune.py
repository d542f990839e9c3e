"""Fine-tuning an existing model, and training on recordings whose events nobody timed.

A person who records their own jump rope can say "that set was 87 jumps" (`@count`) but
cannot time 87 jumps. Such count-only spans are turned into timed events before any
window is cut: exactly N events placed where a score stream is highest under the
counter's refractory interval (repcount.learn.placement, the same exact placement
`repcount label` does). The stream is the `--init` model's int8 scores, as the device
computes them, or without `--init` the cold start (the classic peak detector constrained
to exactly N). Placement happens once, before training: docs/training.md says why.

`--init MODEL` starts from MODEL's float weights (inside its float.keras) and its card's
recipe (architecture, geometry, input range, label steps, ...), then runs the same float
phase, QAT, conversion and checks as a fresh training. What would make the result
another kind of model is refused: another task, another rate or full scale, another
input quantisation, a float.keras that does not match the card.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from repcount.data.recordings import Recording
from repcount.errors import UserError
from repcount.learn import placement, tasks
from repcount.learn.card import ModelCard, ModelDir
from repcount.learn.evaluation import Pipelines, load_float
from repcount.learn.fit import Config, Progress
from repcount.learn.model import Architecture, InputQuant


@dataclass(frozen=True)
class Init:
    """The model a fine-tuning starts from: its checked directory, float model and recipe."""

    model: ModelDir
    float_model: Any
    cfg: Config

    @property
    def record(self) -> dict[str, str]:
        """What the new card says it was fine-tuned from."""
        return {"name": self.model.card.name, "model_hash": self.model.card.model_hash}

    def pipelines(self) -> Pipelines:
        """The init model's int8 pipeline (TFLM), which places the count-only events."""
        return Pipelines(self.model.card, self.model.model_bytes, None)


def config_of(card: ModelCard, where: str) -> Config:
    """The recipe a card records, as the `Config` that trained it."""
    c = card.config
    if c is None:
        raise UserError(f"{where}: the card records no training config; fine-tune a model trained by "
                        "`repcount train` (its card.json has `config`)")
    geometry = card.geometry
    try:
        geometry.validate()
    except ValueError as exc:
        raise UserError(f"{where}: geometry window {card.window}, hop {card.hop}: {exc}") from None
    return Config(
        geometry=geometry,
        arch=Architecture(tuple(c.architecture.channels), tuple(c.architecture.kernels),
                          c.architecture.highpass or 0),
        input_range_g=c.input_range_g,
        label_steps=c.label_steps,
        train_stride=c.train_stride,
        rotations=c.rotations,
        epochs=c.epochs,
        qat_epochs=c.qat_epochs,
        batch_size=c.batch_size,
        learning_rate=c.learning_rate,
    )


def open_init(path: Path, task: tasks.Task) -> Init:
    """The `--init` model, refused unless fine-tuning it for `task` keeps it the same kind of model."""
    model = ModelDir.open(path)
    card, where = model.card, f"--init {path}"
    if not card.is_counter or card.task != task.name:
        raise UserError(f"{where}: a {card.task!r} model; --task {task.name} would change what it "
                        f"computes: fine-tune with --task {card.task}, or train a fresh model")
    if (card.sample_rate_hz, card.full_scale_g) != (task.sample_rate_hz, task.full_scale_g):
        raise UserError(f"{where}: the model runs at {card.sample_rate_hz:g} Hz, {card.full_scale_g:g} g; "
                        f"the {task.name} task at {task.sample_rate_hz:g} Hz, {task.full_scale_g:g} g")
    cfg = config_of(card, where)
    if InputQuant.for_range(cfg.input_range_g, task.full_scale_g) != card.input_quant:
        raise UserError(f"{where}: the card's input quantisation is not the one its config's input range "
                        f"({cfg.input_range_g:g} g) gives; the card was edited: restore it")
    if not model.float_path.is_file():
        raise UserError(f"{model.float_path}: missing; fine-tuning starts from the float model")
    float_model = load_float(model.float_path)
    g = cfg.geometry
    shapes = (tuple(float_model.input_shape[1:]), tuple(float_model.output_shape[1:]))
    if shapes != ((g.window, 1, 3), (g.output_len,)):
        raise UserError(f"{model.float_path}: input {shapes[0]}, output {shapes[1]}, but the card says a "
                        f"window of {g.window} x 3 and {g.output_len} scores; keep each float.keras with "
                        "its card")
    return Init(model, float_model, cfg)


def untimed(rec: Recording, task: tasks.Task) -> Recording | None:
    """`rec` with only its counts of the task's kinds, if one of them has no timed event; else None."""
    mine = replace(rec, counts=[c for c in rec.counts if c.kind in task.event_kinds])
    return mine if placement.counts_to_place(mine) else None


def refuse_untimed(recs: Sequence[Recording], task: tasks.Task, why: str) -> None:
    """Count-only recordings where timed events are needed (held-out figures, folds)."""
    names = [r.name for r in recs if untimed(r, task) is not None]
    if names:
        raise UserError(f"{', '.join(names[:3])}{' ...' if len(names) > 3 else ''}: @count spans without "
                        f"timed events; {why} (time them with `repcount label`, or leave them out)")


def place_counts(
    recs: Sequence[Recording], task: tasks.Task, init: Init | None, progress: Progress
) -> tuple[list[Recording], list[str]]:
    """The recordings with every untimed count of the task's kinds placed; and which were count-only.

    Placed with the init model's int8 stream, or the cold start without one. Recordings
    with nothing to place are returned as they are (the same objects: a training without
    count-only data is exactly the training it always was).
    """
    pipes = init.pipelines() if init is not None else None
    out, names = [], []
    for rec in recs:
        mine = untimed(rec, task)
        if mine is None:
            out.append(rec)
            continue
        if init is not None:
            init.model.check_recording(rec)
        lab = placement.label_recording(mine, pipes)
        flagged = sum(p.flagged for p in lab.placements)
        progress(f"{rec.name}: {sum(p.count.n for p in lab.placements)} events placed in "
                 f"{len(lab.placements)} count spans by {lab.placements[0].source}, {flagged} flagged")
        out.append(lab.recording)
        names.append(rec.name)
    return out, names
