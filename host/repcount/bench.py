"""Measure where repcount stands: accuracy, agreement, sizes, cost and speed, in one run.

Example:
  repcount bench --out bench/results.json --markdown bench/results.md
"""

from __future__ import annotations

import argparse

from repcount.errors import UserError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="bench/results.json", help="where to write the JSON results")
    p.add_argument("--markdown", default="bench/results.md", help="where to write the Markdown table")
    p.add_argument("--json", action="store_true", help="print the results as one JSON object")


def run(args: argparse.Namespace) -> int:
    raise UserError("the benchmark is being written (issue 8)")
