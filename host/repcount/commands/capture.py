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

The file. An existing --out is never touched without --force (checked before the port
opens). Whole lines are written and made durable at least once a second, and the
segment being recorded is labelled in the file all along: Ctrl-C, SIGTERM, SIGHUP, a
crash, SIGKILL or an unplugged cable leave a valid, labelled recording missing at most
the last second. A full disk stops the capture with what was written kept (exit 2). A
serial device is opened for this capture alone: a second capture on it is refused.

Labels. Without keys, the whole recording is one segment of --activity. When stdin is a
terminal, keys label while you record:
  s       start / stop a segment of --activity (e.g. around each set of jumps)
  space   mark an event of --event-kind at this moment (e.g. a missed jump)
  q       stop recording (as --duration would)
If no segment was marked, the whole recording becomes one segment of --activity.

Counts. After each segment marked with s, the status line asks how many events (jumps,
steps) it held: type the number and Enter, or Enter alone to skip; recording goes on
meanwhile. At the end capture asks for the last segment (or the whole recording). The
answer is written as `@count,START,END,KIND,N` (docs/recording-format.md), what
`repcount label` needs to place the events. --count N gives the count of a one-segment
recording up front; without a terminal nothing is asked.

Live status on stderr: elapsed time, samples, measured vs declared rate, frames lost.
Exit status (docs/cli.md): 0 stopped by --duration or q; 130 stopped by Ctrl-C, SIGTERM
or SIGHUP, the recording closed and labelled first; 2 bad input, a device that cannot be
recorded from or that stopped the capture (unplugged, silent, an error it reported), or a
failed write. The recording holds what arrived in every case.

Examples:
  repcount capture --port /dev/ttyACM0 --out data/u01-jumps.rec --activity jump-rope \\
      --user u01 --mount wrist
  repcount capture --port socket://127.0.0.1:4321 --out walk.rec --activity walking \\
      --user u02 --mount pocket --duration 60 --count 104 --json
  repcount capture --port /dev/ttyUSB0 --line-mode --units mg --full-scale 4 \\
      --out gestures.rec --activity gestures --user u03 --mount hand
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from repcount.data.recordings import ACCEL_UNITS, MOUNTS
from repcount.device.capture.frames import FULL_SCALES_G, capture_frames
from repcount.device.capture.lines import capture_lines
from repcount.device.capture.session import CaptureOptions
from repcount.device.link import DEFAULT_BAUD

DEVICE_STOPS = ("unplugged", "device error", "silence")  # exit 2, docs/cli.md
INTERRUPTS = ("interrupt", "signal")  # Ctrl-C, SIGTERM, SIGHUP: exit 130 once the file is closed


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", required=True,
                   help="serial device or pyserial URL: /dev/ttyACM0, COM3, socket://127.0.0.1:4321 "
                        "(see `repcount ports`)")
    p.add_argument("--out", required=True, type=Path, help="the recording file to write, e.g. data/u01.rec")
    p.add_argument("--force", action="store_true", help="replace --out if it exists (once samples arrive)")
    p.add_argument("--activity", required=True,
                   help="what is recorded: jump-rope, walking, running, gestures, ... (the segment label)")
    p.add_argument("--user", required=True, help="who is recorded, e.g. u01 (accuracy figures split by user)")
    p.add_argument("--mount", required=True, choices=MOUNTS, help="where the board sits")
    p.add_argument("--duration", type=float, metavar="S",
                   help="stop after S seconds of signal (default: until q or Ctrl-C)")
    p.add_argument("--count", type=int, metavar="N",
                   help="the recording (one segment) held N events (jumps, steps): written as its count "
                        "label, nothing is asked")
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
                      help="the IMU's full-scale range in g, for the file's metadata: "
                           f"{', '.join(map(str, FULL_SCALES_G))} (default 8)")
    line.add_argument("--board", default="unknown", help="board id for the file's metadata (default unknown)")


def run(args: argparse.Namespace) -> int:
    opts = CaptureOptions(
        port=args.port, out=args.out, activity=args.activity, user=args.user, mount=args.mount,
        duration=args.duration, event_kind=args.event_kind, baud=args.baud, replace=args.force,
        count=args.count, rate=args.rate, rate_window=args.rate_window, units=args.units,
        full_scale=args.full_scale, board=args.board,
    )
    report = capture_lines(opts) if args.line_mode else capture_frames(opts)
    stop = report["stopped_by"]
    written_error = report["error"]  # a failed write; a device stop was already said with its figures
    if stop in DEVICE_STOPS and not report["error"]:
        report["error"] = report["message"]
    report["exit_code"] = 2 if report["error"] else 130 if stop in INTERRUPTS else 0
    if args.json:
        print(json.dumps(report, indent=2))
    if written_error:
        print(f"repcount capture: error: {written_error}", file=sys.stderr)
    return report["exit_code"]
