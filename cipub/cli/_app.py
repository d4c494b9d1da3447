"""The Typer application, its global options, and how a command gets its settings.

Every command registers with :func:`command`, which adds the global options of the registry
(``scope="global"`` in :mod:`cipub.core.options`) to it: they are accepted before the subcommand
(on the root callback) and after it (on the command), the later one winning. A new global option is
therefore one registry entry. :func:`settings_from` turns the parsed parameters into
:class:`~cipub.core.options.Settings` and, with ``--debug``, prints where each value came from.
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

import typer

from cipub import __version__
from cipub.cli._options import option, python_type, registry_key
from cipub.core.options import GLOBAL_KEYS, OPTIONS, RETIRED_FLAGS, RETIRED_TARGET_HINT, SETTING_KEYS

if TYPE_CHECKING:
    from cipub.core.options import Settings

_Command = TypeVar("_Command", bound=Callable[..., None])

#: the parameter through which the wrapper receives typer's context (never a command-line option)
_CONTEXT = "_cipub_context"
#: the hidden parameter that catches the retired target flags (``--channel``/``-c``, see the registry)
_RETIRED = "_cipub_retired_target"
#: the hidden-from-the-function parameter that takes ``--version`` after a subcommand
_VERSION = "_cipub_version"
_VERSION_HELP = "Print the version and exit."
_TRUE = ("1", "true", "yes", "on")


@dataclass
class GlobalState:
    """What the global options decided for this run (the error boundary reads ``debug``, the
    terminal output the rest)."""

    debug: bool = False
    quiet: bool = False
    verbose: int = 0
    color: str = "auto"


state = GlobalState()
COLOR_MODES = ("auto", "always", "never")


def debug_enabled() -> bool:
    return state.debug or os.environ.get("CIPUB_DEBUG", "").strip().lower() in _TRUE


def reset_state() -> None:
    """A fresh run (tests run many in one process)."""
    state.debug, state.quiet, state.verbose, state.color = False, False, 0, "auto"


def _apply_output_options(quiet: bool, verbose: int, color: str) -> None:
    if color not in COLOR_MODES:
        from cipub.core.errors import UsageError

        raise UsageError(
            f"--color {color!r}: expected one of {', '.join(COLOR_MODES)}",
            hint="pass --color auto, always or never (auto colours a terminal only; NO_COLOR turns colour off, "
            "CLICOLOR_FORCE on); the value may also come from CIPUB_COLOR or the config file's color",
        )
    state.quiet, state.verbose, state.color = quiet, verbose, color


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


def given_options(ctx: typer.Context) -> dict[str, Any]:
    """Registry options given on the command line, from the root command down to this one.

    A value counts only when typed (not a default), so env, file and default can still answer; a
    global option given after the subcommand wins over the same option given before it.
    """
    chain = []
    current: Any = ctx
    while current is not None:
        chain.append(current)
        current = current.parent
    given: dict[str, Any] = {}
    for level in reversed(chain):
        for name, value in level.params.items():
            source = level.get_parameter_source(name)
            if name in OPTIONS and source is not None and source.name == "COMMANDLINE":
                given[name] = value
    return given


def _apply_global_options(ctx: typer.Context) -> None:
    given = given_options(ctx)
    state.debug = bool(given.get("debug"))
    _apply_output_options(bool(given.get("quiet")), int(given.get("verbose") or 0), str(given.get("color") or "auto"))
    _configure_logging()


class _ScrubbingFormatter(logging.Formatter):
    """Log lines pass :func:`cipub.core.secrets.scrub`: a URL may carry a token (``/t/TOKEN/``)."""

    def format(self, record: logging.LogRecord) -> str:
        from cipub.core.secrets import scrub

        return scrub(super().format(record))


def _configure_logging() -> None:
    logging.basicConfig(format="cipub: %(message)s", stream=sys.stderr)
    for handler in logging.getLogger().handlers:
        if type(handler) is logging.StreamHandler and not isinstance(handler.formatter, _ScrubbingFormatter):
            handler.setFormatter(_ScrubbingFormatter("cipub: %(message)s"))
    # Set explicitly, not through basicConfig: it does nothing once a handler exists, and --debug
    # may arrive after the subcommand, when the root callback has configured logging already.
    verbose = debug_enabled() or state.verbose > 0
    logging.getLogger().setLevel(logging.INFO if verbose else logging.ERROR if state.quiet else logging.WARNING)
    # urllib3 (under sigstore and anaconda-client) warns on every retry it makes; cipub reports the
    # outcome itself, so its lines are shown only with -v/--debug.
    logging.getLogger("urllib3").setLevel(logging.NOTSET if verbose else logging.ERROR)


def settings_from(ctx: typer.Context) -> Settings:
    """Settings from the command line of ``ctx`` > environment > config file > defaults.

    With ``debug`` (from any source) the resolved settings are printed, each with its origin.
    """
    from cipub.core.secrets import scrub
    from cipub.core.settings import describe, resolve
    from cipub.workflows.target import with_target_label

    given = given_options(ctx)
    config = given.get("config")
    settings = resolve(
        {k: v for k, v in given.items() if k in SETTING_KEYS}, config_file=Path(config) if config else None
    )
    settings = with_target_label(settings)
    _apply_output_options(settings.quiet, settings.verbose, settings.color)  # env and config count too
    _configure_logging()
    if settings.debug or debug_enabled():  # debug = true in a config file counts too
        state.debug = True
        _configure_logging()
        root = settings.project_root
        where = f"project root {root} (its config file's directory)" if root else "no project config found"
        typer.echo(f"cipub: {where}; relative paths of the config file start there", err=True)
        typer.echo("cipub: settings (value, then where it came from; tokens are never settings):", err=True)
        for line in describe(settings):
            typer.echo(scrub(f"cipub:   {line}"), err=True)
    return settings


def _refuse_retired_target(value: str | None) -> None:
    """Eager, so it speaks before click complains about anything else (a missing --target)."""
    if value is not None:
        from cipub.core.errors import UsageError

        raise UsageError("--channel/-c no longer names the publish target", hint=RETIRED_TARGET_HINT)


def _with_global_options(func: _Command, settings: Sequence[str] = ()) -> _Command:
    """``func`` with the global options, the registry options ``settings`` (and typer's context)
    added to its signature.

    The wrapper applies them and calls ``func`` without them; ``settings_from`` reads them back from
    the context. So a command declares only the parameters it reads itself; the settings it merely
    accepts (``--target``, ``--token-file`` ...) are named in ``settings``. Parameters made by
    ``option(key)`` must be named ``key``: checked here, at import.
    """
    signature = inspect.signature(func, eval_str=True)
    for name, parameter in signature.parameters.items():
        key = registry_key(parameter.default)
        if key is not None and key != name:
            raise TypeError(f"{func.__qualname__}: parameter {name!r} takes option({key!r}); name it {key!r}")
    # typer hands its context to one parameter only: the command's own, if it has one.
    own_context = next((p.name for p in signature.parameters.values() if p.annotation is typer.Context), None)
    added = []
    if own_context is None:
        added.append(inspect.Parameter(_CONTEXT, inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context))
    added += [
        inspect.Parameter(key, inspect.Parameter.KEYWORD_ONLY, default=option(key), annotation=python_type(key))
        for key in dict.fromkeys((*settings, *GLOBAL_KEYS))
        if key not in signature.parameters
    ]
    if "version" not in signature.parameters:
        # --version works after a subcommand too, like every global option (``cipub upload --version``).
        version = typer.Option(False, "--version", is_eager=True, callback=_version_callback, help=_VERSION_HELP)
        added.append(inspect.Parameter(_VERSION, inspect.Parameter.KEYWORD_ONLY, default=version, annotation=bool))
    if "channels" not in signature.parameters and "channels" not in settings:
        # The old spelling of the target: refused with what changed, never taken as something else.
        retired = typer.Option(None, *RETIRED_FLAGS, hidden=True, is_eager=True, callback=_refuse_retired_target)
        keyword = inspect.Parameter.KEYWORD_ONLY
        added.append(inspect.Parameter(_RETIRED, keyword, default=retired, annotation=str | None))

    @functools.wraps(func)
    def run(*args: Any, **kwargs: Any) -> None:
        _apply_global_options(kwargs[own_context or _CONTEXT])
        for parameter in added:
            kwargs.pop(parameter.name, None)
        func(*args, **kwargs)

    parameters = [*signature.parameters.values(), *added]
    run.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": None}
    return run  # type: ignore[return-value]


#: where a target's token and API are (--token-file, --api-url): accepted by every command that
#: talks to a target, listed after its target and labels in ``settings=``
TARGET_ACCESS: Final = ("token_file", "api_url")
#: the settings of every command that signs what it uploads (build, upload, cross-target promote)
ATTEST_SETTINGS: Final = (
    "attest",
    "attest_key_file",
    "identity_token_file",
    "sigstore_trust_config",
    "attest_channel_url",
)
#: the settings of every command that checks attestations (promote, ci verify); the channel URL
#: is the one the statements may name besides the target's own, as in promote
REQUIRE_ATTESTATION: Final = (
    "require_attestation",
    "attestation_issuer",
    "sigstore_trust_config",
    "attest_channel_url",
)


def command(
    group: typer.Typer, name: str, *, help: str | None = None, settings: Sequence[str] = ()
) -> Callable[[_Command], _Command]:
    """Register the decorated function as command ``name`` of ``group``, with the global options and
    the registry options ``settings`` (accepted, layered into Settings, not passed to ``func``)."""

    def register(func: _Command) -> _Command:
        text = help if help is not None else inspect.getdoc(func) or ""
        group.command(name, help=keep_code_blocks(text))(_with_global_options(func, settings))
        return func

    return register


def group_callback(group: typer.Typer) -> None:
    """Accept the global options on a command group too (``cipub ci --debug verify``)."""

    def callback() -> None:  # no docstring: the group's help is the one set on its Typer
        pass

    group.callback()(_with_global_options(callback))


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"cipub {__version__}")
        raise typer.Exit(0)


app = typer.Typer(
    name="cipub",
    help=(
        "Build conda packages, publish them to a staging label, and promote exactly what was built.\n\n"
        "The local loop, with no configuration at all:\n\n"
        "    cipub build recipe/ && cipub promote\n\n"
        "builds with rattler-build, uploads to label 'test' of the local channel ./.cipub/channel, "
        "then promotes the manifest's files to 'main'.\n\n"
        "Global options (--debug ...) go before or after the command."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _root(
    version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True, help=_VERSION_HELP),
) -> None:  # no docstring: the app's help is the one set on the Typer
    pass


app.callback()(_with_global_options(_root))
