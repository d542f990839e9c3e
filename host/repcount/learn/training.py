"""Train a quantization-aware counting CNN and export it as an int8 model with its card.

Steps: cut windows from the recordings (int8 inputs exactly as the device computes them,
wake-word labels on the score steps just after each event), train the float model, then
fine-tune it quantization-aware (tfmot), convert a batch-size-1 copy to a full-integer
int8 .tflite, check it (no float tensor, no QUANTIZE/DEQUANTIZE, only ops the firmware
engines support, batch 1, the device's input scale), run it in TFLite Micro's kernels on
the training users to choose the counting threshold, refractory interval and event
offset, and measure it on held-out users. Splits are always by user: held-out users are
never trained on and nothing (thresholds, offsets) is fitted on them.

The output directory gets model.tflite, float.keras (the QAT model, for float-agreement
checks) and card.json (docs/model-card.md) with the exact command and seed.

Held-out users come from --test-data (separate recordings), --test-users (users of --data,
by name) or --holdout-users N (N users of --data, chosen by the seed). --cv-users adds a
leave-one-user-out estimate over --data: one model per named user, trained without that
user. The model written is trained on --data minus the held-out users (on everybody when
there are none); when that is exactly one fold's training set, the fold's model is it.

Examples:
  repcount simulate --activity jump-rope --mount wrist --users 12 --minutes 4 --seed 1 --out data/jr
  repcount train --task jump-rope --data data/jr --holdout-users 3 --out models/my-jr --seed 1
  repcount train --task jump-rope --data data/jr --out models/quick --quick --json
  repcount train --task steps --data oxford data/walk --test-users oxford-dario \\
      --cv-users oxford-jamie oxford-carmelo oxford-dario --out models/steps
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from repcount.data.recordings import Recording
from repcount.errors import UserError
from repcount.firmware.native import generate as native
from repcount.learn import counting, export, tasks, tflite_model
from repcount.learn.card import ModelCard
from repcount.learn.evaluation import Pipelines, load_data, report
from repcount.learn.model import (
    Architecture,
    Geometry,
    InputQuant,
    dequantize,
    int8_input,
    step_labels,
    window_labels,
    windows,
)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Config:
    """Everything that shapes a trained model; recorded in the card."""

    geometry: Geometry = field(default_factory=Geometry)
    arch: Architecture = field(default_factory=Architecture)
    input_range_g: float = 4.0  # int8 input covers [-4 g, 4 g): scale 1/32 g
    label_steps: int = 2
    train_stride: int = 8  # samples between training windows
    rotations: int = 2  # extra copies of each training recording, turned to random orientations
    epochs: int = 16
    qat_epochs: int = 6
    batch_size: int = 64
    learning_rate: float = 3e-3


QUICK = {"epochs": 6, "qat_epochs": 2}
# int8 input range per task: rope landings reach several g at the wrist; a phone in a bag
# or a pocket sees steps of a few tenths of a g, which a finer step (1/64 g) keeps visible
INPUT_RANGE_G = {"jump-rope": 4.0, "steps": 2.0}


@dataclass
class Trained:
    qat_model: object
    tflite: bytes
    counting: dict
    q: InputQuant
    train_users: list[str]


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random 3-D rotation matrix (QR of a Gaussian matrix, signs fixed)."""
    qm, r = np.linalg.qr(rng.normal(size=(3, 3)))
    qm = qm * np.sign(np.diag(r))
    return qm if np.linalg.det(qm) > 0 else -qm


def augmented(recs: Sequence[Recording], copies: int, seed: int) -> list[Recording]:
    """The recordings plus `copies` turned copies of each: the sensor may sit any way round.

    A wrist band or a handle can be worn at any angle, and the user's own data cannot
    show every angle; turning the acceleration vector is exactly what another mounting
    would have measured (gravity included), so the model learns orientation-free cues.
    """
    rng = np.random.default_rng(seed)
    out = list(recs)
    for rec in recs:
        for _ in range(copies):
            out.append(replace(rec, acc=rec.acc @ random_rotation(rng).T))
    return out


