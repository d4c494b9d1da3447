"""The command line: parse, resolve settings, call one workflow, report. The error boundary.

Rooms: ``_app`` holds the Typer app, the global options and ``settings_from``; ``_options`` makes
typer options from the registry (:mod:`cipub.core.options`); ``_common`` the terminal output. Each
command group lives in its own module (``build``, ``publish``, ``plan``, ``ci``), registers itself
on ``app`` and hands the work to :mod:`cipub.workflows`. ``main`` is the only place exceptions
become exit codes (see :mod:`cipub.core.errors`).
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import signal
import sys
import time
import traceback
from collections.abc import Iterator
from types import FrameType
from typing import Any, Final

import typer

from cipub.cli._app import app, debug_enabled, reset_state
from cipub.core.errors import CipubError, StorageError, UsageError
from cipub.core.secrets import install_masker, scrub

__all__ = ["app", "main", "run"]

# httpx's package __init__ imports its own command-line client (httpx._main: rich, pygments, click)
# whenever those are installed, which they are here (typer needs rich): about 70 ms of start-up for
# a module cipub never uses. Marking it absent (before any command imports httpx) makes httpx take
# its ImportError fallback, a stub ``main``; only the CLI does this. Measured by benchmarks B1/B4.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]


def report_error(exc: CipubError) -> None:
    """One line saying what failed, one saying what to do next (after the log lines that show it)."""
    try:
        for line in exc.details:
            typer.echo(scrub(f"cipub: | {line}"), err=True)
        typer.echo(scrub(f"cipub: error: {exc.message}"), err=True)
        if exc.next_step:
            typer.echo(scrub(f"cipub: hint: {exc.next_step}"), err=True)
    except OSError:
        pass  # stderr is gone too: the exit code is all that is left to say it
    _summarize_failure(exc)


def _summarize_failure(exc: CipubError) -> None:
    """On GitHub, the step summary says why the command failed too (a conflict's files, a build's
    log tail): a summary is where a reviewer looks, and a failed step otherwise leaves none."""
    if os.environ.get("GITHUB_ACTIONS") != "true":
        return
    from cipub.ci.reports import report_failure  # a write failure only warns there

    report_failure(exc.kind, exc.exit_code, exc.message, exc.next_step, exc.details)


#: errors of the machine cipub runs on, not of cipub: each ends the command with exit 10
LOCAL_ERRNOS = frozenset(
    {
        errno.ENOENT,  # a path under a directory that cannot hold it (/proc/x), or removed meanwhile
        errno.ENOSPC,
        errno.EDQUOT,
        errno.EROFS,
        errno.EACCES,
        errno.EPERM,
        errno.ENOTDIR,
        errno.EISDIR,
        errno.EEXIST,
        errno.ENAMETOOLONG,
        errno.EMFILE,
        errno.EFBIG,
    }
)


def _stdout_closed() -> StorageError:
    """Standard output went away (``cipub ... | head``): point it at /dev/null, so the final
    flush cannot fail again, and say so once on stderr."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return StorageError(
        "standard output was closed before cipub finished writing to it",
        hint="the command cipub's output was piped into stopped reading (such as `head`): redirect the"
        " output to a file (`> out.txt`) to read all of it",
    )


def _storage_error(exc: OSError) -> StorageError:
    where = f": {exc.filename}" if exc.filename else ""
    if exc.errno == errno.ENOENT:
        hint = "a directory on that path does not exist and cannot be created there: choose another path"
    elif exc.errno in (errno.ENOTDIR, errno.EISDIR, errno.EEXIST):
        hint = "a path cipub needs as a directory is a file (or the other way round): choose another path"
    else:
        hint = "free space, or make the directory writable, then re-run the same command"
    return StorageError(f"{exc.strerror or exc}{where}", hint=hint)


#: the module of ``cipub.cli`` that registers each command (``ci``: the group). A run imports only
#: the module of the command it runs, and typer builds only what that module registers (every
#: command for ``cipub --help`` or a name that is none of these): importing and building all of
#: them was ~12 ms of every command's start-up (benchmark B4). tests/unit/test_cli_shape.py checks
#: this table against what the modules register.
COMMAND_MODULES: Final = {
    "build": "build",
    "upload": "publish",
    "promote": "publish",
    "status": "release",
    "yank": "release",
    "prune": "release",
    "plan": "plan",
    "ci": "ci",
}
_OPTIONAL_MODULES: Final = ("plan", "ci")


def _register_commands(command: str | None = None) -> None:
    """Import the modules that add commands to ``app``: the one of ``command``, else all."""
    module = COMMAND_MODULES.get(command or "")
    for name in [module] if module else dict.fromkeys(COMMAND_MODULES.values()):
        try:
            __import__(f"cipub.cli.{name}")
        except ModuleNotFoundError as exc:
            if name not in _OPTIONAL_MODULES or exc.name != f"cipub.cli.{name}":
                raise
    order = list(COMMAND_MODULES)
    app.registered_commands.sort(key=lambda info: order.index(info.name) if info.name in order else len(order))


