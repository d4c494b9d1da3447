"""Every failure cipub reports, each class with its own exit code.

The CLI has one error boundary (``cipub.cli.main``): it catches :class:`CipubError`, prints the
one-line message and the hint, and exits with ``exit_code``. Anything else is a bug (exit 1).
The table of codes lives here and in the README; ``tests/unit/test_errors.py`` keeps them in step.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, ParamSpec, TypeVar

_P = ParamSpec("_P")
_R = TypeVar("_R")

#: a network failure's hint in a command that writes: every step converges on a re-run
RETRY_HINT = "the server may be down; re-running is safe: finished files are skipped"
#: the same for a command that only reads the target (plan, status): there is nothing to skip
READ_ONLY_RETRY_HINT = "the server may be down or unreachable from here; re-run later (this command only reads)"
#: a conflict found while writing: another run wrote the same name between cipub's check and its write
CONCURRENT_WRITE_HINT = (
    "another run wrote it at the same time; re-run the same command: the same bytes count as done, "
    "different bytes need a new build number"
)


class CipubError(Exception):
    """Base class: a failure cipub understands and can explain."""

    exit_code: ClassVar[int] = 1
    #: short name used in ``--json`` error documents and the README table
    kind: ClassVar[str] = "error"
    #: said when a raise site gives no hint of its own: every error has a next step (README)
    default_hint: ClassVar[str] = ""

    def __init__(self, message: str, *, hint: str | None = None, details: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        #: lines shown before the message (the last lines of a failed build's log, a test's output)
        self.details = tuple(details)

    def __init_subclass__(cls, *, code: int | None = None, kind: str | None = None, **kwargs: Any) -> None:
        """``class UsageError(CipubError, code=2, kind="usage")``: each class names its code once."""
        super().__init_subclass__(**kwargs)
        if code is not None:
            cls.exit_code = code
        if kind is not None:
            cls.kind = kind

    def __str__(self) -> str:
        return self.message

    @property
    def next_step(self) -> str:
        """The hint to show: the raise site's own, or the kind's default."""
        return self.hint or self.default_hint


class UsageError(CipubError, code=2, kind="usage"):
    """Bad command line, settings or configuration file."""

    default_hint = "'cipub COMMAND -h' shows the command's options and what each accepts"


class RecipeError(CipubError, code=3, kind="recipe"):
    """A recipe or variant configuration cannot be read or is inconsistent."""

    default_hint = "fix the recipe or variant file named above; 'cipub plan RECIPE' shows how cipub reads it"


class BuildFailedError(CipubError, code=4, kind="build"):
    """The build engine ran and failed, or is not available."""

    default_hint = "the build log above shows the failing step; fix the recipe or its environment and re-run"


class AuthError(CipubError, code=5, kind="auth"):
    """A token is missing, or the server refused it (401/403)."""

    default_hint = "check the token named in the README's 'Credentials' section: set, not expired, with upload scope"


class ConflictError(CipubError, code=6, kind="conflict"):
    """A different file with the same name already exists: cipub never overwrites."""

    default_hint = (
        "cipub never overwrites a file: build again with a new build number (cipub bumps it from the channel)"
    )


class NetworkError(CipubError, code=7, kind="network"):
    """The server could not be reached or kept failing after every retry."""

    default_hint = "check the URL and the network, then re-run the same command: what already arrived counts as done"


class VerificationError(CipubError, code=8, kind="verification"):
    """The channel does not hold what it should (sha256 or labels differ, a file is missing)."""

    default_hint = "'cipub status NAME' shows what the target holds; nothing that fails its sha256 check is promoted"


class InvalidPackageError(CipubError, code=9, kind="invalid-package"):
    """A package file is truncated, malformed, or its metadata disagrees with its name."""

    default_hint = "rebuild the package: cipub never uploads a file that fails its check"


class StorageError(CipubError, code=10, kind="storage"):
    """The machine cipub runs on failed it: disk full, a read-only or unwritable directory, a path
    that is a file, standard output closed early (``| head``)."""

    default_hint = "free space, or fix the path or its permissions, then re-run the same command"


#: code -> (class, meaning); the README table is generated from the same words. A class's code is
#: the one it names (``code=``), written nowhere else.
EXIT_CODES: dict[int, tuple[type[CipubError] | None, str]] = {
    0: (None, "success"),
    1: (None, "unexpected error (a bug in cipub: please report it with --debug output)"),
    **{
        cls.exit_code: (cls, meaning)
        for cls, meaning in (
            (UsageError, "usage or configuration error"),
            (RecipeError, "recipe or variant configuration error"),
            (BuildFailedError, "build failed, or the build engine is not available"),
            (AuthError, "authentication or permission error"),
            (ConflictError, "conflict: a different file with that name exists (would need force)"),
            (NetworkError, "network or server error after retries"),
            (VerificationError, "verification failed: sha256 or label mismatch, or a file is missing"),
            (InvalidPackageError, "invalid package file (truncated, malformed, or lying metadata)"),
            (StorageError, "local storage or output error: disk full, read-only directory, closed stdout"),
        )
    },
}


def read_only(func: Callable[_P, _R]) -> Callable[_P, _R]:
    """For a workflow that only reads a target: a network failure's hint does not speak of
    finished files being skipped (there are none), but of re-running later."""

    @functools.wraps(func)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return func(*args, **kwargs)
        except NetworkError as exc:
            if exc.hint == RETRY_HINT:
                exc.hint = READ_ONLY_RETRY_HINT
            raise

    return wrapper
