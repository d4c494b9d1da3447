"""A conda-forge feedstock read as conda-smithy reads it, for ``cipub plan --conda-forge``.

What conda-smithy takes from a feedstock before rendering its matrix:

* ``conda-forge.yml``: the platforms built (linux-64, osx-64, win-64, plus every platform a
  ``provider`` entry or a ``build_platform`` entry names), ``build_platform`` (cross-compiling:
  the platform the build runs on, seen by the variant files as ``BUILD_PLATFORM``), ``os_version``
  (``DEFAULT_LINUX_VERSION`` for the linux platforms it names) and ``noarch_platforms`` (where a
  noarch recipe is built: once per listed platform, default linux-64);
* the pinning (conda-forge-pinning's ``conda_build_config.yaml``), the lowest-priority variant file
  (conda-build's ``-e``/exclusive config file);
* the migrations in ``.ci_support/migrations``, chosen as conda-smithy's ``set_migration_fns``: a
  migration whose ``migrator_ts`` and ``migration_number`` the pinning's migrations share is taken
  from the pinning, unless the feedstock's copy says ``use_local: true`` (or has no timestamp); a
  migration the pinning no longer has is over and dropped. The pinning's migrations are in
  ``share/conda-forge/migrations`` next to an installed pinning, or ``migrations/`` next to it in
  the pinning feedstock's ``recipe/`` directory.

Every problem of the feedstock's files is a RecipeError (exit 3) naming the file (and the key of
conda-forge.yml) with a hint; a missing ``--pinning`` file is the command line's: UsageError (exit 2).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cipub.core.errors import RecipeError, UsageError

CONDA_FORGE_YML = "conda-forge.yml"
#: platforms conda-smithy renders for when conda-forge.yml names no others
DEFAULT_PLATFORMS = ("linux-64", "osx-64", "win-64")
_CUDA_CALL = re.compile(r"compiler\(\s*['\"]cuda['\"]\s*\)")


#: conda-forge.yml's documentation, for the hints of its errors
CONDA_FORGE_YML_HINT = (
    "conda-forge.yml is conda-smithy's feedstock configuration, platforms spelled linux_64, osx_arm64, "
    "win_64 ... (https://conda-forge.org/docs/maintainer/conda_forge_yml/)"
)
#: provider keys conda-smithy still accepts besides platforms: every platform of that OS
_PROVIDER_OS_KEYS = ("linux", "osx", "win")


def _platform(name: str) -> str:
    """conda-forge.yml spells platforms ``linux_64``; cipub ``linux-64``."""
    return str(name).replace("_", "-", 1)


def _checked_platform(name: Any, path: Path, key: str) -> str:
    """``name`` (a conda-forge.yml platform, ``linux_64``) as cipub spells it; RecipeError naming
    the file and the key when it is no text or no platform a feedstock builds for."""
    from cipub.recipe.selectors import check_platform

    if not isinstance(name, str) or not name.strip():
        raise RecipeError(
            f"{path}: {key}: {name!r} is not a platform (a name such as linux_64)", hint=CONDA_FORGE_YML_HINT
        )
    platform = _platform(name.strip())
    close = None
    if platform != "noarch":  # a platform a build runs on, not the subdir of noarch packages
        try:
            return check_platform(platform, source=key)
        except UsageError as exc:
            close = re.search(r"did you mean (\S+)\?", exc.hint or "")
    suggestion = f"did you mean {close.group(1).replace('-', '_', 1)}? " if close else ""
    raise RecipeError(f"{path}: {key}: {name!r} is not a platform", hint=suggestion + CONDA_FORGE_YML_HINT)


@dataclass(frozen=True)
class Feedstock:
    """What conda-smithy would use to render this feedstock's matrix."""

    root: Path
    platforms: tuple[str, ...]
    noarch_platforms: tuple[str, ...]
    #: target platform -> the platform its build runs on (cross-compiling)
    build_platforms: Mapping[str, str] = field(default_factory=dict)
    #: target platform -> os_version (``DEFAULT_LINUX_VERSION``)
    os_versions: Mapping[str, str] = field(default_factory=dict)
    pinning: Path | None = None
    migrations: tuple[Path, ...] = ()
    #: migrations of the feedstock conda-smithy would drop (over: the pinning no longer has them)
    expired: tuple[Path, ...] = ()

    def environ(self, platform: str, recipe_text: str) -> dict[str, str]:
        """What conda-smithy sets before the variant files' selectors are read for ``platform``."""
        environ = {"BUILD_PLATFORM": self.build_platforms.get(platform, platform)}
        if any(_CUDA_CALL.search(line.split("#", 1)[0]) for line in recipe_text.splitlines()):
            environ["CF_CUDA_ENABLED"] = "True"
        if platform in self.os_versions:
            environ["DEFAULT_LINUX_VERSION"] = self.os_versions[platform]
        return environ

    def describe(self) -> str:
        pinning = str(self.pinning) if self.pinning else "no pinning"
        dropped = f", {len(self.expired)} expired migration(s) dropped" if self.expired else ""
        return f"planned as conda-smithy: {pinning}, {len(self.migrations)} migration(s){dropped}"


