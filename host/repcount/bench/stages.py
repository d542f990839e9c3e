"""What the benchmark regenerates, re-runs and records about the machine it runs on.

The shipped models' cards record the exact `repcount train` command, but their data live
in a build directory a fresh clone does not have. `regenerate_data` runs the data steps of
tools/train-shipped-models.sh itself (its `repcount simulate` lines, byte-identical for
the same seeds) into a directory of the bench's, with a `repcount` that skips `train`:
the recipe stays written down once. The Oxford traces are split by user into recording
files, and a card's command is rewritten to read them and to write into the bench's
directory (`rewrite_command`).
"""

from __future__ import annotations

import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from repcount.errors import UserError
from repcount.heavy import TF_ENV
from repcount.learn.card import ModelCard

Progress = Callable[[str], None]
MODELS_SCRIPT = Path("tools") / "train-shipped-models.sh"
# What the Makefile exports for every TensorFlow command: quiet, reproducible, Keras 2.
TRAIN_ENV = TF_ENV  # child processes (training, the demo) get the same quiet TensorFlow settings
# `repcount` for the models script: runs its data steps, skips its training steps.
DATA_ONLY = """#!/bin/sh
case "$1" in simulate|import) exec {repcount} "$@" ;; esac
"""


# ----------------------------------------------------------------------------- data


def regenerate_data(repo: Path, out: Path, progress: Progress) -> Path:
    """Run the data steps of tools/train-shipped-models.sh with its DATA directory at `out`."""
    script = repo / MODELS_SCRIPT
    if not script.is_file():
        raise UserError(f"no {MODELS_SCRIPT} in {repo}: run the bench in the repository (make bench)")
    if (out / ".complete").is_file():
        return out
    out.mkdir(parents=True, exist_ok=True)
    shim = out.parent / "repcount-data-only"
    shim.write_text(DATA_ONLY.format(repcount=shlex.join(repcount_command())))
    shim.chmod(0o755)
    progress(f"regenerating the shipped models' data ({MODELS_SCRIPT}, simulate steps only)")
    env = {**os.environ, **TRAIN_ENV, "REPCOUNT": str(shim), "DATA": str(out.resolve())}
    proc = subprocess.run(["bash", str(script)], cwd=repo, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise UserError(f"{MODELS_SCRIPT} failed to make the data (exit {proc.returncode}): "
                        f"{(proc.stderr or proc.stdout).strip()[-300:]}")  # fmt: skip
    (out / ".complete").write_text("")
    return out


def data_dir(token: str, root: Path) -> str:
    """Where a data argument of a card's command is among the regenerated data (`oxford` stays)."""
    if token == "oxford":
        return token
    found = root / Path(token).name
    if not found.is_dir():
        raise UserError(
            f"the card's data {token} is not made by {MODELS_SCRIPT} (regenerated: "
            f"{', '.join(sorted(p.name for p in root.iterdir() if p.is_dir()))}); retrain the model with it"
        )
    return str(found)


def manifest_users(directory: Path) -> list[str]:
    """The users a regenerated data directory holds, for check_users to compare with the card."""
    return json.loads((directory / "manifest.json").read_text())["users"]


def check_users(card: ModelCard, regenerated: dict[str, list[str]]) -> None:
    """The regenerated data must hold only users the card says it trained or measured on."""
    named = {*card.training.train_users, *card.training.held_out_users} if card.training else set()
    for name, users in regenerated.items():
        stray = sorted(set(users) - named)
        if stray:
            raise UserError(
                f"{card.name}: regenerated {name} holds users {', '.join(stray)} that the card does "
                f"not name: the model was trained before {MODELS_SCRIPT} changed; retrain it (make models)"
            )


# ----------------------------------------------------------------------------- commands


def train_arguments(card: ModelCard) -> list[str]:
    """The arguments after `repcount train` of the card's recorded command."""
    command = card.training.command if card.training else None
    if not command:
        raise UserError(f"{card.name}: its card records no training command; retrain it (make models)")
    tokens = shlex.split(command)
    if tokens[:2] != ["repcount", "train"]:
        raise UserError(f"{card.name}: the card's command is not `repcount train ...`: {command}")
    return tokens[2:]


def option_values(args: Sequence[str], option: str) -> list[str]:
    """The values given to `option` in an argument list (up to the next option)."""
    if option not in args:
        return []
    rest = list(args[args.index(option) + 1:])
    return rest[: next((i for i, t in enumerate(rest) if t.startswith("--")), len(rest))]


def rewrite_command(tokens: Sequence[str], data: Callable[[str], str], out: Path,
                    drop: Sequence[str] = (), extra: Sequence[str] = ()) -> list[str]:  # fmt: skip
    """A card's `repcount train` arguments with the data and the output moved elsewhere.

    Values of --data and --test-data go through `data`; --out becomes `out`; options in
    `drop` are removed with their values; `extra` is appended."""
    result: list[str] = []
    option = ""
    for tok in tokens:
        if tok.startswith("--"):
            option = tok
            if option not in drop:
                result.append(tok)
        elif option in drop:
            continue
        elif option in ("--data", "--test-data"):
            result.append(data(tok))
        else:
            result.append(str(out) if option == "--out" else tok)
    return result + list(extra)


def repcount_command() -> list[str]:
    """The `repcount` of this environment (the script beside its Python, else the module)."""
    script = Path(sys.executable).with_name("repcount")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "repcount.cli"]


