"""The build plan: one cell per variant and platform, stable ids, and build numbers decided once.

``cipub plan`` computes it; CI turns it into a job matrix (:mod:`cipub.ci.matrix` renders a plan; this
module knows nothing of CI); each job runs ``cipub build --plan plan.json --only ID`` for its cell,
or for its job (``ID`` a job id of ``Plan.jobs``: every cell of that job in one engine run, with the
values ``Plan.job_variants`` names), reusing the plan's build numbers so every job of a pipeline
builds with the same number.

How cells are found, per target platform:

* variant files, lowest priority first (conda-build's stacking, ``find_config_files``): the
  pinning (``--pinning``, conda-build's ``-e``), the recipe's own (``variants.yaml`` or
  ``conda_build_config.yaml`` next to a recipe.yaml, ``conda_build_config.yaml`` next to a
  meta.yaml), then each ``-m`` file (later wins), then migrations, then ``--variant`` overrides
  (see :mod:`cipub.recipe.variants`);
* keys the recipe uses: for recipe.yaml, what py-rattler-build's render reports for each output;
  for meta.yaml, conda-build's rule (see :mod:`cipub.recipe.usage`);
* cells: the zip-aware product of the used keys, minus the ones the recipe skips;
* noarch: when every cell is noarch, the recipe is built once, on ``noarch_platform`` (once per
  platform of ``noarch_platforms`` when given: conda-forge.yml's, for ``noarch: python`` packages
  whose dependencies differ between ``__unix`` and ``__win``).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cipub.core.decisions import BuildNumberDecision
from cipub.core.errors import RecipeError, UsageError
from cipub.recipe import Recipe, RecipeOutput, load_recipe, own_variant_file, stacked_variant_files, usage, v1
from cipub.recipe.selectors import check_platform
from cipub.recipe.v0 import default_compilers

if TYPE_CHECKING:
    from cipub.channels.base import Channel

from cipub.recipe.variants import (
    Combination,
    Natives,
    VariantConfig,
    apply_overrides,
    check_zip_lengths,
    expand,
    load_variant_files,
    typed_values,
    value_text,
)

PLAN_SCHEMA = 1
#: ids longer than this are cut and given a hash suffix (CI job names and paths stay manageable)
MAX_ID_LENGTH = 64


@dataclass(frozen=True)
class HostedRunner:
    """Where a platform's build jobs run by default, on each CI provider cipub writes for."""

    #: GitHub Actions ``runs-on`` label (GitHub-hosted, as GitHub's runner-images list them, late 2025)
    github: str
    #: GitLab ``tags:`` (GitLab.com's hosted runners); () runs on any runner: GitLab.com gives an
    #: untagged job its small Linux x86-64 runner, a self-managed instance its untagged runners.
    #: None: GitLab.com has no runner for it, the setting ``gitlab-tags`` must name one
    gitlab: tuple[str, ...] | None


#: The one table of default runners, by the platform a job runs on (its build platform: the target
#: platform unless conda-forge.yml's ``build_platform`` cross-compiles it on another). The settings
#: ``runners`` (GitHub, ``osx-64=LABEL``) and ``gitlab-tags`` (GitLab, ``osx-64=TAG``) override it.
HOSTED_RUNNERS: Mapping[str, HostedRunner] = {
    "linux-64": HostedRunner("ubuntu-latest", ()),
    "linux-aarch64": HostedRunner("ubuntu-24.04-arm", ("saas-linux-small-arm64",)),
    # macos-13, the last free Intel label before, was retired on 2025-12-04; macos-15-intel is the
    # free Intel (x64) image now ("macos-latest" and "macos-15" are arm64). GitLab.com has no Intel
    # macOS runner: its osx-64 default is the Apple-silicon one (the build cross-compiles there).
    "osx-64": HostedRunner("macos-15-intel", ("saas-macos-medium-m1",)),
    "osx-arm64": HostedRunner("macos-latest", ("saas-macos-medium-m1",)),
    "win-64": HostedRunner("windows-latest", ("saas-windows-medium-amd64",)),
    "win-arm64": HostedRunner("windows-11-arm", None),
}
#: a platform the table does not name (linux-ppc64le ...): GitHub's default label, no GitLab runner
FALLBACK_RUNNER = HostedRunner("ubuntu-latest", None)
#: the GitHub column of HOSTED_RUNNERS
GITHUB_RUNNERS = {platform: runner.github for platform, runner in HOSTED_RUNNERS.items()}


def hosted_runner(platform: str) -> HostedRunner:
    return HOSTED_RUNNERS.get(platform, FALLBACK_RUNNER)


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
    #: the CI job that builds this cell (see ``Plan.grouping``); empty: a job of its own
    job: str = ""
    #: the values of ``variant`` that are not text where the variant files set them, as
    #: rattler-build reads them (an unquoted ``13`` or ``true``): the engine is given these, so a
    #: cell built on its own gets the hash (build string) a whole-recipe build gives it.
    #: ``variant`` keeps showing every value as text.
    native: dict[str, Any] = field(default_factory=dict)
    #: per output this cell builds, the build number the plan chose for it (variants of one
    #: output may have numbers of their own: ``number: 5`` plus 100 for ``nompi``); empty in a
    #: plan written before per-cell numbers (then ``Plan.build_numbers`` has one per output)
    build_numbers: dict[str, int] = field(default_factory=dict)
    #: the platform the job runs on when it is not ``platform`` (conda-forge.yml's ``build_platform``:
    #: osx-arm64 cross-compiled on osx-64); the runners are this platform's, the build targets ``platform``
    build_platform: str = ""
    #: GitLab runner tags of the job (() any runner); None: no runner known for the platform
    runner_tags: tuple[str, ...] | None = ()

    @property
    def runs_on(self) -> str:
        """The platform of the machine that builds this cell."""
        return self.build_platform or self.platform


