"""``cipub plan``: the build matrix of a recipe, with build numbers decided once for the pipeline.

The matrix itself is :mod:`cipub.policy.plan`; this module opens the target for the build numbers,
adds the noarch advice, renders the plan in the asked format and writes it.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cipub.core.errors import UsageError, read_only
from cipub.core.options import Settings
from cipub.workflows.target import check_dependency_channels, open_target

if TYPE_CHECKING:
    from cipub.policy.plan import Plan
    from cipub.recipe import Recipe

FORMATS = ("text", "json", "github", "gitlab")


@dataclass(frozen=True)
class PlanJob:
    recipe: Path
    variant_overrides: Mapping[str, Sequence[str]] = field(default_factory=dict)
    #: text, json, github (a strategy.matrix) or gitlab (a child pipeline)
    format: str = "text"
    #: write the rendering here (atomically) instead of returning it for stdout
    output: Path | None = None
    #: ask the target for the next build numbers
    build_numbers: bool = True


@dataclass(frozen=True)
class PlanResult:
    plan: Plan
    #: the plan rendered in the asked format
    text: str
    #: where ``text`` was written, or None (then the caller prints it)
    written_to: Path | None


@read_only
def plan(settings: Settings, job: PlanJob) -> PlanResult:
    """Plan ``job.recipe`` for the settings' platforms; render it; write it if asked to."""
    from cipub.policy import noarch
    from cipub.policy import plan as plan_mod
    from cipub.recipe import load_recipe

    if job.format not in FORMATS:
        raise UsageError(
            f"--format {job.format!r}: choose one of {', '.join(FORMATS)}",
            hint="text: a table for people; json: the plan file for `cipub build --plan`; github, gitlab: a CI matrix",
        )
    plan_mod.check_grouping(settings.grouping, _named(settings, "grouping", "--grouping"))
    if job.output is not None and job.output.is_dir():
        # said before the recipe is rendered (a large one takes a while), and naming the path given
        example = job.output / ("plan.json" if job.format == "json" else "plan.txt")
        raise UsageError(f"--output {job.output}: is a directory", hint=f"give the file to write, such as {example}")
    check_dependency_channels(settings)
    first_platform, reading = recipe_reading(settings, Path(job.recipe), (settings.platforms or [None])[0])
    recipe = load_recipe(job.recipe, target_platform=first_platform, overrides=job.variant_overrides, **reading)
    notes: list[str] = []
    arguments = plan_arguments(settings, recipe, job.variant_overrides, notes)
    opened = None
    if job.build_numbers:
        try:
            opened = open_target(settings)
        except ImportError as exc:
            notes.append(f"target {settings.target} cannot be opened here ({exc}): planned without build numbers")
    if opened is not None:
        with opened:
            the_plan = plan_mod.make_plan(recipe, channel=opened, **arguments)
    else:
        the_plan = plan_mod.make_plan(recipe, channel=None, **arguments)
    plan_mod.with_runners(
        the_plan,
        plan_mod.parse_runners(settings.runners),
        gitlab_tags=plan_mod.parse_gitlab_tags(settings.gitlab_tags, _named(settings, "gitlab_tags", "--gitlab-tag")),
    )
    notes.extend(noarch.advise_plan(recipe, the_plan))
    the_plan.notes.extend(notes)
    the_plan.channels = list(settings.channels)
    text = render(the_plan, job.format)
    if job.output is not None:
        from cipub.core.files import write_atomically

        job.output.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(job.output, text)
    return PlanResult(the_plan, text, job.output)


def _named(settings: Settings, key: str, flag: str) -> str:
    """How an error names setting ``key``: its flag, environment variable, or config file and key."""
    origin = settings.origin(key)
    if origin.kind == "env":
        return origin.where
    if origin.kind == "file":
        return f"{origin.where}: {key.replace('_', '-')} ="
    return flag


