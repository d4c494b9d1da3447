"""The build plan: one cell per variant and platform, stable ids, and build numbers decided once.

``cipub plan`` computes it; CI turns it into a job matrix (:mod:`cipub.ci.matrix` renders a plan; this
module knows nothing of CI); each job runs ``cipub build --plan plan.json --only ID`` for its cell,
reusing the plan's build numbers so every job of a pipeline builds with the same number.

How cells are found, per target platform:

* variant files: the recipe's own (``variants.yaml`` or ``conda_build_config.yaml`` next to a
  recipe.yaml, ``conda_build_config.yaml`` next to a meta.yaml), then each ``-m`` file (later wins),
  then migrations, then ``--variant`` overrides (see :mod:`cipub.recipe.variants`);
* keys the recipe uses: for recipe.yaml, what py-rattler-build's render reports for each output;
  for meta.yaml, conda-build's rule (see :mod:`cipub.recipe.usage`);
* cells: the zip-aware product of the used keys, minus the ones the recipe skips;
* noarch: when every cell is noarch, the recipe is built once, on ``noarch_platform``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from cipub.channels.base import Channel
from cipub.core.errors import RecipeError, UsageError
from cipub.core.manifest import BuildNumberDecision
from cipub.recipe import Recipe, load_recipe, usage, v1
from cipub.recipe.selectors import check_platform
from cipub.recipe.variants import (
    CBC_NAME,
    Combination,
    VariantConfig,
    apply_overrides,
    check_zip_lengths,
    expand,
    load_variant_files,
)

PLAN_SCHEMA = 1
#: ids longer than this are cut and given a hash suffix (CI job names and paths stay manageable)
MAX_ID_LENGTH = 64
#: GitHub-hosted runner labels per target platform, as GitHub's runner-images list them (late 2025);
#: the setting ``runners`` (``osx-64=LABEL``, env CIPUB_RUNNERS) overrides any of them
GITHUB_RUNNERS = {
    "linux-64": "ubuntu-latest",
    "linux-aarch64": "ubuntu-24.04-arm",
    # macos-13, the last free Intel label before, was retired on 2025-12-04; macos-15-intel is the
    # free Intel (x64) image now ("macos-latest" and "macos-15" are arm64)
    "osx-64": "macos-15-intel",
    "osx-arm64": "macos-latest",
    "win-64": "windows-latest",
    "win-arm64": "windows-11-arm",
}
NOARCH_ID = "noarch"


@dataclass(frozen=True)
class PlanCell:
    """One build job: ``cipub build --only ID`` builds exactly this."""

    id: str
    platform: str
    variant: dict[str, str]
    noarch: str | None
    runner: str
    #: package names this cell publishes; another cell publishes the other outputs it builds
    #: (a multi-output recipe whose outputs use different keys). Empty: everything it builds.
    outputs: tuple[str, ...] = ()


@dataclass
class Plan:
    recipe: str
    recipe_format: str
    platforms: list[str]
    noarch_platform: str
    cells: list[PlanCell]
    build_numbers: list[BuildNumberDecision] = field(default_factory=list)
    #: the target the build numbers were read from (None: planned without one)
    channel: str | None = None
    notes: list[str] = field(default_factory=list)
    #: dependency channels (``cipub plan -c``): the build jobs of this plan solve from them
    channels: list[str] = field(default_factory=list)

    @property
    def ids(self) -> list[str]:
        return [c.id for c in self.cells]

    def build_number_for(self, name: str, version: str) -> int | None:
        for decision in self.build_numbers:
            if (decision.name, decision.version) == (name, version):
                return decision.chosen
        return None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"schema": PLAN_SCHEMA}
        data.update(asdict(self))
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str, *, source: str = "plan") -> Plan:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{source}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
        if not isinstance(data, dict) or data.get("schema") != PLAN_SCHEMA:
            raise UsageError(
                f"{source}: not a cipub plan (schema {PLAN_SCHEMA})",
                hint="write one with `cipub plan RECIPE --format json --output plan.json`",
            )
        try:
            return cls(
                recipe=str(data["recipe"]),
                recipe_format=str(data["recipe_format"]),
                platforms=[str(p) for p in data["platforms"]],
                noarch_platform=str(data["noarch_platform"]),
                cells=[
                    PlanCell(
                        id=str(c["id"]),
                        platform=str(c["platform"]),
                        variant={str(k): str(v) for k, v in c["variant"].items()},
                        noarch=c.get("noarch"),
                        runner=str(c.get("runner", "")),
                        outputs=tuple(str(o) for o in c.get("outputs", ())),
                    )
                    for c in data["cells"]
                ],
                build_numbers=[BuildNumberDecision(**b) for b in data.get("build_numbers", [])],
                channel=data.get("channel"),
                notes=[str(n) for n in data.get("notes", [])],
                channels=[str(c) for c in data.get("channels", [])],
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise UsageError(f"{source}: malformed plan ({type(exc).__name__}: {exc})") from None


# -- cells -----------------------------------------------------------------------------------------


@dataclass
class _Cell:
    platform: str
    combo: Combination
    noarch: str | None
    #: the outputs this cell publishes (an output another cell builds too is published once)
    outputs: tuple[str, ...] = ()


def recipe_variant_file(recipe: Recipe) -> Path | None:
    """The variant file a builder reads next to the recipe on its own."""
    names = ("variants.yaml", CBC_NAME) if recipe.format == "v1" else (CBC_NAME,)
    for name in names:
        candidate = recipe.directory / name
        if candidate.is_file():
            return candidate
    return None


def variant_config_for(
    recipe: Recipe,
    platform: str,
    variant_configs: Sequence[Path],
    overrides: Mapping[str, Sequence[str]],
    *,
    environ: Mapping[str, str] | None = None,
) -> VariantConfig:
    """The merged variant configuration a build of ``recipe`` for ``platform`` sees."""
    files = [f for f in (recipe_variant_file(recipe),) if f is not None] + [Path(p) for p in variant_configs]
    config = load_variant_files(files, platform, recipe_format=recipe.format, environ=environ)
    apply_overrides(config, overrides)
    check_zip_lengths(config)
    return config


def _noarch_kind(kinds: Sequence[str | None]) -> str | None:
    if not kinds or any(k is None for k in kinds):
        return None
    return "python" if "python" in kinds else "generic"


@dataclass(frozen=True)
class _Output:
    """One rendered output variant: its name, the variant values it uses, its noarch kind."""

    name: str
    values: dict[str, str]
    noarch: str | None

    @property
    def identity(self) -> tuple[str, frozenset[tuple[str, str]]]:
        return self.name, frozenset(self.values.items())


def _cells_from_outputs(platform: str, config: VariantConfig, outputs: list[_Output]) -> list[_Cell]:
    """The zip-aware product of every used key, each output variant published by exactly one cell.

    An output that uses fewer keys than another is built in several cells (overrides cannot leave
    an output out); the first cell that builds it publishes it. A cell that would publish nothing
    new is dropped.
    """
    used = set().union(*(set(o.values) for o in outputs))
    cells: list[_Cell] = []
    claimed: set[tuple[str, frozenset[tuple[str, str]]]] = set()
    for combo in expand(config, used):
        matching = [o for o in outputs if all(combo.used.get(k) == v for k, v in o.values.items())]
        fresh = [o for o in matching if o.identity not in claimed]
        if not fresh:
            continue
        claimed.update(o.identity for o in fresh)
        names = tuple(dict.fromkeys(o.name for o in fresh))
        cells.append(_Cell(platform, combo, _noarch_kind([o.noarch for o in matching]), names))
    return cells


def _v1_cells(recipe: Recipe, platform: str, config: VariantConfig) -> list[_Cell]:
    stage0 = v1.parse_stage0(recipe.path)
    try:
        rendered = v1.render_outputs(stage0, platform, config.values, config.zip_keys or None)
    except Exception as exc:  # py-rattler-build's own error types
        raise v1.recipe_error(recipe.path, exc, f"cannot render for {platform}") from None
    outputs: list[_Output] = []
    for variant in rendered:
        if v1.single_output_skipped(stage0, variant.variant, platform):
            continue
        values = {str(k): str(v) for k, v in variant.variant.items() if k != "target_platform"}
        noarch = variant.recipe.build.noarch
        kind = str(noarch) if noarch in ("python", "generic") else None
        output = _Output(str(variant.recipe.package.name), values, kind)
        if output not in outputs:
            outputs.append(output)
    if not outputs:
        return []
    cells = _cells_from_outputs(platform, config, outputs)
    if not cells:
        # py-rattler-build spelled a value differently from the files: trust what it rendered
        for output in outputs:
            cells.append(_Cell(platform, Combination(dict(output.values), {}), output.noarch, (output.name,)))
    return cells


def _v0_cells(recipe: Recipe, platform: str, config: VariantConfig, environ: Mapping[str, str] | None) -> list[_Cell]:
    known = set(config.values)
    first = {k: v[0] for k, v in config.values.items()}
    static = usage.static_keys(recipe.path, known)
    # Bare requirement names only show after rendering ({{ mpi }} -> mpich): render every
    # combination of the keys that can change the text, and collect them.
    required: set[str] = set()
    for combo in expand(config, static):
        rendered = usage.render_variant(recipe.path, platform, {**first, **combo.values}, known, environ=environ)
        if not rendered.skipped:
            required |= rendered.requirement_keys
    cells: list[_Cell] = []
    published_noarch: set[str] = set()
    for combo in expand(config, static | required):
        rendered = usage.render_variant(recipe.path, platform, {**first, **combo.values}, known, environ=environ)
        if rendered.skipped:
            continue
        # conda-build cannot say which keys each output uses: a noarch output among compiled ones
        # is published by the first cell that builds it, every other output by each cell.
        mixed = any(k is None for k in rendered.noarch)
        names = tuple(
            name
            for name, kind in zip(rendered.names, rendered.noarch, strict=True)
            if not (mixed and kind and name in published_noarch)
        )
        published_noarch.update(n for n, k in zip(rendered.names, rendered.noarch, strict=True) if k)
        cells.append(_Cell(platform, combo, _noarch_kind(rendered.noarch), names))
    return cells


def _drop_python_for_noarch(cells: list[_Cell], config_groups: list[list[str]]) -> list[_Cell]:
    """A noarch: python package is the same for every python: python (and its zip partners) collapse."""
    collapsed: list[_Cell] = []
    drop = {"python"}
    for group in config_groups:
        if "python" in group:
            drop.update(group)
    for cell in cells:
        kept = cell
        if cell.noarch == "python":
            combo = Combination(
                {k: v for k, v in cell.combo.used.items() if k not in drop},
                {k: v for k, v in cell.combo.partners.items() if k not in drop},
            )
            kept = _Cell(cell.platform, combo, cell.noarch, cell.outputs)
        if all(c.combo.used != kept.combo.used or c.platform != kept.platform for c in collapsed):
            collapsed.append(kept)
    return collapsed


def cells_for_platform(
    recipe: Recipe,
    platform: str,
    variant_configs: Sequence[Path],
    overrides: Mapping[str, Sequence[str]],
    *,
    environ: Mapping[str, str] | None = None,
) -> list[_Cell]:
    config = variant_config_for(recipe, platform, variant_configs, overrides, environ=environ)
    if recipe.format == "v1":
        cells = _v1_cells(recipe, platform, config)
    else:
        cells = _v0_cells(recipe, platform, config, environ)
    return _drop_python_for_noarch(cells, config.zip_keys)


# -- ids -------------------------------------------------------------------------------------------


def _id_value(value: str) -> str:
    """``3.10.* *_cpython`` -> ``3.10_cpython``: readable, safe in job names and file names."""
    text = re.sub(r"[^A-Za-z0-9.]+", "_", value.replace("*", ""))
    text = re.sub(r"\._|_\.", "_", text).strip("._")
    return text or "_"


def _digest(platform: str, variant: Mapping[str, str]) -> str:
    canonical = json.dumps([platform, sorted(variant.items())], separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:8]


def assign_ids(prefix: str, cells: Sequence[_Cell]) -> list[str]:
    """Stable ids: the prefix plus each key whose value varies among these cells, sorted by key.

    Keys kept only by convention (``channel_sources``) are left out, as conda-smithy does.
    """
    keys = {k for c in cells for k in c.combo.used} - set(usage.ALWAYS_KEPT)
    varying = sorted(k for k in keys if len({c.combo.used.get(k) for c in cells}) > 1)
    ids: list[str] = []
    for cell in cells:
        parts = [prefix] + [f"{k}{_id_value(cell.combo.used[k])}" for k in varying if k in cell.combo.used]
        ident = "-".join(parts)
        if len(ident) > MAX_ID_LENGTH:
            ident = f"{ident[: MAX_ID_LENGTH - 10].rstrip('-_.')}-h{_digest(cell.platform, cell.combo.used)}"
        ids.append(ident)
    # values that read the same after cleaning (3.10 vs 3.10.*) get told apart by a hash
    for i, ident in enumerate(ids):
        if ids.count(ident) > 1:
            ids[i] = f"{ident}-h{_digest(cells[i].platform, cells[i].combo.used)}"
    return ids


# -- the plan --------------------------------------------------------------------------------------


def make_plan(
    recipe: Recipe,
    *,
    variant_configs: Sequence[Path],
    overrides: Mapping[str, Sequence[str]],
    platforms: Sequence[str],
    noarch_platform: str = "linux-64",
    channel: Channel | None,
    environ: Mapping[str, str] | None = None,
) -> Plan:
    """Plan ``recipe`` for ``platforms`` (default: the recipe's target platform).

    ``channel`` (already opened) is asked once for the build numbers of every (name, version);
    ``environ`` is what ``os.environ.get`` in selectors sees (default: this process's environment).
    """
    wanted = list(dict.fromkeys(check_platform(p, source="--platform") for p in platforms)) or [recipe.target_platform]
    noarch_platform = check_platform(noarch_platform, source="noarch_platform")
    per_platform = {p: cells_for_platform(recipe, p, variant_configs, overrides, environ=environ) for p in wanted}
    noarch_everywhere = [p for p, cells in per_platform.items() if cells and all(c.noarch for c in cells)]
    plan_cells: list[PlanCell] = []
    if noarch_everywhere:
        home = noarch_platform
        if home not in per_platform:
            per_platform[home] = cells_for_platform(recipe, home, variant_configs, overrides, environ=environ)
        if not per_platform[home] or not all(c.noarch for c in per_platform[home]):
            home = noarch_everywhere[0]  # not noarch on the configured platform: build where it is
        noarch_cells = per_platform[home]
        for ident, cell in zip(assign_ids(NOARCH_ID, noarch_cells), noarch_cells, strict=True):
            plan_cells.append(_plan_cell(ident, home, cell))
    for platform in wanted:
        if platform in noarch_everywhere:
            continue
        cells = per_platform[platform]
        for ident, cell in zip(assign_ids(platform, cells), cells, strict=True):
            plan_cells.append(_plan_cell(ident, platform, cell))
    if not plan_cells:
        raise RecipeError(
            f"{recipe.path}: nothing to build for {', '.join(wanted)}: every variant is skipped",
            hint="check build: skip in the recipe and the platforms asked for",
        )
    plan = Plan(
        recipe=_display_path(recipe.path),
        recipe_format=recipe.format,
        platforms=wanted,
        noarch_platform=noarch_platform,
        cells=plan_cells,
        channel=channel.display if channel is not None else None,
    )
    plan.build_numbers = _decide_build_numbers(recipe, sorted({c.platform for c in plan_cells}), channel)
    return plan


def _plan_cell(ident: str, platform: str, cell: _Cell) -> PlanCell:
    return PlanCell(
        id=ident,
        platform=platform,
        variant=dict(cell.combo.values),
        noarch=cell.noarch,
        runner=GITHUB_RUNNERS.get(platform, "ubuntu-latest"),
        outputs=cell.outputs,
    )


def parse_runners(items: Sequence[str]) -> dict[str, str]:
    """``PLATFORM=LABEL`` items (the setting ``runners``) as a mapping, each platform checked."""
    runners: dict[str, str] = {}
    for item in items:
        platform, sep, label = item.partition("=")
        if not sep or not platform.strip() or not label.strip():
            raise UsageError(f"runners: {item!r} is not PLATFORM=LABEL", hint="e.g. osx-64=macos-15-large")
        runners[check_platform(platform.strip(), source="runners")] = label.strip()
    return runners


def with_runners(plan: Plan, runners: Mapping[str, str]) -> Plan:
    """``plan`` with the runner of each overridden platform's cells replaced."""
    if runners:
        plan.cells = [replace(c, runner=runners.get(c.platform, c.runner)) for c in plan.cells]
    return plan


def _display_path(path: Path) -> str:
    """Relative to the working directory when possible: a plan travels between CI machines."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _decide_build_numbers(
    recipe: Recipe, platforms: Sequence[str], channel: Channel | None
) -> list[BuildNumberDecision]:
    from cipub.policy.buildnumber import decide

    numbers: dict[tuple[str, str], int] = {}
    outputs = list(recipe.outputs)
    for platform in platforms:
        try:
            outputs += load_recipe(recipe.path, target_platform=platform).outputs
        except RecipeError:
            continue  # nothing to read for this platform without its variant: the others say enough
    for output in outputs:
        key = (output.name, output.version)
        numbers[key] = max(numbers.get(key, 0), output.build_number)
    return [decide(channel, name, version, number) for (name, version), number in numbers.items()]


def select_cell(plan: Plan, only: str) -> PlanCell:
    """The cell called ``only``; UsageError listing the valid ids otherwise."""
    for cell in plan.cells:
        if cell.id == only:
            return cell
    raise UsageError(
        f"--only {only!r}: no such cell in the plan for {plan.recipe}",
        hint="valid ids: " + ", ".join(plan.ids),
    )
