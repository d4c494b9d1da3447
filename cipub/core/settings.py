"""Resolving the settings: one :class:`Settings` object per command, each value with its origin.

Precedence (highest first):
  1. command-line flags
  2. environment variables ``CIPUB_<KEY>`` (e.g. ``CIPUB_TARGET``, ``CIPUB_LABEL``)
  3. the config file: ``cipub.toml`` (top level or ``[tool.cipub]``) or ``[tool.cipub]`` in
     ``pyproject.toml``, read from the current directory (``--config FILE`` names another)
  4. the defaults

What the settings are (names, flags, variables, types, defaults) is declared in
:mod:`cipub.core.options`; this module only layers the values. An unknown key in the config file
fails with a did-you-mean hint; an unknown ``CIPUB_*`` variable is reported as a warning with the
same hint (the environment is shared with CI systems). Retired spellings (``CIPUB_CHANNEL``, config
``channel``: the publish target is ``target`` now) fail with what changed, in either place.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from cipub.core.errors import UsageError
from cipub.core.options import (
    DEFAULT_OUTPUT_DIR,
    DEFAULT_TARGET,
    ENV_PREFIX,
    OPTIONS,
    RETIRED_CONFIG_KEYS,
    RETIRED_ENV,
    RETIRED_TARGET_HINT,
    SETTING_KEYS,
    Origin,
    Settings,
)

__all__ = ["DEFAULT_OUTPUT_DIR", "DEFAULT_TARGET", "ENV_PREFIX", "Settings", "describe", "resolve"]

log = logging.getLogger("cipub.core.settings")

_BY_ENV: dict[str | None, str] = {OPTIONS[key].env: key for key in SETTING_KEYS}
#: CIPUB_* variables that are not settings (so they are not reported as unknown)
_ENV_NOT_SETTINGS = frozenset({o.env for o in OPTIONS.values() if o.env and not o.is_setting} | {"CIPUB_DOTENV"})


def _coerce(key: str, value: Any, source: str) -> Any:
    spec = OPTIONS[key]
    default = spec.default
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
        if isinstance(default, (int, float)):
            return _in_range(key, _number(default, value), value, source)
        if isinstance(default, tuple):
            if isinstance(value, str):
                return tuple(v.strip() for v in value.split(",") if v.strip())
            if isinstance(value, (list, tuple)) and all(isinstance(v, (str, os.PathLike)) for v in value):
                return tuple(os.fspath(v) if isinstance(v, os.PathLike) else str(v) for v in value)
            raise ValueError(value)
        if isinstance(value, os.PathLike):  # typer hands Path objects for path options (--token-file)
            value = os.fspath(value)
        if not isinstance(value, str):
            raise ValueError(value)
        return value
    except ValueError:
        raise UsageError(
            f"{source}: {spec.config_key} = {value!r} is not {_a(spec.type_name)}", hint=_accepted(key)
        ) from None


def _number(default: int | float, value: Any) -> int | float:
    """``value`` as the default's kind of number; ValueError for anything else (a bool, 1.5 for an int)."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(default, int):
        if isinstance(value, int):
            return value
        if isinstance(value, str):
            return int(value.strip())
        raise ValueError(value)
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        number = float(value.strip())
    else:
        raise ValueError(value)
    if not math.isfinite(number):
        raise ValueError(value)
    return number


def _in_range(key: str, number: int | float, value: Any, source: str) -> int | float:
    spec = OPTIONS[key]
    if (spec.min is not None and number < spec.min) or (spec.max is not None and number > spec.max):
        raise UsageError(f"{source}: {spec.config_key} = {value!r} is out of range", hint=_accepted(key))
    return number


def _a(type_name: str) -> str:
    return f"an {type_name}" if type_name[0] in "aeiou" else f"a {type_name}"


