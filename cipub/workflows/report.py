"""How a workflow tells its caller what it is doing, without knowing where the words go."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol


class Result(str):
    """A line that is an outcome (what was built, uploaded, promoted; a status row), not progress:
    ``-q`` still prints it (errors and results)."""

    __slots__ = ()


class Row(str):
    """A per-file outcome line (uploaded, promoted, yanked, kept ...) that the ``--json`` document
    holds: not printed with ``--json``; otherwise a progress line (``-q`` hides it)."""

    __slots__ = ()


#: called once per finished item of a long step (one uploaded file, one promoted file)
Step = Callable[[str], None]


def rows(step: Step) -> Step:
    """``step``, each line it is given marked a :class:`Row` (the policies' per-file lines)."""
    return lambda line: step(Row(line))


class Reporter(Protocol):
    """Where a workflow's progress lines go: the terminal for the CLI, nowhere by default."""

    def say(self, message: str) -> None: ...

    def progress(self, total: int, what: str, *, total_bytes: int = 0) -> AbstractContextManager[Step]:
        """A step over ``total`` items (``total_bytes`` when they are file transfers)."""
        ...

    def stream(self, what: str) -> AbstractContextManager[Step]:
        """Where a long step's log lines go as they happen (the build engine's log), one per call."""
        ...


class Silent:
    """A reporter that drops everything (the default for library callers)."""

    def say(self, message: str) -> None:
        pass

    @contextmanager
    def _steps(self) -> Iterator[Step]:
        yield self.say

    def progress(self, total: int, what: str, *, total_bytes: int = 0) -> AbstractContextManager[Step]:
        return self._steps()

    def stream(self, what: str) -> AbstractContextManager[Step]:
        return self._steps()


SILENT = Silent()
