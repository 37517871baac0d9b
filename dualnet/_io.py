"""Atomic file writes: a crash or an error never leaves half a file behind."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

__all__ = ["write_atomic"]


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
