"""Board profiles: the one loader of `repcount/boards/*.toml`.

A board is data, not code: its MCU, memory, IMU (chip, bus, output data rate, full-scale
range), how its axes map to the model's for each mount, its serial transport, its build
system and engines, the USB ids `repcount ports` uses to guess it, and for PlatformIO
boards the platform, board, framework and libraries. The firmware renderer, `ports` and
the HIL suite all read boards through this module, so adding a board is one TOML file plus
the smallest template folder.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from repcount.errors import UserError
from repcount.firmware.engines import ENGINES

BUILD_SYSTEMS = ("make", "platformio")
_AXIS = re.compile(r"^([+-])([xyz])$")
_USB_ID = re.compile(r"^[0-9A-Fa-f]{4}:[0-9A-Fa-f]{4}$")


@dataclass(frozen=True)
class Remap:
    """Model axis i = sign[i] * board axis index[i] (a signed permutation)."""

    index: tuple[int, int, int]
    sign: tuple[int, int, int]


IDENTITY = Remap(index=(0, 1, 2), sign=(1, 1, 1))


@dataclass(frozen=True)
class Imu:
    chip: str
    bus: str
    odr_hz: int  # the rate the glue delivers samples at; the core resamples to the model's
    full_scale_g: int  # the range the IMU is set to (values beyond it clip)
    library: str = ""
    # What the glue reads, in the board's printed axes (axis i read = sign[i] * printed axis
    # index[i]): a library may swap or mirror the chip's axes, and the mounts' remaps are
    # written against what is read, so the tests can check each mount against the printed axes.
    frame: Remap = IDENTITY


@dataclass(frozen=True)
class Board:
    id: str
    name: str
    mcu: str
    core: str
    flash_bytes: int
    ram_bytes: int
    build: str
    engines: tuple[str, ...]
    usb_ids: tuple[str, ...]
    imu: Imu
    serial_transport: str
    baud: int
    mounts: dict[str, Remap]
    platformio: dict[str, Any] = field(default_factory=dict)

    def remap(self, mount: str) -> Remap:
        """The IMU axis remap for this mount, so the model sees the axes it was trained on."""
        try:
            return self.mounts[mount]
        except KeyError:
            raise UserError(
                f"board {self.id!r} has no mount {mount!r}; choose one of {', '.join(self.mounts)}"
            ) from None

    def check_engine(self, engine: str) -> None:
        """Refuse an engine the board's profile does not list, naming one it does."""
        if engine not in self.engines:
            raise UserError(
                f"board {self.id!r} does not support the {engine!r} engine (it supports "
                f"{', '.join(self.engines)}); pass --engine {self.engines[0]}"
            )


def _parse_remap(board_id: str, mount: str, axes: list[str]) -> Remap:
    matches = [_AXIS.match(a) for a in axes]
    letters = [m.group(2) for m in matches if m]
    if len(axes) != 3 or None in matches or sorted(letters) != ["x", "y", "z"]:
        raise ValueError(
            f"board {board_id}: mount {mount}: remap must be a signed permutation of x, y, z "
            f"like [\"+y\", \"-x\", \"+z\"], got {axes}"
        )
    return Remap(
        index=tuple("xyz".index(m.group(2)) for m in matches),  # type: ignore[arg-type, union-attr]
        sign=tuple(1 if m.group(1) == "+" else -1 for m in matches),  # type: ignore[arg-type, union-attr]
    )


def _parse(data: dict[str, Any]) -> Board:
    """A Board from one profile; ValueError naming the field if the profile is malformed."""
    board_id = data["id"]
    if data["build"] not in BUILD_SYSTEMS:
        raise ValueError(f"board {board_id}: build must be one of {BUILD_SYSTEMS}")
    unknown = [e for e in data["engines"] if e not in ENGINES]
    if unknown:
        raise ValueError(f"board {board_id}: unknown engine(s) {unknown}")
    bad_ids = [u for u in data["usb_ids"] if not _USB_ID.match(u)]
    if bad_ids:
        raise ValueError(f"board {board_id}: usb_ids must look like '2341:805A', got {bad_ids}")
    if data["build"] == "platformio" and not data.get("platformio"):
        raise ValueError(f"board {board_id}: a PlatformIO board needs a [platformio] table")
    imu = data["imu"]
    return Board(
        id=board_id,
        name=data["name"],
        mcu=data["mcu"],
        core=data["core"],
        flash_bytes=int(data["flash_bytes"]),
        ram_bytes=int(data["ram_bytes"]),
        build=data["build"],
        engines=tuple(data["engines"]),
        usb_ids=tuple(u.upper() for u in data["usb_ids"]),
        imu=Imu(
            chip=imu["chip"],
            bus=imu["bus"],
            odr_hz=int(imu["odr_hz"]),
            full_scale_g=int(imu["full_scale_g"]),
            library=imu.get("library", ""),
            frame=_parse_remap(board_id, "imu.frame", imu["frame"]) if "frame" in imu else IDENTITY,
        ),
        serial_transport=data["serial"]["transport"],
        baud=int(data["serial"]["baud"]),
        mounts={m: _parse_remap(board_id, m, v["remap"]) for m, v in data["mounts"].items()},
        platformio=dict(data.get("platformio", {})),
    )


@cache
def _all() -> dict[str, Board]:
    boards = {}
    for entry in sorted(resources.files("repcount.firmware.boards").iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".toml"):
            board = _parse(tomllib.loads(entry.read_text(encoding="utf-8")))
            if entry.name != f"{board.id}.toml":
                raise ValueError(f"{entry.name}: file name must be the board id ({board.id}.toml)")
            boards[board.id] = board
    return boards


def ids() -> list[str]:
    """Every board id, sorted."""
    return list(_all())


def load(board_id: str) -> Board:
    """The profile of `board_id`; UserError listing the known boards if there is none."""
    try:
        return _all()[board_id]
    except KeyError:
        raise UserError(f"unknown board {board_id!r}; choose one of {', '.join(ids())}") from None


def guess(vid: int | None, pid: int | None) -> Board | None:
    """The board whose profile lists this USB VID:PID (how `repcount ports` guesses), if any."""
    if vid is None or pid is None:
        return None
    key = f"{vid:04X}:{pid:04X}"
    return next((b for b in _all().values() if key in b.usb_ids), None)
