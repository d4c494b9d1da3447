"""Tokens: read from environment variables or a file, never from argv; never printed.

A :class:`Secret` hides its value from ``str``/``repr``/f-strings, so it cannot leak into a message
or a log line by accident. Every value read is handed to the installed *masker* (see
:func:`install_masker`) before anything could print it: the CLI's entry point installs the CI
provider's (``cipub.ci.provider.mask``, ``::add-mask::`` on GitHub Actions). This module imports
nothing above ``cipub.core``; without a masker (library use) secrets are still scrubbed, not masked.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from cipub.core.errors import AuthError, UsageError

#: every secret value read in this process, so output can be scrubbed and CI logs masked
_SEEN: set[str] = set()

#: hides one value in the CI log; called once per secret value read
Masker = Callable[[str], None]
_masker: Masker | None = None


def install_masker(masker: Masker | None) -> Masker | None:
    """Send every secret read from now on to ``masker`` (None: no masking). Returns the previous one."""
    global _masker  # one process-wide hook, installed by the CLI's entry point
    previous, _masker = _masker, masker
    return previous


def mask(value: str) -> None:
    """Ask the installed masker to hide ``value`` in the CI log; nothing happens without one."""
    if _masker is not None:
        _masker(value)


class Secret:
    __slots__ = ("_value", "source")

    def __init__(self, value: str, source: str) -> None:
        self._value = value
        self.source = source  # e.g. "ANACONDA_API_TOKEN" or "token file /x" -- never the value
        if value and value not in _SEEN:
            _SEEN.add(value)
            mask(value)  # hide it in CI logs before anything could print it

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret(from {self.source})"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)


def read_token(
    env_names: Sequence[str],
    *,
    token_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    required: bool = True,
    what: str = "this target",
) -> Secret | None:
    """First of: ``token_file``, then each variable in ``env_names``. AuthError (exit 5) if none."""
    env = os.environ if environ is None else environ
    if token_file is not None:
        try:
            value = token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise UsageError(f"cannot read token file {token_file}: {exc.strerror}") from exc
        if not value:
            raise AuthError(f"token file {token_file} is empty")
        return Secret(value, f"token file {token_file}")
    for name in env_names:
        value = env.get(name, "").strip()
        if value:
            return Secret(value, name)
    if required:
        raise AuthError(
            f"no token for {what}: set {' or '.join(env_names)}",
            hint="or pass --token-file PATH; tokens are never accepted as command-line values",
        )
    return None


#: values shorter than this are not scrubbed: no real token is this short, and replacing every
#: occurrence of a two-letter "token" would garble all output
MIN_SCRUB_LENGTH = 8


def scrub(text: str) -> str:
    """Replace every secret value seen in this process by ``***``."""
    for value in sorted(_SEEN, key=len, reverse=True):
        if len(value) >= MIN_SCRUB_LENGTH and value in text:
            text = text.replace(value, "***")
    return text


def forget_all() -> None:
    """Forget the secrets seen so far (tests run many commands in one process)."""
    _SEEN.clear()


def seen_secrets() -> frozenset[str]:
    return frozenset(_SEEN)
