"""Pieces shared by the commands: option declarations, settings, channel opening, output."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from cipub.core.settings import Settings, resolve

if TYPE_CHECKING:
    from cipub.channels import TargetOptions
    from cipub.channels.base import Channel
    from cipub.core import manifest as manifest_mod

# -- option declarations (one place, so every command spells them the same) -------------------
CHANNEL = typer.Option(
    None,
    "--channel",
    "-c",
    metavar="TARGET",
    help="Where to publish: ./dir, https://anaconda.org/OWNER, quetz+https://HOST/CH, s3://B/P ... "
    "[env: CIPUB_CHANNEL; default: ./.cipub/channel]",
    show_default=False,
)
LABEL = typer.Option(None, "--label", "-l", help="Label to upload to. [env: CIPUB_LABEL; default: test]")
DRY_RUN = typer.Option(False, "--dry-run", help="Print what would be done; change nothing.")
JSON = typer.Option(False, "--json", help="Print one JSON document (the manifest, schema 1) on stdout.")
TOKEN_FILE = typer.Option(
    None,
    "--token-file",
    metavar="PATH",
    help="Read the token from this file (tokens are never taken as command-line values).",
)
API_URL = typer.Option(None, "--api-url", metavar="URL", help="API base URL for on-prem servers.")
CONCURRENCY = typer.Option(None, "--concurrency", "-j", min=1, help="Parallel uploads. [default: 4]")
CONFIG = typer.Option(None, "--config", metavar="FILE", help="Config file instead of ./cipub.toml / pyproject.toml.")


def settings_from(config: Path | None, **flags: Any) -> Settings:
    return resolve(flags, config_file=config)


def target_options(settings: Settings) -> TargetOptions:
    from cipub.channels import TargetOptions

    return TargetOptions(
        api_url=settings.api_url or None,
        token_file=Path(settings.token_file) if settings.token_file else None,
        concurrency=settings.concurrency,
        retries=settings.retries,
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        backoff=settings.backoff,
        labels=tuple(dict.fromkeys((settings.label, settings.promote_from, settings.promote_to))),
    )


def open_settings_channel(settings: Settings) -> Channel:
    from cipub.channels import open_channel

    return open_channel(settings.channel, target_options(settings))


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


def load_manifests(paths: list[Path], settings: Settings) -> tuple[manifest_mod.Manifest, Path]:
    """One manifest, or several merged (one per matrix cell); returns it and where to write receipts."""
    from cipub.core import manifest as manifest_mod

    chosen = paths or [settings.manifest_path]
    loaded = [manifest_mod.load(p) for p in chosen]
    merged = loaded[0] if len(loaded) == 1 else manifest_mod.merge(loaded)
    return merged, chosen[0]
