"""Counting tasks (jump rope, steps, activity) as defined in tasks.toml."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources

from repcount.errors import UserError


@dataclass(frozen=True)
class Task:
    name: str
    description: str
    target_activities: tuple[str, ...]
    event_kinds: tuple[str, ...]
    event_tolerance_s: float
    sample_rate_hz: float
    full_scale_g: float


def _load() -> dict[str, Task]:
    data = tomllib.loads(resources.files("repcount.learn").joinpath("tasks.toml").read_text())
    return {
        name: Task(
            name=name,
            description=t["description"],
            target_activities=tuple(t["target_activities"]),
            event_kinds=tuple(t["event_kinds"]),
            event_tolerance_s=float(t["event_tolerance_s"]),
            sample_rate_hz=float(t["sample_rate_hz"]),
            full_scale_g=float(t["full_scale_g"]),
        )
        for name, t in data.items()
    }


TASKS = _load()


def get(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise UserError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}") from None
