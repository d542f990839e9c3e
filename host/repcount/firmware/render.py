"""A firmware project for a board, rendered from a trained model.

A project is the plain C of firmware_templates/ (the protocol, the app, the counting
pipeline, the board glue: the same for every model and board, copied as it stands) plus
what the model and the board decide, rendered from the templates (`*.j2`) and read from
the model at render time: rc_config.h (geometry, quantisation, counting parameters, the
.tflite's hash, the IMU's rate, range and axis remap), rc_protocol_defs.h (the
protocol's numbers, from repcount.device.protocol), the engine (the TFLM op resolver
built from the model's own operator codes and an arena from the card's measurement plus
a margin, or the native engine generated from the model) and the build files. An op the
chosen engine cannot run is refused here, naming the op and the file it came from,
instead of on the board. The `repcount firmware` command is repcount.commands.firmware.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from repcount import __version__
from repcount.errors import UserError
from repcount.firmware import boards, engines, sizes, templates
from repcount.firmware.boards import Board
from repcount.firmware.native import generate as native
from repcount.firmware.native import stream
from repcount.learn.card import ModelCard, ModelDir
from repcount.learn.tflite_model import TfliteModel

# Files a board folder (or project/) renders to the top of the output; the rest go to src/.
TOP_LEVEL = ("Makefile", "platformio.ini", "README.md")
# The board glue shared by every board built with the Arduino framework (serial, LED, the
# IMU sample queue); a board folder holds only what differs.
ARDUINO_COMMON = "boards/arduino-common"
# TFLM arena margin when the command line gives none: a quarter of the measurement, at
# least 1 KiB. The measurement comes from TFLM's reference kernels on a 64-bit host;
# optimised kernels (CMSIS-NN, ESP-NN) request scratch buffers the reference ones do not.
MIN_ARENA_MARGIN = 1024
ARENA_MARGIN_FRACTION = 4
BYTES_PER_ROW = 12


@dataclass
class Project:
    """A rendered firmware project, and what it was rendered from."""

    directory: Path
    model: ModelDir
    board: Board
    engine: str
    mount: str
    context: dict[str, Any]
    files: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def moved_to(self, directory: Path) -> Project:
        """The same project after its directory was moved (renamed) to `directory`."""
        files = [directory / p.relative_to(self.directory) for p in self.files]
        return replace(self, directory=directory, files=files)


def find_model(spec: str | Path) -> Path:
    """A model directory: a path, or the name of a model shipped in repcount.models."""
    path = Path(spec)
    if path.is_dir():
        return path
    shipped = resources.files("repcount.models").joinpath(str(spec))
    if shipped.is_dir():
        return Path(str(shipped))
    names = sorted(p.name for p in resources.files("repcount.models").iterdir() if p.is_dir()
                   and p.name != "__pycache__")
    raise UserError(
        f"{spec}: no such model directory; pass models/NAME (shipped: {', '.join(names) or 'none'})"
    )


def open_model(spec: str | Path) -> ModelDir:
    """A model directory (a path or a shipped name), checked: its card belongs to its .tflite."""
    return ModelDir.open(find_model(spec))


def pipeline_context(card: ModelCard) -> dict[str, Any]:
    """The model's part of the template context that the portable core needs (from the card)."""
    c = card.counter
    return {
        "name": card.name,
        "task": card.task,
        "mount": card.mount,
        "window": card.window,
        "hop": card.hop,
        "input_len": card.window * 3,
        "output_len": card.output_len,
        "sample_rate_hz": int(card.sample_rate_hz),
        "full_scale_g": int(card.full_scale_g),
        "input_multiplier": card.input.multiplier,
        "input_shift": card.input.shift,
        "input_zero_point": card.input.zero_point,
        "output_zero_point": card.output.zero_point,
        "threshold": c.threshold,
        "refractory": c.refractory,
        "take_start": c.take_start,
        "take_count": c.take_count,
        "out_stride": c.out_stride,
    }


def model_context(model: ModelDir) -> dict[str, Any]:
    """The whole model context: the card's pipeline figures and what only the .tflite knows.

    The hash, the size and the op list come from the .tflite, never from the card;
    ModelDir.open has already refused a card whose hash, geometry or quantisation
    disagree with the .tflite.
    """
    ctx = pipeline_context(model.card)
    t = model.tflite
    digest = t.model_hash
    return {
        **ctx,
        "hash": digest,
        "hash_bytes": [f"0x{digest[i:i + 2]}" for i in range(0, 16, 2)],
        "tflite_bytes": len(t.data),
        "ops": t.op_names,
    }


