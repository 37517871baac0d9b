"""Atomic file writes: a crash or an error never leaves half a file behind."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from .errors import InputError

__all__ = ["check_distinct", "output_path", "write_atomic"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: str | os.PathLike, write: Callable[[IO[bytes]], object]) -> Path:
    """Call ``write(fh)`` on a temporary file beside ``path``, then move it into place.

    A symbolic link at ``path`` is followed (its target is written). An ``OSError`` names
    ``path``, not the temporary file.

    The temporary file is flushed to disk before ``os.replace``, gets the permissions an
    ordinary new file would (``mkstemp`` makes 0600 files), and is removed on any error.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "note.txt"
    >>> write_atomic(target, lambda fh: fh.write(b"hello")).read_text()
    'hello'
    """
    given = Path(path)
    # A symbolic link is followed: its target is replaced and the link stays a link.
    path = Path(os.path.realpath(given))
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:              # name the file the user asked for, not the temporary one
        raise OSError(err.errno, err.strerror, str(given)) from None
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        if err.filename is None or str(err.filename) not in (tmp, str(path)):
            raise
        raise OSError(err.errno, err.strerror, str(given)) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return given


def output_path(value: str | os.PathLike | None, option: str) -> Path | None:
    """Check an output path before any work is done, so a typo does not waste a solve.

    A symbolic link is followed (see :func:`write_atomic`); the folder must exist and be
    writable, and the path must not be a folder.
    """
    if value is None:
        return None
    path = Path(value)
    target = Path(os.path.realpath(path))
    if not target.parent.is_dir():
        raise InputError(f"The '{option}' option must be a path in an existing folder. Got {str(value)!r}, whose "
                         f"folder {str(target.parent)!r} does not exist. Create it first.")
    if target.is_dir():
        raise InputError(f"The '{option}' option must name a file. Got {str(value)!r}, which is a folder. "
                         "Add a file name.")
    if not os.access(target.parent, os.W_OK | os.X_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise InputError(f"The '{option}' option must be a path dualnet may write. Got {str(value)!r}, but "
                         f"{str(target if target.exists() else target.parent)!r} is not writable. "
                         "Choose another folder or fix its permissions.")
    return path


def check_distinct(inputs: dict[str, str | os.PathLike | None], outputs: dict[str, str | os.PathLike | None]) -> None:
    """Refuse an output (by option name) that is an input file or another output, links resolved.

    Examples
    --------
    >>> check_distinct({"DATA": "d.csv"}, {"--output": "net.npz", "--json-out": "./d.csv"})
    Traceback (most recent call last):
    ...
    dualnet.errors.InputError: The '--json-out' option names './d.csv', which is also the input DATA; writing it \
would overwrite the input. Pass a different file name.
    """
    seen: dict[str, tuple[str, str]] = {}
    files = [("input", k, v) for k, v in inputs.items()] + [("output", k, v) for k, v in outputs.items()]
    for kind, option, path in files:
        if path is None:
            continue
        key = os.path.normcase(os.path.realpath(path))
        if key in seen and "output" in (kind, seen[key][0]):
            other_kind, other = seen[key]
            harm = "overwrite the input" if other_kind == "input" else "overwrite the other output"
            raise InputError(f"The '{option}' option names {str(path)!r}, which is also the {other_kind} {other}; "
                             f"writing it would {harm}. Pass a different file name.")
        seen.setdefault(key, (kind, option))
