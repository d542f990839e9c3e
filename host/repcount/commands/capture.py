"""Record labelled accelerometer data from a board over serial into a recording file.

The board runs repcount firmware (any board of `repcount firmware`, the emulator, or the
host-linux device): capture asks it who it is (HELLO/INFO: board, sample rate, full
scale), switches it to capture mode and writes every sample it streams. Samples are
numbered by the device, so the time stamps are exact (index / rate) and a frame lost on
the way shows up as a gap, counted and reported, never papered over.

With --line-mode it records from any board that prints one `x,y,z` line per sample (the
convention of Edge Impulse's data forwarder and TFLite Micro's magic_wand): the sample
rate is measured from the lines' arrival times over the first --rate-window seconds
(unless --rate declares it) and reported with its uncertainty; lines that do not parse
are counted and reported.

The file is written as the samples come and flushed at least once a second: Ctrl-C, a
crash or an unplugged cable leaves a valid recording missing at most the last second.

Labels. Without keys, the whole recording is one segment of --activity. When stdin is a
terminal, keys label while you record:
  s       start / stop a segment of --activity (e.g. around each set of jumps)
  space   mark an event of --event-kind at this moment (e.g. a missed jump)
  q       stop recording (as --duration would)
If no segment was marked, the whole recording becomes one segment of --activity.

Live status on stderr: elapsed time, samples, measured vs declared rate, frames lost.

Examples:
  repcount capture --port /dev/ttyACM0 --out data/u01-jumps.rec --activity jump-rope \\
      --user u01 --mount wrist
  repcount capture --port socket://127.0.0.1:4321 --out walk.rec --activity walking \\
      --user u02 --mount pocket --duration 60 --json
  repcount capture --port /dev/ttyUSB0 --line-mode --units mg --full-scale 4 \\
      --out gestures.rec --activity gestures --user u03 --mount hand
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from repcount.data.recordings import ACCEL_UNITS, MOUNTS
from repcount.device import capture
from repcount.device.link import DEFAULT_BAUD
from repcount.errors import UserError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", required=True,
                   help="serial device or pyserial URL: /dev/ttyACM0, COM3, socket://127.0.0.1:4321 "
                        "(see `repcount ports`)")
    p.add_argument("--out", required=True, type=Path, help="the recording file to write, e.g. data/u01.rec")
    p.add_argument("--activity", required=True,
                   help="what is recorded: jump-rope, walking, running, gestures, ... (the segment label)")
    p.add_argument("--user", required=True, help="who is recorded, e.g. u01 (accuracy figures split by user)")
    p.add_argument("--mount", required=True, choices=MOUNTS, help="where the board sits")
    p.add_argument("--duration", type=float, metavar="S",
                   help="stop after S seconds of signal (default: until q or Ctrl-C)")
    p.add_argument("--event-kind", metavar="KIND",
                   help="kind of the events marked with space (default: the activity's first event kind "
                        "from tasks.toml, e.g. jump for jump-rope, else 'event')")
    p.add_argument("--baud", type=int, default=DEFAULT_BAUD, help=f"baud rate (default {DEFAULT_BAUD})")
    p.add_argument("--json", action="store_true",
                   help="at the end print one JSON object (samples, rates, losses) on stdout")
    line = p.add_argument_group("line mode (boards printing x,y,z text lines)")
    line.add_argument("--line-mode", action="store_true", help="read x,y,z text lines instead of frames")
    line.add_argument("--rate", type=float, metavar="HZ",
                      help="declare the sample rate instead of measuring it (it is still measured and "
                           "compared)")
    line.add_argument("--rate-window", type=float, default=3.0, metavar="S",
                      help="seconds of lines the rate is measured over before writing starts (default 3)")
    line.add_argument("--units", default="g", choices=sorted(ACCEL_UNITS),
                      help="unit of the values in the lines (default g)")
    line.add_argument("--full-scale", type=float, default=8.0, metavar="G",
                      help="the IMU's full-scale range in g, for the file's metadata (default 8)")
    line.add_argument("--board", default="unknown", help="board id for the file's metadata (default unknown)")


def run(args: argparse.Namespace) -> int:
    if args.duration is not None and args.duration <= 0:
        raise UserError(f"--duration must be positive, got {args.duration}")
    if args.rate is not None and args.rate <= 0:
        raise UserError(f"--rate must be positive, got {args.rate:g} (or leave it out to measure the rate)")
    if args.out.suffix != ".rec":
        raise UserError(f"--out {args.out}: recordings end in .rec (e.g. {args.out.with_suffix('.rec')})")
    record = capture.capture_lines if args.line_mode else capture.capture_frames
    report = record(args)
    if args.json:
        print(json.dumps(report, indent=2))
    return 1 if report["stopped_by"] in ("unplugged", "device error", "silence") else 0