def board_context(board: Board, mount: str) -> dict[str, Any]:
    """The `board` the templates see: the profile plus the axis remap of this mount."""
    remap = board.remap(mount)
    return {
        "id": board.id,
        "name": board.name,
        "mcu": board.mcu,
        "core": board.core,
        "build": board.build,
        "flash_bytes": board.flash_bytes,
        "ram_bytes": board.ram_bytes,
        "imu": vars(board.imu),
        "serial_transport": board.serial_transport,
        "baud": board.baud,
        "mount": mount,
        "remap": [{"index": i, "sign": s} for i, s in zip(remap.index, remap.sign, strict=True)],
        "platformio": board.platformio,
        "usb_ids": list(board.usb_ids),
    }


def input_reach_g(model: TfliteModel) -> float:
    """The largest |acceleration| in g the model's int8 input can represent: an IMU range
    below it clips what the model was trained to see; above it, nothing is lost."""
    t = model.tensors[model.inputs[0]]
    scale, zp = float(t.scale[0]), int(t.zero_point[0])
    return max(abs(-128 - zp), abs(127 - zp)) * scale


def default_arena_margin(measured: int) -> int:
    """Margin over the measured TFLM arena when none is given (see MIN_ARENA_MARGIN for why)."""
    return max(MIN_ARENA_MARGIN, measured // ARENA_MARGIN_FRACTION)


def tflm_context(model: ModelDir, board: Board, arena_margin: int | None) -> dict[str, Any]:
    """Op resolver and arena of the TFLM engine: ops from the .tflite, arena from the card."""
    measured = model.card.arena_bytes
    if measured is None or measured <= 0:
        raise UserError(
            f"{model.card_path}: no measured arena_bytes; the tflm engine sizes its "
            "arena from it (re-export the model, or use --engine native)"
        )
    margin = default_arena_margin(measured) if arena_margin is None else arena_margin
    if margin < 0:
        raise UserError(f"--arena-margin must be >= 0 bytes, got {margin}")
    return {
        "ops": [{"name": op, "method": engines.tflm_resolver_method(op)} for op in model.tflite.op_names],
        "arena_measured": measured,
        "arena_margin": margin,
        "arena_size": math.ceil((measured + margin) / 16) * 16,
        "library_header": board.platformio.get("tflm_header", ""),
        "lib_deps": list(board.platformio.get("tflm_lib_deps", [])),
    }


def check_model_ops(model: TfliteModel, engine: str) -> None:
    """Stop at generation time on an op the engine lacks, naming it and where it came from."""
    supported = engines.supported_ops(engine)
    first = next((op for op in model.ops if op.name not in supported), None)
    if first is not None:
        where = f"{model.where()} (operator #{first.index} is {first.name})"
        engines.check_ops(model.op_names, engine, where)


def _model_rows(data: bytes) -> list[str]:
    return [
        " ".join(f"0x{b:02x}," for b in data[i:i + BYTES_PER_ROW]) for i in range(0, len(data), BYTES_PER_ROW)
    ]


def _destination(out: Path, source: str, folder: str) -> Path:
    relative = templates.output_name(source, folder)
    return out / relative if relative in TOP_LEVEL else out / "src" / relative


def render(
    model_spec: str | Path,
    board_id: str,
    out: Path,
    engine: str = "tflm",
    mount: str | None = None,
    arena_margin: int | None = None,
) -> Project:
    """Render a complete project for `board_id` into `out`; UserError on anything unsupported.

    `out` may exist (the caller decides whether it may be replaced, as the command does):
    files an earlier render left in its src/ are removed, since the build compiles all."""
    board = boards.load(board_id)
    board.check_engine(engine)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a directory for the project")
    model = open_model(model_spec)
    check_model_ops(model.tflite, engine)
    trained_mount = model.card.mount
    # A model trained on one of the board's mounts defaults to it; one trained on mixed
    # placements (steps) defaults to the wrist.
    mount = mount or (trained_mount if trained_mount in board.mounts else "wrist")
    context = project_context(model, board, engine, mount, arena_margin)
    project = Project(out, model, board, engine, mount, context)
    project.warnings.extend(_warnings(project))
    out.mkdir(parents=True, exist_ok=True)
    _write_project(project)
    _remove_stale(project)
    return project


def project_context(
    model: ModelDir, board: Board, engine: str, mount: str, arena_margin: int | None
) -> dict[str, Any]:
    """What the templates see (docs/firmware.md lists it), besides `protocol` which every
    template sees (repcount.firmware.templates)."""
    return {
        "model": model_context(model),
        "board": board_context(board, mount),
        "engine": engine,
        "firmware_version": __version__,
        "model_source": str(model.path),  # for the commands in README.md
        "model_rows": _model_rows(model.tflite.data) if engine == "tflm" else [],
        "tflm": tflm_context(model, board, arena_margin) if engine == "tflm" else None,
        "native": native_context(model) if engine == "native" else None,
    }


def native_context(model: ModelDir) -> dict[str, Any]:
    """Whether the native engine streams for the card's windows, and why (or why not).

    Streaming computes each layer's new steps only and is bit-exact with the window
    computation on the counted slice, the only outputs the pipeline reads; a model
    without counting (activity) or one whose padding reaches that slice runs on windows."""
    geometry = stream.Geometry.of_card(model.card)
    if geometry is None:
        why = "runs on whole windows: the model counts nothing (no counted slice to stream)"
        return {"geometry": None, "streaming": False, "why": why}
    on, why = native.streaming(model.tflite, geometry)
    return {"geometry": geometry, "streaming": on, "why": why}


def _warnings(project: Project) -> list[str]:
    """What renders but may surprise: an IMU range that clips the model's input, a mount
    other than the one the model was trained for."""
    board, model, mount = project.board, project.model, project.mount
    warnings = []
    reach = min(input_reach_g(model.tflite), float(model.card.full_scale_g))  # counts stop at full scale
    if board.imu.full_scale_g < reach:
        warnings.append(
            f"{board.id}'s IMU is set to +-{board.imu.full_scale_g} g but the model's input reaches "
            f"+-{reach:.2f} g: accelerations beyond +-{board.imu.full_scale_g} g clip on this board"
        )
    trained_mount = model.card.mount
    if trained_mount in board.mounts and mount != trained_mount:
        warnings.append(f"the model was trained for the {trained_mount} mount, not {mount}")
    return warnings


def _write_project(project: Project) -> None:
    """The core, the engine, the shared project files the board does not override, the board."""
    board, out = project.board, project.directory
    _write_sources(project, "core")
    if project.engine == "tflm":
        _write_sources(project, "engines/tflm")
    else:
        geometry = project.context["native"]["geometry"]
        project.files.extend(native.generate(project.model.tflite, out / "src", geometry))
    board_folder = f"boards/{board.id}"
    board_names = {templates.output_name(s, board_folder) for s in templates.sources_in(board_folder)}
    for source in templates.sources_in("project"):
        name = templates.output_name(source, "project")
        if name not in board_names and (board.build == "platformio" or name != "platformio.ini"):
            destination = _destination(out, source, "project")
            project.files.append(templates.write_to(source, project.context, destination))
    _write_sources(project, board_folder)
    if board.platformio.get("framework") == "arduino":
        _write_sources(project, ARDUINO_COMMON)  # the glue every Arduino board shares


def _write_sources(project: Project, folder: str) -> None:
    """Every source of `folder` into the project: plain C copied, templates rendered."""
    for source in templates.sources_in(folder):
        destination = _destination(project.directory, source, folder)
        project.files.append(templates.write_to(source, project.context, destination))


def _remove_stale(project: Project) -> None:
    """src/ is wholly generated: files a previous render left (another engine's, say) would
    otherwise be compiled in by the Makefile's or PlatformIO's wildcard."""
    rendered = {p.resolve() for p in project.files}
    for path in sorted((project.directory / "src").rglob("*")):
        if path.is_file() and path.resolve() not in rendered:
            path.unlink()
            stale = path.relative_to(project.directory)
            project.warnings.append(f"removed {stale} left by an earlier render")


def measure(project: Project) -> dict[str, Any]:
    """Figures of a rendered project (named as in docs/architecture.md, Metrics), measured
    by repcount.firmware.sizes: the arenas and MACs of the model, and for the emulated
    board its flash, RAM and instructions. Adds the arena the TFLM engine was generated
    with, and warns when the card's arena is below today's measurement (a stale card)."""
    figures = sizes.measure(project)
    tflm = project.context["tflm"]
    if tflm is not None:
        figures["firmware_arena_bytes"] = tflm["arena_size"]
        measured = figures.get("tflm_arena_bytes")
        if isinstance(measured, int) and measured > tflm["arena_size"]:
            project.warnings.append(
                f"the TFLM runtime needs {measured} arena bytes, more than the {tflm['arena_size']} "
                "generated from the card: re-measure the model or pass a larger --arena-margin"
            )
    return figures


def summary(project: Project) -> dict[str, Any]:
    """The --json object: what was rendered, from what, and its figures."""
    figures = measure(project)
    return {
        "board": project.board.id,
        "engine": project.engine,
        "model": project.context["model"]["name"],
        "model_hash": project.context["model"]["hash"],
        "mount": project.mount,
        "out": str(project.directory),
        "ops": project.context["model"]["ops"],
        "files": sorted(str(p.relative_to(project.directory)) for p in project.files),
        "warnings": project.warnings,
        "card_arena_bytes": project.model.card.arena_bytes,
        **_streaming(project),
        **figures,
    }


def _streaming(project: Project) -> dict[str, Any]:
    """`streaming` and `why` of a native project (none for TFLM, which always runs windows)."""
    ctx = project.context["native"]
    return {} if ctx is None else {"streaming": ctx["streaming"], "why": ctx["why"]}
