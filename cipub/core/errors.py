"""Every failure cipub reports, each class with its own exit code.

The CLI has one error boundary (``cipub.cli.main``): it catches :class:`CipubError`, prints the
one-line message and the hint, and exits with ``exit_code``. Anything else is a bug (exit 1).
The table of codes lives here and in the README; ``tests/unit/test_errors.py`` keeps them in step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar


class CipubError(Exception):
    """Base class: a failure cipub understands and can explain."""

    exit_code: ClassVar[int] = 1
    #: short name used in ``--json`` error documents and the README table
    kind: ClassVar[str] = "error"

    def __init__(self, message: str, *, hint: str | None = None, details: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        #: lines shown before the message (the last lines of a failed build's log, a test's output)
        self.details = tuple(details)

    def __str__(self) -> str:
        return self.message


class UsageError(CipubError):
    """Bad command line, settings or configuration file."""

    exit_code = 2
    kind = "usage"


class RecipeError(CipubError):
    """A recipe or variant configuration cannot be read or is inconsistent."""

    exit_code = 3
    kind = "recipe"


class BuildFailedError(CipubError):
    """The build engine ran and failed, or is not available."""

    exit_code = 4
    kind = "build"


class AuthError(CipubError):
    """A token is missing, or the server refused it (401/403)."""

    exit_code = 5
    kind = "auth"


class ConflictError(CipubError):
    """A different file with the same name already exists: cipub never overwrites."""

    exit_code = 6
    kind = "conflict"


class NetworkError(CipubError):
    """The server could not be reached or kept failing after every retry."""

    exit_code = 7
    kind = "network"


class VerificationError(CipubError):
    """The channel does not hold what it should (sha256 or labels differ, a file is missing)."""

    exit_code = 8
    kind = "verification"


class InvalidPackageError(CipubError):
    """A package file is truncated, malformed, or its metadata disagrees with its name."""

    exit_code = 9
    kind = "invalid-package"


class StorageError(CipubError):
    """The machine cipub runs on failed it: disk full, a read-only or unwritable directory, a path
    that is a file, standard output closed early (``| head``)."""

    exit_code = 10
    kind = "storage"


#: code -> (class, meaning); the README table is generated from the same words.
EXIT_CODES: dict[int, tuple[type[CipubError] | None, str]] = {
    0: (None, "success"),
    1: (None, "unexpected error (a bug in cipub: please report it with --debug output)"),
    2: (UsageError, "usage or configuration error"),
    3: (RecipeError, "recipe or variant configuration error"),
    4: (BuildFailedError, "build failed, or the build engine is not available"),
    5: (AuthError, "authentication or permission error"),
    6: (ConflictError, "conflict: a different file with that name exists (would need force)"),
    7: (NetworkError, "network or server error after retries"),
    8: (VerificationError, "verification failed: sha256 or label mismatch, or a file is missing"),
    9: (InvalidPackageError, "invalid package file (truncated, malformed, or lying metadata)"),
    10: (StorageError, "local storage or output error: disk full, read-only directory, closed stdout"),
}
