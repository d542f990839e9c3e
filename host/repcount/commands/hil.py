"""Hardware-in-the-loop: replay labelled recordings to a device over serial and judge it.

The device (a board on a serial port, or the emulated Cortex-M4F board) must run
repcount firmware rendered from the model you name. `repcount hil`:
  1. asks the device who it is (HELLO) and refuses to go on when the firmware's model hash
     or counting parameters are not the model's (flash the right firmware);
  2. replays each recording in replay mode at full speed, with the device's credits as flow
     control, and collects every inference's int8 outputs and every count event; a
     recording whose answers arrived damaged (a CRC error, a lost frame) is replayed again,
     and a device that resets in the middle of a run stops the run with a clear message;
  3. compares, and prints a verdict for each comparison:
     a. bit-exact: the device's int8 outputs against the tflite_micro runtime (TFLM's own
        kernels) on the same int8 inputs (0 differing values, or the first difference
        named), and the device's events against the Python counting reference;
     b. float: dequantised device outputs against the float model (MAE, RMSE, max abs,
        L2 relative error, cosine: STM32Cube.AI's validation metrics) and the count
        difference between the int8 and the float pipelines;
     c. labels: per-recording count error, count MAPE, event F1 and false counts per hour
        on distractor segments, against the model card's held-out figures plus a margin.
The replay speed (seconds of signal per second of replay, `replay_speed_x`) is measured, and
the count latency: for each true event the device counted, the time from the event to the
device's count on its own sample clock (p50 and p95; docs/hil.md).

Several devices share the recordings (each takes the next one not yet replayed): several
--port, or --emulators N emulated boards (default: one per core). A device that fails
during the run is reported, with the recording it was replaying, and that recording is
replayed on the others; one verdict over every recording. Only when every device fails
is there no verdict.

Examples:
  repcount hil --model models/jumprope-wrist --data data/heldout
  repcount firmware --model models/jumprope-wrist --board qemu-mps2-an386 --engine native \\
      --out out/fw-qemu
  repcount hil --firmware out/fw-qemu --model models/jumprope-wrist --data data/heldout --report out/hil
  repcount hil --port /dev/ttyACM0 --model models/steps --data oxford --users oxford-dario \\
      --report out/hil-steps --json
  repcount hil --port /dev/ttyACM0 /dev/ttyACM1 --model models/steps --data oxford
  repcount hil --emulators 4 --model models/jumprope-wrist --data data/heldout
With neither --port nor --firmware the device is the emulated Cortex-M4F board: the model's
firmware is rendered for qemu-mps2-an386 (native engine) into a temporary directory, built,
run in the emulator and stopped afterwards. --firmware DIR runs that project in the
emulator; --port talks to a flashed board (or any pyserial URL, e.g. socket://127.0.0.1:40123
from `repcount emulate`). --report DIR writes report.md (the tables; per recording, the
signal with true and device events, and the device's outputs against the float model's),
report.json and the plots; it is checked before the replay and never replaces an existing
DIR without --force. The pytest suite in hil_tests/ runs the same checks (docs/hil.md).

Exit code: 0 every comparison passed; 1 the run was made and a comparison failed (the
verdicts say which); 2 no verdict: bad input (a model directory, a recording at another
rate, recordings too short for one window: nothing to compare is never a pass, a --report
in the way) or a device that could not be used (wrong firmware, no answer, damaged link,
reset). --json prints one JSON object on stdout and nothing else: the figures and
`passed`, with `error` naming the failed comparisons (exit 1), or {"error": ...,
"exit_code": 2} when there is no verdict.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

from repcount.data.recordings import Recording
from repcount.device import hil
from repcount.device.hil import fmt_figure
from repcount.device.link import Link
from repcount.errors import UserError
from repcount.learn.evaluation import load_data
from repcount.outputs import atomic_dir, check_output


def add_arguments(p: argparse.ArgumentParser) -> None:
    # Required flags, the one device and the numbers are checked in `check_arguments`, not by
    # argparse: its usage errors print no JSON, and under --json every failure must.
    p.add_argument("--firmware", type=Path, metavar="DIR",
                   help="a qemu-mps2-an386 project (or its .elf): run it in the emulator")  # fmt: skip
    p.add_argument(
        "--port", action="extend", nargs="+", metavar="PORT",
        help="the device: /dev/ttyACM0, COM3, socket://127.0.0.1:PORT; several (--port A B, or --port "
             "given again) share the recordings (default: emulated boards, firmware rendered from --model)",
    )  # fmt: skip
    p.add_argument("--emulators", metavar="N",
                   help="emulated boards sharing the recordings (default: one per core; "
                        "not with --port)")  # fmt: skip
    p.add_argument("--baud", default="115200", help="baud rate of a serial port (default 115200)")
    p.add_argument("--model", type=Path, help="(required) model directory the firmware was rendered from")
    p.add_argument("--data", nargs="+", help="(required) recording files/directories, or `oxford`")
    p.add_argument("--users", nargs="+", help="replay only these users' recordings (e.g. held-out users)")
    p.add_argument("--no-float", action="store_true", help="skip comparison b (no TensorFlow import)")
    p.add_argument("--attempts", default=str(hil.DEFAULT_ATTEMPTS),
                   help="replays of a recording whose answers arrive damaged "
                        f"(default {hil.DEFAULT_ATTEMPTS})")  # fmt: skip
    p.add_argument("--report", type=Path, metavar="DIR",
                   help="write report.md, report.json and plots into this new directory")  # fmt: skip
    p.add_argument("--force", action="store_true", help="replace an existing --report directory")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def print_summary(s: dict[str, Any]) -> None:
    """The human-readable verdict of `repcount hil` (--json prints everything)."""
    print(f"HIL {s['model']} ({s['model_hash']}) on {s['device']['board']} at {s['device']['port']}")
    b, c = s["bitexact"], s["labels"]
    print(f"  a. bit-exact: {b['bitexact_mismatches']} of {b['outputs_compared']} outputs differ, "
          f"{b['event_mismatches']} recordings with other events")  # fmt: skip
    if s["float"]:
        f = s["float"]
        print(f"  b. float: MAE {f['float_mae']:.5f}, RMSE {f['float_rmse']:.5f}, "
              f"max abs {f['float_max_abs']:.5f}, L2r {f['float_l2r']:.5f}, cosine {f['float_cosine']:.5f}, "
              f"count difference {f['count_difference']:+d}")  # fmt: skip
    print(f"  c. labels: count MAPE {fmt_figure(c['count_mape'], True)}, "
          f"event F1 {fmt_figure(c['event_f1'])}, "
          f"false counts/h {fmt_figure(c['false_counts_per_hour'])}")  # fmt: skip
    for row in c["per_recording"]:
        print(f"     {row['recording']}: true {row['true']}, device {row['device']}, "
              f"error {fmt_figure(row['count_error'], True)}")  # fmt: skip
    print(f"  count latency on the device's sample clock: p50 {fmt_figure(s['count_latency_p50_s'])} s, "
          f"p95 {fmt_figure(s['count_latency_p95_s'])} s ({s['latency']['events_timed']} counted events)")
    print(f"  replay {s['signal_seconds']:.0f} s of signal at {s['replay_speed_x']}x real time on "
          f"{len(s['devices'])} device(s), {s['retries']} retries, device IMU overruns "
          f"{s['link']['device_received'].get('imu_overruns', 0)}")  # fmt: skip
    for d in s["failed_devices"]:
        print(f"  DEVICE FAILED {d['port']} during {d['died']['recording']}: {d['died']['error']} "
              "(its recording was replayed on the others)")  # fmt: skip
    for k, v in s["failures"].items():
        print(f"  FAIL {k}: {v}")
    print("  PASS" if s["passed"] else "  FAILED")


def progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def replay(args: argparse.Namespace, target: hil.Target, recs: list[Recording]) -> hil.HilRun:
    """The run on the devices the arguments name: --port, else emulated boards (--firmware, or
    the model's firmware rendered for them)."""
    if not args.port:
        return hil.run_on_emulator(target, recs, args.firmware, attempts=args.attempts, progress=progress,
                                   emulators=args.emulators)  # fmt: skip
    with contextlib.ExitStack() as stack:
        links = [stack.enter_context(Link.open(port, args.baud)) for port in args.port]
        return hil.run_devices([(link, None) for link in links], target, recs, attempts=args.attempts,
                               progress=progress)  # fmt: skip


def write_report(result: hil.HilRun, recs: list[Recording], out: Path, force: bool) -> Path:
    """The report written beside its final name and moved there complete (repcount.outputs)."""
    with atomic_dir(out, force=force) as tmp:
        hil.write_report(result, recs, tmp)
    return out / "report.md"


def whole_number(text: str, flag: str, least: int) -> int:
    """A flag's value as an integer of at least `least`; a UserError naming the flag otherwise."""
    try:
        value = int(text)
    except ValueError:
        raise UserError(f"{flag} must be a whole number, got {text!r}") from None
    if value < least:
        raise UserError(f"{flag} must be at least {least}, got {value}")
    return value


def check_arguments(args: argparse.Namespace) -> None:
    """What argparse would refuse, refused as a UserError (one line, and JSON under --json)."""
    for flag, value in (("--model", args.model), ("--data", args.data)):
        if value is None:
            raise UserError(f"{flag} is required: repcount hil --model models/NAME --data RECORDINGS")
    if args.firmware is not None and args.port:
        raise UserError("--firmware and --port name two devices; give one (or neither: the emulated board)")
    if args.emulators is not None and args.port:
        raise UserError("--emulators starts emulated boards and --port names boards; give one of them")
    if args.port and len(set(args.port)) < len(args.port):
        raise UserError(f"--port names a device twice ({', '.join(args.port)}); give each port once")
    args.emulators = (hil.default_emulators() if args.emulators is None
                      else whole_number(args.emulators, "--emulators", 1))  # fmt: skip
    args.attempts = whole_number(args.attempts, "--attempts", 1)
    args.baud = whole_number(args.baud, "--baud", 1)


def run(args: argparse.Namespace) -> int:
    check_arguments(args)
    report = check_output(args.report, "dir", args.force, "--report") if args.report else None
    target = hil.load_target(args.model, with_float=not args.no_float)
    recs = hil.select(load_data(args.data), args.users)
    result = replay(args, target, recs)
    s = result.summary()
    if report is not None:
        s["report"] = str(write_report(result, recs, report, args.force))
    if args.json:
        print(json.dumps(s, indent=2))
    else:
        print_summary(s)
    return 0 if s["passed"] else 1
