"""Measure how well a model counts: float model, int8 model (TFLM runtime), baseline.

Runs each recording through the pipelines the way the device does: windows every `hop`
samples, the int8 model in TFLite Micro's own kernels, the counting post-processor of
repcount.learn.counting on the int8 scores. The float pipeline runs the float (QAT)
Keras model on the same int8 inputs, puts its sigmoid scores on the model's int8 output
grid (the card's output scale and zero point) and counts them with the same
post-processor, so the two differ only by quantisation. The baseline is a classic
windowed peak detector (repcount.learn.baseline).

Figures (docs/architecture.md, Metrics): count_mape (recordings with >= 20 true
events), event_f1 at the task's tolerance, false_counts_per_hour (events counted in
segments that are not the target activity), per-recording count errors, the same figures
per mount/placement group and per person with the worst person named (a counter that is
right on average can be broken for one person), and the float agreement of the int8
outputs with the float model's. The command that prints them is repcount.commands.evaluate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from repcount import heavy
from repcount.data.importers import load_oxford
from repcount.data.recordings import Recording, find, load
from repcount.errors import UserError
from repcount.learn import activity, baseline, counting, metrics, tasks, tflm
from repcount.learn.card import ModelCard, ModelDir, OutputScaling
from repcount.learn.model import Geometry, dequantize, int8_input, sample_time, windows
from repcount.plots import plot_recording

PIPELINES = ("float", "int8", "baseline")
OXFORD = "oxford"  # the data source word that names the Oxford step data


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
    """Recordings from directories/files; the word `oxford` names the Oxford step data.

    A file reached twice (named directly and through its directory) is loaded once: it
    would otherwise count twice in every figure.
    """
    recs: list[Recording] = []
    paths = [s for s in sources if s != OXFORD]
    if OXFORD in sources:
        recs += load_oxford()
    if paths:
        unique = dict.fromkeys(p.resolve() for p in find(paths))
        recs += [load(p) for p in unique]
    return recs


def inference_windows(x: np.ndarray, g: Geometry) -> np.ndarray:
    """The windows the device runs: one every `hop` samples, as int8 (K, window, 1, 3)."""
    return windows(x, g, g.hop)


def float_to_int8_scores(p: np.ndarray, output: OutputScaling) -> np.ndarray:
    """Float sigmoid scores on the model's int8 output grid (the card's output scale, zero point)."""
    q = np.round(np.asarray(p, dtype=np.float64) / output.scale) + output.zero_point
    return np.clip(q, -128, 127).astype(np.int8)


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
    """The docs/architecture.md figures over a set of results (one pipeline)."""
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


def worst_user(per_user: dict[str, dict]) -> dict[str, Any] | None:
    """The person the counter serves worst: the largest count MAPE (None if no one has one).

    A mean over people hides a counter that is far off for one of them; this names them.
    """
    scored = [(s["count_mape"], u) for u, s in sorted(per_user.items()) if s["count_mape"] is not None]
    if not scored:
        return None
    mape, user = max(scored, key=lambda pair: pair[0])  # a tie names the first person by name
    s = per_user[user]
    return {"user": user, "count_mape": mape, "event_f1": s["event_f1"],
            "false_counts_per_hour": s["false_counts_per_hour"]}


def breakdown(results: Sequence[Result], task: tasks.Task) -> dict:
    """`summarize` per mount/placement group and per person, the worst person, each recording's error."""
    groups = sorted({r.group for r in results})
    users = sorted({r.user for r in results})
    per_user = {u: summarize([r for r in results if r.user == u], task) for u in users}
    return {
        "by_group": {g: summarize([r for r in results if r.group == g], task) for g in groups},
        "per_user": per_user,
        "worst_user": worst_user(per_user),
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

    def __init__(self, card: ModelCard, model_bytes: bytes, float_model: Any = None) -> None:
        self.card = card
        self.task = tasks.get(card.task)
        self.q = card.input_quant
        self.model_bytes = model_bytes
        self.float_model = float_model
        if card.is_counter:
            self.g = card.geometry
            self.params = card.counting_params
            self.offset_s = card.counter.event_offset_s

    def int8_outputs(self, rec: Recording) -> np.ndarray:
        return tflm.run(self.model_bytes, inference_windows(int8_input(rec, self.q), self.g))

    def float_outputs(self, rec: Recording) -> np.ndarray:
        x = inference_windows(int8_input(rec, self.q), self.g)
        if len(x) == 0:
            return np.zeros((0, self.g.output_len), dtype=np.float32)
        return np.asarray(self.float_model(dequantize(x, self.q.scale, self.q.zero_point), training=False))

    def run(self, recs: Sequence[Recording], which: Sequence[str], progress: Callable[[str], None]) -> dict:
        """Results per pipeline, plus int8-vs-float output agreement when both ran."""
        out: dict[str, list[Result]] = {p: [] for p in which}
        ref, got = [], []
        output = self.card.output
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
                got.append(dequantize(o8, output.scale, output.zero_point).ravel())
                t = event_times(rec, float_to_int8_scores(of, output), self.params, self.offset_s)
                out["float"].append(result_for(rec, self.task, t))
            if "baseline" in which:
                out["baseline"].append(result_for(rec, self.task, baseline.detect(rec, self.task)))
        agreement = (
            metrics.float_agreement(np.concatenate(ref), np.concatenate(got)) if ref and len(ref[0]) else None
        )
        return {"results": out, "float_agreement": agreement}

    def classify(self, recs: Sequence[Recording]) -> dict:
        """An activity model's report (accuracy, confusion matrix) per pipeline."""
        return activity.measure(self.card, self.model_bytes, self.float_model, recs)


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


def load_pipelines(model: ModelDir, with_float: bool) -> Pipelines:
    """The pipelines of a checked model directory; the float model only if asked."""
    float_model = None
    if with_float:
        if not model.float_path.is_file():
            raise UserError(f"{model.float_path}: missing; evaluate without the float model using --no-float")
        float_model = load_float(model.float_path)
    return Pipelines(model.card, model.model_bytes, float_model)


def load_float(path: Path) -> Any:
    """The QAT Keras model saved by `train` (needs tfmot's custom objects to load)."""
    with heavy.tfmot().quantization.keras.quantize_scope():
        return heavy.keras().models.load_model(path)


def plot(recs: Sequence[Recording], run: dict, pipes: Pipelines, out_dir: Path) -> list[Path]:
    """One PNG per recording in `out_dir`: signal, true and predicted events, the int8 score stream."""
    pipeline = "int8" if "int8" in run["results"] else next(iter(run["results"]))
    output = pipes.card.output
    written = []
    for rec, res in zip(recs, run["results"][pipeline], strict=True):
        scores = None
        if res.scores is not None:
            s = np.fromiter(counting.stream(res.scores, pipes.params), dtype=np.float64)
            centres = np.array([counting.step_to_sample(g, pipes.params) for g in range(len(s))])
            scores = (sample_time(rec, centres), (s - output.zero_point) * output.scale)
        path = out_dir / f"{rec.name}.png"
        plot_recording(
            rec,
            path,
            predicted_events=list(res.pred_t),
            title=f"{rec.name}: {pipeline} pipeline",
            scores=scores,
            threshold=(pipes.params.threshold - output.zero_point) * output.scale,
        )
        written.append(path)
    return written