#: one job per cell, or conda-smithy's: jobs split only over the keys every output uses
GROUPINGS = ("cells", "conda-smithy")


def check_grouping(grouping: str, source: str = "--grouping") -> str:
    """``grouping`` if it is one of GROUPINGS; UsageError (exit 2) saying what each one does otherwise."""
    if grouping not in GROUPINGS:
        raise UsageError(
            f"{source} {grouping!r}: choose one of {', '.join(GROUPINGS)}",
            hint="cells: one CI job per cell; conda-smithy: jobs split only over the keys every output uses",
        )
    return grouping


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
    #: how cells are grouped into jobs (one of GROUPINGS)
    grouping: str = "cells"
    #: per job of several cells: the variant values (key -> values, zip partners aligned) that make
    #: one engine run build exactly that job's cells (``cipub build --only JOB``)
    job_variants: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    @property
    def jobs(self) -> list[str]:
        """The CI jobs, in plan order: a job id, or the id of a cell that is a job of its own."""
        return list(dict.fromkeys(c.job or c.id for c in self.cells))

    def job_cells(self, job: str) -> list[PlanCell]:
        """The cells job ``job`` builds (empty: no such job)."""
        return [c for c in self.cells if (c.job or c.id) == job]

    def cells_by_job(self) -> dict[str, list[PlanCell]]:
        """Every job's cells, in plan order, in one pass (``job_cells`` per job is jobs x cells:
        0.55 s of a 3,000-cell plan when make_plan did so)."""
        members: dict[str, list[PlanCell]] = {}
        for c in self.cells:
            members.setdefault(c.job or c.id, []).append(c)
        return members

    @property
    def ids(self) -> list[str]:
        return [c.id for c in self.cells]

    def build_number_for(self, name: str, version: str, cell: str | None = None) -> int | None:
        """The number chosen for (name, version): in cell ``cell`` when given (variants may have
        numbers of their own), else the first decision's (the lowest variant's)."""
        for c in self.cells:
            if c.id == cell and name in c.build_numbers:
                return c.build_numbers[name]
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
            raise UsageError(f"{source}: not valid JSON (line {exc.lineno}: {exc.msg})", hint=REPLAN_HINT) from None
        if not isinstance(data, dict) or data.get("schema") != PLAN_SCHEMA:
            raise UsageError(
                f"{source}: not a cipub plan (schema {PLAN_SCHEMA})",
                hint="write one with `cipub plan RECIPE --format json --output plan.json`",
            )
        return cls.from_dict(data, source=source)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "plan") -> Plan:
        """The plan ``data`` (a JSON plan's document), every field checked: a plan file is read by
        every build job, and a value of the wrong kind must not reach a package name or an engine.
        UsageError (exit 2) naming the field, with a hint to write the plan again."""
        check = _PlanReader(source)
        cells = [check.cell(c, f"cells[{i}]") for i, c in enumerate(check.list_of(data, "cells", required=True))]
        if not cells:
            raise check.error("cells", "is empty: a plan has at least one cell")
        duplicates = sorted(ident for ident, n in Counter(c.id for c in cells).items() if n > 1)
        if duplicates:
            raise check.error("cells", f"id {duplicates[0]!r} is given to several cells")
        grouping = check.text(data, "grouping", default="cells")
        if grouping not in GROUPINGS:
            raise check.error("grouping", f"{grouping!r} is none of {', '.join(GROUPINGS)}")
        recipe_format = check.text(data, "recipe_format")
        if recipe_format not in ("v0", "v1"):
            raise check.error("recipe_format", f"{recipe_format!r} is neither v0 nor v1")
        decisions = [
            check.decision(b, f"build_numbers[{i}]") for i, b in enumerate(check.list_of(data, "build_numbers"))
        ]
        chosen = {(d.name, d.chosen) for d in decisions}
        for i, cell in enumerate(cells):
            for name, number in cell.build_numbers.items():
                if (name, number) not in chosen:
                    # a cell's number is one the plan decided, or the build would use the recipe's
                    raise check.error(f"cells[{i}].build_numbers.{name}", f"{number} is no number the plan decided")
        return cls(
            recipe=check.text(data, "recipe"),
            recipe_format=recipe_format,
            platforms=[check.text_item(p, f"platforms[{i}]") for i, p in enumerate(check.list_of(data, "platforms"))],
            noarch_platform=check.text(data, "noarch_platform"),
            cells=cells,
            build_numbers=decisions,
            channel=check.text(data, "channel", default=None, nullable=True),
            notes=[check.text_item(n, f"notes[{i}]") for i, n in enumerate(check.list_of(data, "notes"))],
            channels=[check.text_item(c, f"channels[{i}]") for i, c in enumerate(check.list_of(data, "channels"))],
            grouping=grouping,
            job_variants=check.job_variants(data.get("job_variants", {})),
        )


#: what a cell or job id is made of (see assign_ids: platform, keys and cleaned values, a hash)
_ID = re.compile(r"[A-Za-z0-9._-]+")
#: the hint of every malformed plan: plans are written by cipub, not by hand
REPLAN_HINT = "write the plan again with `cipub plan RECIPE --format json --output FILE` rather than editing it"


