"""What the running command is doing, and what is already safe: the one line an interrupt prints.

Workflows call :func:`now` when a step begins (``now("building recipe/", "nothing was uploaded")``);
the CLI's error boundary reads :func:`describe` when SIGINT or SIGTERM arrives. Every step of cipub
is idempotent, so the line always ends by saying a re-run converges.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass
class _Activity:
    doing: str = ""
    #: what has (not) happened to the target so far, in the user's terms
    state: str = ""


_current = _Activity()
_lock = threading.Lock()


def now(doing: str, state: str) -> None:
    """The step that starts now, and what an interrupt during it leaves behind."""
    with _lock:
        _current.doing, _current.state = doing, state


def reset() -> None:
    now("", "")


def describe() -> str:
    """``while building recipe/: nothing was uploaded`` (or "" before any step began)."""
    with _lock:
        doing, state = _current.doing, _current.state
    if not doing:
        return ""
    return f" while {doing}" + (f": {state}" if state else "")


#: who is told about every chunk of a file sent (the CLI's progress display: bytes, rate, ETA);
#: kept here, not in :mod:`cipub.core.transport`, so a command that sends nothing over HTTP (a local
#: channel, a refused command) shows progress without importing httpx (start-up, issue 12)
byte_observers: list[Callable[[Path, int], None]] = []


@contextmanager
def observe_bytes(observer: Callable[[Path, int], None]) -> Iterator[None]:
    """Call ``observer(path, n)`` for every chunk ``cipub.core.transport.file_chunks`` hands to a
    request, meanwhile."""
    byte_observers.append(observer)
    try:
        yield
    finally:
        byte_observers.remove(observer)
