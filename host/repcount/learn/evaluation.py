"""Measure how well a model counts: float model, int8 model (TFLM runtime), baseline.

Runs each recording through the pipelines the way the device does: windows every `hop`
samples, the int8 model in TFLite Micro's own kernels, the counting post-processor of
repcount/counting.py on the int8 scores. The float pipeline runs the float (QAT) Keras
model on the same int8 inputs, puts its sigmoid scores on the int8 output grid and
counts them with the same post-processor, so the two differ only by quantisation. The
baseline (`--baseline peaks`) is a classic windowed peak detector (repcount/baseline.py).

Figures (ARCHITECTURE.md): count_mape (recordings with >= 20 true events), event_f1 at
the task's tolerance, false_counts_per_hour (events counted in segments that are not the
target activity), per-recording count errors, a per-mount/placement breakdown, and the
float agreement of the int8 outputs with the float model's.

Examples:
  repcount evaluate --model models/jumprope-wrist --data data/sim-test
  repcount evaluate --model models/steps --data oxford --users oxford-dario --baseline peaks --json
  repcount evaluate --model models/jumprope-handle --data data/test --plot plots/
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from repcount.data.recordings import Recording, load_all
from repcount.errors import UserError
from repcount.learn import counting, metrics, tasks
from repcount.learn.model import Geometry, InputQuant, dequantize, int8_input, sample_time, windows

PIPELINES = ("float", "int8", "baseline")


@dataclass
class Result:
    """One recording through one pipeline."""

    recording: str
    user: str
    group: str  # placement if the recording names one, else mount
    true_t: np.ndarray
    pred_t: np.ndarray
    false_counts: int
    distractor_s: float
    scores: np.ndarray | None = field(default=None, repr=False)


def group_of(rec: Recording) -> str:
    """The group a recording's figures are reported under: the importer's placement, else the mount."""
    return rec.meta.extra.get("placement", rec.meta.mount)


def load_data(sources: Sequence[str]) -> list[Recording]:
    """Recordings from directories/files; the word `oxford` names the Oxford step data."""
    recs: list[Recording] = []
    paths = [s for s in sources if s != "oxford"]
    if "oxford" in sources:
        from repcount.data.importers import load_oxford

        recs += load_oxford()
    if paths:
        recs += load_all(paths)
    return recs


def inference_windows(x: np.ndarray, g: Geometry) -> np.ndarray:
    """The windows the device runs: one every `hop` samples, as int8 (K, window, 1, 3)."""
    return windows(x, g, g.hop)


def float_to_int8_scores(p: np.ndarray) -> np.ndarray:
    """Float sigmoid scores on the model's int8 output grid (scale 1/256, zero point -128)."""
    return np.clip(np.round(np.asarray(p, dtype=np.float64) * 256.0) - 128, -128, 127).astype(np.int8)


def event_times(
    rec: Recording, outputs: np.ndarray, params: counting.CountingParams, offset_s: float
) -> np.ndarray:
    """Times of the events the counter finds in a recording's per-inference int8 outputs."""
    steps = counting.count_events(outputs, params)
    samples = np.array([counting.step_to_sample(s, params) for s in steps], dtype=np.float64)
    return sample_time(rec, samples) + offset_s if len(samples) else np.zeros(0)


def result_for(
    rec: Recording, task: tasks.Task, pred_t: np.ndarray, scores: np.ndarray | None = None
) -> Result:
    """Tally one recording: true events, predictions, and predictions in non-target segments."""
    distractors = [s for s in rec.segments if s.activity not in task.target_activities]
    inside = np.zeros(len(pred_t), dtype=bool)
    for s in distractors:
        inside |= (pred_t >= s.start) & (pred_t < s.end)
    return Result(
        recording=rec.name,
        user=rec.meta.user,
        group=group_of(rec),
        true_t=rec.events_of(task.event_kinds),
        pred_t=np.asarray(pred_t, dtype=np.float64),
        false_counts=int(inside.sum()),
        distractor_s=float(sum(s.end - s.start for s in distractors)),
        scores=scores,
    )


def summarize(results: Sequence[Result], task: tasks.Task) -> dict:
    """The ARCHITECTURE.md figures over a set of results (one pipeline)."""
    tp = fp = fn = 0
    for r in results:
        s = metrics.event_scores(r.true_t, r.pred_t, task.event_tolerance_s)
        tp, fp, fn = tp + int(s["tp"]), fp + int(s["fp"]), fn + int(s["fn"])
    pooled = metrics.prf(tp, fp, fn)
    counts = [(len(r.pred_t), len(r.true_t)) for r in results]
    return {
        "count_mape": metrics.count_mape(counts),
        "event_f1": pooled["event_f1"],
        "event_precision": pooled["event_precision"],
        "event_recall": pooled["event_recall"],
        "false_counts_per_hour": metrics.false_counts_per_hour(
            sum(r.false_counts for r in results), sum(r.distractor_s for r in results)
        ),
        "true_events": sum(t for _, t in counts),
        "predicted_events": sum(p for p, _ in counts),
        "recordings": len(results),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "false_counts": sum(r.false_counts for r in results),
        "distractor_seconds": sum(r.distractor_s for r in results),
    }


