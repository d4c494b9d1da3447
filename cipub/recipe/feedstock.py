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

Every problem is a RecipeError (exit 3) naming the file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cipub.core.errors import RecipeError

CONDA_FORGE_YML = "conda-forge.yml"
#: platforms conda-smithy renders for when conda-forge.yml names no others
DEFAULT_PLATFORMS = ("linux-64", "osx-64", "win-64")
_CUDA_CALL = re.compile(r"compiler\(\s*['\"]cuda['\"]\s*\)")


def _platform(name: str) -> str:
    """conda-forge.yml spells platforms ``linux_64``; cipub ``linux-64``."""
    return str(name).replace("_", "-", 1)


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
    start = recipe_path if recipe_path.is_dir() else recipe_path.parent
    for candidate in (start, *start.parents):
        if (candidate / CONDA_FORGE_YML).is_file() or (candidate / ".ci_support").is_dir():
            return candidate
    raise RecipeError(
        f"{recipe_path}: not in a conda-forge feedstock (no {CONDA_FORGE_YML} or .ci_support above it)",
        hint="--conda-forge plans a feedstock checkout: pass its recipe/ directory",
    )


_SAFE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_BASE = getattr(yaml, "CBaseLoader", yaml.BaseLoader)


def _load_yaml(path: Path, loader: Any = _SAFE) -> Any:
    return _load_yaml_text(_read_text(path), path, loader)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RecipeError(f"{path}: cannot read ({exc})") from None


def _load_yaml_text(text: str, path: Path, loader: Any = _SAFE) -> Any:
    try:
        return yaml.load(text, Loader=loader)  # noqa: S506 - safe loaders only
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise RecipeError(f"{path}{where}: invalid YAML: {getattr(exc, 'problem', exc)}") from None


def _platform_map(value: Any, path: Path, key: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RecipeError(f"{path}: '{key}' must be a mapping of platform: value")
    return {_platform(k): str(v) for k, v in value.items() if v is not None}


def _migration_identity(path: Path, text: str | None = None) -> tuple[str | None, str, bool]:
    """(migrator_ts, migration_number, use_local) as conda-smithy reads them (all as text)."""
    data = (_load_yaml(path, _BASE) if text is None else _load_yaml_text(text, path, _BASE)) or {}
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
        text = _read_text(path)
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
        loaded = _load_yaml(config_path)
        if loaded is not None and not isinstance(loaded, dict):
            raise RecipeError(f"{config_path}: must be a mapping")
        config = loaded or {}
    build_platforms = _platform_map(config.get("build_platform"), config_path, "build_platform")
    providers = _platform_map(config.get("provider"), config_path, "provider")
    os_versions = _platform_map(config.get("os_version"), config_path, "os_version")
    platforms = list(DEFAULT_PLATFORMS)
    for name in (*providers, *build_platforms):
        if name not in platforms and "-" in name:
            platforms.append(name)
    noarch = config.get("noarch_platforms") or ["linux_64"]
    if isinstance(noarch, str):
        noarch = [noarch]
    if pinning is not None and not pinning.is_file():
        raise RecipeError(f"{pinning}: the pinning file does not exist")
    migrations, expired = choose_migrations(root / ".ci_support" / "migrations", pinning)
    return Feedstock(
        root=root,
        platforms=tuple(platforms),
        noarch_platforms=tuple(_platform(p) for p in noarch),
        build_platforms=build_platforms,
        os_versions=os_versions,
        pinning=pinning,
        migrations=tuple(migrations),
        expired=tuple(expired),
    )
