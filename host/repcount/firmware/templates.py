"""The firmware sources in firmware_templates/: plain C copied as it stands, templates rendered.

What is the same for every model and board is plain C (.c, .h, .cpp) in the repository,
compiled and checked there as it stands (tests/test_c_sources.py) and copied into a
project unchanged. Only files named `*.j2` are Jinja2 templates: the one rc_config.h
(every model and board fact the C needs), the protocol's constants, the model data, the
engines and the build files. They render in one environment with StrictUndefined, so a
template that names a variable the renderer did not pass fails loudly instead of emitting
an empty string into C code.
"""

from __future__ import annotations

import shutil
import struct
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from repcount.device import protocol

TEMPLATE_SUFFIX = ".j2"
# Files of the folders that are never part of a project (the Python package marker).
_NOT_SOURCES = ("__init__.py", "__pycache__")


def root() -> Path:
    """The firmware_templates/ folder (installed as the repcount.firmware_templates package)."""
    return Path(str(resources.files("repcount.firmware_templates")))


@cache
def environment() -> jinja2.Environment:
    """The environment; every template sees `protocol` (protocol_context) besides its context."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(root())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.globals["protocol"] = protocol_context()
    return env


def protocol_context() -> dict[str, Any]:
    """The serial protocol's numbers and INFO layout, from repcount.device.protocol (their one
    definition), for core/rc_protocol_defs.h.j2. The same for every project."""
    fixed = "<" + "".join(code for _, code in protocol.INFO_FIELDS)
    return {
        "version": protocol.PROTOCOL_VERSION,
        "max_payload": protocol.MAX_PAYLOAD,
        "frame_overhead": protocol.HEADER_BYTES + protocol.CRC_BYTES,
        "max_samples_per_frame": protocol.MAX_SAMPLES_PER_FRAME,
        "info_str_max": protocol.INFO_STR_MAX,
        "message_types": protocol.MESSAGE_TYPES,
        "modes": protocol.MODES,
        "error_codes": protocol.ERROR_CODES,
        "info_offsets": protocol.info_offsets(),
        "info_fixed_bytes": struct.calcsize(fixed),
        "info_strings": protocol.INFO_STRINGS,
    }


def render_to(template: str, context: dict[str, Any], out: Path) -> Path:
    """Render `template` (a path under firmware_templates/) to the file `out`."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(environment().get_template(template).render(**context), encoding="utf-8")
    return out


def write_to(source: str, context: dict[str, Any], out: Path) -> Path:
    """Render `source` to `out` if it is a template (`*.j2`), else copy it byte for byte."""
    if source.endswith(TEMPLATE_SUFFIX):
        return render_to(source, context, out)
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(root() / source, out)
    return out


def sources_in(folder: str) -> list[str]:
    """Every source under `folder` (names relative to firmware_templates/, sorted): plain
    files and templates alike; an absent folder has none."""
    base = root() / folder
    if not base.is_dir():
        return []
    return sorted(
        path.relative_to(root()).as_posix()
        for path in base.rglob("*")
        if path.is_file() and not any(part in _NOT_SOURCES for part in path.relative_to(base).parts)
    )


def output_name(source: str, folder: str) -> str:
    """The name a source gets in a project: its path below `folder`, without `.j2`."""
    return source[len(folder) + 1:].removesuffix(TEMPLATE_SUFFIX)