def find_root(recipe_path: Path) -> Path:
    """The feedstock directory: the first parent of the recipe holding conda-forge.yml."""
    # resolved first: ``recipe/`` given as ``.`` or ``meta.yaml`` has the feedstock above it too
    resolved = recipe_path.resolve()
    start = resolved if resolved.is_dir() else resolved.parent
    for candidate in (start, *start.parents):
        if (candidate / CONDA_FORGE_YML).is_file() or (candidate / ".ci_support").is_dir():
            return candidate
    raise RecipeError(
        f"{recipe_path}: not in a conda-forge feedstock (no {CONDA_FORGE_YML} or .ci_support above it)",
        hint="--conda-forge plans a feedstock checkout: pass its recipe/ directory",
    )


_SAFE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_BASE = getattr(yaml, "CBaseLoader", yaml.BaseLoader)


def _load_yaml(path: Path, loader: Any = _SAFE, hint: str | None = None) -> Any:
    return _load_yaml_text(_read_text(path, hint), path, loader, hint)


def _read_text(path: Path, hint: str | None = None) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise RecipeError(
            f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason})",
            hint=hint or "save the file as UTF-8",
        ) from None
    except OSError as exc:
        raise RecipeError(f"{path}: cannot read ({exc.strerror or exc})", hint=hint) from None


#: the hint of a problem in a migration file
MIGRATION_HINT = "the files in .ci_support/migrations are conda-smithy's: re-render the feedstock, or fix the file"


def _load_yaml_text(text: str, path: Path, loader: Any = _SAFE, hint: str | None = None) -> Any:
    try:
        return yaml.load(text, Loader=loader)  # noqa: S506 - safe loaders only
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise RecipeError(
            f"{path}{where}: invalid YAML: {getattr(exc, 'problem', None) or exc}",
            hint=hint or "fix the YAML syntax at that line",
        ) from None


def _platform_map(
    value: Any, path: Path, key: str, *, values: str, os_keys: bool = False, platform_values: bool = False
) -> dict[str, str]:
    """conda-forge.yml's ``key``: a mapping of platform -> ``values`` (text; a null entry is left out).

    ``os_keys``: ``linux``/``osx``/``win`` may be keys too (conda-smithy's ``provider``);
    ``platform_values``: each value is a platform too (``build_platform``)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RecipeError(
            f"{path}: {key} must be a mapping of platform: {values}, not {_kind(value)}", hint=CONDA_FORGE_YML_HINT
        )
    mapping: dict[str, str] = {}
    for name, entry in value.items():
        platform = str(name) if os_keys and name in _PROVIDER_OS_KEYS else _checked_platform(name, path, key)
        if entry is None:
            continue
        where = f"{key}: {name}"
        if platform_values:
            mapping[platform] = _checked_platform(entry, path, where)
        elif isinstance(entry, str) or (os_keys and isinstance(entry, bool)):
            mapping[platform] = _yaml_text(entry)
        elif os_keys and isinstance(entry, list) and entry and all(isinstance(e, str) for e in entry):
            mapping[platform] = ",".join(entry)  # several CI services for one platform
        else:
            raise RecipeError(f"{path}: {where} must be {values}, not {_kind(entry)}", hint=CONDA_FORGE_YML_HINT)
    return mapping


def _kind(value: Any) -> str:
    """How a YAML value reads in an error: ``5 (a number)``, ``a list``."""
    if isinstance(value, bool):
        return f"{_yaml_text(value)} (a boolean)"
    if isinstance(value, (int, float)):
        return f"{value} (a number)"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return repr(value)


def _yaml_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _noarch_platforms(value: Any, path: Path) -> tuple[str, ...]:
    """conda-forge.yml's ``noarch_platforms``: a platform or a list of them (default linux_64)."""
    if value is None or value == []:
        return ("linux-64",)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise RecipeError(
            f"{path}: noarch_platforms must be a platform or a list of platforms, not {_kind(value)}",
            hint=CONDA_FORGE_YML_HINT,
        )
    return tuple(dict.fromkeys(_checked_platform(p, path, "noarch_platforms") for p in value))


