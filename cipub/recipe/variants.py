"""Variant configuration: ``conda_build_config.yaml`` / ``variants.yaml`` files, merged and expanded.

The rules follow conda-build and rattler-build:

* Files are read for one target platform. A file named ``conda_build_config.yaml`` (and, for meta.yaml
  recipes, every file: conda-build reads them all that way) has ``# [selector]`` lines; other files
  are rattler-build ``variants.yaml`` files, whose list items may be ``if:/then:/else:`` mappings.
  So a ``-m`` file is read as its recipe's builder reads it: for a meta.yaml recipe with selectors
  whatever its name (conda-build), for a recipe.yaml by its name (rattler-build: selectors only in a
  file named ``conda_build_config.yaml``). The pinning (``--pinning``) is conda-forge-pinning's
  ``conda_build_config.yaml`` whatever it is called here: always read with selectors.
* Later files win key by key (the whole list of a key is replaced, ``zip_keys`` too);
  ``--variant KEY=V1,V2`` overrides win over every file.
* conda-smithy migration files (a ``__migrator`` mapping) may be given as variant files too: a
  ``key_add`` migration adds values to its primary key and that key's zip group (``additional_zip_keys``
  joins keys to the group), other migrations replace the lists of the keys they name. They are applied
  after all plain files, ordered by ``migrator_ts``, as conda-smithy does.
* ``zip_keys`` groups advance together; lengths must match within a group.
* Only the keys a recipe uses split the matrix (see :mod:`cipub.recipe.usage`).

Every problem is a RecipeError (exit 3) naming the file and the line.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cipub.core.errors import RecipeError
from cipub.recipe.selectors import SelectedText, SelectorError, evaluate, select_lines, selector_namespace
from cipub.recipe.v0 import _FastStringNumberLoader

#: keys that configure conda-build rather than name variant values
SPECIAL_KEYS = frozenset(
    {"zip_keys", "pin_run_as_build", "extend_keys", "ignore_version", "ignore_build_only_deps", "__migrator"}
)
MIGRATION_KEYS = frozenset({"__migrator", "migrator_ts"})
CBC_NAME = "conda_build_config.yaml"
#: the hint of a variant file that is not YAML
YAML_HINT = "fix the YAML syntax at that line of the variant file"


def value_text(value: Any) -> str:
    """A variant value as the string conda-build compares (YAML spelling for booleans)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "None"
    return str(value)


@dataclass
class VariantConfig:
    """Variant values per key (strings, in order), zip groups, and where each came from."""

    values: dict[str, list[str]] = field(default_factory=dict)
    zip_keys: list[list[str]] = field(default_factory=list)
    #: key -> "FILE:LINE" of the definition that won (for error messages)
    origins: dict[str, str] = field(default_factory=dict)
    zip_origin: str = ""

    def copy(self) -> VariantConfig:
        return VariantConfig(
            {k: list(v) for k, v in self.values.items()},
            [list(g) for g in self.zip_keys],
            dict(self.origins),
            self.zip_origin,
        )

    def update(self, other: VariantConfig) -> None:
        """Later wins key by key (conda-build's ``combine_specs``)."""
        for key, values in other.values.items():
            self.values[key] = list(values)
            self.origins[key] = other.origins.get(key, "")
        if other.zip_keys or other.zip_origin:
            self.zip_keys = [list(g) for g in other.zip_keys]
            self.zip_origin = other.zip_origin

    def group_of(self, key: str) -> list[str] | None:
        for group in self.zip_keys:
            if key in group:
                return group
        return None


@dataclass(frozen=True)
class Migration:
    """A conda-smithy migration file given as a variant file."""

    path: Path
    timestamp: float
    operation: str | None
    primary_key: str | None
    additional_zip_keys: tuple[str, ...]
    config: VariantConfig


def _keeping(base: type[yaml.SafeLoader], dropped: tuple[str, ...]) -> dict[Any, Any]:
    return {
        first: [(tag, regexp) for tag, regexp in resolvers if tag not in dropped]
        for first, resolvers in base.yaml_implicit_resolvers.items()
    }


class _CbcLoader(yaml.SafeLoader):
    """conda_build_config.yaml as conda-build reads it (``BaseLoader``): every value is the text
    written, ``yes``/``no``/``True`` included; only an empty value (null) is told apart."""