def breakdown(results: Sequence[Result], task: tasks.Task) -> dict:
    """`summarize` per mount/placement group, plus each recording's count error."""
    groups = sorted({r.group for r in results})
    return {
        "by_group": {g: summarize([r for r in results if r.group == g], task) for g in groups},
        "per_recording": [
            {
                "recording": r.recording,
                "user": r.user,
                "group": r.group,
                "true": len(r.true_t),
                "predicted": len(r.pred_t),
                "count_error": metrics.count_error(len(r.pred_t), len(r.true_t)),
                "false_counts": r.false_counts,
            }
            for r in results
        ],
    }


class Pipelines:
    """A trained model's pipelines (float Keras, int8 TFLM, baseline) over recordings."""

    def __init__(self, card: dict, model_bytes: bytes, float_model=None) -> None:  # noqa: ANN001
        self.card = card
        self.task = tasks.get(card["task"])
        self.g = Geometry(
            card["window"], card["hop"], card["counting"]["out_stride"], card["counting"]["take_start"]
        )
        i = card["input"]
        self.q = InputQuant(i["scale"], i["zero_point"], i["multiplier"], i["shift"], card["full_scale_g"])
        self.params = counting.CountingParams.from_card(card)
        self.offset_s = float(card["counting"]["event_offset_s"])
        self.model_bytes = model_bytes
        self.float_model = float_model

    def int8_outputs(self, rec: Recording) -> np.ndarray:
        from repcount.learn import tflm

        return tflm.run(self.model_bytes, inference_windows(int8_input(rec, self.q), self.g))

    def float_outputs(self, rec: Recording) -> np.ndarray:
        x = inference_windows(int8_input(rec, self.q), self.g)
        if len(x) == 0:
            return np.zeros((0, self.g.output_len), dtype=np.float32)
        return np.asarray(self.float_model(dequantize(x, self.q.scale, self.q.zero_point), training=False))

    def run(self, recs: Sequence[Recording], which: Sequence[str], progress: Callable[[str], None]) -> dict:
        """Results per pipeline, plus int8-vs-float output agreement when both ran."""
        from repcount.learn import baseline

        out: dict[str, list[Result]] = {p: [] for p in which}
        ref, got = [], []
        for n, rec in enumerate(recs, 1):
            progress(f"[{n}/{len(recs)}] {rec.name}")
            o8 = self.int8_outputs(rec) if "int8" in which or "float" in which else None
            if "int8" in which:
                out["int8"].append(
                    result_for(rec, self.task, event_times(rec, o8, self.params, self.offset_s), o8)
                )
            if "float" in which:
                of = self.float_outputs(rec)
                ref.append(of.ravel())
                got.append(dequantize(o8, 1.0 / 256.0, -128).ravel())
                t = event_times(rec, float_to_int8_scores(of), self.params, self.offset_s)
                out["float"].append(result_for(rec, self.task, t))
            if "baseline" in which:
                out["baseline"].append(result_for(rec, self.task, baseline.detect(rec, self.task)))
        agreement = (
            metrics.float_agreement(np.concatenate(ref), np.concatenate(got)) if ref and len(ref[0]) else None
        )
        return {"results": out, "float_agreement": agreement}


def report(run: dict, task: tasks.Task) -> dict:
    """The JSON object `evaluate --json` prints (and the card's `metrics`)."""
    pipelines = {}
    for name, results in run["results"].items():
        pipelines[name] = {**summarize(results, task), **breakdown(results, task)}
    obj: dict = {"task": task.name, "pipelines": pipelines}
    if run["float_agreement"] is not None:
        obj["int8_vs_float"] = run["float_agreement"]
        f, i = pipelines["float"]["count_mape"], pipelines["int8"]["count_mape"]
        obj["int8_vs_float"]["count_mape_difference"] = None if f is None or i is None else i - f
    return obj


def load_model(model_dir: Path, with_float: bool) -> Pipelines:
    """A model directory's card, int8 model and (if asked) float model."""
    card_path, tfl = model_dir / "card.json", model_dir / "model.tflite"
    if not card_path.is_file() or not tfl.is_file():
        raise UserError(
            f"{model_dir}: not a model directory (needs card.json and model.tflite); "
            "train one with `repcount train --out DIR`"
        )
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(
            f"{card_path}: not valid JSON ({exc}); re-train the model or restore its card.json"
        ) from exc
    float_model = None
    if with_float:
        float_path = model_dir / "float.keras"
        if not float_path.is_file():
            raise UserError(f"{float_path}: missing; evaluate without the float model using --no-float")
        float_model = load_float(float_path)
    return Pipelines(card, tfl.read_bytes(), float_model)


def load_float(path: Path):  # noqa: ANN201
    """The QAT Keras model saved by `train` (needs tfmot's custom objects to load)."""
    import tensorflow_model_optimization as tfmot
    import tf_keras as keras

    with tfmot.quantization.keras.quantize_scope():
        return keras.models.load_model(path)