class _PlanReader:
    """The checks of :meth:`Plan.from_dict`, each error naming the plan file and the field."""

    def __init__(self, source: str) -> None:
        self.source = source

    def error(self, where: str, problem: str) -> UsageError:
        return UsageError(f"{self.source}: malformed plan: {where} {problem}", hint=REPLAN_HINT)

    def _kind(self, value: Any) -> str:
        return "null" if value is None else f"{json.dumps(value)[:40]} ({type(value).__name__})"

    def text_item(self, value: Any, where: str) -> str:
        if not isinstance(value, str):
            raise self.error(where, f"must be text, not {self._kind(value)}")
        return value

    def text(self, data: Mapping[str, Any], key: str, *, default: Any = ..., nullable: bool = False) -> Any:
        if key not in data:
            if default is ...:
                raise self.error(key, "is missing")
            return default
        value = data[key]
        if value is None and nullable:
            return None
        return self.text_item(value, key)

    def list_of(self, data: Mapping[str, Any], key: str, *, required: bool = False, where: str = "") -> list[Any]:
        where = f"{where}.{key}" if where else key
        if key not in data:
            if required:
                raise self.error(where, "is missing")
            return []
        value = data[key]
        if not isinstance(value, list):
            raise self.error(where, f"must be a list, not {self._kind(value)}")
        return value

    def mapping(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error(where, f"must be an object, not {self._kind(value)}")
        return value

    def number(self, value: Any, where: str, *, nullable: bool = False) -> Any:
        if value is None and nullable:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self.error(where, f"must be a build number (an integer, 0 or more), not {self._kind(value)}")
        return value

    def cell(self, value: Any, where: str) -> PlanCell:
        cell = self.mapping(value, where)
        for key in ("id", "platform", "variant"):
            if key not in cell:
                raise self.error(f"{where}.{key}", "is missing")
        ident = self.ident(cell["id"], f"{where}.id")
        variant = {
            self.text_item(k, f"{where}.variant key"): self.text_item(v, f"{where}.variant.{k}")
            for k, v in self.mapping(cell["variant"], f"{where}.variant").items()
        }
        if "" in variant:
            raise self.error(f"{where}.variant", "has an empty key")
        noarch = cell.get("noarch")
        if noarch is not None and noarch not in ("python", "generic"):
            raise self.error(f"{where}.noarch", f"must be null, python or generic, not {self._kind(noarch)}")
        native = self.mapping(cell.get("native", {}), f"{where}.native")
        platform = self.platform(cell["platform"], f"{where}.platform")
        build_platform = ""
        if cell.get("build_platform"):
            build_platform = self.platform(cell["build_platform"], f"{where}.build_platform")
        if "runner_tags" not in cell:  # a plan written before GitLab tags were planned: the defaults
            tags = hosted_runner(build_platform or platform).gitlab
        elif cell["runner_tags"] is None:
            tags = None
        else:
            tags = tuple(
                self.text_item(t, f"{where}.runner_tags[{i}]")
                for i, t in enumerate(self.list_of(cell, "runner_tags", where=where))
            )
        return PlanCell(
            id=ident,
            platform=platform,
            variant=variant,
            noarch=noarch,
            runner=self.text_item(cell.get("runner", ""), f"{where}.runner"),
            outputs=tuple(
                self.text_item(o, f"{where}.outputs[{i}]")
                for i, o in enumerate(self.list_of(cell, "outputs", where=where))
            ),
            job=self.ident(cell["job"], f"{where}.job") if cell.get("job") else "",
            native=_natives(native),
            build_numbers={
                self.text_item(k, f"{where}.build_numbers key"): self.number(v, f"{where}.build_numbers.{k}")
                for k, v in self.mapping(cell.get("build_numbers", {}), f"{where}.build_numbers").items()
            },
            build_platform=build_platform,
            runner_tags=tags,
        )

    def ident(self, value: Any, where: str) -> str:
        """A cell or job id: what ``cipub plan`` writes (it names CI jobs and output directories)."""
        ident = self.text_item(value, where)
        if not _ID.fullmatch(ident):
            raise self.error(where, f"{ident!r} is not an id cipub writes (letters, digits, '.', '_', '-')")
        return ident

    def platform(self, value: Any, where: str) -> str:
        try:
            return check_platform(self.text_item(value, where), source=where)
        except UsageError as exc:
            raise self.error(where, f"{value!r} is not a conda platform") from exc

    def decision(self, value: Any, where: str) -> BuildNumberDecision:
        entry = self.mapping(value, where)
        fields = {f.name for f in dataclasses.fields(BuildNumberDecision)}
        unknown = sorted(set(entry) - fields)
        if unknown:
            raise self.error(f"{where}.{unknown[0]}", "is no field of a build number decision")
        for key in ("name", "version", "recipe_number", "chosen"):
            if key not in entry:
                raise self.error(f"{where}.{key}", "is missing")
        return BuildNumberDecision(
            name=self.text_item(entry["name"], f"{where}.name"),
            version=self.text_item(entry["version"], f"{where}.version"),
            recipe_number=self.number(entry["recipe_number"], f"{where}.recipe_number"),
            channel_highest=self.number(entry.get("channel_highest"), f"{where}.channel_highest", nullable=True),
            chosen=self.number(entry["chosen"], f"{where}.chosen"),
            reason=self.text_item(entry.get("reason", ""), f"{where}.reason"),
            target=None if entry.get("target") is None else self.text_item(entry["target"], f"{where}.target"),
        )

    def job_variants(self, value: Any) -> dict[str, dict[str, list[str]]]:
        jobs: dict[str, dict[str, list[str]]] = {}
        for job, keys in self.mapping(value, "job_variants").items():
            where = f"job_variants.{job}"
            jobs[job] = {}
            for key, values in self.mapping(keys, where).items():
                if not isinstance(values, list):
                    raise self.error(f"{where}.{key}", f"must be a list, not {self._kind(values)}")
                jobs[job][key] = [self.text_item(v, f"{where}.{key}[{i}]") for i, v in enumerate(values)]
        return jobs


def _natives(data: Mapping[str, Any]) -> dict[str, Any]:
    """A plan cell's ``native`` values: ints and booleans only (anything else is not a typed value)."""
    return {str(k): v for k, v in data.items() if isinstance(v, (bool, int))}


# -- cells -----------------------------------------------------------------------------------------


@dataclass
class _Cell:
    platform: str
    combo: Combination
    noarch: str | None
    #: the outputs this cell publishes (an output another cell builds too is published once)
    outputs: tuple[str, ...] = ()
    #: the keys every output of the recipe uses (conda-smithy splits jobs only over these);
    #: None: not known, every key counts
    common_keys: frozenset[str] | None = None
    #: (name, version, recipe build number) of each output this cell builds, as rendered for it
    numbers: tuple[tuple[str, str, int], ...] = ()


def recipe_variant_file(recipe: Recipe) -> Path | None:
    """The variant file a builder reads next to the recipe on its own."""
    return own_variant_file(recipe.directory, recipe.format)


def _variant_files(
    recipe: Recipe, variant_configs: Sequence[Path], pinning: Path | None
) -> tuple[list[Path], list[Path]]:
    """The variant files a build of ``recipe`` reads, lowest priority first, and those read leniently
    (the pinning file: keys the recipe never uses may hold anything)."""
    files = stacked_variant_files(recipe.directory, recipe.format, variant_configs, pinning=pinning)
    return files, [pinning] if pinning is not None else []


def variant_config_for(
    recipe: Recipe,
    platform: str,
    variant_configs: Sequence[Path],
    overrides: Mapping[str, Sequence[str]],
    *,
    environ: Mapping[str, str] | None = None,
    pinning: Path | None = None,
) -> VariantConfig:
    """The merged variant configuration a build of ``recipe`` for ``platform`` sees.

    ``pinning`` is the lowest-priority file (conda-build's exclusive config file), below the
    recipe's own, which is below every ``-m`` file.
    """
    files, lenient = _variant_files(recipe, variant_configs, pinning)
    config = load_variant_files(files, platform, recipe_format=recipe.format, environ=environ, lenient=lenient)
    if recipe.format == "v0":
        # conda-build's lowest layer (get_default_variant): its default compilers per platform, so a
        # compiler('fortran') no file pins for this platform still names fortran_compiler
        for key, value in default_compilers(platform).items():
            if key not in config.values:
                config.values[key] = [value]
                config.origins[key] = "conda-build's default compilers"
    apply_overrides(config, overrides)
    check_zip_lengths(config)
    return config


def native_values(
    recipe: Recipe,
    platform: str,
    variant_configs: Sequence[Path],
    overrides: Mapping[str, Sequence[str]],
    *,
    environ: Mapping[str, str] | None = None,
    pinning: Path | None = None,
) -> Natives:
    """The values of :func:`variant_config_for` that rattler-build reads as ints or booleans
    (:func:`cipub.recipe.variants.typed_values`); a ``--variant`` (text, as rattler-build's own
    ``--variant``) leaves its keys text."""
    files, lenient = _variant_files(recipe, variant_configs, pinning)
    natives = typed_values(files, platform, recipe_format=recipe.format, environ=environ, lenient=lenient)
    for key in overrides:
        natives.pop(key, None)
    return natives


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
    version: str = ""
    number: int = 0

    @property
    def identity(self) -> tuple[str, frozenset[tuple[str, str]]]:
        return self.name, frozenset(self.values.items())


def _cells_from_outputs(
    recipe: Recipe, platform: str, config: VariantConfig, outputs: Sequence[_Output]
) -> list[_Cell]:
    """The zip-aware product of every used key, each output variant published by exactly one cell.

    Only keys the variant files define split cells: py-rattler-build also reports keys it derives
    (a ``pin_subpackage``'d sibling's version, ``build_platform``), which never name a cell. An
    output that uses fewer keys than another is built in several cells (overrides cannot leave an
    output out); the first cell that builds it publishes it. A cell that would publish nothing new
    is dropped. Every rendered output must land in a cell: one that does not is a RecipeError naming
    it (an output is never dropped without a word).

    Outputs are indexed by the values of their keys, so this is linear in cells.
    """
    known = set(config.values)
    index: dict[tuple[str, ...], dict[tuple[str, ...], list[int]]] = {}
    used: set[str] = set()
    for position, output in enumerate(outputs):
        keys = tuple(sorted(k for k in output.values if k in known))
        used.update(keys)
        index.setdefault(keys, {}).setdefault(tuple(output.values[k] for k in keys), []).append(position)
    # conda-smithy keeps some keys in every cell when a variant file sets them, used or not (the
    # runner labels a feedstock asks for), and the MPI providers' pins with ``mpi``, for v1 recipes
    # as for meta.yaml
    used.update(usage.implied_keys(used, known))
    cells: list[_Cell] = []
    claimed: set[tuple[str, frozenset[tuple[str, str]]]] = set()
    for combo in expand(config, used):
        positions: list[int] = []
        for keys, by_values in index.items():
            positions += by_values.get(tuple(combo.used.get(k, "") for k in keys), [])
        matching = [outputs[i] for i in sorted(positions)]
        fresh = [o for o in matching if o.identity not in claimed]
        if not fresh:
            continue
        claimed.update(o.identity for o in fresh)
        names = tuple(dict.fromkeys(o.name for o in fresh))
        numbers = tuple(dict.fromkeys((o.name, o.version, o.number) for o in matching))
        cells.append(_Cell(platform, combo, _noarch_kind([o.noarch for o in matching]), names, numbers=numbers))
    lost = [o for o in outputs if o.identity not in claimed]
    if lost:
        first = lost[0]
        values = " ".join(f"{k}={v}" for k, v in sorted(first.values.items()) if k in known) or "no variant keys"
        others = f" (and {len(lost) - 1} more output variant(s))" if len(lost) > 1 else ""
        raise RecipeError(
            f"{recipe.path}: output {first.name} ({values}) for {platform} matches no combination of the "
            f"variant files{others}",
            hint="py-rattler-build rendered a value the variant files do not list; check the files' "
            "spelling of these values and zip_keys",
        )
    return cells


def _pinned_sibling_values(rendered: Sequence[Any], known: set[str]) -> list[dict[str, str]]:
    """For each rendered variant, the variant-file values it takes from the siblings it pins.

    py-rattler-build reports a ``pin_subpackage``'d sibling as a derived key (``libfoo: "2.3.1
    h1a2b3c4_0"``, the sibling's version and build string), not as the sibling's own keys: a
    ``libfoo-dev`` pinning ``libfoo`` exactly is one package per ``libfoo`` variant, yet names no
    key of the variant files, so every cell would seem to build the same one and only the first
    would publish it (the others' builds, with another ``libfoo`` hash, never reached a channel).
    The sibling's keys are inherited, through chains of pins, by looking its pin text up.
    """
    own: list[dict[str, str]] = []
    by_pin: dict[tuple[str, str], int] = {}
    for i, variant in enumerate(rendered):
        own.append({str(k): value_text(v) for k, v in variant.variant.items() if k != "target_platform"})
        name = str(variant.recipe.package.name)
        pin = f"{variant.recipe.package.version} {variant.recipe.build.string or ''}"
        by_pin.setdefault((name, pin), i)
    resolved: dict[int, dict[str, str]] = {}

    def inherit(i: int, seen: frozenset[int]) -> dict[str, str]:
        if i in resolved:
            return resolved[i]
        values: dict[str, str] = {}
        for key, value in own[i].items():
            if key in known:
                continue
            sibling = by_pin.get((key, value), by_pin.get((key.replace("_", "-"), value)))
            if sibling is None or sibling in seen:
                continue
            for k, v in inherit(sibling, seen | {i}).items():
                values.setdefault(k, v)
            for k, v in own[sibling].items():
                if k in known:
                    values.setdefault(k, v)
        resolved[i] = values
        return values

    return [inherit(i, frozenset()) for i in range(len(rendered))]


def _v1_cells(
    recipe: Recipe,
    platform: str,
    config: VariantConfig,
    rendered_outputs: list[RecipeOutput] | None = None,
    natives: Natives | None = None,
) -> list[_Cell]:
    stage0 = v1.parse_stage0(recipe.path)
    # only the keys the recipe can name: the same variants, without a pinning's hundreds of keys;
    # ints and booleans as the build sees them (a text "false" is true in ``skip: flag``)
    needed = v1.referenced_keys(recipe.path, config.values)
    typed = natives or {}
    given = {k: [typed.get(k, {}).get(v, v) for v in vs] for k, vs in config.values.items() if k in needed}
    zips = [kept for kept in ([k for k in g if k in needed] for g in config.zip_keys) if len(kept) > 1]
    try:
        rendered = v1.render_outputs(stage0, platform, given, zips or None)
    except Exception as exc:  # py-rattler-build's own error types
        raise v1.recipe_error(
            recipe.path,
            exc,
            f"cannot render for {platform}",
            hint="give the variant files the build reads (-m FILE, --pinning FILE, or --conda-forge)",
        ) from None
    skipped = v1.skipped_variants(stage0, rendered, platform)
    kept = [v for v, skip in zip(rendered, skipped, strict=True) if not skip]
    inherited = _pinned_sibling_values(kept, set(config.values))
    outputs: dict[tuple[str, frozenset[tuple[str, str]]], _Output] = {}
    for variant, extra in zip(kept, inherited, strict=True):
        values = {str(k): value_text(v) for k, v in variant.variant.items() if k != "target_platform"}
        for key, value in extra.items():
            values.setdefault(key, value)
        noarch = variant.recipe.build.noarch
        kind = str(noarch) if noarch in ("python", "generic") else None
        version, number = str(variant.recipe.package.version), int(variant.recipe.build.number or 0)
        output = _Output(str(variant.recipe.package.name), values, kind, version, number)
        outputs.setdefault(output.identity, output)
        if rendered_outputs is not None:
            rendered_outputs.append(RecipeOutput(output.name, version, number, kind))
    if not outputs:
        return []
    cells = _cells_from_outputs(recipe, platform, config, list(outputs.values()))
    keys_by_name: dict[str, set[str]] = {}
    for output in outputs.values():
        keys_by_name.setdefault(output.name, set()).update(k for k in output.values if k in config.values)
    common = frozenset(set.intersection(*keys_by_name.values())) if keys_by_name else frozenset()
    return [dataclasses.replace(cell, common_keys=common) for cell in cells]


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
    #: per output name: the keys its requirements show it uses (conda-smithy's job grouping)
    evidence: dict[str, set[str]] = {}
    for combo in expand(config, static | required):
        rendered = usage.render_variant(recipe.path, platform, {**first, **combo.values}, known, environ=environ)
        if rendered.skipped:
            continue
        for name, keys in zip(rendered.names, rendered.evidence, strict=False):
            evidence.setdefault(name, set()).update(keys)
        # conda-build cannot say which keys each output uses: a noarch output among compiled ones
        # is published by the first cell that builds it, every other output by each cell.
        mixed = any(k is None for k in rendered.noarch)
        names = tuple(
            name
            for name, kind in zip(rendered.names, rendered.noarch, strict=True)
            if not (mixed and kind and name in published_noarch)
        )
        published_noarch.update(n for n, k in zip(rendered.names, rendered.noarch, strict=True) if k)
        cells.append(_Cell(platform, combo, _noarch_kind(rendered.noarch), names, numbers=rendered.numbers))
    if len(evidence) < 2:
        return cells
    # A key some outputs' requirements show and others' do not is not used by every output; a key
    # no output shows (Jinja, selectors, scripts) counts as used by all.
    shown = set().union(*evidence.values())
    shaping = usage.template_keys(recipe.path, config.values)
    partial = {k for k in shown if any(k not in keys for keys in evidence.values())} - shaping
    common = frozenset(set(config.values) - partial)
    return [dataclasses.replace(cell, common_keys=common) for cell in cells]


def _drop_python_for_noarch(cells: list[_Cell], config_groups: list[list[str]]) -> list[_Cell]:
    """A noarch: python package is the same for every python: python (and its zip partners) collapse."""
    collapsed: list[_Cell] = []
    drop = {"python"}
    for group in config_groups:
        if "python" in group:
            drop.update(group)
    seen: set[tuple[str, frozenset[tuple[str, str]]]] = set()
    for cell in cells:
        kept = cell
        if cell.noarch == "python":
            combo = Combination(
                {k: v for k, v in cell.combo.used.items() if k not in drop},
                {k: v for k, v in cell.combo.partners.items() if k not in drop},
            )
            kept = dataclasses.replace(cell, combo=combo)
        key = (kept.platform, frozenset(kept.combo.used.items()))
        if key not in seen:
            seen.add(key)
            collapsed.append(kept)
    return collapsed


def cells_for_platform(
    recipe: Recipe,
    platform: str,
    config: VariantConfig,
    *,
    environ: Mapping[str, str] | None = None,
    rendered_outputs: list[RecipeOutput] | None = None,
    natives: Natives | None = None,
) -> list[_Cell]:
    """The cells of ``recipe`` on ``platform`` under ``config`` (:func:`variant_config_for`).

    ``rendered_outputs``, when given, receives each output of every variant a v1 render built
    (the build numbers are decided from them: no second render of the same recipe); ``natives``
    (:func:`native_values`): the values a v1 render is given as ints and booleans."""
    if recipe.format == "v1":
        cells = _v1_cells(recipe, platform, config, rendered_outputs, natives)
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
    import hashlib  # only for long or clashing ids: OpenSSL's load is start-up every plan pays otherwise

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
    counts = Counter(ids)
    for i, ident in enumerate(ids):
        if counts[ident] > 1:
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
    pinning: Path | None = None,
    noarch_platforms: Sequence[str] = (),
    environ_for: Callable[[str], Mapping[str, str]] | None = None,
    grouping: str = "cells",
    build_platforms: Mapping[str, str] | None = None,
) -> Plan:
    """Plan ``recipe`` for ``platforms`` (default: the recipe's target platform).

    ``channel`` (already opened) is asked once for the build numbers of every (name, version);
    ``environ`` is what ``os.environ.get`` in selectors sees (default: this process's environment),
    ``environ_for(platform)`` the same per platform (conda-smithy's ``BUILD_PLATFORM``);
    ``noarch_platforms``: a noarch recipe is planned once on each (default: on ``noarch_platform``);
    ``grouping``: ``cells`` (a job per cell) or ``conda-smithy`` (a job per combination of the keys
    every output uses: a library with Python bindings is built once per job, not once per python);
    ``build_platforms`` (conda-forge.yml's ``build_platform``): target platform -> the platform its
    jobs run on (cross-compiling), whose runners they get.
    """
    check_grouping(grouping)
    wanted = list(dict.fromkeys(check_platform(p, source="--platform") for p in platforms)) or [recipe.target_platform]
    noarch_platform = check_platform(noarch_platform, source="noarch_platform")
    homes = [check_platform(p, source="noarch_platforms") for p in noarch_platforms] or [noarch_platform]

    zip_keys: dict[str, list[list[str]]] = {}
    natives: dict[str, Natives] = {}
    #: per platform, the outputs its v1 render built (build numbers come from them)
    rendered: dict[str, list[RecipeOutput]] = {}

    def cells_of(platform: str) -> list[_Cell]:
        env = environ_for(platform) if environ_for is not None else environ
        config = variant_config_for(recipe, platform, variant_configs, overrides, environ=env, pinning=pinning)
        zip_keys[platform] = config.zip_keys
        natives[platform] = native_values(recipe, platform, variant_configs, overrides, environ=env, pinning=pinning)
        return cells_for_platform(
            recipe,
            platform,
            config,
            environ=env,
            rendered_outputs=rendered.setdefault(platform, []),
            natives=natives[platform],
        )

    per_platform = {p: cells_of(p) for p in wanted}
    noarch_everywhere = [p for p, cells in per_platform.items() if cells and all(c.noarch for c in cells)]
    plan_cells: list[PlanCell] = []
    #: per plan cell id: (name, version, recipe number) of each output it builds
    cell_numbers: dict[str, tuple[tuple[str, str, int], ...]] = {}
    if noarch_everywhere:
        for home in homes:
            if home not in per_platform:
                per_platform[home] = cells_of(home)
        built_on = [h for h in homes if per_platform[h] and all(c.noarch for c in per_platform[h])]
        # not noarch on the configured platform(s): build where it is
        for home in built_on or noarch_everywhere[:1]:
            noarch_cells = per_platform[home]
            prefix = NOARCH_ID if len(built_on) <= 1 else f"{NOARCH_ID}-{home}"
            jobs = _job_ids(prefix, noarch_cells, grouping)
            for ident, job, cell in zip(assign_ids(prefix, noarch_cells), jobs, noarch_cells, strict=True):
                plan_cells.append(_plan_cell(ident, home, cell, job, natives[home]))
                cell_numbers[ident] = cell.numbers
    for platform in wanted:
        if platform in noarch_everywhere:
            continue
        cells = per_platform[platform]
        jobs = _job_ids(platform, cells, grouping)
        for ident, job, cell in zip(assign_ids(platform, cells), jobs, cells, strict=True):
            plan_cells.append(_plan_cell(ident, platform, cell, job, natives[platform]))
            cell_numbers[ident] = cell.numbers
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
        grouping=grouping,
    )
    for job, members in plan.cells_by_job().items():
        if len(members) > 1:
            plan.job_variants[job] = job_variant(members, zip_keys.get(members[0].platform, []))
    if grouping != "cells":
        plan.notes.append(
            f"jobs grouped as {grouping} (split only over the keys every output uses): "
            f"{len(plan.jobs)} job(s) for {len(plan.cells)} cell(s)"
        )
    plan.build_numbers = _decide_build_numbers(
        recipe,
        sorted({c.platform for c in plan_cells}),
        channel,
        lambda platform: (
            rendered.get(platform)
            or list(
                load_recipe(
                    recipe.path,
                    target_platform=platform,
                    variant_files=variant_configs,
                    pinning=pinning,
                    environ=environ_for(platform) if environ_for is not None else environ,
                ).outputs
            )
        ),
        [n for numbers in cell_numbers.values() for n in numbers],
    )
    plan.cells = [replace(c, build_numbers=_chosen_for(plan.build_numbers, cell_numbers[c.id])) for c in plan.cells]
    if build_platforms:
        with_runners(plan, {}, build_platforms=build_platforms)
    return plan