def _migration_identity(path: Path, text: str | None = None) -> tuple[str | None, str, bool]:
    """(migrator_ts, migration_number, use_local) as conda-smithy reads them (all as text)."""
    data = (
        _load_yaml(path, _BASE, MIGRATION_HINT) if text is None else _load_yaml_text(text, path, _BASE, MIGRATION_HINT)
    ) or {}
    migrator = data.get("__migrator") or {} if isinstance(data, dict) else {}
    ts = data.get("migrator_ts") if isinstance(data, dict) else None
    number = str(migrator.get("migration_number", "1")) if isinstance(migrator, dict) else "1"
    use_local = isinstance(migrator, dict) and str(migrator.get("use_local", "false")).lower() == "true"
    return (None if ts is None else str(ts)), number, use_local


def pinning_migrations_dir(pinning: Path) -> Path | None:
    for candidate in (pinning.parent / "share" / "conda-forge" / "migrations", pinning.parent / "migrations"):
        if candidate.is_dir():
            return candidate
    return None


def choose_migrations(local_dir: Path, pinning: Path | None) -> tuple[list[Path], list[Path]]:
    """(migrations to apply, expired ones), as conda-smithy's ``set_migration_fns`` chooses them."""
    local = sorted(local_dir.glob("*.yaml")) if local_dir.is_dir() else []
    upstream_dir = pinning_migrations_dir(pinning) if pinning is not None else None
    if upstream_dir is None or not local:
        return local, []
    identities = {path: _migration_identity(path) for path in local}
    wanted = {ts for ts, _, use_local in identities.values() if ts is not None and not use_local}
    upstream: dict[str, tuple[Path, str]] = {}
    for path in sorted(upstream_dir.glob("*.yaml")) if wanted else []:
        text = _read_text(path, MIGRATION_HINT)
        if not any(ts in text for ts in wanted):
            # its migrator_ts, read as text, can be none of the feedstock's: no need to parse it
            # (an installed pinning holds dozens of migrations; the feedstock names a few)
            continue
        ts, number, _ = _migration_identity(path, text)
        if ts is not None:
            upstream[ts] = (path, number)
    chosen: list[Path] = []
    expired: list[Path] = []
    for path in local:
        ts, number, use_local = identities[path]
        if use_local or ts is None:
            chosen.append(path)
        elif ts in upstream:
            pinned, pinned_number = upstream[ts]
            chosen.append(pinned if pinned_number == number else path)
        else:
            expired.append(path)
    return chosen, expired


def read_feedstock(recipe_path: Path, *, pinning: Path | None) -> Feedstock:
    root = find_root(recipe_path)
    config_path = root / CONDA_FORGE_YML
    config: dict[str, Any] = {}
    if config_path.is_file():
        loaded = _load_yaml(config_path, hint=CONDA_FORGE_YML_HINT)
        if loaded is not None and not isinstance(loaded, dict):
            raise RecipeError(
                f"{config_path}: must be a mapping of settings, not {_kind(loaded)}", hint=CONDA_FORGE_YML_HINT
            )
        config = loaded or {}
    build_platforms = _platform_map(
        config.get("build_platform"),
        config_path,
        "build_platform",
        values="the platform it builds on",
        platform_values=True,
    )
    providers = _platform_map(
        config.get("provider"), config_path, "provider", values="a CI service (or a list of them)", os_keys=True
    )
    os_versions = _platform_map(
        config.get("os_version"), config_path, "os_version", values="an OS version (cos7, alma9 ...)"
    )
    platforms = list(DEFAULT_PLATFORMS)
    for name in (*providers, *build_platforms):
        if name not in platforms and "-" in name:
            platforms.append(name)
    noarch = _noarch_platforms(config.get("noarch_platforms"), config_path)
    if pinning is not None and not pinning.is_file():
        what = "is a directory" if pinning.is_dir() else "does not exist"
        raise UsageError(f"--pinning {pinning}: {what}", hint="pass conda-forge-pinning's conda_build_config.yaml")
    migrations, expired = choose_migrations(root / ".ci_support" / "migrations", pinning)
    return Feedstock(
        root=root,
        platforms=tuple(platforms),
        noarch_platforms=noarch,
        build_platforms=build_platforms,
        os_versions=os_versions,
        pinning=pinning,
        migrations=tuple(migrations),
        expired=tuple(expired),
    )
