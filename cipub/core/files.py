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


def json_document(data: object) -> str:
    """``data`` as the JSON text of a manifest or ledger record: each key of an object on its own
    indented line, and each item of a list on one line of its own (an artifact, a receipt).

    The same values as ``json.dumps(data, indent=2)``, readable and diffed line by line, but
    encoded by json's C encoder: ``indent`` makes json fall back to its pure-Python encoder, which
    took 50-100 ms for a manifest of 1,000 files and their receipts, written twice a command
    (the manifest and the ledger record, issue 12).
    """
    parts: list[str] = []
    _json_lines(data, "", parts)
    parts.append("\n")
    return "".join(parts)


def _json_lines(value: object, indent: str, out: list[str]) -> None:
    import json

    inner = indent + "  "
    if isinstance(value, dict) and value and all(isinstance(key, str) for key in value):
        out.append("{")
        for i, (key, item) in enumerate(value.items()):
            out.append(("\n" if i == 0 else ",\n") + inner + json.dumps(key) + ": ")
            _json_lines(item, inner, out)
        out.append("\n" + indent + "}")
    elif isinstance(value, list | tuple) and value:
        out.append("[\n" + ",\n".join(inner + json.dumps(item) for item in value) + "\n" + indent + "]")
    else:
        out.append(json.dumps(value))