def _chosen_for(decisions: Sequence[BuildNumberDecision], numbers: Sequence[tuple[str, str, int]]) -> dict[str, int]:
    """Per output a cell builds, the number chosen for its recipe number there."""
    chosen = {(d.name, d.version, d.recipe_number): d.chosen for d in decisions}
    return {key[0]: chosen[key] for key in numbers if key in chosen}


def _job_ids(prefix: str, cells: Sequence[_Cell], grouping: str) -> list[str]:
    """The job of each cell: its own (``cells``), or one per values of the keys every output
    uses (``conda-smithy``; a recipe whose outputs' keys are not known keeps a job per cell)."""
    if grouping == "cells" or any(c.common_keys is None for c in cells):
        return [""] * len(cells)
    reduced = [
        _Cell(
            c.platform,
            Combination({k: v for k, v in c.combo.used.items() if c.common_keys is None or k in c.common_keys}, {}),
            c.noarch,
        )
        for c in cells
    ]
    unique: dict[frozenset[tuple[str, str]], _Cell] = {}
    for c in reduced:
        unique.setdefault(frozenset(c.combo.used.items()), c)
    if len(unique) == len(cells):
        return [""] * len(cells)  # every cell is a job of its own anyway
    names = dict(zip(unique, assign_ids(prefix, list(unique.values())), strict=True))
    return [f"{names[frozenset(c.combo.used.items())]}-job" for c in reduced]


