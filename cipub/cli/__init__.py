"""The command line: parse, resolve settings, call one library function, report. The error boundary.

Each command group lives in its own module (``build``, ``publish``, ``plan``, ``ci``) and registers
itself on ``app``. ``main`` is the only place exceptions become exit codes (see ``cipub.core.errors``).
"""

from __future__ import annotations

import logging
import os
import sys
import traceback

import typer

from cipub import __version__
from cipub.core.errors import CipubError
from cipub.core.secrets import install_masker, scrub

# httpx's package __init__ imports its own command-line client (httpx._main: rich, pygments, click)
# whenever those are installed, which they are here (typer needs rich): about 70 ms of start-up for
# a module cipub never uses. Marking it absent (before any command imports httpx) makes httpx take
# its ImportError fallback, a stub ``main``; only the CLI does this. Measured by benchmarks B1/B4.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

app = typer.Typer(
    name="cipub",
    help=(
        "Build conda packages, publish them to a staging label, and promote exactly what was built.\n\n"
        "The local loop, with no configuration at all:\n\n"
        "    cipub build recipe/ && cipub promote\n\n"
        "builds with rattler-build, uploads to label 'test' of the local channel ./.cipub/channel, "
        "then promotes the manifest's files to 'main'."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

_state = {"debug": False}


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"cipub {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
    ),
    debug: bool = typer.Option(
        False, "--debug", envvar="CIPUB_DEBUG", help="Show tracebacks and HTTP retries (never secrets)."
    ),
) -> None:
    _state["debug"] = debug
    logging.basicConfig(
        level=logging.INFO if debug else logging.WARNING,
        format="cipub: %(message)s",
        stream=sys.stderr,
    )


def debug_enabled() -> bool:
    return bool(_state["debug"]) or os.environ.get("CIPUB_DEBUG", "") in ("1", "true", "yes")


def report_error(exc: CipubError) -> None:
    """One line saying what failed, one saying what to do next."""
    typer.echo(scrub(f"cipub: error: {exc.message}"), err=True)
    if exc.hint:
        typer.echo(scrub(f"cipub: hint: {exc.hint}"), err=True)


def keep_code_blocks(text: str) -> str:
    """Mark indented example paragraphs with click's ``\\b`` so help keeps their lines as written.

    Help is rendered by plain click (``rich_markup_mode=None``): rich's renderer costs ~100 ms of
    imports on every command, and start-up is what users feel most.
    """
    paragraphs = text.split("\n\n")
    marked = [
        "\b\n" + p if p.strip() and all(line.startswith("    ") for line in p.splitlines() if line.strip()) else p
        for p in paragraphs
    ]
    return "\n\n".join(marked)


def _register_commands() -> None:
    # Imported for their side effect of adding commands to ``app``.
    from cipub.cli import build, publish  # noqa: F401

    for optional in ("plan", "ci"):
        try:
            __import__(f"cipub.cli.{optional}")
        except ModuleNotFoundError as exc:
            if exc.name != f"cipub.cli.{optional}":
                raise
    for info in app.registered_commands:
        text = info.help or (info.callback.__doc__ if info.callback else None)
        if text and "\b\n" not in text:
            info.help = keep_code_blocks(text)
    for group in app.registered_groups:
        for info in group.typer_instance.registered_commands if group.typer_instance else []:
            text = info.help or (info.callback.__doc__ if info.callback else None)
            if text and "\b\n" not in text:
                info.help = keep_code_blocks(text)


def _is_click_usage_error(exc: Exception) -> bool:
    """Bad arguments (typer vendors its own click, so match by shape rather than by class)."""
    return any(cls.__name__ == "ClickException" for cls in type(exc).__mro__) and hasattr(exc, "show")


def _mask_in_ci(value: str) -> None:
    """The masker the CLI gives ``cipub.core.secrets``: the CI provider's, imported at the first secret."""
    from cipub.ci.provider import mask

    mask(value)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app; map every failure to its exit code."""
    install_masker(_mask_in_ci)  # before anything reads a token
    _register_commands()
    try:
        app(args=argv, prog_name="cipub", standalone_mode=False)
    except CipubError as exc:
        if debug_enabled():
            typer.echo(scrub(traceback.format_exc()), err=True)
        report_error(exc)
        return exc.exit_code
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.Abort:
        typer.echo("cipub: aborted", err=True)
        return 130
    except KeyboardInterrupt:
        typer.echo("cipub: interrupted", err=True)
        return 130
    except Exception as exc:  # the one place a bug becomes exit 1, with a way to see it
        if _is_click_usage_error(exc):
            exc.show()  # type: ignore[attr-defined]
            return 2
        if debug_enabled():
            typer.echo(scrub(traceback.format_exc()), err=True)
        typer.echo(scrub(f"cipub: internal error: {type(exc).__name__}: {exc}"), err=True)
        typer.echo("cipub: hint: this is a bug; re-run with --debug and report it", err=True)
        return 1
    return 0


def run() -> None:
    """Console-script entry point.

    Exits with ``os._exit`` after flushing: py-rattler's background (tokio) threads can crash the
    interpreter during finalisation (seen here in ~45 % of runs after ``index_fs``), which would turn
    a successful run into exit 134/139. Nothing needs finalising once output is flushed.
    """
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()
