"""Terminal output: the :class:`~cipub.workflows.report.Reporter` the commands hand to workflows."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer


class Output:
    """Human lines go to stdout, or to stderr when stdout carries ``--json``."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def say(self, message: str) -> None:
        typer.echo(message, err=self.as_json)

    def warn(self, message: str) -> None:
        typer.echo(f"cipub: warning: {message}", err=True)

    def document(self, data: dict[str, Any]) -> None:
        if self.as_json:
            sys.stdout.write(json.dumps(data, indent=2) + "\n")
            sys.stdout.flush()

    @contextmanager
    def progress(self, total: int, what: str) -> Iterator[Any]:
        """A rich progress bar on an interactive terminal; plain lines everywhere else (CI logs)."""
        interactive = sys.stderr.isatty() and not os.environ.get("CI") and not self.as_json
        if not interactive or total < 2:
            yield self.say
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=True
        ) as bar:
            task = bar.add_task(what, total=total)

            def step(message: str) -> None:
                bar.console.print(message)
                bar.advance(task)

            yield step
