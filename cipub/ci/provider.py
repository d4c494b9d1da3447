"""The CI provider a command runs under, and the provider's runtime channels: outputs and masks.

* **GitHub Actions** (``GITHUB_ACTIONS=true``): step outputs to ``$GITHUB_OUTPUT`` (``name<<DELIM``
  syntax, safe for any value) and ``::add-mask::`` for every secret cipub reads (on stderr, which the
  runner scans for commands like stdout, so ``--json`` output on stdout stays clean). The CLI's entry
  point installs :func:`mask` as the masker of :mod:`cipub.core.secrets`.
* **GitLab CI** (``GITLAB_CI=true``): the same outputs as a dotenv file (``$CIPUB_DOTENV``, default
  ``cipub.env``) for ``artifacts: reports: dotenv:``. GitLab's rules apply: one ``KEY=value`` per
  line, no quotes, no blank lines, at most 5 KB -- large values are shortened, never the file broken.
  GitLab masks secrets through masked CI/CD variables; there is no runtime command for it.

Outside CI every function here does nothing. Output names are the same everywhere: GitHub uses them
as written (``build-number``), GitLab as ``CIPUBCI_BUILD_NUMBER`` (not ``CIPUB_*``: those are
settings, and downstream jobs receive dotenv values as environment variables). What a command
publishes is decided in :mod:`cipub.ci.reports`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from cipub.core.errors import UsageError
from cipub.core.secrets import scrub

log = logging.getLogger(__name__)

Provider = Literal["github", "gitlab"]

#: prefix of GitLab dotenv output variables (``CIPUB_*`` names are settings and would be rejected)
DOTENV_PREFIX = "CIPUBCI_"
DEFAULT_DOTENV = "cipub.env"
#: GitLab refuses a dotenv report larger than this (bytes), or with more variables than 20
DOTENV_MAX_BYTES = 5 * 1024
DOTENV_MAX_VARIABLES = 20

_OUTPUT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_DOTENV_LINE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


def detect(environ: Mapping[str, str] | None = None) -> Provider | None:
    """The CI provider this process runs under, or None (laptop, other CI)."""
    env = os.environ if environ is None else environ
    if env.get("GITHUB_ACTIONS") == "true":
        return "github"
    if env.get("GITLAB_CI") == "true":
        return "gitlab"
    return None


# -- masking -----------------------------------------------------------------------------------------


def _escape_command_data(text: str) -> str:
    # The runner unescapes %25, %0D, %0A in command data; escape so the mask is the exact value.
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def mask(value: str, *, environ: Mapping[str, str] | None = None) -> None:
    """Ask the CI provider to hide ``value`` in logs. No-op outside GitHub Actions.

    Each line is masked on its own too: the runner matches masks per log line.
    """
    if not value or detect(environ) != "github":
        return
    parts = [value] + [line for line in value.splitlines() if line.strip() and line != value]
    for part in parts:
        sys.stderr.write(f"::add-mask::{_escape_command_data(part)}\n")
    sys.stderr.flush()


# -- outputs -----------------------------------------------------------------------------------------


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, separators=(",", ":"), sort_keys=False)


def _check_names(outputs: Mapping[str, Any]) -> None:
    for name in outputs:
        if not _OUTPUT_NAME.match(name):
            raise ValueError(f"invalid CI output name {name!r}")  # a programming error, not user input


def report_outputs(outputs: Mapping[str, Any], *, environ: Mapping[str, str] | None = None) -> None:
    """Publish ``outputs`` (name -> str, int, bool, or JSON-able value) to the CI provider.

    GitHub: step outputs; GitLab: the dotenv file. Values never carry a secret (they are scrubbed).
    """
    provider = detect(environ)
    if provider is None or not outputs:
        return
    _check_names(outputs)
    env = os.environ if environ is None else environ
    texts = {name: scrub(_as_text(value)) for name, value in outputs.items()}
    if provider == "github":
        _write_github_outputs(texts, env)
    else:
        _write_dotenv(texts, env)


def _write_github_outputs(texts: Mapping[str, str], env: Mapping[str, str]) -> None:
    path = env.get("GITHUB_OUTPUT")
    if not path:
        log.warning("GITHUB_OUTPUT is not set: step outputs not written")
        return
    chunks = []
    for name, text in texts.items():
        # A fresh random delimiter per value: no value can end the heredoc early.
        delimiter = f"ghadelimiter_{uuid.uuid4()}"
        while delimiter in text:  # pragma: no cover - a uuid4 collision
            delimiter = f"ghadelimiter_{uuid.uuid4()}"
        chunks.append(f"{name}<<{delimiter}\n{text}\n{delimiter}\n")
    _append(Path(path), "".join(chunks), "GitHub output file (GITHUB_OUTPUT)")


def _append(path: Path, text: str, what: str) -> None:
    try:
        with path.open("a", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
    except OSError as exc:
        raise UsageError(f"cannot write the {what} {path}: {exc.strerror}") from exc


def dotenv_name(name: str) -> str:
    """``build-number`` -> ``CIPUBCI_BUILD_NUMBER``."""
    return DOTENV_PREFIX + name.upper().replace("-", "_")


def dotenv_path(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    return Path(env.get("CIPUB_DOTENV") or DEFAULT_DOTENV)


def read_dotenv(path: Path) -> dict[str, str]:
    """The variables of a dotenv file as GitLab reads it (``KEY=value`` lines, nothing else)."""
    values: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return values
    for line in text.splitlines():
        match = _DOTENV_LINE.match(line)
        if match:
            values[match.group(1)] = match.group(2)
    return values


def _dotenv_value(name: str, text: str) -> str:
    # GitLab keeps quotes as they are and refuses multi-line values: JSON-encode what needs it.
    if "\n" in text or "\r" in text:
        return json.dumps(text)
    return text


def _shorten_for_dotenv(name: str, text: str) -> str | None:
    """A smaller form of a large value, or None to leave it out (the manifest has everything)."""
    if name == "artifacts":
        try:
            entries = json.loads(text)
            keys = [f"{e['subdir']}/{e['filename']}" for e in entries]
        except (ValueError, KeyError, TypeError):
            return None
        return json.dumps(keys, separators=(",", ":"))
    return None


def _write_dotenv(texts: Mapping[str, str], env: Mapping[str, str]) -> None:
    path = dotenv_path(env)
    values = read_dotenv(path)  # several cipub commands in one job add to the same report
    for name, text in texts.items():
        values[dotenv_name(name)] = _dotenv_value(name, text)

    def size() -> int:
        return sum(len(f"{k}={v}\n".encode()) for k, v in values.items())

    # Keep under GitLab's limits: shorten, then drop, the largest of our own values.
    while size() > DOTENV_MAX_BYTES - 256 or len(values) > DOTENV_MAX_VARIABLES:
        ours = [k for k in values if k.startswith(DOTENV_PREFIX)]
        if not ours:
            break
        largest = max(ours, key=lambda k: len(values[k]))
        name = largest[len(DOTENV_PREFIX) :].lower().replace("_", "-")
        shorter = _shorten_for_dotenv(name, values[largest])
        if shorter is not None and len(shorter) < len(values[largest]):
            values[largest] = shorter
            continue
        log.warning("dotenv report: leaving out %s (too large for GitLab's 5 KB limit)", largest)
        del values[largest]
    body = "".join(f"{k}={v}\n" for k, v in values.items())
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(body, encoding="utf-8", newline="\n")
        tmp.replace(path)
    except OSError as exc:
        raise UsageError(f"cannot write the dotenv report {path}: {exc.strerror}") from exc