def print_table(obj: dict) -> None:
    print(f"{'pipeline':<10} {'count MAPE':>10} {'event F1':>9} {'false/h':>8} {'true':>6} {'pred':>6}")
    for name, p in obj["pipelines"].items():
        mape = "-" if p["count_mape"] is None else f"{100 * p['count_mape']:.2f}%"
        fph = "-" if p["false_counts_per_hour"] is None else f"{p['false_counts_per_hour']:.1f}"
        print(
            f"{name:<10} {mape:>10} {p['event_f1']:>9.4f} {fph:>8} "
            f"{p['true_events']:>6} {p['predicted_events']:>6}"
        )
        for g, s in p["by_group"].items():
            gm = "-" if s["count_mape"] is None else f"{100 * s['count_mape']:.2f}%"
            print(f"  {g:<8} {gm:>10} {s['event_f1']:>9.4f}")
    if "int8_vs_float" in obj:
        a = obj["int8_vs_float"]
        print(
            f"int8 vs float outputs: MAE {a['float_mae']:.4f}, max abs {a['float_max_abs']:.4f}, "
            f"cosine {a['float_cosine']:.5f}"
        )


def plot(recs: Sequence[Recording], run: dict, pipes: Pipelines, out_dir: Path) -> list[Path]:
    """One PNG per recording: signal, true and predicted events, the int8 score stream."""
    from repcount.plots import plot_recording

    out_dir.mkdir(parents=True, exist_ok=True)
    pipeline = "int8" if "int8" in run["results"] else next(iter(run["results"]))
    written = []
    for rec, res in zip(recs, run["results"][pipeline], strict=True):
        scores = None
        if res.scores is not None:
            s = np.fromiter(counting.stream(res.scores, pipes.params), dtype=np.float64)
            centres = np.array([counting.step_to_sample(g, pipes.params) for g in range(len(s))])
            scores = (sample_time(rec, centres), (s + 128) / 256)
        path = out_dir / f"{rec.name}.png"
        plot_recording(
            rec,
            path,
            predicted_events=list(res.pred_t),
            title=f"{rec.name}: {pipeline} pipeline",
            scores=scores,
            threshold=(pipes.params.threshold + 128) / 256,
        )
        written.append(path)
    return written


def _run_activity(args: argparse.Namespace, pipes: Pipelines, recs: list[Recording]) -> int:
    """A window classifier's report: accuracy, confusion matrix, per-class precision/recall."""
    from repcount.learn import activity

    obj = {
        "model": pipes.card["name"],
        "model_hash": pipes.card["model_hash"],
        "task": "activity",
        "pipelines": activity.measure(pipes.card, pipes.model_bytes, pipes.float_model, recs),
    }
    if args.json:
        print(json.dumps(obj, indent=2))
        return 0
    for name, r in obj["pipelines"].items():
        print(f"{name}: accuracy {r['accuracy']:.3f}")
        width = max(len(c) for c in r["classes"])
        print(" " * (width + 1) + " ".join(f"{c[:6]:>6}" for c in r["classes"]) + "   recall")
        for c, row in zip(r["classes"], r["confusion"], strict=True):
            rec = r["per_class"][c]["recall"]
            print(
                f"{c:>{width}} "
                + " ".join(f"{v:>6}" for v in row)
                + f"   {'-' if rec is None else f'{rec:.3f}'}"
            )
    return 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model", required=True, type=Path, help="model directory (card.json, model.tflite, float.keras)"
    )
    p.add_argument("--data", required=True, nargs="+", help="recording files/directories, or `oxford`")
    p.add_argument("--baseline", choices=["peaks"], help="also run the classic peak-detection baseline")
    p.add_argument("--no-float", action="store_true", help="skip the float model (no TensorFlow import)")
    p.add_argument("--users", nargs="+", help="evaluate only these users' recordings")
    p.add_argument("--plot", type=Path, metavar="DIR", help="write one PNG per recording")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def run(args: argparse.Namespace) -> int:
    pipes = load_model(args.model, with_float=not args.no_float)
    recs = load_data(args.data)
    if pipes.card["task"] == "activity":
        return _run_activity(args, pipes, recs)
    if args.users:
        recs = [r for r in recs if r.meta.user in set(args.users)]
        if not recs:
            raise UserError(f"no recordings of users {', '.join(args.users)} in {', '.join(args.data)}")
    which = [
        p for p in PIPELINES if (p != "float" or not args.no_float) and (p != "baseline" or args.baseline)
    ]

    def progress(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    result = pipes.run(recs, which, progress)
    obj = {"model": pipes.card["name"], "model_hash": pipes.card["model_hash"], **report(result, pipes.task)}
    if args.plot:
        obj["plots"] = [str(p) for p in plot(recs, result, pipes, args.plot)]
    if args.json:
        print(json.dumps(obj, indent=2))
    else:
        print_table(obj)
    return 0
