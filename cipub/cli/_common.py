"""Terminal output: the :class:`~cipub.workflows.report.Reporter` the commands hand to workflows.

On a terminal: the build log dimmed, uploads as a rich bar with bytes, rate and ETA. Elsewhere (CI
logs): plain lines, one per file, and a heartbeat line when a step has been silent for
:data:`HEARTBEAT_SECONDS` (CI watchdogs kill jobs that print nothing). ``-q`` hides the log and the
progress lines; errors and ``--json`` documents are always printed. With ``--json`` stdout is the
document alone, and the outcome lines (:class:`~cipub.workflows.report.Result`: status rows, what
was built, the summary; and :class:`~cipub.workflows.report.Row`: each file's uploaded / promoted /
yanked / kept row) are not printed at all, since the document says them; progress, notes and
the build log still go to stderr (unless ``-q``), with warnings and errors.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import typer

from cipub.cli._app import settings_from, state

if TYPE_CHECKING:
    from cipub.core.options import Settings

#: at most this long without a line in CI before cipub says it is still working
HEARTBEAT_SECONDS = 30.0


def use_color(stream: IO[str] | Any, environ: dict[str, str] | None = None) -> bool:
    """``--color``: always / never; auto = a terminal, unless NO_COLOR (or forced by CLICOLOR_FORCE)."""
    env = os.environ if environ is None else environ
    if state.color == "always":
        return True
    if state.color == "never" or env.get("NO_COLOR"):
        return False
    if env.get("CLICOLOR_FORCE", "0") not in ("", "0"):
        return True
    return bool(getattr(stream, "isatty", lambda: False)())


def _interactive() -> bool:
    return sys.stderr.isatty() and not os.environ.get("CI")


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # pragma: no cover


class Heartbeat:
    """Says "still ..." when nothing was printed for ``every`` seconds (pure: ``check`` takes the time)."""

    def __init__(self, what: str, every: float | None = None, *, now: float | None = None) -> None:
        self.what = what
        self.every = HEARTBEAT_SECONDS if every is None else every
        self.started = self.last = time.monotonic() if now is None else now
        #: extra words for the line (bytes sent so far)
        self.detail: Callable[[], str] = lambda: ""

    def alive(self, now: float | None = None) -> None:
        self.last = time.monotonic() if now is None else now

    def check(self, now: float) -> str | None:
        if now - self.last < self.every:
            return None
        self.last = now
        detail = self.detail()
        return f"cipub: still {self.what} ({now - self.started:.0f} s{', ' + detail if detail else ''})"

    @contextmanager
    def running(self, emit: Callable[[str], None]) -> Iterator[Heartbeat]:
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(min(1.0, self.every)):
                line = self.check(time.monotonic())
                if line:
                    emit(line)

        thread = threading.Thread(target=beat, daemon=True, name="cipub-heartbeat")
        thread.start()
        try:
            yield self
        finally:
            stop.set()
            thread.join(timeout=2)


class Output:
    """Human lines go to stdout; with ``--json`` the document does, its outcome lines are left out
    (the document holds them) and the other lines (progress, notes) go to stderr."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def say(self, message: str) -> None:
        from cipub.workflows.report import Result, Row

        result = isinstance(message, Result)
        if self.as_json and (result or isinstance(message, Row)):
            return  # said by the document on stdout: a table on stderr too was the same thing twice
        if not state.quiet or result:  # -q: errors and results
            typer.echo(message, err=self.as_json)

    def warn(self, message: str) -> None:
        typer.echo(f"cipub: warning: {message}", err=True)

    def document(self, data: dict[str, Any]) -> None:
        if self.as_json:
            sys.stdout.write(json.dumps(data, indent=2) + "\n")
            sys.stdout.flush()

    @contextmanager
    def stream(self, what: str) -> Iterator[Callable[[str], None]]:
        """The engine's log to stderr as it comes (dimmed on a terminal), with a heartbeat in CI."""
        color = use_color(sys.stderr)
        heartbeat = Heartbeat(what)

        def line(text: str) -> None:
            heartbeat.alive()
            if not state.quiet:
                typer.echo(typer.style(f"  | {text}", dim=True) if color else text, err=True, color=color)

        if _interactive():
            yield line
            return
        with heartbeat.running(lambda text: typer.echo(text, err=True)):
            yield line

    @contextmanager
    def progress(self, total: int, what: str, *, total_bytes: int = 0) -> Iterator[Any]:
        """A rich bar on an interactive terminal (bytes, rate, ETA for transfers); plain lines, one
        per item, everywhere else, with a heartbeat that counts the bytes sent (CI logs)."""
        if state.quiet:
            yield lambda _message: None
        elif not _interactive() or self.as_json:
            with self._plain_progress(what, total_bytes) as step:
                yield step
        else:
            with _rich_progress(total, what, total_bytes) as step:
                yield step

    @contextmanager
    def _plain_progress(self, what: str, total_bytes: int) -> Iterator[Callable[[str], None]]:
        from cipub.core.activity import observe_bytes

        sent = [0]
        lock = threading.Lock()
        heartbeat = Heartbeat(what)
        if total_bytes:
            heartbeat.detail = lambda: f"{_size(sent[0])} of {_size(total_bytes)} sent"

        def count(_path: Path, n: int) -> None:
            with lock:
                sent[0] += n

        def step_line(message: str) -> None:
            heartbeat.alive()
            self.say(message)

        with observe_bytes(count), heartbeat.running(lambda text: typer.echo(text, err=True)):
            yield step_line


@contextmanager
def _rich_progress(total: int, what: str, total_bytes: int) -> Iterator[Callable[[str], None]]:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    from cipub.core.activity import observe_bytes

    console = Console(stderr=True, no_color=not use_color(sys.stderr))
    columns: list[Any] = [TextColumn("{task.description}"), BarColumn()]
    if total_bytes:
        columns += [DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn()]
    else:
        columns += [MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(what, total=total_bytes or total)
        streamed = [False]

        def advance(_path: Path, n: int) -> None:
            streamed[0] = True
            bar.advance(task, n)

        def step(message: str) -> None:
            bar.console.print(message)
            if not total_bytes:
                bar.advance(task)
            elif not streamed[0]:
                # targets that copy files whole (local, S3) report no chunks: count each file
                bar.advance(task, total_bytes / max(total, 1))

        with observe_bytes(advance):
            yield step


def settings_and_output(ctx: typer.Context, as_json: bool) -> tuple[Settings, Output]:
    """Where a command that reports starts: its settings (:func:`~cipub.cli._app.settings_from`),
    and the :class:`Output` its lines and ``--json`` document go to."""
    return settings_from(ctx), Output(as_json)