def _accepted(key: str) -> str:
    spec = OPTIONS[key]
    accepted = _a(spec.type_name) if spec.type_name != "list" else "a comma-separated list"
    bounds = spec.range_text()
    return f"{spec.config_key} takes {accepted}{' ' + bounds if bounds else ''}" + (
        f"; the default is {spec.default_text()}" if spec.default_text() else ""
    )


def _unknown(key: str, source: str) -> UsageError:
    import difflib

    close = difflib.get_close_matches(key, list(SETTING_KEYS), n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(sorted(SETTING_KEYS))}"
    return UsageError(f"{source}: unknown setting {key!r}", hint=hint)


def find_config_file(cwd: Path, explicit: Path | None = None) -> tuple[Path, dict[str, Any]] | None:
    """The config table and where it came from, or None."""
    import sys

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib

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
    """Build Settings from flags > environment > config file > defaults.

    ``flags`` maps setting keys to what was given on the command line; None or an empty list means
    "not given".
    """
    env = os.environ if environ is None else environ
    cwd = cwd or Path.cwd()
    values: dict[str, Any] = {}
    origins: dict[str, Origin] = {}

    explicit = config_file or (Path(env["CIPUB_CONFIG"]) if env.get("CIPUB_CONFIG") else None)
    found = find_config_file(cwd, explicit)
    if found is not None:
        path, table = found
        for raw_key, value in table.items():
            key = raw_key.replace("-", "_")
            if key in RETIRED_CONFIG_KEYS:
                message = f"{path}: the key {raw_key!r} was renamed: write target = ..."
                raise UsageError(message, hint=RETIRED_TARGET_HINT)
            if key not in SETTING_KEYS:
                raise _unknown(raw_key, str(path))
            values[key] = _coerce(key, value, str(path))
            origins[key] = Origin("file", str(path))

    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or name in _ENV_NOT_SETTINGS:
            continue
        if name in RETIRED_ENV and value:
            raise UsageError(f"environment variable {name} was renamed CIPUB_TARGET", hint=RETIRED_TARGET_HINT)
        env_key = _BY_ENV.get(name)
        if env_key is None:
            # The environment is shared with CI systems and other tools: a stray CIPUB_* variable is
            # worth a warning (it may be a typo), not a failure. Config-file keys stay strict.
            problem = _unknown(name[len(ENV_PREFIX) :].lower(), f"environment variable {name}")
            log.warning("%s (ignored; %s)", problem.message, problem.hint)
            continue
        if value.strip() == "":
            if env_key == "target":
                # In CI an unset secret or variable expands to "": publishing to the runner's disk
                # instead would look like success. Unset the variable to mean the default.
                raise UsageError(
                    f"environment variable {name} is set but empty",
                    hint=f"unset it to use the default target {DEFAULT_TARGET}, or set it to a target URL",
                )
            continue
        values[env_key] = _coerce(env_key, value, f"environment variable {name}")
        origins[env_key] = Origin("env", name)

    for key, value in (flags or {}).items():
        if value is None or (isinstance(value, (tuple, list)) and not value):
            continue
        if key not in SETTING_KEYS:
            raise _unknown(key, "command line")
        flag = OPTIONS[key].flag
        values[key] = _coerce(key, value, flag)
        origins[key] = Origin("flag", flag)

    return replace(Settings(), **values, origins=origins)


# URL credentials (scheme://user:secret@host) never reach the screen, even if a setting holds one.
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]+@")


def _shown(value: Any) -> str:
    if isinstance(value, tuple):
        text = ", ".join(str(v) for v in value)
    elif isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = str(value)
    return _USERINFO.sub(r"\g<scheme>***@", text) or '""'


def describe(settings: Settings) -> list[str]:
    """One line per setting: its key, value and origin (``--debug`` prints these).

    Settings hold no secrets (tokens are read from their own variables or a file), and URL
    credentials are masked; the caller still scrubs every line like all other output.
    """
    width = max(len(key) for key in SETTING_KEYS)
    return [f"{key:<{width}}  {_shown(getattr(settings, key)):<28}  {settings.origin(key)}" for key in SETTING_KEYS]