class _FastCbcLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The same, parsed by libyaml when PyYAML has it."""


_CbcLoader.yaml_implicit_resolvers = _keeping(
    yaml.SafeLoader, ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:bool")
)
_FastCbcLoader.yaml_implicit_resolvers = _CbcLoader.yaml_implicit_resolvers


def is_cbc_format(path: Path, recipe_format: str, *, pinning: bool = False) -> bool:
    """conda-build reads every file with selectors; rattler-build only files named conda_build_config.yaml.
    The pinning is conda-forge-pinning's conda_build_config.yaml, whatever its name here."""
    return pinning or recipe_format == "v0" or path.name == CBC_NAME


_MIGRATOR_LINE = re.compile(r"^__migrator\s*:", re.MULTILINE)


def is_migration_text(text: str) -> bool:
    """A conda-smithy migration file (a top-level ``__migrator:``): conda-smithy reads it with
    conda-build's selectors for every recipe format, so a ``# [aarch64]`` on its
    ``additional_zip_keys`` holds for a v1 recipe too."""
    return _MIGRATOR_LINE.search(text) is not None


def _where(path: Path, selected: SelectedText, node: yaml.Node) -> str:
    return f"{path}:{selected.source_line(node.start_mark.line + 1)}"


def _construct(node: yaml.Node, path: Path, selected: SelectedText) -> Any:
    """The Python value of a node (safe constructors only; ``!!python/...`` tags are refused).

    The node's tag was resolved by the loader that composed it: a conda_build_config.yaml keeps
    ``yes`` as written, a variants.yaml reads it as YAML does."""
    try:
        from cipub.recipe.v0 import _StringNumberLoader  # v0 brings jinja2: only when a file is read

        return _StringNumberLoader("").construct_object(node, deep=True)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise RecipeError(f"{_where(path, selected, node)}: {problem}", hint=YAML_HINT) from None


_STR_TAG = "tag:yaml.org,2002:str"


def _scalar(node: yaml.Node, path: Path, selected: SelectedText) -> str:
    if not isinstance(node, yaml.ScalarNode):
        raise RecipeError(f"{_where(path, selected, node)}: expected a single value, found a {type(node).__name__}")
    if node.tag == _STR_TAG:
        return str(node.value)  # the common case, without a constructor per value
    return value_text(_construct(node, path, selected))


def _conditional_items(
    node: yaml.MappingNode, path: Path, selected: SelectedText, namespace: Mapping[str, Any]
) -> list[yaml.Node]:
    """A rattler-build ``- if: COND / then: X / else: Y`` list item -> the chosen nodes."""
    parts = {_scalar(k, path, selected): v for k, v in node.value}
    if "if" not in parts or "then" not in parts or set(parts) - {"if", "then", "else"}:
        raise RecipeError(f"{_where(path, selected, node)}: a list item mapping must be if:/then:/else:")
    condition = _scalar(parts["if"], path, selected)
    try:
        chosen = parts["then"] if evaluate(condition, namespace) else parts.get("else")
    except SelectorError as exc:
        raise RecipeError(f"{_where(path, selected, parts['if'])}: condition [{condition}]: {exc}") from None
    if chosen is None:
        return []
    if isinstance(chosen, yaml.SequenceNode):
        return list(chosen.value)
    return [chosen]


def _values(
    node: yaml.Node, path: Path, selected: SelectedText, namespace: Mapping[str, Any], key: str
) -> list[str] | None:
    if isinstance(node, yaml.ScalarNode):
        if node.tag == "tag:yaml.org,2002:null":
            return None  # every entry was removed by selectors: the key is not set here
        return [_scalar(node, path, selected)]
    if isinstance(node, yaml.SequenceNode):
        values: list[str] = []
        pending = list(node.value)
        while pending:
            item = pending.pop(0)
            if isinstance(item, yaml.MappingNode):
                pending[0:0] = _conditional_items(item, path, selected, namespace)
                continue
            if isinstance(item, yaml.SequenceNode):
                raise RecipeError(f"{_where(path, selected, item)}: '{key}': a value cannot be a list")
            values.append(_scalar(item, path, selected))
        return values
    raise RecipeError(f"{_where(path, selected, node)}: '{key}' must be a list of values, not a mapping")


