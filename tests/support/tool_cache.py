"""Where the suite keeps the tools it installs for itself (the npm tools, the Quetz venv).

One folder per machine user, shared by every checkout and fresh clone on the machine:
``$CIPUB_TEST_TOOLS_DIR`` when set, else ``${XDG_CACHE_HOME:-~/.cache}/cipub-tests``. Each tool
lives in a folder named after the digest of its pins, so checkouts that pin different versions
never replace each other's tools, and a fresh clone reuses what an earlier run on the machine
installed instead of building it again (npm compiles a C++ library for gitlab-ci-local: minutes on
two cores). Installs stay atomic and behind file locks in that folder (:func:`locked`, :func:`install_atomically`), so
several test processes can share it; a machine without it installs everything on first use.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def tools_dir() -> Path:
    explicit = os.environ.get("CIPUB_TEST_TOOLS_DIR")
    if explicit:
        return Path(explicit).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "cipub-tests"


TOOLS_DIR = tools_dir()


@contextmanager
def locked(name: str) -> Iterator[None]:
    """An exclusive lock ``<tools>/<name>.lock``: test processes sharing the cache install once."""
    TOOLS_DIR.mkdir(parents=True, exist_ok=True)
    with (TOOLS_DIR / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def install_atomically(final: Path, stem: str, populate: Callable[[Path], None]) -> None:
    """Fill a fresh ``<stem>.partial-*`` beside ``final`` with ``populate`` and rename it to ``final``
    only when that returns: an interrupted install leaves a partial folder that is removed, never
    trusted. Beside ``final``, not in the cache root: a rename never crosses filesystems. Call under
    :func:`locked`."""
    home = final.parent
    home.mkdir(parents=True, exist_ok=True)
    for leftover in home.glob(f"{stem}.partial-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    partial = Path(tempfile.mkdtemp(prefix=f"{stem}.partial-", dir=home))
    try:
        populate(partial)
        if final.exists():
            retired = Path(tempfile.mkdtemp(prefix=f"{stem}.old-", dir=home))
            final.rename(retired / "old")
            shutil.rmtree(retired, ignore_errors=True)
        partial.rename(final)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
