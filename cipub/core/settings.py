"""Resolving the settings: one :class:`Settings` object per command, each value with its origin.

Precedence (highest first):
  1. command-line flags
  2. environment variables ``CIPUB_<KEY>`` (e.g. ``CIPUB_TARGET``, ``CIPUB_LABEL``)
  3. the config file: ``cipub.toml`` (top level or ``[tool.cipub]``) or ``[tool.cipub]`` in
     ``pyproject.toml`` (``--config FILE`` / ``CIPUB_CONFIG`` name another)
  4. the defaults

The config file is found like ruff's and pytest's: from the working directory upward, the first
directory holding a ``cipub.toml`` or a ``pyproject.toml`` with a ``[tool.cipub]`` table is the
project root; the search stops at a repository root (``.git``, ``.hg`` ...). A directory holding
both is a conflict (exit 2), never one file silently hiding the other. Relative paths from the
config file and the path defaults (``output``, ``./.cipub/channel``, ``recipe``) are taken from the
project root, so cipub acts on the same project from any of its subdirectories; paths given as flags
or environment variables are relative to the working directory, as typed. With no project found,
everything is relative to the working directory.

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
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

from cipub.core.errors import UsageError
from cipub.core.options import (
    DEFAULT_ORIGIN,
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
from cipub.core.secrets import (
    check_channel_url,
    check_url_option,
    redact_url,
    refuse_credentials,
    remember_url_secrets,
)

__all__ = ["DEFAULT_OUTPUT_DIR", "DEFAULT_TARGET", "ENV_PREFIX", "Settings", "describe", "resolve"]

log = logging.getLogger("cipub.core.settings")

_BY_ENV: dict[str | None, str] = {OPTIONS[key].env: key for key in SETTING_KEYS}
#: CIPUB_* variables that are not settings (so they are not reported as unknown)
_ENV_NOT_SETTINGS = frozenset(
    {o.env for o in OPTIONS.values() if o.env and not o.is_setting} | {"CIPUB_DOTENV", "CIPUB_TO_TOKEN"}
)


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


def _unknown(key: str, source: str, *, as_env: bool = False) -> UsageError:
    import difflib

    # Named as the place spells them: config keys kebab-case (snake_case is accepted too), variables
    # CIPUB_UPPER_CASE.
    spelled = {(OPTIONS[k].env if as_env else OPTIONS[k].config_key) or k: k for k in SETTING_KEYS}
    wanted = ENV_PREFIX + key.upper() if as_env else key.replace("_", "-")
    close = difflib.get_close_matches(wanted, list(spelled), n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(sorted(spelled))}"
    return UsageError(f"{source}: unknown setting {key!r}", hint=hint)


#: directories that end the upward search for a project: a repository's root (like ruff and pytest,
#: cipub never takes a config file from outside the checkout it runs in)
VCS_MARKERS: Final = (".git", ".hg", ".svn", ".jj")
CONFIG_NAMES: Final = ("cipub.toml", "pyproject.toml")


@dataclass(frozen=True)
class ConfigFile:
    """The config table found and the file it came from; its directory is the project root."""

    path: Path
    table: dict[str, Any]

    @property
    def root(self) -> Path:
        return self.path.parent


def _read_toml(path: Path) -> dict[str, Any]:
    import sys

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: not valid TOML ({exc})") from exc


def _config_table(path: Path) -> dict[str, Any] | None:
    """cipub's table in ``path``: ``[tool.cipub]``, or (``cipub.toml`` only) the top level; None if absent.

    A ``cipub.toml`` holding both top-level settings and ``[tool.cipub]`` is refused: one of the
    two would be ignored without a word.
    """
    if path.name == "pyproject.toml" and "cipub" not in path.read_text(encoding="utf-8", errors="replace"):
        # a project's pyproject.toml without a word of cipub has no [tool.cipub]: not parsed (every
        # command in a Python project would pay tomllib's import and the parse, ~4 ms)
        return None
    data = _read_toml(path)
    tool = data.get("tool", {})
    if not isinstance(tool, dict):
        raise UsageError(f"{path}: `tool` must be a table ([tool.cipub])", hint="write the settings under [tool.cipub]")
    table = tool.get("cipub")
    if table is not None and not isinstance(table, dict):
        raise UsageError(f"{path}: [tool.cipub] must be a table")
    if path.name == "pyproject.toml":
        return table
    top_level = {k: v for k, v in data.items() if k != "tool"}
    if table is not None and top_level:
        raise UsageError(
            f"{path}: settings both at the top level ({', '.join(sorted(top_level))}) and in [tool.cipub]",
            hint="keep one place: in cipub.toml, top-level keys are the usual form",
        )
    return table if table is not None else top_level


def _config_in(directory: Path) -> ConfigFile | None:
    """The config file of ``directory``, if it is a project root.

    ``cipub.toml`` wins over ``[tool.cipub]`` in ``pyproject.toml`` only when the latter is absent:
    both in one directory is a conflict (exit 2), never one silently hiding the other.
    """
    cipub_toml, pyproject = directory / "cipub.toml", directory / "pyproject.toml"
    own = _config_table(cipub_toml) if cipub_toml.is_file() else None
    tool = _config_table(pyproject) if pyproject.is_file() else None
    if own is not None and tool is not None:
        raise UsageError(
            f"{directory} has two cipub configurations: cipub.toml and [tool.cipub] in pyproject.toml",
            hint="keep one: move the settings into one file and delete the other (or pass --config FILE)",
        )
    if own is not None:
        return ConfigFile(cipub_toml, own)
    if tool is not None:
        return ConfigFile(pyproject, tool)
    return None


def find_project(cwd: Path) -> ConfigFile | None:
    """The nearest project config at or above ``cwd``, up to the repository root (VCS_MARKERS)."""
    directory = cwd.absolute()
    while True:
        found = _config_in(directory)
        if found is not None:
            return found
        if any((directory / marker).exists() for marker in VCS_MARKERS) or directory.parent == directory:
            return None
        directory = directory.parent


def repository_root(cwd: Path) -> Path | None:
    """The nearest directory at or above ``cwd`` holding a VCS marker (``.git`` ...), or None."""
    directory = cwd.absolute()
    while True:
        if any((directory / marker).exists() for marker in VCS_MARKERS):
            return directory
        if directory.parent == directory:
            return None
        directory = directory.parent


def find_config_file(cwd: Path, explicit: Path | None = None) -> ConfigFile | None:
    """The config file: ``explicit`` (which must exist and hold cipub's table), else the project's."""
    if explicit is None:
        return find_project(cwd)
    path = explicit if explicit.is_absolute() else cwd / explicit
    if path.is_dir():
        raise UsageError(
            f"config file {explicit} is a directory", hint="name the file: DIR/cipub.toml or DIR/pyproject.toml"
        )
    if not path.is_file():
        raise UsageError(f"config file {explicit} does not exist")
    table = _config_table(path)
    if table is None:
        raise UsageError(f"{explicit} has no [tool.cipub] table")
    return ConfigFile(path.absolute(), table)


def _is_dotted(value: str) -> bool:
    return value in (".", "..") or value.startswith(("./", "../", ".\\", "..\\"))


def _from_root(key: str, value: Any, root: Path) -> Any:
    """A path setting's relative value, taken from the project root (see :data:`Option.path`)."""
    kind = OPTIONS[key].path
    if kind is None:
        return value

    def one(item: str) -> str:
        if not item or "://" in item or Path(item).is_absolute() or item.startswith("~"):
            return item
        if kind == "dotted" and not _is_dotted(item):
            return item  # a bare word is a channel name (or refused as a target), never a directory
        return os.path.normpath(root / item)

    if isinstance(value, tuple):
        return tuple(one(v) for v in value)
    return one(value) if isinstance(value, str) else value


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
    root = found.root if found is not None else None
    if found is not None:
        path, table = found.path, found.table
        for raw_key, value in table.items():
            key = raw_key.replace("-", "_")
            if key in RETIRED_CONFIG_KEYS:
                message = f"{path}: the key {raw_key!r} was renamed: write target = ..."
                raise UsageError(message, hint=RETIRED_TARGET_HINT)
            if key not in SETTING_KEYS:
                raise _unknown(raw_key, str(path))
            values[key] = _coerce(key, value, str(path))
            origins[key] = Origin("file", str(path))
            if key == "require_attestation" and not str(value).strip():
                raise _empty_gate(f"{path}: require-attestation is empty")

    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or name in _ENV_NOT_SETTINGS:
            continue
        if name in RETIRED_ENV and value:
            raise UsageError(f"environment variable {name} was renamed CIPUB_TARGET", hint=RETIRED_TARGET_HINT)
        env_key = _BY_ENV.get(name)
        if env_key is None:
            # The environment is shared with CI systems and other tools: a stray CIPUB_* variable is
            # worth a warning (it may be a typo), not a failure. Config-file keys stay strict.
            problem = _unknown(name[len(ENV_PREFIX) :].lower(), f"environment variable {name}", as_env=True)
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
            if env_key == "require_attestation":
                raise _empty_gate(f"environment variable {name} is set but empty")
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
        if key == "require_attestation" and not str(value).strip():
            raise _empty_gate(f"{flag} is empty")

    if root is not None:
        # Values from the config file, and the defaults, belong to the project: relative paths in
        # them are taken from its root, wherever in the project cipub runs. Flags and environment
        # variables are typed here, so they stay relative to the working directory.
        for key in SETTING_KEYS:
            if origins.get(key, DEFAULT_ORIGIN).kind in ("file", "default"):
                resolved = _from_root(key, values.get(key, OPTIONS[key].default), root)
                if resolved != OPTIONS[key].default or key in values:
                    values[key] = resolved
    if "promote_from" not in origins and "label" in origins:
        # The staging label is one setting: promote takes the files from where build and upload
        # put them, unless --from names another label.
        values["promote_from"] = values["label"]
        origins["promote_from"] = origins["label"]
    resolved = replace(Settings(), **values, origins=origins, project_root=root)
    # a URL carrying a secret would be echoed in logs, plans and summaries: refuse it before anything runs
    refuse_credentials(resolved.target, "--target")
    if resolved.to_target:  # promote --to-target / CIPUB_TO_TARGET: shown in the same messages
        refuse_credentials(resolved.to_target, "--to-target")
    if resolved.api_url:
        check_url_option(resolved.api_url, "--api-url")
    if resolved.attest_channel_url:  # signed into every attestation and kept in the ledger
        check_channel_url(resolved.attest_channel_url, "--attest-channel-url")
    for channel in resolved.channels:
        refuse_credentials(channel, "-c/--channel")
        remember_url_secrets(channel)  # ?auth=... is no name cipub knows: never shown all the same
    return resolved


def _empty_gate(what: str) -> UsageError:
    """An empty --require-attestation would turn the gate off and promote unsigned files (in CI an
    unset variable expands to ""): given empty, from any source, it is exit 2."""
    return UsageError(
        f"{what}: name the identity, or leave the option out",
        hint="--require-attestation IDENTITY or key:PATH; an empty value would promote unsigned files",
    )


# URL credentials (scheme://user:secret@host, ?token=, #access_token=) never reach the screen, even if a
# setting holds one.
def _shown(value: Any) -> str:
    if isinstance(value, tuple):
        text = ", ".join(_redacted(str(v)) for v in value)
    elif isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = _redacted(str(value))
    return text or '""'


def _redacted(text: str) -> str:
    """A URL through redact_url (user:password@, query, #fragment, /t/TOKEN/); other text as it is."""
    return redact_url(text) if "://" in text else text


def describe(settings: Settings) -> list[str]:
    """One line per setting: its key, value and origin (``--debug`` prints these).

    Settings hold no secrets (tokens are read from their own variables or a file), and URL
    credentials are masked; the caller still scrubs every line like all other output.
    """
    width = max(len(key) for key in SETTING_KEYS)
    return [
        f"{OPTIONS[key].config_key or key:<{width}}  {_shown_setting(key, getattr(settings, key)):<28}  "
        f"{settings.origin(key)}"
        for key in SETTING_KEYS
    ]


def _shown_setting(key: str, value: Any) -> str:
    """A key/token file option given the secret itself (``"$(cat key.pem)"``) shows only that it is set."""
    from cipub.core.secrets import looks_like_secret

    if key.endswith("_file") and isinstance(value, str) and looks_like_secret(value):
        return "*** (set; not a path, so not shown)"
    return _shown(value)
