"""Atomic writes: every file brainlib writes goes to a temporary name beside it, then is renamed into place."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable
from pathlib import Path


def atomic_write(path: str | os.PathLike, write: Callable[[Path], object], suffix: str = "") -> Path:
    """Call ``write(tmp)`` on a temporary file unique to this process and call (``suffix`` ends its name, for
    writers that add one, e.g. ``.npz``), then rename it to ``path``: a reader never sees a half-written file,
    two writers never mix, and a replaced file keeps its permissions."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp{suffix}")
    try:
        write(tmp)
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
    return path


def unwritable(path: str | os.PathLike) -> str | None:
    """Why a file or folder cannot be created at ``path`` (its nearest existing ancestor is a regular file, or a
    folder this process may not write), or None. Checked before any work, so nothing is trained for nothing."""
    existing = Path(path).parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"cannot write into {existing}"
    return None


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """:func:`atomic_write` of a text file."""
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def write_cache(path: str | os.PathLike, write: Callable[[Path], object], suffix: str = "") -> bool:
    """:func:`atomic_write` for a cache file: a folder that cannot be written costs a warning (the work is redone
    next time), never the command. Returns whether the file was written."""
    try:
        atomic_write(path, write, suffix)
        return True
    except OSError as e:
        import warnings

        warnings.warn(
            f"cannot write cache files in {Path(path).parent} ({e.strerror or e}); continuing without them",
            stacklevel=2,
        )
        return False
