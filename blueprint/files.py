"""Writing the user's files: whole or not at all, with the mode any file the user writes gets.

The bytes are made in memory first, then written to a temporary file beside the target and
renamed over it, so an interruption never leaves half a file at the path. A fault of the
machine on the way (no space left, permission denied, a read-only file system, a file size
limit) is not a bug of blueprint: it is one line and exit code 2, and nothing is left behind.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import tempfile
from pathlib import Path

from blueprint.errors import BlueprintError

FIX = "free some space, make the folder writable, or choose another path"


def check_target(path: Path, what: str, suffix: str = "") -> None:
    """Refuse, before any work is done, a path that cannot take the file: wrong suffix, no such
    folder, a folder in its place, or a read-only file there (overwriting it would quietly take
    away the protection its owner gave it)."""
    if suffix and path.suffix.lower() != suffix:
        raise BlueprintError(f"{what} {path}: the file name must end in {suffix}")
    if not path.parent.is_dir():
        raise BlueprintError(f"{what} {path}: folder {path.parent} does not exist; create it or choose another path")
    if path.is_dir():
        raise BlueprintError(f"{what} {path}: is a folder; give a file name{' ending in ' + suffix if suffix else ''}")
    if path.exists() and not path.stat().st_mode & stat.S_IWUSR:
        raise BlueprintError(f"{what} {path}: the file is read-only; make it writable (chmod u+w) or choose another path")


def write_atomically(path: Path, data: bytes, what: str, suffix: str = "") -> None:
    """Write `data` to `path` through a temporary file in the same folder and a rename.

    The new file gets the mode of the file it replaces, or 0666 less the umask for a new one,
    as `open(path, "w")` would give (a temporary file alone would be 0600)."""
    path = Path(path)
    check_target(path, what, suffix)
    mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o666 & ~_umask()
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise BlueprintError(f"{what} {path}: cannot write ({exc.strerror or exc}); {FIX}") from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _umask() -> int:
    """The process's umask (reading it means setting it; nothing else runs in between)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def emit(text: str) -> None:
    """Print to standard output, turning a full disk or a closed pipe there into one line and exit code 2.

    The bytes go out through os.write until all are written: CPython's buffered stdout takes a
    short write (a file size limit, a nearly full disk) as done and drops the rest silently.
    After a failure, standard output is pointed at /dev/null, so that the interpreter's own
    flush at exit does not print a second error."""
    try:
        fd = sys.stdout.fileno()
    except (OSError, ValueError, AttributeError):  # a stdout replaced in-process (pytest, a notebook): it buffers as it likes
        sys.stdout.write(text + "\n")
        return
    view = memoryview((text + "\n").encode(sys.stdout.encoding or "utf-8", sys.stdout.errors or "strict"))
    try:
        sys.stdout.flush()
        while view:
            view = view[os.write(fd, view):]
    except OSError as exc:
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), fd)
        raise BlueprintError(f"cannot write to standard output ({exc.strerror or exc}); {FIX}") from None
