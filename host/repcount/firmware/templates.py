"""The one Jinja2 environment that renders every generated file (StrictUndefined).

A template that names a variable the renderer did not pass fails loudly instead of
emitting an empty string into C code.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2


@cache
def environment() -> jinja2.Environment:
    root = resources.files("repcount.firmware_templates")
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(root)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )


def render_to(template: str, context: dict[str, Any], out: Path) -> Path:
    """Render `template` (a path under firmware_templates/) to the file `out`."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(environment().get_template(template).render(**context), encoding="utf-8")
    return out