def run_train(args: list[str], log: Path, progress: Progress) -> float:
    """Run `repcount train ARGS` as a user would; its wall time in seconds.

    Its output goes to `log`, and its progress lines (`[  12.3 s] ...`) to `progress`."""
    progress(f"repcount train {shlex.join(args)}")
    started = time.monotonic()
    with open(log, "w") as f, subprocess.Popen(
        [*repcount_command(), "train", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, **TRAIN_ENV},
    ) as proc:  # fmt: skip
        assert proc.stdout is not None
        for line in proc.stdout:
            f.write(line)
            if line.startswith("["):
                progress(f"  train {line.strip()}")
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-3:]
        raise UserError(f"repcount train failed (exit {proc.returncode}): {' / '.join(tail)} (log {log})")
    return seconds


def time_demo(repo: Path, progress: Progress) -> dict[str, Any]:
    """Run tools/demo.sh (what `make demo` runs after setup): its time and its training step's."""
    script = repo / "tools" / "demo.sh"
    if not script.is_file():
        return {"not_measured": "no tools/demo.sh in the current directory (run the bench in the repository)"}
    started = time.monotonic()
    marks: dict[str, float] = {}
    tail: list[str] = []
    with subprocess.Popen(["bash", str(script)], cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, env={**os.environ, **TRAIN_ENV}) as proc:  # fmt: skip
        assert proc.stdout is not None
        for line in proc.stdout:
            step = re.match(r"== (\d)/\d", line)
            if step:
                marks[step[1]] = time.monotonic() - started
                progress(f"demo: {line.strip()}")
            tail = [*tail[-2:], line.strip()]
    seconds = time.monotonic() - started
    train = marks["3"] - marks["2"] if "2" in marks and "3" in marks else None
    obj: dict[str, Any] = {"seconds": round(seconds, 1), "source": "tools/demo.sh, timed by the bench",
                           "train_seconds": train if train is None else round(train, 1)}  # fmt: skip
    if proc.returncode != 0:  # the steps it finished are still timed
        obj["seconds"] = None
        obj["not_measured"] = f"tools/demo.sh failed (exit {proc.returncode}): {' / '.join(tail)}"
    return obj


# ----------------------------------------------------------------------------- the machine


def _first_line(cmd: Sequence[str]) -> str | None:
    if shutil.which(cmd[0]) is None:
        return None
    out = subprocess.run(list(cmd), capture_output=True, text=True, check=False)
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else None


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def machine() -> dict[str, Any]:
    """What the figures were measured on: cores, memory, CPU, OS, Python, compilers, packages."""
    cpu = re.search(r"^model name\s*:\s*(.+)$", _read("/proc/cpuinfo"), re.M)
    mem = re.search(r"^MemTotal:\s*(\d+) kB", _read("/proc/meminfo"), re.M)
    os_name = re.search(r'^PRETTY_NAME="?([^"\n]+)"?', _read("/etc/os-release"), re.M)
    packages = {}
    for dist in ("tensorflow", "tf-keras", "tensorflow-model-optimization", "tflite-micro", "numpy"):
        try:
            packages[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            packages[dist] = None
    return {
        "cores": os.cpu_count(),
        "cpu": cpu[1].strip() if cpu else platform.processor() or platform.machine(),
        "memory_gb": round(int(mem[1]) / 1024**2, 1) if mem else None,
        "os": f"{os_name[1] if os_name else platform.system()}, kernel {platform.release()}",
        "python": platform.python_version(),
        "arm_gcc": _first_line(["arm-none-eabi-gcc", "--version"]),
        "host_gcc": _first_line(["gcc", "--version"]),
        "qemu": _first_line(["qemu-system-arm", "--version"]),
        "packages": packages,
    }


def git_state(repo: Path) -> dict[str, Any]:
    """The commit measured, and whether tracked files differed from it."""
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode != 0:
        return {"git_commit": None, "git_dirty": None}
    dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()  # fmt: skip
    return {"git_commit": head.stdout.strip(), "git_dirty": bool(dirty)}