def job_variant(cells: Sequence[PlanCell], zip_keys: Sequence[Sequence[str]]) -> dict[str, list[str]]:
    """The variant values that make one engine run build exactly ``cells`` (one job's).

    Each key gets the values its cells have, in plan order; the keys of a zip group get the
    distinct rows of that group, so zip partners stay aligned (an engine refuses zip groups of
    unequal lengths). Any other combination of these values has the job's values of the keys the
    job does not split over, so it is a cell of this job or one the plan skipped, never another
    job's cell.
    """
    keys = list(dict.fromkeys(k for c in cells for k in c.variant if k != "target_platform"))
    blocks: list[list[str]] = []
    for group in zip_keys:
        block = [k for k in group if k in keys]
        if block:
            blocks.append(block)
    in_blocks = {k for b in blocks for k in b}
    blocks += [[k] for k in keys if k not in in_blocks]
    values: dict[str, list[str]] = {}
    for block in blocks:
        rows = [tuple(c.variant.get(k) for k in block) for c in cells]
        distinct = list(dict.fromkeys(r for r in rows if None not in r))
        for i, key in enumerate(block):
            if distinct:
                values[key] = [str(row[i]) for row in distinct]
    return {k: values[k] for k in keys if k in values}


def _plan_cell(ident: str, platform: str, cell: _Cell, job: str = "", natives: Natives | None = None) -> PlanCell:
    variant = dict(cell.combo.values)
    typed = natives or {}
    return PlanCell(
        id=ident,
        platform=platform,
        variant=variant,
        noarch=cell.noarch,
        runner=hosted_runner(platform).github,
        outputs=cell.outputs,
        job=job,
        native={k: typed[k][v] for k, v in variant.items() if v in typed.get(k, {})},
        runner_tags=hosted_runner(platform).gitlab,
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


def parse_gitlab_tags(items: Sequence[str], source: str = "gitlab-tags") -> dict[str, tuple[str, ...]]:
    """``PLATFORM=TAG`` items (the setting ``gitlab-tags``) as {platform: tags}: a platform named
    twice gets both tags (a runner needs every tag of a job); ``PLATFORM=`` alone: no tags (any runner)."""
    tags: dict[str, tuple[str, ...]] = {}
    for item in items:
        platform, sep, tag = item.partition("=")
        if not sep or not platform.strip():
            raise UsageError(
                f"{source}: {item!r} is not PLATFORM=TAG",
                hint="e.g. osx-arm64=saas-macos-large-m2pro, or linux-64= for any runner",
            )
        key = check_platform(platform.strip(), source=source)
        tags[key] = tags.get(key, ()) + ((tag.strip(),) if tag.strip() else ())
    return tags


def with_runners(
    plan: Plan,
    runners: Mapping[str, str],
    *,
    build_platforms: Mapping[str, str] | None = None,
    gitlab_tags: Mapping[str, tuple[str, ...]] | None = None,
) -> Plan:
    """``plan`` with each cell's runners chosen for the platform its job runs on: the target platform,
    or the one ``build_platforms`` (conda-forge.yml's ``build_platform``) cross-compiles it on; from
    HOSTED_RUNNERS, unless ``runners`` (GitHub labels) or ``gitlab_tags`` name that platform."""
    cross = build_platforms or {}
    tags = gitlab_tags or {}
    cells = []
    for c in plan.cells:
        runs_on = cross.get(c.platform, c.runs_on)
        default = hosted_runner(runs_on)
        cells.append(
            replace(
                c,
                build_platform=runs_on if runs_on != c.platform else "",
                runner=runners.get(runs_on, default.github),
                runner_tags=tags.get(runs_on, default.gitlab),
            )
        )
    plan.cells = cells
    return plan


def _display_path(path: Path) -> str:
    """Relative to the working directory when possible: a plan travels between CI machines."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _decide_build_numbers(
    recipe: Recipe,
    platforms: Sequence[str],
    channel: Channel | None,
    load: Callable[[str], list[RecipeOutput]],
    cell_numbers: Sequence[tuple[str, str, int]] = (),
) -> list[BuildNumberDecision]:
    """The decisions for every (name, version) the recipe and each platform's outputs name
    (``load(platform)``: a platform's outputs): one per distinct number the cells render for it
    (``cell_numbers``: (name, version, number) of each cell's outputs; variants may have numbers of
    their own, see :func:`cipub.policy.buildnumber.decide_variants`). A (name, version) no cell
    says the number of gets one, from the highest number any output has."""
    from cipub.policy.buildnumber import decide_variants, refuse_split_bumps

    outputs = list(recipe.outputs)
    for platform in platforms:
        try:
            outputs += load(platform)
        except RecipeError:
            continue  # nothing to read for this platform without its variant: the others say enough
    from_cells: dict[tuple[str, str], set[int]] = {}
    for name, version, number in cell_numbers:
        from_cells.setdefault((name, version), set()).add(number)
    highest: dict[tuple[str, str], int] = {}
    for output in outputs:
        key = (output.name, output.version)
        highest[key] = max(highest.get(key, 0), output.build_number)
    keys = list(dict.fromkeys([*highest, *from_cells]))
    decisions = [
        d
        for name, version in keys
        for d in decide_variants(channel, name, version, from_cells.get((name, version)) or {highest[name, version]})
    ]
    refuse_split_bumps(decisions, [o.name for o in outputs])
    return decisions


def select_cell(plan: Plan, only: str) -> PlanCell:
    """The cell called ``only``; UsageError listing the valid ids otherwise."""
    for cell in plan.cells:
        if cell.id == only:
            return cell
    raise UsageError(
        f"--only {only!r}: no such cell in the plan for {plan.recipe}", hint=_valid_ids_hint(only, plan.ids, [])
    )


def select_cells(plan: Plan, only: str) -> list[PlanCell]:
    """The cell called ``only``, or every cell of the job called ``only``; UsageError otherwise."""
    for cell in plan.cells:
        if cell.id == only:
            return [cell]
    members = plan.job_cells(only)
    if members:
        return members
    grouped = [j for j, members in plan.cells_by_job().items() if len(members) > 1]
    raise UsageError(
        f"--only {only!r}: no such cell or job in the plan for {plan.recipe}",
        hint=_valid_ids_hint(only, plan.ids, grouped),
    )


def _id_spelling(ident: str) -> str:
    """An id without its separators and case: conda-smithy's ``.ci_support`` file ``linux_64_mpinompi``
    (``.yaml``) and cipub's ``linux-64-mpinompi`` spell the same cell."""
    return re.sub(r"[-_.]", "", ident.removesuffix(".yaml")).lower()


def _valid_ids_hint(only: str, ids: Sequence[str], jobs: Sequence[str]) -> str:
    """The ids ``--only`` takes, led by the one ``only`` most likely meant."""
    import difflib

    if not ids:
        return "the plan has no cells: write it again with `cipub plan RECIPE --format json --output FILE`"
    candidates = [*ids, *jobs]
    same = [c for c in candidates if _id_spelling(c) == _id_spelling(only)]
    close = same or difflib.get_close_matches(only, candidates, n=1)
    meant = f"did you mean {close[0]}? " if close else ""
    return f"{meant}valid ids: {', '.join(ids)}" + (f"; jobs: {', '.join(jobs)}" if jobs else "")
