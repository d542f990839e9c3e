"""Writing outputs safely: check the path before the long work, never replace what exists.

Every command that writes a file or a directory goes through here, so the promise is the
same everywhere (docs/cli.md): an output path is checked before anything slow starts (a
training run must not end in "directory not writable"), an existing file or directory is
never overwritten or deleted unless the user passed `--force`, and what is written
appears under its final name only when it is complete (a temporary name in the same
directory, then an atomic rename), so an interrupted command leaves the old output or
none, never half of one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Literal

from repcount.errors import UserError

Kind = Literal["file", "dir"]


def check_output(path: str | Path, kind: Kind = "file", force: bool = False, flag: str = "--out") -> Path:
    """The output path, checked now: its folder writable, and nothing in the way of it.

    `kind` says what will be written there. An existing path of the other kind is always
    an error (even with --force: a file is never replaced by a directory or the reverse);
    an existing path of the same kind is an error unless `force`.
    """
    p = Path(path)
    if p.exists() or p.is_symlink():
        if kind == "file" and p.is_dir():
            raise UserError(f"{flag} {p}: is a directory; name a file")
        if kind == "dir" and not p.is_dir():
            raise UserError(f"{flag} {p}: is a file; name a directory")
        if not force:
            raise UserError(f"{flag} {p}: already exists; choose another name, or pass --force to replace it")
    parent = p.parent if str(p.parent) else Path(".")
    existing = parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise UserError(f"{flag} {p}: {existing} is a file, not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"{flag} {p}: cannot write in {existing} (permission denied)")
    return p


def _umask() -> int:
    """The process's umask (read by setting it, so set it straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_file(path: str | Path, mode: Literal["w", "wb"] = "w") -> Iterator[IO]:
    """Open a temporary file beside `path`; on success fsync it and rename it to `path`."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".part", dir=p.parent)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; the output is an ordinary file
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_dir(path: str | Path, force: bool = False) -> Iterator[Path]:
    """Yield a temporary directory beside `path`; on success it takes `path`'s place.

    With `force`, an existing directory at `path` is removed only after the new one is
    complete, so a failure leaves the old one untouched.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{p.name}.", suffix=".part", dir=p.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private; the output is an ordinary directory
    try:
        yield tmp
        if p.exists():
            if not force:
                raise UserError(f"{p}: appeared while writing; pass --force to replace it")
            old = p.with_name(f".{p.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(p, old)
            os.replace(tmp, p)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, p)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
