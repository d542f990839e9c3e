"""Train a quantization-aware counting CNN and export it as an int8 model with its card.

Cuts windows from the recordings (int8 inputs exactly as the device computes them), trains
the float model, fine-tunes it quantization-aware, converts it to a full-integer int8
.tflite and checks it (no float tensor, no QUANTIZE/DEQUANTIZE, only ops the firmware
engines support, batch 1, the device's input scale), chooses the counting threshold,
refractory interval and event offset on the training users in TFLite Micro's kernels, and
measures it on held-out users. docs/training.md describes the recipe.

--out gets model.tflite, float.keras (the QAT model) and card.json (docs/model-card.md)
with the exact command and seed; an existing --out is refused before any work unless
--force. Held-out users come from --test-data (separate recordings), --test-users (users
of --data, by name) or --holdout-users N (N users of --data, chosen by the seed); they
are never trained on. --cv-users adds a leave-one-user-out estimate over --data: one
model per named user, trained without that user; when the held-out users are exactly one
fold's user, that fold's model is the model written.

--init MODEL fine-tunes MODEL (its float weights, its card's recipe; another task, rate or
input quantisation is refused): float training, QAT, conversion and checks as a fresh
training, into a new --out whose card names the init model. --data may mix recordings
with timed @event labels and count-only ones (@count,START,END,KIND,N and no timed event
of KIND in the span): their N events are placed once, before training, where the init
model's int8 scores are highest (without --init: the peak-detector cold start), exactly
as `repcount label` places them; the card lists the count-only recordings.

Examples:
  repcount simulate --activity jump-rope --mount wrist --users 12 --minutes 4 --seed 1 --out data/jr
  repcount train --task jump-rope --data data/jr --holdout-users 3 --out models/my-jr --seed 1
  repcount train --task jump-rope --data data/jr --out models/quick --quick --json
  repcount train --task jump-rope --data data/jr --holdout-users 3 --rotations 0 --augment 2 \
      --input-range 8 --kernels 7 7 7 7 7 --out models/my-jr-aug
  repcount train --task jump-rope --init models/jumprope-wrist --data data/jr data/my-counted \\
      --test-data data/jr-test --epochs 4 --out models/my-wrist
  repcount train --task steps --data oxford data/walk --test-users oxford-dario \\
      --cv-users oxford-jamie oxford-carmelo oxford-dario --out models/steps
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

from repcount.errors import UserError
from repcount.learn import training
from repcount.learn.model import Architecture


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--task",
        required=True,
        choices=["jump-rope", "steps", "activity"],
        help="what to count (activity: a 200 x 3 window classifier of the segments' activities)",
    )
    p.add_argument("--data", required=True, nargs="+", help="recording files/directories, or `oxford`")
    p.add_argument("--out", required=True, type=Path, help="model directory to write, e.g. models/my-model")
    p.add_argument("--force", action="store_true",
                   help="replace an existing --out (only once the new one is complete)")
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
    p.add_argument("--init", type=Path, metavar="MODEL",
                   help="fine-tune this model directory (its float weights and its card's recipe) "
                        "instead of starting from random weights; places count-only spans with it")
    p.add_argument("--seed", type=int, default=1,
                   help="seeds weights, shuffling and splits, 0 or more (default 1)")
    p.add_argument("--quick", action="store_true", help="few epochs: a fast demo model, less accurate")
    p.add_argument("--epochs", type=int, help="float epochs, at least 1 (default 16; --quick 6)")
    p.add_argument("--rotations", type=int,
                   help="turned copies of each training recording, 0 or more (default 2)")
    p.add_argument("--train-stride", type=int,
                   help="samples between training windows, a multiple of 4 (default 8)")
    p.add_argument("--augment", type=int, metavar="N",
                   help="N augmented copies of each training recording: cadence warped, landings "
                        "scaled, turned, noisy, clipped at 2-16 g, samples dropped (default 0)")
    p.add_argument("--input-range", type=float, choices=[1.0, 2.0, 4.0, 8.0], metavar="G",
                   help="the int8 input covers +-G g, 1, 2, 4 or 8 (default: jump-rope 4, steps 2)")
    p.add_argument("--channels", type=int, nargs="+",
                   help="channels of each convolution layer (default 8 12 12 12 12)")
    p.add_argument("--kernels", type=int, nargs="+",
                   help="kernel length of each layer, as many as --channels (default 5 each)")
    p.add_argument("--highpass", type=int, metavar="N",
                   help="subtract the input's moving average over N samples first (fixed weights: "
                        "gravity removed inside the model; default 0, none)")
    p.add_argument("--json", action="store_true", help="print the card as one JSON object on stdout")


def _validate(args: argparse.Namespace) -> None:
    """Refuse values that make no sense before anything is loaded or trained."""
    for flag, value, least in (
        ("--epochs", args.epochs, 1),
        ("--train-stride", args.train_stride, 1),
        ("--rotations", args.rotations, 0),
        ("--augment", args.augment, 0),
        ("--holdout-users", args.holdout_users, 0),
        ("--seed", args.seed, 0),
    ):
        if value is not None and value < least:
            raise UserError(f"{flag} {value}: must be at least {least}")


def _architecture(args: argparse.Namespace) -> Architecture | None:
    """--channels, --kernels and --highpass as an architecture (each left out: its default)."""
    if args.channels is None and args.kernels is None and args.highpass is None:
        return None
    channels = tuple(args.channels or Architecture().channels)
    return Architecture(channels, tuple(args.kernels or (5,) * len(channels)), args.highpass or 0)


def request(args: argparse.Namespace) -> training.Request:
    """The library's request from the parsed arguments (and the command line, for the card)."""
    _validate(args)
    command = "repcount " + shlex.join(sys.argv[1:]) if Path(sys.argv[0]).name == "repcount" else None
    return training.Request(
        task=args.task,
        data=tuple(args.data),
        out=args.out,
        mount=args.mount,
        test_data=tuple(args.test_data or ()),
        test_users=tuple(args.test_users or ()),
        holdout_users=args.holdout_users,
        cv_users=tuple(args.cv_users or ()),
        seed=args.seed,
        quick=bool(args.quick),
        epochs=args.epochs,
        rotations=args.rotations,
        train_stride=args.train_stride,
        augment=args.augment,
        input_range_g=args.input_range,
        arch=_architecture(args),
        force=bool(args.force),
        init=args.init,
        command=command,
    )


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()

    def progress(msg: str) -> None:
        print(f"[{time.monotonic() - started:6.1f} s] {msg}", file=sys.stderr, flush=True)

    card = training.train(request(args), progress)
    if args.json:
        print(json.dumps(card, indent=2))
    elif "classes" in card:
        _print_classifier(card)
    else:
        _print_counter(card)
    return 0


def _print_counter(card: dict) -> None:
    """The human-readable end of a counter's training (the card is the full record)."""
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


def _print_classifier(card: dict) -> None:
    """The human-readable end of an activity classifier's training."""
    print(
        f"{card['name']}: {card['tflite_bytes']} bytes, arena {card['arena_bytes']} bytes, classes "
        f"{', '.join(card['classes'])}"
    )
    for pipe, r in card["metrics"].get("held_out", {}).items():
        print(f"held-out {pipe}: accuracy {r['accuracy']:.3f}")
