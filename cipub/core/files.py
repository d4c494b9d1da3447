"""Writing a file so that a reader sees the old one or the new one, never half of one."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path


def write_atomically(path: Path, data: str | bytes, *, mode: int | None = None, suffix: str = ".tmp") -> None:
    """Write ``data`` (text as UTF-8) to a scratch file beside ``path``, sync it, then rename it over
    ``path``; on any failure the scratch file is removed and ``path`` is untouched. ``mode``: the
    file's permissions (the scratch file is made 0600). ``path`` a directory: IsADirectoryError
    naming ``path`` (not the scratch file, whose name the caller never gave)."""
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    try:
        if mode is not None:
            os.fchmod(fd, mode)
        binary = isinstance(data, bytes)
        with os.fdopen(fd, "wb" if binary else "w", encoding=None if binary else "utf-8") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
