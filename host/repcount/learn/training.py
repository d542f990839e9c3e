"""Training a model end to end: data, splits, fits, the card, the model directory.

One `Request` (what to train on, whom to hold out, the recipe's overrides, where to
write) goes in; a model directory comes out: model.tflite, float.keras (the QAT model, for
float-agreement checks) and card.json (docs/model-card.md) with the exact command and
seed. The recipe of one fit is repcount.learn.fit; the splits by user and the
leave-one-user-out pooling are repcount.learn.folds.

The order is the promise: the output path is checked before anything slow starts; the
data is split by user (held-out users are never trained on, nothing is fitted on them);
leave-one-user-out folds (`cv_users`) are trained first, and when the held-out users are
exactly one fold's user that fold's model is the model written (same data, same seed:
trained once); the card is built from the converted model read back, never from what was
asked for; the directory appears under its name only when complete.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from repcount.data.recordings import Recording
from repcount.errors import UserError
from repcount.firmware.native import generate as native
from repcount.learn import activity, export, finetune, folds, tasks, tflite_model, tflm
from repcount.learn.card import ACTIVITY_TASK, ModelCard
from repcount.learn.evaluation import Pipelines, load_data, report
from repcount.learn.fit import INPUT_RANGE_G, QUICK, Config, Progress, Trained, fit
from repcount.learn.model import Architecture, strides
from repcount.outputs import atomic_dir, check_output

MIXED = "mixed"  # the card's mount when training mixed mounts


@dataclass(frozen=True)
class Request:
    """What `repcount train` was asked: data, held-out users, recipe overrides, output."""

    task: str
    data: tuple[str, ...]
    out: Path
    mount: str | None = None
    test_data: tuple[str, ...] = ()
    test_users: tuple[str, ...] = ()
    holdout_users: int | None = None
    cv_users: tuple[str, ...] = ()
    seed: int = 1
    quick: bool = False
    epochs: int | None = None
    rotations: int | None = None
    train_stride: int | None = None
    augment: int | None = None  # augmented copies of each training recording (repcount.learn.augment)
    input_range_g: float | None = None  # the int8 input's range, +-G g (a power of two)
    arch: Architecture | None = None  # channels and kernels of the convolution stack
    force: bool = False
    init: Path | None = None  # fine-tune this model directory instead of starting from random weights
    command: str | None = None  # the command line recorded in the card (None: not run as `repcount`)


def config_for(task: tasks.Task, req: Request, base: Config | None = None) -> Config:
    """The recipe for `task` (or `base`, an init model's) with the request's overrides."""
    cfg = base or Config(input_range_g=INPUT_RANGE_G[task.name])
    if req.rotations is not None:
        cfg = replace(cfg, rotations=req.rotations)
    if req.augment is not None:
        cfg = replace(cfg, augment=req.augment)
    if req.input_range_g is not None:
        cfg = replace(cfg, input_range_g=req.input_range_g)
    if req.arch is not None:
        _check_arch(req.arch, cfg)
        cfg = replace(cfg, arch=req.arch)
    if req.train_stride:
        stride = cfg.geometry.out_stride
        if req.train_stride % stride:
            raise UserError(f"--train-stride must be a multiple of the output stride ({stride})")
        cfg = replace(cfg, train_stride=req.train_stride)
    if req.quick:
        cfg = replace(cfg, **QUICK)
    if req.epochs:
        cfg = replace(cfg, epochs=req.epochs)
    return cfg


def _check_arch(arch: Architecture, cfg: Config) -> None:
    """Refuse a stack that cannot give one score per output stride (too few layers to stride by)."""
    n = len(arch.channels)
    if arch.highpass < 0:
        raise UserError(f"--highpass {arch.highpass}: must be at least 0 (0: none)")
    if n != len(arch.kernels) or min(arch.channels + arch.kernels) < 1:
        raise UserError(f"--channels and --kernels: one positive number per layer each, got {n} channels "
                        f"and {len(arch.kernels)} kernels")
    if strides(arch, cfg.geometry.out_stride).count(2) != int(cfg.geometry.out_stride).bit_length() - 1:
        raise UserError(f"--channels: at least {int(cfg.geometry.out_stride).bit_length()} layers (the "
                        f"first and one stride-2 layer per halving of the output stride "
                        f"{cfg.geometry.out_stride})")


def config_record(cfg: Config) -> dict:
    """The card's `config`; `augment` and `highpass` only when on: cards without them are unchanged."""
    record = {
        "architecture": {k: v for k, v in asdict(cfg.arch).items() if k != "highpass" or v},
        "input_range_g": cfg.input_range_g,
        "label_steps": cfg.label_steps,
        "train_stride": cfg.train_stride,
        "rotations": cfg.rotations,
        "epochs": cfg.epochs,
        "qat_epochs": cfg.qat_epochs,
        "batch_size": cfg.batch_size,
        "learning_rate": cfg.learning_rate,
    }
    if cfg.augment:
        record["augment"] = {"copies": cfg.augment, **asdict(cfg.augment_ranges)}
    return record


def make_card(name: str, task: tasks.Task, cfg: Config, trained: Trained, mount: str) -> dict:
    """docs/model-card.md, from the converted model read back (never from what we asked for)."""
    m = tflite_model.read(trained.tflite)
    in_scale, in_zp = export.input_quant(m)
    out_scale, out_zp = export.output_quant(m)
    g = cfg.geometry
    macs = native.macs(m)
    return {
        "name": name,
        "task": task.name,
        "mount": mount,
        "sample_rate_hz": task.sample_rate_hz,
        "full_scale_g": task.full_scale_g,
        "window": g.window,
        "hop": g.hop,
        "input_len": g.window * 3,
        "output_len": g.output_len,
        "input": {**trained.q.card(), "scale": in_scale, "zero_point": in_zp},
        "output": {"scale": out_scale, "zero_point": out_zp},
        "counting": {k: v for k, v in trained.counting.items() if k != "train_objective"},
        "model_hash": m.model_hash,
        "tflite_bytes": len(trained.tflite),
        "ops": m.op_names,
        "macs_per_inference": macs,
        "macs_per_second": round(macs * task.sample_rate_hz / g.hop),
        "arena_bytes": tflm.measure_arena(trained.tflite),
        "config": config_record(cfg),
    }


def as_model_card(card: dict) -> ModelCard:
    """The typed card of a card being built, exactly as a reader of its card.json would see it."""
    return ModelCard.from_dict(json.loads(json.dumps(card)))


def write_model(out: Path, card: dict, trained: Trained, force: bool) -> None:
    """Write the three files a model directory holds (docs/model-card.md), all or nothing.

    The card is validated as `ModelCard` first: a card the readers (firmware, evaluate,
    hil) would refuse must never be written.
    """
    text = json.dumps(card, indent=2) + "\n"
    ModelCard.from_dict(json.loads(text), str(out / "card.json"))
    with atomic_dir(out, force) as tmp:
        (tmp / "model.tflite").write_bytes(trained.tflite)
        trained.qat_model.save(tmp / "float.keras")
        (tmp / "card.json").write_text(text)


def held_out(card: dict, trained: Trained, recs: Sequence[Recording], progress: Progress) -> dict:
    """The float, int8 and baseline figures on users kept out of training (held-out split or LOUO fold)."""
    pipes = Pipelines(as_model_card(card), trained.tflite, trained.qat_model)
    return report(pipes.run(recs, ("float", "int8", "baseline"), progress), pipes.task)


def _load(
    req: Request, task: tasks.Task, init: finetune.Init | None = None
) -> tuple[list[Recording], list[Recording], list[Recording]]:
    """(all of --data, training recordings, held-out recordings), mount-filtered and split by user.

    Count-only recordings may only be trained on: held-out figures and folds are measured
    against timed events. With an init model every recording must be at its rate.
    """
    data = folds.by_mount(load_data(req.data), req.mount)
    test = folds.by_mount(load_data(req.test_data), req.mount) if req.test_data else None
    recs, held = folds.split(data, test, req.test_users, req.holdout_users, req.seed)
    if task.name != ACTIVITY_TASK:
        finetune.refuse_untimed(held, task, "held-out recordings are measured against timed events")
        if req.cv_users:
            finetune.refuse_untimed(data, task, "--cv-users measures every user against timed events")
    if init is not None:
        for rec in data + held:
            init.model.check_recording(rec)
    return data, recs, held


def _check_events(recs: Sequence[Recording], task: tasks.Task) -> None:
    """Refuse training data without a single event to count: the model would learn to say no."""
    if not any(len(r.events_of(task.event_kinds)) for r in recs):
        raise UserError(
            f"--data: no events of kind {', '.join(task.event_kinds)} in the {len(recs)} training "
            f"recordings; a {task.name} counter learns from labelled events (@event lines, "
            "docs/recording-format.md)"
        )


def _cross_validate(
    data: list[Recording], req: Request, task: tasks.Task, cfg: Config, progress: Progress, init: Any = None
) -> tuple[dict[str, dict], dict[str, Trained]]:
    """Leave-one-user-out over `req.cv_users`: each fold's held-out figures and model.

    With `--init` every fold is fine-tuned from the same float model, as the model written is.
    """
    results, models = {}, {}
    if req.cv_users:
        folds.check_users("--cv-users", req.cv_users, data)
    for u in req.cv_users:
        progress(f"leave-one-user-out fold: holding out {u}")
        fold = fit([r for r in data if r.meta.user != u], task, cfg, req.seed, progress, init)
        fold_card = make_card("fold", task, cfg, fold, req.mount or MIXED)
        results[u] = held_out(fold_card, fold, [r for r in data if r.meta.user == u], progress)
        models[u] = fold
    return results, models


def _training_record(req: Request, train_users: list[str], held_users: list[str], n_recs: int,
                     started: float) -> dict:
    """The card's `training`: how to retrain it, and whom it never saw."""
    return {
        "command": req.command,
        "seed": req.seed,
        "data": list(req.data),
        "test_data": list(req.test_data),
        "train_users": train_users,
        "held_out_users": held_users,
        "cv_users": list(req.cv_users),
        "train_recordings": n_recs,
        "seconds": round(time.monotonic() - started, 1),
        "quick": req.quick,
    }


def train(req: Request, progress: Progress) -> dict:
    """Train the model `req` asks for and write its directory; returns the card written."""
    started = time.monotonic()
    task = tasks.get(req.task)
    check_output(req.out, "dir", req.force)
    if task.name == ACTIVITY_TASK:
        return train_activity(req, task, progress, started)
    init = finetune.open_init(req.init, task) if req.init else None
    cfg = config_for(task, req, init.cfg if init else None)
    data, recs, test = _load(req, task, init)
    recs, count_only = finetune.place_counts(recs, task, init, progress)
    _check_events(recs, task)
    init_float = init.float_model if init else None
    fold_results, fold_models = _cross_validate(data, req, task, cfg, progress, init_float)
    held_users = sorted({r.meta.user for r in test})
    reused = held_users[0] if len(held_users) == 1 and held_users[0] in fold_models else None
    if reused:
        progress(f"the model written is the fold without {reused} (the same data and seed)")
        trained = fold_models[reused]
    else:
        trained = fit(recs, task, cfg, req.seed, progress, init_float)
    card = make_card(req.out.name, task, cfg, trained, req.mount or MIXED)
    metrics_obj: dict = {}
    if reused:
        metrics_obj["held_out"] = fold_results[reused]
    elif test:
        progress(f"measuring on {len(test)} held-out recordings")
        metrics_obj["held_out"] = held_out(card, trained, test, progress)
    if fold_results:
        metrics_obj["leave_one_user_out"] = folds.pool_folds(fold_results)
    card["training"] = _training_record(req, trained.train_users, held_users, len(recs), started)
    if init is not None:
        card["training"]["init_model"] = init.record
    if count_only:
        card["training"]["count_only"] = count_only
    card["metrics"] = metrics_obj
    write_model(req.out, card, trained, req.force)
    progress(f"wrote {req.out}/model.tflite ({card['tflite_bytes']} bytes), float.keras, card.json")
    return card


def train_activity(req: Request, task: tasks.Task, progress: Progress, started: float) -> dict:
    """`--task activity`: the window classifier (repcount.learn.activity), held out by user."""
    if req.cv_users:
        raise UserError("--cv-users is for the counting tasks; hold out users of an activity model with "
                        "--test-users, --holdout-users or --test-data")
    if req.init:
        raise UserError("--init fine-tunes a counting model (jump-rope, steps); train an activity model "
                        "afresh")
    _, recs, test = _load(req, task)
    rates = {r.meta.sample_rate_hz for r in recs + test}
    if rates != {task.sample_rate_hz}:
        raise UserError(
            f"activity windows are {activity.WINDOW} samples at {task.sample_rate_hz:g} Hz; the "
            f"recordings are at {', '.join(f'{x:g}' for x in sorted(rates))} Hz (simulate or import "
            f"them with --rate {task.sample_rate_hz:g})"
        )
    epochs = req.epochs or (QUICK["epochs"] if req.quick else Config.epochs)
    qat_epochs = QUICK["qat_epochs"] if req.quick else Config.qat_epochs
    t = activity.fit(recs, task.full_scale_g, epochs, qat_epochs, req.seed, progress)
    card = activity.make_card(req.out.name, task, req.mount or MIXED, t)
    card["training"] = {
        "command": req.command,
        "seed": req.seed,
        "data": list(req.data),
        "test_data": list(req.test_data),
        "train_users": sorted({r.meta.user for r in recs}),
        "held_out_users": sorted({r.meta.user for r in test}),
        "seconds": round(time.monotonic() - started, 1),
        "quick": req.quick,
    }
    card["metrics"] = (
        {"held_out": activity.measure(as_model_card(card), t.tflite, t.qat_model, test)} if test else {}
    )
    write_model(req.out, card, Trained(t.qat_model, t.tflite, {}, t.q, card["training"]["train_users"]),
                req.force)
    return card
