"""The command line: parse, resolve settings, call one workflow, report. The error boundary.

Rooms: ``_app`` holds the Typer app, the global options and ``settings_from``; ``_options`` makes
typer options from the registry (:mod:`cipub.core.options`); ``_common`` the terminal output. Each
command group lives in its own module (``build``, ``publish``, ``plan``, ``ci``), registers itself
on ``app`` and hands the work to :mod:`cipub.workflows`. ``main`` is the only place exceptions
become exit codes (see :mod:`cipub.core.errors`).
"""

from __future__ import annotations

import os
import sys
import traceback

import typer

from cipub.cli._app import app, debug_enabled, reset_state
from cipub.core.errors import CipubError
from cipub.core.secrets import install_masker, scrub

__all__ = ["app", "main", "run"]

# httpx's package __init__ imports its own command-line client (httpx._main: rich, pygments, click)
# whenever those are installed, which they are here (typer needs rich): about 70 ms of start-up for
# a module cipub never uses. Marking it absent (before any command imports httpx) makes httpx take
# its ImportError fallback, a stub ``main``; only the CLI does this. Measured by benchmarks B1/B4.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]


def report_error(exc: CipubError) -> None:
    """One line saying what failed, one saying what to do next."""
    typer.echo(scrub(f"cipub: error: {exc.message}"), err=True)
    if exc.hint:
        typer.echo(scrub(f"cipub: hint: {exc.hint}"), err=True)


def _register_commands() -> None:
    # Imported for their side effect of adding commands to ``app``.
    from cipub.cli import build, publish, release  # noqa: F401

    for optional in ("plan", "ci"):
        try:
            __import__(f"cipub.cli.{optional}")
        except ModuleNotFoundError as exc:
            if exc.name != f"cipub.cli.{optional}":
                raise


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
    reset_state()
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