def training_arrays(recs: Sequence[Recording], task: tasks.Task, cfg: Config, q: InputQuant) -> tuple:
    """Dequantised int8 windows (N, window, 1, 3) and their per-step targets (N, output_len)."""
    xs, ys = [], []
    g = cfg.geometry
    for rec in recs:
        x = windows(int8_input(rec, q), g, cfg.train_stride)
        labels = step_labels(rec, task.event_kinds, g.out_stride, cfg.label_steps)
        xs.append(dequantize(x, q.scale, q.zero_point))
        ys.append(window_labels(labels, g, cfg.train_stride, len(x)))
    if not xs or sum(len(x) for x in xs) == 0:
        raise UserError(f"recordings too short: each needs at least {g.window} samples")
    return np.concatenate(xs), np.concatenate(ys)


def _epoch_log(label: str, progress: Progress):  # noqa: ANN202
    """A Keras callback printing one line per epoch on stderr (stdout is kept for --json)."""
    import tf_keras as keras

    class Log(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            parts = ", ".join(f"{k} {v:.4f}" for k, v in (logs or {}).items())
            progress(f"{label} epoch {epoch + 1}/{self.params['epochs']}: {parts}")

    return Log()


def _fit_phase(model, x: np.ndarray, y: np.ndarray, batch_size: int, epochs: int, label: str,  # noqa: ANN001
               progress: Progress) -> None:
    """One training phase (float or QAT): both must shuffle and log alike for the runs to stay comparable."""
    model.fit(
        x,
        y,
        batch_size=batch_size,
        epochs=epochs,
        shuffle=True,
        verbose=0,
        callbacks=[_epoch_log(label, progress)],
    )


def fit(recs: Sequence[Recording], task: tasks.Task, cfg: Config, seed: int, progress: Progress) -> Trained:
    """Train float then QAT on `recs`, convert and check the int8 model, choose counting params."""
    import tensorflow as tf
    import tf_keras as keras

    from repcount.learn.model import build_model

    tf.config.experimental.enable_op_determinism()
    q = InputQuant.for_range(cfg.input_range_g, task.full_scale_g)
    x, y = training_arrays(augmented(recs, cfg.rotations, seed), task, cfg, q)
    progress(f"{len(x)} training windows from {len(recs)} recordings, {y.mean():.1%} positive steps")
    model = build_model(cfg.geometry, cfg.arch, seed)
    model.compile(keras.optimizers.Adam(cfg.learning_rate), "binary_crossentropy")
    _fit_phase(model, x, y, cfg.batch_size, cfg.epochs, "float", progress)
    qat = export.quantize(model, q)
    qat.compile(keras.optimizers.Adam(cfg.learning_rate / 5), "binary_crossentropy")
    _fit_phase(qat, x, y, cfg.batch_size, cfg.qat_epochs, "QAT", progress)
    rng = np.random.default_rng(seed)
    rep = x[rng.choice(len(x), size=min(len(x), 256), replace=False)]
    tfl = export.convert(qat, build_model(cfg.geometry, cfg.arch, seed, batch_size=1), q, rep)
    export.check(tflite_model.read(tfl), q)
    progress(f"converted: {len(tfl)} bytes, checks passed; choosing counting parameters on training users")
    params = choose_counting(recs, task, cfg.geometry, q, tfl)
    return Trained(qat, tfl, params, q, sorted({r.meta.user for r in recs}))


def _peaks(s: np.ndarray) -> np.ndarray:
    """Steps the counter could take as events (local maxima, ties resolved to the first)."""
    prev = np.concatenate([[counting.INT8_MIN], s[:-1]])
    nxt = np.concatenate([s[1:], [127]])
    idx = np.nonzero((s > prev) & (s >= nxt))[0]
    return idx[idx < len(s) - 1]  # the last step waits for a successor that never comes


def _accept(peaks: np.ndarray, scores: np.ndarray, threshold: int, refractory: int) -> np.ndarray:
    """What `counting.Counter` decides, from precomputed peaks (tests check they agree)."""
    kept, last = [], -(1 << 30)
    for p in peaks[scores[peaks] >= threshold]:
        if p - last >= refractory:
            kept.append(p)
            last = p
    return np.array(kept, dtype=np.int64)


def choose_counting(
    recs: Sequence[Recording], task: tasks.Task, g: Geometry, q: InputQuant, model_bytes: bytes
) -> dict:
    """Threshold, refractory and event offset fitted on the (training) recordings' int8 scores.

    The offset is the median lag between an event and the step the counter reports; the
    threshold and refractory minimise count error plus false counts, ties broken by F1.
    """
    from repcount.learn import metrics, tflm
    from repcount.learn.evaluation import inference_windows

    base = dict(take_start=g.take_start, take_count=g.take_count, out_stride=g.out_stride)
    streams, trues, distractor_masks = [], [], []
    for rec in recs:
        outs = tflm.run(model_bytes, inference_windows(int8_input(rec, q), g))
        s = np.fromiter(counting.stream(outs, counting.CountingParams(0, 1, **base)), dtype=np.int64)
        streams.append(s)
        trues.append(rec.events_of(task.event_kinds))
        centres = (g.take_start + np.arange(len(s))) * g.out_stride + g.out_stride / 2
        times = np.interp(centres, np.arange(len(rec.t)), rec.t)
        mask = np.zeros(len(s), dtype=bool)
        for seg in rec.segments:
            if seg.activity not in task.target_activities:
                mask |= (times >= seg.start) & (times < seg.end)
        distractor_masks.append(mask)

    def times_of(rec: Recording, steps: np.ndarray) -> np.ndarray:
        centres = (g.take_start + steps) * g.out_stride + g.out_stride / 2
        return np.interp(centres, np.arange(len(rec.t)), rec.t)

    peaks = [_peaks(s) for s in streams]
    lags = []
    for rec, s, p, t in zip(recs, streams, peaks, trues, strict=True):
        pred = times_of(rec, _accept(p, s, 0, 2))
        pairs = metrics.match_events(t, pred, 3 * task.event_tolerance_s)
        lags += [t[i] - pred[j] for i, j in pairs]
    offset = float(np.median(lags)) if lags else 0.0
    n_true = max(sum(len(t) for t in trues), 1)
    max_ref = max(1, int(0.25 * task.sample_rate_hz / g.out_stride))
    candidates = []
    for thr in range(-96, 125, 4):
        for ref in range(1, max_ref + 1):
            err = false = 0
            for s, p, t, m in zip(streams, peaks, trues, distractor_masks, strict=True):
                acc = _accept(p, s, thr, ref)
                err += abs(len(acc) - len(t))
                false += int(m[acc].sum()) if len(acc) else 0
            candidates.append(((err + false) / n_true, thr, ref))
    # equal cost: prefer the threshold nearest 0 (p = 0.5), the widest margin on both sides,
    # rather than the lowest one, which unseen users' weaker double peaks would cross
    candidates.sort(key=lambda c: (c[0], abs(c[1]), c[2]))
    best = None
    for cost, thr, ref in candidates[:8]:
        tp = fp = fn = 0
        for rec, s, p, t in zip(recs, streams, peaks, trues, strict=True):
            sc = metrics.event_scores(
                t, times_of(rec, _accept(p, s, thr, ref)) + offset, task.event_tolerance_s
            )
            tp, fp, fn = tp + int(sc["tp"]), fp + int(sc["fp"]), fn + int(sc["fn"])
        f1 = float(metrics.prf(tp, fp, fn)["event_f1"])
        key = (f1 - cost, thr, ref)
        if best is None or key[0] > best[0]:
            best = key
    assert best is not None
    return {
        "threshold": best[1],
        "refractory": best[2],
        **base,
        "event_offset_s": round(offset, 4),
        "train_objective": round(best[0], 5),
    }


def make_card(name: str, task: tasks.Task, cfg: Config, trained: Trained, mount: str) -> dict:
    """docs/model-card.md, from the converted model read back (never from what we asked for)."""
    from repcount.learn import tflm

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
        "config": {
            "architecture": asdict(cfg.arch),
            "input_range_g": cfg.input_range_g,
            "label_steps": cfg.label_steps,
            "train_stride": cfg.train_stride,
            "rotations": cfg.rotations,
            "epochs": cfg.epochs,
            "qat_epochs": cfg.qat_epochs,
            "batch_size": cfg.batch_size,
            "learning_rate": cfg.learning_rate,
        },
    }


