"""One settings object, resolved once per command.

Precedence (highest first):
  1. command-line flags
  2. environment variables ``CIPUB_<KEY>`` (e.g. ``CIPUB_CHANNEL``, ``CIPUB_LABEL``)
  3. the config file: ``cipub.toml`` (top level or ``[tool.cipub]``) or ``[tool.cipub]`` in
     ``pyproject.toml``, read from the current directory (``--config FILE`` names another)
  4. the defaults below

An unknown key in the config file fails with a did-you-mean hint; an unknown ``CIPUB_*`` variable
is reported as a warning with the same hint (the environment is shared with CI systems).
Secrets are not settings: tokens come from their own environment variables or ``--token-file``.
"""

from __future__ import annotations

import difflib
import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from cipub.core.errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

log = logging.getLogger("cipub.core.settings")

#: where artifacts go, and where the manifest lives, by default
DEFAULT_OUTPUT_DIR = "dist"
#: the zero-configuration channel: a local directory channel inside the project
DEFAULT_CHANNEL = ".cipub/channel"
ENV_PREFIX = "CIPUB_"
#: CIPUB_* variables that are not settings (so they are not reported as unknown)
_ENV_NOT_SETTINGS = frozenset({"CIPUB_CONFIG", "CIPUB_DOTENV"})


@dataclass(frozen=True)
class Settings:
    """Everything a command needs to know, with its source recorded for ``--debug`` output."""

    channel: str = DEFAULT_CHANNEL
    label: str = "test"
    promote_from: str = "test"
    promote_to: str = "main"
    engine: str = "auto"
    output_dir: str = DEFAULT_OUTPUT_DIR
    manifest: str = ""  # "" -> <output_dir>/cipub-manifest.json
    variant_config: tuple[str, ...] = ()
    #: channels build dependencies are solved from (rattler-build -c / conda-build -c)
    channels: tuple[str, ...] = ("conda-forge",)
    platforms: tuple[str, ...] = ()
    noarch_platform: str = "linux-64"
    concurrency: int = 4
    retries: int = 5
    #: base delay of the exponential retry backoff, seconds
    backoff: float = 0.5
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    api_url: str = ""
    token_file: str = ""
    debug: bool = False
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def manifest_path(self) -> Path:
        return Path(self.manifest) if self.manifest else Path(self.output_dir) / "cipub-manifest.json"

    @property
    def channel_is_default(self) -> bool:
        return self.sources.get("channel", "default") == "default"


_FIELDS = {f.name: f for f in fields(Settings) if f.name != "sources"}


def _coerce(key: str, value: Any, source: str) -> Any:
    default = _FIELDS[key].default
    try:
        if isinstance(default, bool):
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(value)
        if isinstance(default, int):
            number = int(value)
            if number < 0:
                raise ValueError(value)
            return number
        if isinstance(default, float):
            return float(value)
        if isinstance(default, tuple):
            if isinstance(value, str):
                return tuple(v.strip() for v in value.split(",") if v.strip())
            if isinstance(value, (list, tuple)):
                return tuple(str(v) for v in value)
            raise ValueError(value)
        if isinstance(value, os.PathLike):  # typer hands Path objects for path options (--token-file)
            value = os.fspath(value)
        if not isinstance(value, (str, int, float)):
            raise ValueError(value)
        return str(value)
    except ValueError:
        kind = type(default).__name__
        raise UsageError(f"{source}: {key} = {value!r} is not a valid {kind}") from None


def _unknown(key: str, source: str) -> UsageError:
    close = difflib.get_close_matches(key, list(_FIELDS), n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(sorted(_FIELDS))}"
    return UsageError(f"{source}: unknown setting {key!r}", hint=hint)


def find_config_file(cwd: Path, explicit: Path | None = None) -> tuple[Path, dict[str, Any]] | None:
    """The config table and where it came from, or None."""
    candidates = [explicit] if explicit else [cwd / "cipub.toml", cwd / "pyproject.toml"]
    for path in candidates:
        if path is None or not path.is_file():
            if explicit:
                raise UsageError(f"config file {explicit} does not exist")
            continue
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise UsageError(f"{path}: not valid TOML ({exc})") from exc
        table = data.get("tool", {}).get("cipub")
        if table is None and path.name != "pyproject.toml":
            table = {k: v for k, v in data.items() if k != "tool"}
        if table is not None:
            if not isinstance(table, dict):
                raise UsageError(f"{path}: [tool.cipub] must be a table")
            return path, table
    return None


def resolve(
    flags: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    config_file: Path | None = None,
) -> Settings:
    """Build Settings from flags > environment > config file > defaults."""
    env = os.environ if environ is None else environ
    cwd = cwd or Path.cwd()
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}

    explicit = config_file or (Path(env["CIPUB_CONFIG"]) if env.get("CIPUB_CONFIG") else None)
    found = find_config_file(cwd, explicit)
    if found is not None:
        path, table = found
        for raw_key, value in table.items():
            key = raw_key.replace("-", "_")
            if key not in _FIELDS:
                raise _unknown(raw_key, str(path))
            values[key] = _coerce(key, value, str(path))
            sources[key] = str(path)

    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or name in _ENV_NOT_SETTINGS:
            continue
        key = name[len(ENV_PREFIX) :].lower()
        if key not in _FIELDS:
            # The environment is shared with CI systems and other tools: a stray CIPUB_* variable is
            # worth a warning (it may be a typo), not a failure. Config-file keys stay strict.
            problem = _unknown(key, f"environment variable {name}")
            log.warning("%s (ignored; %s)", problem.message, problem.hint)
            continue
        if value == "":
            continue
        values[key] = _coerce(key, value, f"environment variable {name}")
        sources[key] = name

    for key, value in (flags or {}).items():
        if value is None or (isinstance(value, (tuple, list)) and not value):
            continue
        if key not in _FIELDS:
            raise _unknown(key, "command line")
        values[key] = _coerce(key, value, f"--{key.replace('_', '-')}")
        sources[key] = "command line"

    for key in _FIELDS:
        sources.setdefault(key, "default")
    return replace(Settings(), **values, sources=sources)
