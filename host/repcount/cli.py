"""The `repcount` command line.

Each subcommand is one thin module in `repcount.commands` that exposes
`add_arguments(parser)` and `run(args) -> int` and leaves the work to the library
packages. Nothing imports anything heavy at module level (TensorFlow, tflite_micro and
matplotlib only through `repcount.heavy`, inside functions), so `repcount --help` and
every subcommand's help return quickly.

Errors keep one contract (docs/cli.md): a `UserError` or an `OSError` is one line on
stderr and exit 2; under `--json` stdout also gets `{"error": ..., "exit_code": ...}`,
for usage errors too.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from typing import NoReturn

from repcount import __version__
from repcount.errors import UserError

# name -> (module, one-line summary). The order is the order of the workflow.
COMMANDS: dict[str, tuple[str, str]] = {
    "simulate": ("repcount.commands.simulate",
                 "generate labelled IMU recordings (jump rope, steps, distractors)"),
    "import": ("repcount.commands.import_",
               "convert Oxford step-counter, WISDM or generic CSV data to recordings"),
    "show": ("repcount.commands.show", "check a recording and print (or plot) what it holds"),
    "ports": ("repcount.commands.ports", "list serial ports with USB ids and a guess of the board"),
    "capture": ("repcount.commands.capture", "record labelled IMU data from a board over serial"),
    "label": ("repcount.commands.label", "place exactly N events in count-only recordings (@count labels)"),
    "train": ("repcount.commands.train", "train a quantization-aware CNN and export an int8 model"),
    "evaluate": ("repcount.commands.evaluate", "measure counting accuracy of float, int8 and baseline"),
    "firmware": ("repcount.commands.firmware", "render a firmware project for a board from a model"),
    "emulate": ("repcount.commands.emulate", "run a firmware on the emulated Cortex-M4F board"),
    "hil": ("repcount.commands.hil", "hardware-in-the-loop: replay recordings to a device, compare"),
    "bench": ("repcount.commands.bench", "measure where repcount stands: accuracy, size, cost, speed"),
}


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (with where to read more), as every error is,
    and under --json also the JSON error object."""

    json_requested = False  # set by main() from the command line it parses

    def error(self, message: str) -> NoReturn:
        if _Parser.json_requested:
            print(json.dumps({"error": message, "exit_code": 2}))
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only `command`'s module is imported (all of them when it is None).

    Why: importing every command's library (scipy, the protocol, the simulator) costs
    seconds before a capture can start; a command needs only its own module.
    """
    parser = _Parser(
        prog="repcount",
        description=(
            "Record accelerometer data, train a tiny int8 counter of rope jumps or steps, "
            "generate its firmware and verify it on the device."
        ),
        epilog="Start with `make demo`; `repcount COMMAND --help` explains each command.",
    )
    parser.add_argument("--version", action="version", version=f"repcount {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, summary) in COMMANDS.items():
        if command is not None and name != command:
            sub.add_parser(name, help=summary, description=summary)
            continue
        module = importlib.import_module(module_name)
        p = sub.add_parser(
            name,
            help=summary,
            description=(module.__doc__ or summary).strip(),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def _command_in(argv: list[str]) -> str:
    """The command named on the command line ("" when none is: only the top-level help)."""
    return next((a for a in argv if not a.startswith("-")), "")


def main(argv: list[str] | None = None) -> int:
    given = sys.argv[1:] if argv is None else argv
    parser = build_parser(_command_in(given))
    _Parser.json_requested = "--json" in given
    args, unknown = parser.parse_known_args(argv)
    if unknown and args.command is not None:  # name the command, not the top-level parser
        return _fail(args, f"unrecognized arguments: {' '.join(unknown)} (see `repcount {args.command} "
                           "--help`)", 2)
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args._module.run(args) or 0)
    except UserError as exc:
        return _fail(args, str(exc), 2)
    except OSError as exc:  # a full disk, a vanished directory: the user's to fix, not a bug
        where = f"{exc.filename}: " if exc.filename else ""
        return _fail(args, f"{where}{exc.strerror or exc}", 2)
    except KeyboardInterrupt:
        return _fail(args, "interrupted", 130)


def _fail(args: argparse.Namespace, message: str, code: int) -> int:
    """One line on stderr; under --json also one JSON object with `error` on stdout."""
    label = "error: " if code == 2 else ""
    print(f"repcount {args.command}: {label}{message}", file=sys.stderr)
    if getattr(args, "json", False):
        print(json.dumps({"error": message, "exit_code": code}))
    return code


if __name__ == "__main__":
    sys.exit(main())