def write_model(out: Path, card: dict, trained: Trained) -> None:
    """Write the three files a model directory holds (docs/model-card.md): firmware and HIL read them."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "model.tflite").write_bytes(trained.tflite)
    trained.qat_model.save(out / "float.keras")
    (out / "card.json").write_text(json.dumps(card, indent=2) + "\n")


def held_out(card: dict, trained: Trained, recs: Sequence[Recording], progress: Progress) -> dict:
    """The float, int8 and baseline figures on users kept out of training (held-out split or LOUO fold)."""
    pipes = Pipelines(ModelCard.from_dict(card), trained.tflite, trained.qat_model)
    return report(pipes.run(recs, ("float", "int8", "baseline"), progress), pipes.task)


def split_users(recs: Sequence[Recording], n_holdout: int, seed: int) -> tuple[list[str], list[str]]:
    """(training users, held-out users): split by user, not window, so no person is seen on both sides."""
    users = sorted({r.meta.user for r in recs})
    if n_holdout >= len(users):
        raise UserError(
            f"--holdout-users {n_holdout}: the data has only {len(users)} users; keep at least one "
            "for training"
        )
    rng = np.random.default_rng(seed)
    test = sorted(rng.choice(users, size=n_holdout, replace=False).tolist())
    return [u for u in users if u not in test], test


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--task",
        required=True,
        choices=["jump-rope", "steps", "activity"],
        help="what to count (activity: a 200 x 3 window classifier of the segments' activities)",
    )
    p.add_argument("--data", required=True, nargs="+", help="recording files/directories, or `oxford`")
    p.add_argument("--out", required=True, type=Path, help="model directory to write, e.g. models/my-model")
    p.add_argument("--mount", help="train only on recordings of this mount (e.g. wrist)")
    held = p.add_mutually_exclusive_group()
    held.add_argument("--test-data", nargs="+", help="held-out users' recordings, measured after training")
    held.add_argument("--test-users", nargs="+", help="hold out these users of --data (by name)")
    held.add_argument("--holdout-users", type=int, help="hold out this many users of --data (chosen by seed)")
    p.add_argument(
        "--cv-users",
        nargs="+",
        help="leave-one-user-out over --data: leave each of these users out in turn (an estimate; "
        "the model written is trained on --data minus the held-out users)",
    )
    p.add_argument("--seed", type=int, default=1, help="seeds weights, shuffling and splits (default 1)")
    p.add_argument("--quick", action="store_true", help="few epochs: a fast demo model, less accurate")
    p.add_argument("--epochs", type=int, help="float epochs (default 16; --quick 6)")
    p.add_argument("--rotations", type=int, help="turned copies of each training recording (default 2)")
    p.add_argument("--train-stride", type=int, help="samples between training windows (default 8)")
    p.add_argument("--json", action="store_true", help="print the card as one JSON object on stdout")


def _split(args: argparse.Namespace, data: list[Recording]) -> tuple[list[Recording], list[Recording]]:
    """(training recordings, held-out recordings) from --test-data, --test-users or --holdout-users."""
    if args.test_data:
        test = _filter(load_data(args.test_data), args.mount)
        overlap = {r.meta.user for r in test} & {r.meta.user for r in data}
        if overlap:
            raise UserError(
                f"users {', '.join(sorted(overlap))} are in both --data and --test-data; "
                "held-out users must never be trained on"
            )
        return data, test
    if not (args.test_users or args.holdout_users):
        return data, []
    if args.test_users:
        _check_users("--test-users", args.test_users, data)
    test_users = args.test_users or split_users(data, args.holdout_users, args.seed)[1]
    recs = [r for r in data if r.meta.user not in test_users]
    if not recs:
        raise UserError("--test-users names every user of --data; keep at least one for training")
    return recs, [r for r in data if r.meta.user in test_users]


def _check_users(option: str, users: Sequence[str], recs: Sequence[Recording]) -> None:
    """Refuse a user name that has no recordings: a typo would silently hold out nobody."""
    present = {r.meta.user for r in recs}
    missing = [u for u in users if u not in present]
    if missing:
        raise UserError(
            f"{option}: no recordings of {', '.join(missing)} (users present: {', '.join(sorted(present))})"
        )


def _filter(recs: list[Recording], mount: str | None) -> list[Recording]:
    if mount is None:
        return recs
    kept = [r for r in recs if r.meta.mount == mount]
    if not kept:
        raise UserError(
            f"no recordings with mount {mount!r} (mounts present: "
            f"{', '.join(sorted({r.meta.mount for r in recs}))})"
        )
    return kept


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    task = tasks.get(args.task)

    def progress(msg: str) -> None:
        print(f"[{time.monotonic() - started:6.1f} s] {msg}", file=sys.stderr, flush=True)

    if task.name == "activity":
        return _run_activity(args, task, progress, started)
    cfg = Config(input_range_g=INPUT_RANGE_G[task.name])
    if args.rotations is not None:
        cfg = replace(cfg, rotations=args.rotations)
    if args.train_stride:
        stride = cfg.geometry.out_stride
        if args.train_stride % stride:
            raise UserError(f"--train-stride must be a multiple of the output stride ({stride})")
        cfg = replace(cfg, train_stride=args.train_stride)
    if args.quick:
        cfg = replace(cfg, **QUICK)
    if args.epochs:
        cfg = replace(cfg, epochs=args.epochs)
    data = _filter(load_data(args.data), args.mount)
    recs, test = _split(args, data)
    folds, fold_models = {}, {}
    if args.cv_users:
        _check_users("--cv-users", args.cv_users, data)
        for u in args.cv_users:
            progress(f"leave-one-user-out fold: holding out {u}")
            fold = fit([r for r in data if r.meta.user != u], task, cfg, args.seed, progress)
            fold_card = make_card("fold", task, cfg, fold, args.mount or "mixed")
            folds[u] = held_out(fold_card, fold, [r for r in data if r.meta.user == u], progress)
            fold_models[u] = fold
    held_users = sorted({r.meta.user for r in test})
    reused = held_users[0] if len(held_users) == 1 and held_users[0] in fold_models else None
    if reused:
        progress(f"the model written is the fold without {reused} (the same data and seed)")
        trained = fold_models[reused]
    else:
        trained = fit(recs, task, cfg, args.seed, progress)
    card = make_card(args.out.name, task, cfg, trained, args.mount or "mixed")
    metrics_obj: dict = {}
    if reused:
        metrics_obj["held_out"] = folds[reused]
    elif test:
        progress(f"measuring on {len(test)} held-out recordings")
        metrics_obj["held_out"] = held_out(card, trained, test, progress)
    if folds:
        metrics_obj["leave_one_user_out"] = _pool_folds(folds)
    card["training"] = {
        "command": "repcount " + shlex.join(sys.argv[1:]) if Path(sys.argv[0]).name == "repcount" else None,
        "seed": args.seed,
        "data": list(args.data),
        "test_data": list(args.test_data or []),
        "train_users": trained.train_users,
        "held_out_users": held_users,
        "cv_users": list(args.cv_users or []),
        "train_recordings": len(recs),
        "seconds": round(time.monotonic() - started, 1),
        "quick": bool(args.quick),
    }
    card["metrics"] = metrics_obj
    write_model(args.out, card, trained)
    progress(f"wrote {args.out}/model.tflite ({card['tflite_bytes']} bytes), float.keras, card.json")
    if args.json:
        print(json.dumps(card, indent=2))
    else:
        _print_summary(card)
    return 0


def _run_activity(args: argparse.Namespace, task: tasks.Task, progress: Progress, started: float) -> int:
    """`--task activity`: the window classifier (repcount/activity.py), held out by user."""
    from repcount.learn import activity, tflm

    if args.cv_users:
        raise UserError("--cv-users is for the counting tasks; hold out users of an activity model with "
                        "--test-users, --holdout-users or --test-data")
    recs, test = _split(args, _filter(load_data(args.data), args.mount))
    rates = {r.meta.sample_rate_hz for r in recs + test}
    if rates != {task.sample_rate_hz}:
        raise UserError(
            f"activity windows are {activity.WINDOW} samples at {task.sample_rate_hz:g} Hz; the "
            f"recordings are at {', '.join(f'{x:g}' for x in sorted(rates))} Hz (simulate or import "
            f"them with --rate {task.sample_rate_hz:g})"
        )
    epochs = args.epochs or (QUICK["epochs"] if args.quick else Config.epochs)
    qat_epochs = QUICK["qat_epochs"] if args.quick else Config.qat_epochs
    t = activity.fit(recs, task.full_scale_g, epochs, qat_epochs, args.seed, progress)
    m = tflite_model.read(t.tflite)
    in_scale, in_zp = export.input_quant(m)
    out_scale, out_zp = export.output_quant(m)
    macs = native.macs(m)
    card = {
        "name": args.out.name,
        "task": task.name,
        "mount": args.mount or "mixed",
        "sample_rate_hz": task.sample_rate_hz,
        "full_scale_g": task.full_scale_g,
        "window": activity.WINDOW,
        "hop": activity.HOP,
        "input_len": activity.WINDOW * 3,
        "output_len": len(t.classes),
        "classes": t.classes,
        "input": {**t.q.card(), "scale": in_scale, "zero_point": in_zp},
        "output": {"scale": out_scale, "zero_point": out_zp},
        "model_hash": m.model_hash,
        "tflite_bytes": len(t.tflite),
        "ops": m.op_names,
        "macs_per_inference": macs,
        "macs_per_second": round(macs * task.sample_rate_hz / activity.HOP),
        "arena_bytes": tflm.measure_arena(t.tflite),
    }
    card["training"] = {
        "command": "repcount " + shlex.join(sys.argv[1:]) if Path(sys.argv[0]).name == "repcount" else None,
        "seed": args.seed,
        "data": list(args.data),
        "test_data": list(args.test_data or []),
        "train_users": sorted({r.meta.user for r in recs}),
        "held_out_users": sorted({r.meta.user for r in test}),
        "seconds": round(time.monotonic() - started, 1),
        "quick": bool(args.quick),
    }
    held = activity.measure(ModelCard.from_dict(card), t.tflite, t.qat_model, test) if test else None
    card["metrics"] = {"held_out": held} if test else {}
    write_model(args.out, card, Trained(t.qat_model, t.tflite, {}, t.q, card["training"]["train_users"]))
    if args.json:
        print(json.dumps(card, indent=2))
    else:
        print(
            f"{card['name']}: {card['tflite_bytes']} bytes, arena {card['arena_bytes']} bytes, classes "
            f"{', '.join(t.classes)}"
        )
        for pipe, r in card["metrics"].get("held_out", {}).items():
            print(f"held-out {pipe}: accuracy {r['accuracy']:.3f}")
    return 0


def _pool_folds(folds: dict[str, dict]) -> dict:
    """Leave-one-user-out: every recording measured by the fold that never saw its user."""
    from repcount.learn import metrics

    out: dict = {"folds": folds, "pipelines": {}}
    for pipe in ("float", "int8", "baseline"):
        recs = [r for f in folds.values() for r in f["pipelines"][pipe]["per_recording"]]
        counts = [(r["predicted"], r["true"]) for r in recs]
        groups: dict[str, list] = {}
        for r in recs:
            groups.setdefault(r["group"], []).append((r["predicted"], r["true"]))
        tally = [f["pipelines"][pipe] for f in folds.values()]
        pooled = metrics.prf(*(sum(int(t[k]) for t in tally) for k in ("tp", "fp", "fn")))
        out["pipelines"][pipe] = {
            "count_mape": metrics.count_mape(counts),
            "event_f1": pooled["event_f1"],
            "false_counts_per_hour": metrics.false_counts_per_hour(
                sum(t["false_counts"] for t in tally), sum(t["distractor_seconds"] for t in tally)
            ),
            "true_events": sum(c[1] for c in counts),
            "predicted_events": sum(c[0] for c in counts),
            "by_group": {g: {"count_mape": metrics.count_mape(c)} for g, c in sorted(groups.items())},
        }
    return out


def _print_summary(card: dict) -> None:
    """The human-readable end of `train` (the card is the full record)."""
    print(
        f"{card['name']}: {card['tflite_bytes']} bytes, arena {card['arena_bytes']} bytes, "
        f"{card['macs_per_second']} MACs/s, ops {', '.join(card['ops'])}"
    )
    c = card["counting"]
    print(
        f"counting: threshold {c['threshold']}, refractory {c['refractory']} steps, "
        f"event offset {c['event_offset_s']} s"
    )
    for kind, m in card["metrics"].items():
        for pipe, p in m["pipelines"].items():
            mape = "-" if p.get("count_mape") is None else f"{100 * p['count_mape']:.2f}%"
            print(f"{kind} {pipe:<9} count MAPE {mape:>8}  event F1 {p['event_f1']:.4f}")