def pinning_of(settings: Settings) -> Path | None:
    """The pinning a plan (and a build of its cells) reads: ``--pinning``; under ``--conda-forge``
    conda-forge-pinning installed in ``$CONDA_PREFIX`` when not given (where conda-smithy finds it)."""
    if settings.pinning:
        return checked_pinning(Path(settings.pinning))
    if not settings.conda_forge:
        return None
    if os.environ.get("CONDA_PREFIX"):
        installed = Path(os.environ["CONDA_PREFIX"]) / "conda_build_config.yaml"
        if installed.is_file():
            return installed
    raise UsageError(
        "--conda-forge: no pinning file",
        hint="pass --pinning FILE (conda-forge-pinning's conda_build_config.yaml), "
        "or install conda-forge-pinning in $CONDA_PREFIX",
    )


def checked_pinning(path: Path) -> Path:
    """``--pinning``'s file; UsageError (exit 2, as no pinning at all) when it is missing or a directory."""
    if path.is_file():
        return path
    what = "is a directory" if path.is_dir() else "does not exist"
    raise UsageError(
        f"--pinning {path}: {what}",
        hint="pass the pinning file itself: conda-forge-pinning's conda_build_config.yaml "
        "(in the pinning feedstock's recipe/, or $CONDA_PREFIX/conda_build_config.yaml where it is installed)",
    )


def recipe_reading(
    settings: Settings, path: Path, platform: str | None, *, need_pinning: bool = True
) -> tuple[str | None, dict[str, Any]]:
    """(target platform, the other ``load_recipe`` arguments) with which ``cipub plan`` reads the
    recipe, and a build of its cells reads it too: the ``-m`` files and the pinning; under
    ``--conda-forge`` also the feedstock's migrations after the ``-m`` files and conda-smithy's
    environment for that platform (CF_CUDA_ENABLED: a pinning key such as arm_variant_type exists
    only then, and a recipe naming it cannot render without it). ``platform`` None: the first
    platform of the feedstock under ``--conda-forge``, else this machine's. ``need_pinning`` False
    (a build from a plan file, whose values say what the pinning and migrations gave):
    ``--conda-forge`` without a pinning on this machine reads the recipe with the ``-m`` files only
    (the feedstock's migrations, chosen against a pinning, cannot be chosen without one)."""
    conda_forge = settings.conda_forge
    try:
        pinning = pinning_of(settings)
    except UsageError:
        if need_pinning or settings.pinning:  # a --pinning given that is no file is wrong in any build
            raise
        pinning, conda_forge = None, False
    reading: dict[str, Any] = {"variant_files": [Path(p) for p in settings.variant_config], "pinning": pinning}
    if conda_forge:
        from cipub.recipe import find_recipe_file
        from cipub.recipe.feedstock import read_feedstock

        recipe_file, _ = find_recipe_file(path)
        feedstock = read_feedstock(recipe_file, pinning=pinning)
        platform = platform or (feedstock.platforms[0] if feedstock.platforms else None)
        text = recipe_file.read_text(encoding="utf-8", errors="replace")
        reading["variant_files"] += list(feedstock.migrations)
        reading["environ"] = feedstock.environ(platform, text) if platform else None
    return platform, reading


def plan_arguments(
    settings: Settings, recipe: Recipe, overrides: Mapping[str, Sequence[str]], notes: list[str]
) -> dict[str, Any]:
    """The ``make_plan`` arguments (all but the channel) of ``cipub plan`` for these settings; a
    build with ``--only`` and no ``--plan`` plans with them too, so it builds the cell ``cipub plan``
    shows. Under ``--conda-forge``: what conda-smithy would read from the feedstock (see
    cipub.recipe.feedstock), with a note saying so."""
    pinning = pinning_of(settings)
    arguments: dict[str, Any] = {
        "variant_configs": [Path(p) for p in settings.variant_config],
        "overrides": overrides,
        "platforms": list(settings.platforms),
        "noarch_platform": settings.noarch_platform,
        "pinning": pinning,
        "grouping": settings.grouping,
    }
    if settings.conda_forge and pinning is not None:
        from cipub.recipe.feedstock import read_feedstock

        feedstock = read_feedstock(recipe.path, pinning=pinning)
        notes.append(feedstock.describe())
        recipe_text = recipe.path.read_text(encoding="utf-8", errors="replace")
        grouping = settings.grouping if settings.origin("grouping").kind != "default" else "conda-smithy"
        arguments.update(
            {
                "grouping": grouping,
                "variant_configs": [Path(p) for p in settings.variant_config] + list(feedstock.migrations),
                "platforms": list(settings.platforms) or list(feedstock.platforms),
                "noarch_platforms": list(feedstock.noarch_platforms),
                "build_platforms": dict(feedstock.build_platforms),
                "environ_for": lambda platform: feedstock.environ(platform, recipe_text),
            }
        )
    return arguments


