"""Render a complete firmware project for a board from a trained model.

What is the same for every model and board (the protocol, the app, the counting
pipeline, the board glue) is plain C copied from firmware_templates/; what the model and
the board decide is rendered: one rc_config.h (geometry, quantisation, counting
parameters, the model's hash, the IMU's rate, range and axis remap), the protocol's
numbers, the model data and the engine, and the build files. An op the chosen engine
cannot run fails here, naming the op and the file it came from, instead of on the board
("Didn't find op for builtin opcode").

Engines:
  tflm    TensorFlow Lite Micro's MicroInterpreter, from the board ecosystem's TFLM package
          (real boards; PlatformIO fetches the package when you build)
  native  dependency-free C99 generated from the int8 model (every board; the only one
          for host-linux and qemu-mps2-an386)

Boards: qemu-mps2-an386, host-linux (Makefile projects), nano33ble-sense-rev2,
xiao-nrf52840-sense, m5stickc-plus (PlatformIO projects). The board's IMU is set up at
its own output data rate and range, remapped to the model's axes for --mount and
resampled to the model's rate in the portable core.

--out must not exist (or pass --force to replace it); it is checked before any work, and
the project appears there only once complete.

Examples:
  repcount firmware --model models/jumprope-wrist --board nano33ble-sense-rev2 --out fw/nano
  cd fw/nano && pio run -t upload            # build and flash with PlatformIO
  repcount firmware --model jumprope-handle --board xiao-nrf52840-sense --mount handle \\
      --out fw/xiao --json
  repcount firmware --model steps --board qemu-mps2-an386 --engine native --out fw/qemu --force

See docs/firmware.md for the layout of the output and a walkthrough for a real board.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from repcount.firmware import boards, engines
from repcount.firmware.render import MIN_ARENA_MARGIN, Project, render, summary
from repcount.outputs import atomic_dir, check_output


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True,
                        help="model directory (models/NAME: model.tflite, card.json) or a shipped name")
    parser.add_argument("--board", required=True, help=f"board id: {', '.join(boards.ids())}")
    parser.add_argument("--engine", choices=engines.ENGINES, default=None,
                        help="inference engine (default: tflm where the board supports it, else native)")
    parser.add_argument("--mount", choices=("wrist", "handle"), default=None,
                        help="how the board is worn, for the axis remap (default: the model's mount, "
                             "or wrist for a model trained on mixed placements)")
    parser.add_argument("--out", required=True, type=Path, help="output directory of the project (new)")
    parser.add_argument("--force", action="store_true", help="replace --out if it exists")
    parser.add_argument("--arena-margin", type=int, default=None, metavar="BYTES",
                        help="bytes added to the measured TFLM arena "
                             f"(default: a quarter of it, at least {MIN_ARENA_MARGIN})")
    parser.add_argument("--json", action="store_true", help="print one JSON object with the result")


def run(args: argparse.Namespace) -> int:
    out = check_output(args.out, kind="dir", force=args.force)
    engine = args.engine or boards.load(args.board).engines[0]
    with atomic_dir(out, force=args.force) as tmp:
        project = render(args.model, args.board, tmp, engine=engine, mount=args.mount,
                         arena_margin=args.arena_margin)
    project = project.moved_to(out)
    if args.json:
        print(json.dumps(summary(project)))
        return 0
    _print(project)
    return 0


def _print(project: Project) -> None:
    for warning in project.warnings:
        print(f"warning: {warning}")
    model = project.context["model"]
    print(f"rendered {len(project.files)} files for {project.board.id} ({project.engine} engine, "
          f"{project.mount} mount) from {model['name']} ({model['hash']}) into {project.directory}")
    tflm = project.context["tflm"]
    if tflm is not None:
        print(f"  ops: {', '.join(model['ops'])}; arena {tflm['arena_size']} bytes "
              f"({tflm['arena_measured']} measured + {tflm['arena_margin']} margin)")
    native = project.context["native"]
    if native is not None:
        print(f"  streaming: {'yes' if native['streaming'] else 'no'}: {native['why']}")
    build = "pio run -t upload" if project.board.build == "platformio" else "make"
    print(f"  next: cd {project.directory} && {build}   (see README.md there)")