def _zip_groups(node: yaml.Node, path: Path, selected: SelectedText) -> list[list[str]]:
    where = _where(path, selected, node)
    if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
        return []
    if not isinstance(node, yaml.SequenceNode):
        raise RecipeError(f"{where}: zip_keys must be a list of lists of keys")
    items = node.value
    if items and all(isinstance(i, yaml.ScalarNode) for i in items):
        items = [node]  # a flat list is one group
    groups: list[list[str]] = []
    seen: dict[str, str] = {}
    for group_node in items:
        if not isinstance(group_node, yaml.SequenceNode):
            raise RecipeError(f"{_where(path, selected, group_node)}: each zip_keys entry must be a list of keys")
        group = [_scalar(k, path, selected) for k in group_node.value]
        if not group:
            continue  # every key of the group was removed by selectors
        for key in group:
            if key in seen:
                raise RecipeError(
                    f"{_where(path, selected, group_node)}: zip_keys: '{key}' is in two groups (also at {seen[key]})"
                )
            seen[key] = _where(path, selected, group_node)
        if len(group) > 1:
            groups.append(group)
    return groups


@dataclass(frozen=True)
class ParsedFile:
    config: VariantConfig
    migration: Migration | None


def parse_variant_text(
    text: str,
    path: Path,
    target_platform: str,
    *,
    cbc_format: bool = True,
    environ: Mapping[str, str] | None = None,
    later_duplicates_win: bool = False,
) -> ParsedFile:
    """Parse one variant file's text for ``target_platform``. RecipeError with ``FILE:LINE`` on problems.

    A key given twice is an error, unless ``later_duplicates_win`` (conda-build's YAML reading,
    for a pinning file cipub does not own)."""
    namespace = selector_namespace(target_platform, environ=environ)
    if cbc_format:
        # a migration file is conda-smithy's, read by conda-build's selectors, where an unknown name
        # is False (its commit_message quotes recipe selectors naming variant keys)
        selected = select_lines(text, namespace, source=path, unknown_is_false=is_migration_text(text))
    else:
        lines = text.splitlines()
        selected = SelectedText(text, tuple(range(1, len(lines) + 1)))
    try:
        root = yaml.compose(selected.text, Loader=_FastCbcLoader if cbc_format else _FastStringNumberLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{selected.source_line(mark.line + 1)}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise RecipeError(f"{where}: invalid YAML in variant file: {problem}", hint=YAML_HINT) from None
    config = VariantConfig()
    if root is None or (isinstance(root, yaml.ScalarNode) and root.tag == "tag:yaml.org,2002:null"):
        return ParsedFile(config, None)
    if not isinstance(root, yaml.MappingNode):
        raise RecipeError(f"{path}:1: a variant file must be a mapping of KEY: [values]")
    migrator: dict[str, Any] | None = None
    timestamp = 0.0
    seen: dict[str, str] = {}
    for key_node, value_node in root.value:
        key = _scalar(key_node, path, selected)
        where = _where(path, selected, key_node)
        if key in seen and not later_duplicates_win:
            raise RecipeError(f"{where}: duplicate key '{key}' (first at {seen[key]})")
        seen[key] = where
        if key == "zip_keys":
            config.zip_keys = _zip_groups(value_node, path, selected)
            config.zip_origin = where
        elif key == "__migrator":
            loaded = _construct(value_node, path, selected)
            if not isinstance(loaded, dict):
                raise RecipeError(f"{where}: __migrator must be a mapping")
            migrator = loaded
        elif key == "migrator_ts":
            try:
                timestamp = float(_scalar(value_node, path, selected))
            except ValueError:
                raise RecipeError(f"{where}: migrator_ts must be a number") from None
        elif key in SPECIAL_KEYS or isinstance(value_node, yaml.MappingNode):
            continue  # pin_run_as_build and friends configure conda-build, they are not variants
        else:
            if not key.replace("-", "_").replace(".", "_").isidentifier():
                raise RecipeError(f"{where}: '{key}' is not a valid variant key")
            values = _values(value_node, path, selected, namespace, key)
            if values is None:
                continue
            if not values:
                raise RecipeError(f"{where}: '{key}' has no values for {target_platform}")
            config.values[key] = values
            config.origins[key] = where
    migration = None
    if migrator is not None:
        additional = migrator.get("additional_zip_keys") or []
        migration = Migration(
            path=path,
            timestamp=timestamp,
            operation=migrator.get("operation"),
            primary_key=migrator.get("primary_key"),
            additional_zip_keys=tuple(str(k) for k in additional),
            config=config,
        )
    return ParsedFile(config, migration)


def parse_variant_file(
    path: Path,
    target_platform: str,
    *,
    recipe_format: str = "v0",
    environ: Mapping[str, str] | None = None,
    pinning: bool = False,
) -> ParsedFile:
    """One variant file for ``target_platform``. Parsed once per process for the same file (size,
    mtime), platform and environment: a plan reads the pinning for every platform several times.

    ``pinning``: the file is the pinning (conda-forge-pinning's conda_build_config.yaml, whatever its
    name): read with selectors, and a key given twice takes its later value, as conda-build reads it."""
    try:
        stat = path.stat()
        seen_environ = os.environ if environ is None else environ
        key = (
            str(path.resolve()),
            stat.st_mtime_ns,
            stat.st_size,
            target_platform,
            is_cbc_format(path, recipe_format, pinning=pinning),
            frozenset(seen_environ.items()),
            pinning,
        )
    except FileNotFoundError:
        raise RecipeError(f"{path}: variant file does not exist") from None
    except OSError as exc:
        raise RecipeError(f"{path}: cannot read variant file ({exc})") from None
    cached = _PARSED.get(key)
    if cached is None:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise RecipeError(f"{path}: variant file does not exist") from None
        except UnicodeDecodeError as exc:
            raise RecipeError(
                f"{path}: variant file is not UTF-8 text (byte {exc.start}: {exc.reason})",
                hint="save the file as UTF-8",
            ) from None
        except OSError as exc:
            raise RecipeError(f"{path}: cannot read variant file ({exc})") from None
        cached = parse_variant_text(
            text,
            path,
            target_platform,
            cbc_format=is_cbc_format(path, recipe_format, pinning=pinning) or is_migration_text(text),
            environ=environ,
            later_duplicates_win=pinning,
        )
        if len(_PARSED) > 256:
            _PARSED.clear()
        _PARSED[key] = cached
    # callers may change what they get: hand out a copy
    config = cached.config.copy()
    migration = None
    if cached.migration is not None:
        migration = dataclasses.replace(cached.migration, config=config)
    return ParsedFile(config, migration)


_PARSED: dict[tuple[object, ...], ParsedFile] = {}


def _apply_key_add(config: VariantConfig, migration: Migration) -> None:
    """conda-smithy's ``key_add``: new primary-key values join, with their zip partners' values."""
    primary = migration.primary_key
    new = migration.config
    if not primary or primary not in new.values:
        return
    if primary not in config.values:
        raise RecipeError(f"{migration.path}: migration adds to '{primary}', which no variant file defines")
    group = config.group_of(primary)
    if group is None:
        group = [primary]
        config.zip_keys.append(group)
    length = len(config.values[primary])
    for key in migration.additional_zip_keys:
        if key in group:
            continue
        current = config.values.get(key)
        if current is None:
            raise RecipeError(f"{migration.path}: additional zip key '{key}' is not defined by any variant file")
        if len(current) == 1:
            current = current * length  # a single value joins the group by repetition
        if len(current) != length:
            raise RecipeError(
                f"{migration.path}: additional zip key '{key}' has {len(current)} values, '{primary}' has {length}"
            )
        config.values[key] = current
        group.append(key)
    members = [k for k in group if k in config.values]
    for index, value in enumerate(new.values[primary]):
        # conda-smithy compares the whole zip group: (12.9, tegra) joins beside (12.9, sbsa)
        added_row = [new.values[k][index] if index < len(new.values.get(k, ())) else None for k in members]
        if None not in added_row:
            existing = set(zip(*(config.values[k] for k in members), strict=False))
            if tuple(added_row) in existing:
                continue
        elif value in config.values[primary]:
            continue
        for key in members:
            if key == primary:
                config.values[key].append(value)
                continue
            added = new.values.get(key)
            if added is None or index >= len(added):
                raise RecipeError(
                    f"{migration.path}: adds {primary} {value!r} but gives no value for its zip partner '{key}'"
                )
            config.values[key].append(added[index])
    for key in members:
        config.origins[key] = f"{migration.path} (migration)"
    if len(group) < 2:
        config.zip_keys = [g for g in config.zip_keys if g is not group]


def apply_migration(config: VariantConfig, migration: Migration) -> None:
    if migration.operation == "key_add":
        _apply_key_add(config, migration)
        return
    # Version migrations: the migration's list takes the place of the key's list.
    for key, values in migration.config.values.items():
        config.values[key] = list(values)
        config.origins[key] = f"{migration.path} (migration)"


def load_variant_files(
    files: Sequence[Path],
    target_platform: str,
    *,
    recipe_format: str = "v0",
    environ: Mapping[str, str] | None = None,
    lenient: Iterable[Path] = (),
) -> VariantConfig:
    """Merge ``files`` (later wins), then apply migrations in ``migrator_ts`` order.

    The ``lenient`` files are the pinning: read as a conda_build_config.yaml whatever their name,
    and a key given twice takes its later value, as conda-build's YAML reading does (elsewhere an
    error)."""
    config = VariantConfig()
    migrations: list[Migration] = []
    lenient_files = {Path(p) for p in lenient}
    for path in files:
        parsed = parse_variant_file(
            path,
            target_platform,
            recipe_format=recipe_format,
            environ=environ,
            pinning=Path(path) in lenient_files,
        )
        if parsed.migration is not None:
            migrations.append(parsed.migration)
        else:
            config.update(parsed.config)
    for migration in sorted(migrations, key=lambda m: (m.timestamp, str(m.path))):
        apply_migration(config, migration)
    check_zip_lengths(config)
    return config


#: per key, the values (by their text) that are not text as rattler-build reads them: ``{"vc": {"14": 14}}``
Natives = dict[str, dict[str, Any]]


def typed_values(
    files: Sequence[Path],
    target_platform: str,
    *,
    recipe_format: str,
    environ: Mapping[str, str] | None = None,
    lenient: Iterable[Path] = (),
) -> Natives:
    """The values of :func:`load_variant_files` that rattler-build reads as ints or booleans.

    cipub reads variant values as text; rattler-build keeps their YAML type, and the type is part of
    the hash input its build string is made from. Each file is read by rattler-build itself (its
    variants.yaml and conda_build_config.yaml readers type differently: block-list numbers in a
    conda_build_config.yaml stay text), and a value counts only where rattler-build and cipub read
    the same list of the key and the same value. The last file that sets a key decides, as in the
    merge; a migration (conda-smithy's, text) leaves its keys text. A meta.yaml recipe: none
    (conda-build reads text).
    """
    if recipe_format != "v1":
        return {}
    from cipub.recipe.v1 import typed_file_values

    lenient_files = {Path(p) for p in lenient}
    natives: Natives = {}
    for path in files:
        parsed = parse_variant_file(
            Path(path),
            target_platform,
            recipe_format=recipe_format,
            environ=environ,
            pinning=Path(path) in lenient_files,
        )
        typed: dict[str, list[Any]] = {}
        if parsed.migration is None:
            cbc = Path(path) in lenient_files and Path(path).name != CBC_NAME
            typed = typed_file_values(Path(path), target_platform, as_cbc=cbc) or {}
        for key, texts in parsed.config.values.items():
            natives.pop(key, None)
            loaded = typed.get(key)
            if loaded is None or len(loaded) != len(texts):
                continue
            found = {text: value for text, value in zip(texts, loaded, strict=True) if _typed_as(text, value)}
            if found:
                natives[key] = found
    return natives


def _typed_as(text: str, value: Any) -> bool:
    """Is ``value`` (rattler-build's reading) an int or bool that cipub's ``text`` spells?"""
    if isinstance(value, bool):
        return text.strip().lower() == value_text(value)
    if isinstance(value, int):
        try:
            return int(text) == value
        except ValueError:
            return False
    return False  # text, or a float: a generated variants.yaml cannot give rattler-build a float


def parse_override(text: str) -> tuple[str, list[str]]:
    """``KEY=V1,V2`` -> (KEY, [V1, V2]); a bad spelling is the command line's fault: UsageError."""
    from cipub.core.errors import UsageError

    key, sep, raw = text.partition("=")
    key = key.strip()
    values = [v.strip() for v in raw.split(",")]
    if not sep or not key or not key.replace("-", "_").isidentifier() or not all(values):
        raise UsageError(
            f"--variant {text!r}: expected KEY=VALUE[,VALUE...]", hint="for example --variant python=3.11,3.12"
        )
    if any("=" in v for v in values):
        # ``flavor=c,other=z`` reads as two keys to a human, as key ``flavor`` with a value
        # ``other=z`` to a parser: refuse rather than build a package named after the mistake.
        raise UsageError(
            f"--variant {text!r}: a value contains '='; one key per --variant",
            hint="for example --variant python=3.11,3.12 --variant numpy=2",
        )
    return key, values


def parse_overrides(texts: Iterable[str]) -> dict[str, list[str]]:
    """Every ``--variant KEY=V1,V2`` of a command line (``build`` and ``plan`` alike); a key given
    twice is refused (which one was meant is a guess)."""
    from cipub.core.errors import UsageError

    overrides: dict[str, list[str]] = {}
    for text in texts:
        key, values = parse_override(text)
        if key in overrides:
            joined = ",".join([*overrides[key], *values])
            raise UsageError(f"--variant {key} is given twice", hint=f"list the values once: --variant {key}={joined}")
        overrides[key] = values
    return overrides


def apply_overrides(config: VariantConfig, overrides: Mapping[str, Sequence[str]]) -> None:
    """``--variant`` values win. A subset of a zipped key's values keeps the matching zip partners."""
    for key, raw_values in overrides.items():
        values = [str(v) for v in raw_values]
        group = config.group_of(key)
        current = config.values.get(key)
        if group is not None and current is not None and len(values) != len(current):
            if all(v in current for v in values):
                indices = [current.index(v) for v in values]
                for member in group:
                    if member in config.values and member != key:
                        config.values[member] = [config.values[member][i] for i in indices]
            else:
                partners = ", ".join(k for k in group if k != key)
                raise RecipeError(
                    f"--variant {key}: {key} is zipped with {partners} ({config.zip_origin}); "
                    f"give one value per entry of the group, or values the files already list",
                )
        config.values[key] = values
        config.origins[key] = "--variant"


def _check_group(config: VariantConfig, group: list[str]) -> None:
    present = [k for k in group if k in config.values]
    if len({len(config.values[k]) for k in present}) > 1:
        detail = ", ".join(f"{k} has {len(config.values[k])} ({config.origins.get(k, '?')})" for k in present)
        raise RecipeError(
            f"{config.zip_origin or 'zip_keys'}: zip_keys group [{', '.join(group)}] has unequal lengths: {detail}",
            hint="keys in one zip_keys group need the same number of values",
        )


def check_zip_lengths(config: VariantConfig) -> None:
    """Every zip group must have equal lengths (the keys a file leaves out do not count)."""
    for group in config.zip_keys:
        _check_group(config, group)


@dataclass(frozen=True)
class Combination:
    """One cell of the matrix: values of the used keys, plus the zip partners that go with them.

    Partners are not used by the recipe but must be pinned too: builders refuse to override one key
    of a zip group alone.
    """

    used: dict[str, str]
    partners: dict[str, str]

    @property
    def values(self) -> dict[str, str]:
        return {**self.partners, **self.used}


def expand(config: VariantConfig, used: Iterable[str]) -> list[Combination]:
    """Every combination of the ``used`` keys: zip groups advance together, the rest multiply.

    Keys not used multiply nothing; duplicate combinations are dropped; the order is stable (the
    order of the files' values).
    """
    used_keys = [k for k in sorted(set(used)) if k in config.values]
    touched = [g for g in config.zip_keys if any(k in used_keys for k in g)]
    for group in touched:
        _check_group(config, group)
    axes: list[list[Combination]] = []
    grouped: set[str] = set()
    for group in touched:
        members = [k for k in group if k in used_keys]
        others = [k for k in group if k in config.values and k not in used_keys]
        grouped.update(members)
        rows: list[Combination] = []
        seen_rows: set[frozenset[tuple[str, str]]] = set()
        for i in range(len(config.values[members[0]])):
            row = Combination({k: config.values[k][i] for k in members}, {k: config.values[k][i] for k in others})
            if frozenset(row.used.items()) not in seen_rows:
                seen_rows.add(frozenset(row.used.items()))
                rows.append(row)
        axes.append(rows)
    for key in used_keys:
        if key not in grouped:
            axes.append([Combination({key: v}, {}) for v in dict.fromkeys(config.values[key])])
    combos: list[Combination] = []
    seen: set[frozenset[tuple[str, str]]] = set()
    for parts in itertools.product(*axes):
        combo = Combination({}, {})
        for part in parts:
            combo.used.update(part.used)
            combo.partners.update(part.partners)
        if frozenset(combo.used.items()) not in seen:
            seen.add(frozenset(combo.used.items()))
            combos.append(combo)
    return combos