def render(the_plan: Plan, fmt: str) -> str:
    """The plan as JSON, a GitHub matrix, a GitLab child pipeline, or a table for people."""
    if fmt == "json":
        return the_plan.to_json()
    if fmt in ("github", "gitlab"):
        from cipub.ci import matrix

        if fmt == "github":
            return matrix.render_github_matrix(the_plan)
        return matrix.render_gitlab_child_pipeline(the_plan)
    return _table(the_plan)


def _table(the_plan: Plan) -> str:
    width = max(len(c.id) for c in the_plan.cells)
    lines = [f"{the_plan.recipe}: {len(the_plan.cells)} cell(s)"]
    # outputs whose variants have numbers of their own: each cell says its number
    counts = Counter(d.name for d in the_plan.build_numbers)
    for cell in the_plan.cells:
        variant = " ".join(f"{k}={v}" for k, v in sorted(cell.variant.items())) or "-"
        kind = f"noarch: {cell.noarch}" if cell.noarch else cell.platform
        if cell.build_platform:  # cross-compiled (conda-forge.yml build_platform): its runner is that platform's
            kind += f" on {cell.build_platform}"
        own = " ".join(f"{n}={b}" for n, b in cell.build_numbers.items() if counts[n] > 1)
        lines.append(
            f"  {cell.id:<{width}}  {kind:<16}  runner {cell.runner:<16}  {variant}" + (f"  build {own}" if own else "")
        )
    by_job = the_plan.cells_by_job()
    grouped = [j for j, members in by_job.items() if len(members) > 1]
    if grouped:
        # the ids `cipub build --only` takes for a job are otherwise only in the JSON/CI formats
        lines.append(f"{len(the_plan.jobs)} job(s) (`cipub build --only JOB` builds one), grouped:")
        for job in grouped:
            lines.append(f"  {job}: {', '.join(c.id for c in by_job[job])}")
    for d in the_plan.build_numbers:
        lines.append(f"build number {d.name} {d.version}: {d.chosen} ({d.reason})")
    return "\n".join(lines) + "\n"


def check_plan_recipe(the_plan: Plan, recipe: Recipe, source: Path) -> None:
    """Refuse a plan written for another recipe (or another version of it): its cells and build
    numbers are that recipe's. The packages tell, not the path: a plan travels between checkouts.
    A plan that records no build numbers (not one ``cipub plan`` writes) has nothing to compare."""
    planned = {(d.name, d.version) for d in the_plan.build_numbers}
    built = set(recipe.names_versions)
    if not planned or planned & built:
        return

    def shown(pairs: set[tuple[str, str]]) -> str:
        return ", ".join(f"{name} {version}" for name, version in sorted(pairs))

    raise UsageError(
        f"plan {source} was written for {the_plan.recipe} ({shown(planned)}), "
        f"not for the recipe being built, {recipe.path} ({shown(built)})",
        hint="write the plan for this recipe (`cipub plan RECIPE --format json --output FILE`), "
        "or build the recipe the plan names",
    )


def load_plan(path: Path) -> Plan:
    """A plan written by ``cipub plan --format json``; UsageError (exit 2) saying how to make one."""
    from cipub.policy.plan import Plan

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(
            f"plan {path} does not exist", hint="write one with `cipub plan RECIPE --format json --output FILE`"
        ) from None
    except IsADirectoryError:
        raise UsageError(
            f"plan {path} is a directory", hint="pass the file `cipub plan RECIPE --format json --output FILE` wrote"
        ) from None
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"plan {path} is not UTF-8 text (byte {exc.start}: {exc.reason})",
            hint="write it again with `cipub plan RECIPE --format json --output FILE`",
        ) from None
    except OSError as exc:
        raise UsageError(f"cannot read plan {path}: {exc.strerror or exc}") from None
    return Plan.from_json(text, source=str(path))