def invoked_command(argv: list[str]) -> str | None:
    """The command name in ``argv`` as click finds it: the first argument that is neither a global
    option nor the value of one (``--color never``); None when there is none (``cipub --help``)."""
    from cipub.core.options import GLOBAL_KEYS, OPTIONS, RETIRED_FLAGS

    taking_values = set(RETIRED_FLAGS)
    for key in GLOBAL_KEYS:
        spec = OPTIONS[key]
        if not (isinstance(spec.default, bool) or spec.count):
            taking_values.update(spec.flags)
    args = iter(argv)
    for arg in args:
        if arg == "--":
            return next(args, None)
        if not arg.startswith("-") or arg == "-":
            return arg
        if arg in taking_values:
            next(args, None)
    return None


def _is_click_usage_error(exc: Exception) -> bool:
    """Bad arguments (typer vendors its own click, so match by shape rather than by class)."""
    return any(cls.__name__ == "ClickException" for cls in type(exc).__mro__) and hasattr(exc, "show")


def _report_usage_error(exc: Exception, argv: list[str]) -> int:
    """A bad option or argument, said in cipub's own two lines (``cipub: error:`` / ``cipub: hint:``)
    like every other usage error, with click's exit code (2 for usage, 1 for its other errors).
    A group called without a command (``cipub``, ``cipub ci``) shows its help, as click does, and
    then says so in the same two lines (click's help alone ended exit 2 with no error line)."""
    code = int(getattr(exc, "exit_code", 2))
    _keep_close_options(exc)
    try:
        message = str(exc.format_message())  # type: ignore[attr-defined]
    except Exception:  # a click error of an unexpected shape: its own rendering still says it
        message = ""
    if not message or type(exc).__name__ == "NoArgsIsHelpError":
        exc.show()  # type: ignore[attr-defined]
        if message:
            _report_missing_command(getattr(exc, "ctx", None))
        return code
    message = " ".join(message.split())  # click lists choices on lines of their own
    ctx = getattr(exc, "ctx", None)
    command = str(getattr(ctx, "command_path", "") or "cipub")
    if command == "cipub":
        # an option the parser could not read comes without its command: find the command in argv
        root = ctx.find_root().command if ctx is not None else typer.main.get_command(app)
        commands = getattr(root, "commands", {})
        named = next((arg for arg in argv if arg in commands), None)
        command = f"cipub {named}" if named else command
    if "No such command" in message:
        hint = f"'{command} -h' lists the commands"
    else:
        hint = f"'{command} -h' shows its options and arguments"
    report_error(UsageError(message, hint=hint))
    return code


def _keep_close_options(exc: Exception) -> None:
    """click suggests options like an unknown one by comparing whole flags, so the shared ``--``
    makes almost anything look close (``--bogus``: "Possible options: --verbose"). Keep only the
    suggestions that are close without the dashes (difflib's own cutoff, as click uses)."""
    from difflib import get_close_matches

    possibilities = getattr(exc, "possibilities", None)
    name = getattr(exc, "option_name", None)
    if not possibilities or not isinstance(name, str):
        return
    bare = {str(p).lstrip("-"): p for p in possibilities}
    exc.possibilities = [bare[m] for m in get_close_matches(name.lstrip("-"), list(bare))]  # type: ignore[attr-defined]


def _report_missing_command(ctx: Any) -> None:
    """After a group's help: which commands it has, and where each one's options are."""
    group = getattr(ctx, "command", None)
    names = list(getattr(group, "commands", {}))
    path = str(getattr(ctx, "command_path", "") or "cipub")
    listed = f" (one of {', '.join(names)})" if names else ""
    report_error(UsageError(f"Missing command{listed}.", hint=f"'{path} COMMAND -h' shows a command's options"))


