"""Generate labelled IMU recordings: jump rope, walking, running and distractors.

A physics-inspired simulator (docs/signal-model.md). Each simulated user has a style of
their own drawn from the user's number alone (rope speed, flight time, landing impact,
how the wrists turn the rope, double unders, misses, cadence, arm swing), so user 7 is
the same person whatever --seed says; --seed varies the session (what they do when,
the sensor's mounting, noise, bias, clock). Every segment and every event is labelled:
`jump`, `double-under` and `miss` in jump rope, `step` in walking and running,
`stair-step` on stairs (not a step the counter should count). Jump-rope sessions also
hold rests, walking, gestures and pick-ups, so a counter learns not to count them.

The IMU is simulated too: a random mounting orientation, gravity, sensitivity error,
bias and noise, the IMU's low-pass filter, sample-time jitter and dropped samples, and
values quantised to 16-bit counts at the full-scale range (clipped beyond it).
Same arguments, same bytes: files are byte-identical for the same seed.

Files: OUT/<user>-<activity>-<mount>-s<seed>.rec, one per user, and OUT/manifest.json
listing files, users and the number of events of each kind the generator placed.
User ids look like `sim-jr-u007` (activity code, user number; `simw-` for the widened
population, whose user 7 is another person; `simb-` for generator B); use --first-user to
make users that never collide with an earlier set (e.g. 1-20 to train, 101-105 to test).

Examples:
  repcount simulate --activity jump-rope --mount wrist --users 3 --minutes 2 --seed 1 --out data/sim
  repcount simulate --activity jump-rope --mount handle --users 2 --first-user 101 --seed 7 \\
      --out data/heldout --plot
  repcount simulate --activity distractors --mount wrist --users 4 --minutes 10 --out data/neg --json
  repcount simulate --activity walking --mount pocket --users 5 --full-scale 4 --rate 100 --out data/walk
  repcount simulate --population wide --activity jump-rope --mount wrist --users 24 --minutes 5 \
      --out data/jr-wide
  repcount simulate --population wide --activity walking --mount bag --users 6 --out data/walk-bag
  repcount simulate --generator b --activity jump-rope --mount handle --users 6 --minutes 4 \
      --first-user 101 --out data/heldout-b
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from repcount.data.population import POPULATIONS
from repcount.data.simulation import ACTIVITIES, FULL_SCALES, GENERATORS, MOUNTS, simulate_dataset
from repcount.errors import UserError
from repcount.outputs import check_output


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--activity", choices=list(ACTIVITIES), default="jump-rope",
                   help="what the users do: jump-rope (with rests, walking, gestures, pick-ups), "
                        "walking, running, distractors (standing, sitting, gestures, stairs, car, "
                        "elevator, pick-up; never a jump or step) or mixed (all of them)")
    p.add_argument("--mount", choices=MOUNTS, default="wrist", help="where the IMU sits")
    p.add_argument("--users", type=int, default=3, help="number of simulated users (one file each)")
    p.add_argument("--first-user", type=int, default=1,
                   help="number of the first user; the style follows the number, not the seed")
    p.add_argument("--minutes", type=float, default=2.0, help="length of each recording")
    p.add_argument("--seed", type=int, default=1, help="session randomness; same seed, same bytes")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--full-scale", type=float, default=8.0, choices=FULL_SCALES,
                   help="IMU full-scale range in g; values beyond it clip")
    p.add_argument("--population", choices=POPULATIONS, default="default",
                   help="default: the people the shipped models were trained on; wide: far wider "
                        "cadences, impacts, resonances, hand circles, gaits and IMUs (other output "
                        "rates, filters, errors, clipping), users named simw-..., "
                        "docs/signal-model.md")
    p.add_argument("--generator", choices=GENERATORS, default="a",
                   help="a: the simulator the models are trained on; b: an independent jump-rope "
                        "signal model for held-out evaluation only (activities jump-rope and "
                        "distractors, mounts wrist, handle, pocket; users simb-...), "
                        "docs/signal-model-b.md")
    p.add_argument("--rate", type=float, default=50.0, help="IMU sample rate in Hz (the tasks use 50)")
    p.add_argument("--plot", action="store_true", help="also write a PNG beside each recording")
    p.add_argument("--force", action="store_true",
                   help="write into an --out directory that already holds files (same names are replaced)")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.is_dir() and any(out.iterdir()) and not args.force:
        raise UserError(f"--out {out}: is a directory that already holds files; choose another, "
                        "or pass --force to write into it (files of the same name are replaced)")
    check_output(out, kind="dir", force=True)
    start = time.perf_counter()
    paths = simulate_dataset(args.activity, args.mount, args.users, args.minutes, args.seed, args.out,
                             args.first_user, args.rate, args.full_scale, args.plot,
                             progress=args.users * args.minutes >= 30 or args.users >= 10,
                             population=args.population, generator=args.generator)
    elapsed = time.perf_counter() - start
    manifest = json.loads((Path(args.out) / "manifest.json").read_text(encoding="utf-8"))
    hours = args.users * args.minutes / 60
    summary = {"out": str(args.out), "files": [p.name for p in paths], "users": manifest["users"],
               "events": manifest["events"], "simulated_hours": hours, "seconds": round(elapsed, 3),
               "seconds_per_simulated_hour": round(elapsed / hours, 3)}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        counts = ", ".join(f"{n} {k}" for k, n in manifest["events"].items()) or "no events"
        print(f"wrote {len(paths)} recordings of {args.minutes:g} min to {args.out}: {counts} "
              f"({elapsed:.1f} s)")
    return 0