def _mask_in_ci(value: str) -> None:
    """The masker the CLI gives ``cipub.core.secrets``: the CI provider's, imported at the first secret."""
    from cipub.ci.provider import mask

    mask(value)


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived. A BaseException of cipub's own, not KeyboardInterrupt: typer turns
    that into a silent ``return 130`` (and ``except Exception`` blocks must not swallow it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum  # the shell's convention: 130 for SIGINT, 143 for SIGTERM


class StdoutClosed(BaseException):
    """The reader of stdout went away (``cipub plan | head``): stop quietly, no traceback."""


class _GuardedStdout:
    """sys.stdout, with a closed pipe turned into :class:`StdoutClosed` (typer would exit 1).

    Under ``PYTHONUNBUFFERED=1`` (common in CI images) sys.stdout writes straight to an unbuffered
    raw file, and ``TextIOWrapper`` ignores a short write: when the reader goes away mid-write
    (``cipub plan ... | head -1``) the kernel accepts part of the text, the rest is dropped and the
    command would exit 0 with its output cut. There the text is written here, in a loop until every
    byte is taken, so the closed pipe shows as EPIPE on the next write.
    """

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            raw = getattr(self._stream, "buffer", None)
            if isinstance(raw, io.RawIOBase) and isinstance(text, str):
                return self._write_all(raw, text)
            return int(self._stream.write(text))
        except BrokenPipeError:
            raise StdoutClosed from None

    def _write_all(self, raw: io.RawIOBase, text: str) -> int:
        self._stream.flush()  # nothing of an earlier write may come after this one
        count = len(text)
        if os.linesep != "\n":
            text = text.replace("\n", os.linesep)
        data = memoryview(text.encode(self._stream.encoding or "utf-8", self._stream.errors or "strict"))
        while data:
            written = raw.write(data)
            if written is None:  # a non-blocking stdout that is full: wait until it takes more
                time.sleep(0.01)
                continue
            data = data[written:]
        return count

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            raise StdoutClosed from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signum)


@contextlib.contextmanager
def _signals_and_pipes() -> Iterator[None]:
    """SIGINT/SIGTERM raise :class:`Interrupted`; a closed stdout raises :class:`StdoutClosed`.
    Restored afterwards (tests run many commands in one process)."""
    previous: dict[signal.Signals, Any] = {}
    if threading_is_main():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, _raise_interrupted)
    stdout = sys.stdout
    guarded: Any = _GuardedStdout(stdout)
    sys.stdout = guarded
    try:
        yield
    finally:
        sys.stdout = stdout
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def threading_is_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _report_interrupt(exc: Interrupted) -> int:
    from cipub.core import activity

    name = signal.Signals(exc.signum).name
    typer.echo(
        f"cipub: interrupted by {name}{activity.describe() or ' before changing anything'}; "
        "re-running the same command converges (finished work is kept and skipped)",
        err=True,
    )
    return exc.exit_code


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app; map every failure to its exit code."""
    from cipub.core import activity

    install_masker(_mask_in_ci)  # before anything reads a token
    _register_commands(invoked_command(sys.argv[1:] if argv is None else argv))
    reset_state()
    activity.reset()
    try:
        with _signals_and_pipes():
            code = app(args=argv, prog_name="cipub", standalone_mode=False)
    except Interrupted as exc:
        return _report_interrupt(exc)
    except StdoutClosed:
        error = _stdout_closed()  # one line on stderr and exit 10, as every local storage failure
        report_error(error)
        return error.exit_code
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
    except KeyboardInterrupt:  # raised before the handlers are in place
        return _report_interrupt(Interrupted(signal.SIGINT))
    except SystemExit as exc:
        # typer turns a closed stdout (EPIPE) into a bare ``sys.exit(1)``: say what it was instead
        if isinstance(exc.__context__, OSError) and exc.__context__.errno == errno.EPIPE:
            error = _stdout_closed()
            report_error(error)
            return error.exit_code
        raise
    except BrokenPipeError:
        error = _stdout_closed()
        report_error(error)
        return error.exit_code
    except OSError as exc:
        if exc.errno not in LOCAL_ERRNOS:
            return _internal_error(exc)
        if debug_enabled():
            typer.echo(scrub(traceback.format_exc()), err=True)
        error = _storage_error(exc)
        report_error(error)
        return error.exit_code
    except Exception as exc:  # the one place a bug becomes exit 1, with a way to see it
        if _is_click_usage_error(exc):
            return _report_usage_error(exc, sys.argv[1:] if argv is None else argv)
        return _internal_error(exc)
    return int(code) if isinstance(code, int) else 0


def _internal_error(exc: Exception) -> int:
    if debug_enabled():
        typer.echo(scrub(traceback.format_exc()), err=True)
    typer.echo(scrub(f"cipub: internal error: {type(exc).__name__}: {exc}"), err=True)
    typer.echo("cipub: hint: this is a bug; re-run with --debug and report it", err=True)
    return 1


def run() -> None:
    """The CLI run by the entry point (:func:`cipub.__main__.run`, which installs start-up signal handlers first).

    Exits with ``os._exit`` after flushing: py-rattler's background (tokio) threads can crash the
    interpreter during finalisation (seen here in ~45 % of runs after ``index_fs``), which would turn
    a successful run into exit 134/139. Nothing needs finalising once output is flushed.
    """
    code = main()
    try:
        sys.stdout.flush()
    except (OSError, ValueError):  # stdout closed or full after the last write: the output is lost, say so
        error = _stdout_closed() if code == 0 else None
        if error is not None:
            report_error(error)
            code = error.exit_code
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()
