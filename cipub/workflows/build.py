"""``cipub build``: decide the build number from the channel, build, write the manifest, upload.

The order is the contract: build numbers are decided before building (from the channel, or reused
from the plan), the manifest is written before any upload (a failed upload loses nothing), and
the upload acts on the manifest only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cipub.core.errors import BuildFailedError, UsageError
from cipub.core.options import Settings
from cipub.workflows.report import SILENT, Reporter, Result, rows
from cipub.workflows.target import (
    check_dependency_channels,
    check_label_settings,
    open_target,
    require_write_credentials,
)

if TYPE_CHECKING:
    from concurrent.futures import Future

    from cipub.channels.base import Channel
    from cipub.core.artifact import Artifact
    from cipub.core.decisions import BuildNumberDecision
    from cipub.core.manifest import ArtifactEntry, Manifest, UploadReceipt
    from cipub.engines import BuildRequest, Engine
    from cipub.engines.container import ContainerOptions
    from cipub.engines.rattler_build import RattlerBuildEngine
    from cipub.policy.cells import CellChoice
    from cipub.policy.plan import PlanCell
    from cipub.recipe import Recipe


#: what an interrupted upload leaves behind (the target writes each file whole or not at all)
UPLOAD_STATE = "the manifest is written; each file is either complete on the target or absent"


@dataclass(frozen=True)
class BuildJob:
    """What one build is asked to do, beyond the settings."""

    recipe: Path
    #: target platform (subdir); None: the cell's, else this machine's
    platform: str | None = None
    variant_overrides: Mapping[str, Sequence[str]] = field(default_factory=dict)
    #: build only this cell of the plan
    only: str | None = None
    #: a plan from ``cipub plan --format json``: the cell or job ``only`` is built with the plan's
    #: values (the cell's variant, a job's cells as one zip) and its build numbers; needs ``only``
    plan_file: Path | None = None
    #: use exactly this build number
    build_number: int | None = None
    #: keep the recipe's build number
    no_bump: bool = False
    upload: bool = True
    dry_run: bool = False


@dataclass(frozen=True)
class BuildResult:
    manifest: Manifest
    #: where the manifest was written; None for a dry run
    manifest_path: Path | None


def check_job(job: BuildJob, settings: Settings) -> None:
    """Refuse what cannot be meant, and paths the build script would run as shell code: all before
    the earlier manifest moves aside (a usage error changes nothing)."""
    from cipub.engines import check_engine_name
    from cipub.policy.buildnumber import check_request

    check_request(job.build_number, job.no_bump)
    check_engine_name(settings.engine)
    check_dependency_channels(settings)
    if job.plan_file:
        from cipub.workflows.plan import load_plan

        the_plan = load_plan(job.plan_file)  # a missing or broken plan is refused before the manifest moves aside
        if not job.only:
            _refuse_plan_without_only(job.plan_file, the_plan)
    if job.upload:
        check_label_settings(settings)
    if not job.dry_run:
        from cipub.core.manifest import check_destination

        check_destination(settings.manifest_path)  # before the build, not after it
    for what, value in (("recipe path", job.recipe), ("--output-dir", Path(settings.output_dir))):
        # rattler-build writes these paths into its build script inside double quotes
        # (export SRC_DIR="..."): `$`, backticks or `"` there would run as shell code.
        if any(ch in str(value.absolute()) for ch in '$`"'):
            raise UsageError(f'{what} {str(value)!r} contains $, ` or "; refusing it', hint="rename the directory")


def _refuse_plan_without_only(path: Path, the_plan: Any) -> None:
    """``--plan`` fixes a cell's (or a job's) values and build numbers: it names what to build only
    with ``--only``. Building "the recipe" with the plan's numbers but the build machine's values
    would build something the plan did not plan (a migration's value lost, another platform's cells)."""
    jobs = list(dict.fromkeys(c.job for c in the_plan.cells if c.job))
    ids = jobs or [c.id for c in the_plan.cells]
    shown = ", ".join(ids[:8]) + (f", ... ({len(ids)} in all)" if len(ids) > 8 else "")
    raise UsageError(
        f"--plan {path} builds one of its {'jobs' if jobs else 'cells'} with the plan's values: give --only "
        f"{'JOB' if jobs else 'CELL'} ({shown})",
        hint="`cipub build RECIPE --plan PLAN --only ID`, as each CI job of the plan runs it; without --plan, "
        "`cipub build` builds the recipe with this machine's variant files",
    )


def build(settings: Settings, job: BuildJob, report: Reporter = SILENT) -> BuildResult:
    """Build ``job.recipe`` (one plan cell with ``job.only``), write its manifest, upload it."""
    # first: the checks below import most of what the build needs (15-20 ms) meanwhile
    early = _early_engine(settings, job)
    try:
        check_job(job, settings)
        if job.upload:
            from cipub.workflows.publish import check_signing_options

            check_signing_options(settings)  # a bad --attest/--attest-key-file fails before the build
        container = _container_options(settings)  # a bad limit is refused before anything moves
        return _build(settings, job, report, container, early)
    finally:
        if early is not None:
            early.close()  # a worker no build was given (a refused command, a failure) ends here


def _early_engine(settings: Settings, job: BuildJob) -> RattlerBuildEngine | None:
    """For a host rattler-build build of a recipe.yaml: its engine, with the build's worker process
    started now, so its interpreter start and py-rattler-build import (about 50 ms) overlap with
    checking the command, reading the recipe and deciding build numbers (issue 12, B7); a refused
    command ends it unused (it runs nothing before its request). None for anything else."""
    if job.dry_run or settings.container or settings.engine not in ("auto", "rattler-build"):
        return None
    from cipub.core.errors import CipubError
    from cipub.engines._rattler_worker import start_ahead
    from cipub.recipe import find_recipe_file

    try:
        if find_recipe_file(job.recipe)[1] != "v1":
            return None
    except CipubError:
        return None  # load_recipe says what is wrong, in its own words
    worker = start_ahead()  # before the engine's own imports (~10 ms): they overlap with it too
    from cipub.engines.rattler_build import RattlerBuildEngine

    return RattlerBuildEngine(worker)


def _build(
    settings: Settings,
    job: BuildJob,
    report: Reporter,
    container: ContainerOptions | None,
    early: RattlerBuildEngine | None,
) -> BuildResult:
    from cipub.engines import select_engine
    from cipub.policy.buildnumber import engine_number, needs_channel

    try:
        recipe, cell, planned, plan_channels, reading, unplanned = _recipe_and_cell(settings, job)
        # an unknown or missing engine fails before any lookup
        engine = select_engine(settings.engine, recipe, container)
        if early is not None and type(engine) is type(early):
            engine = early  # the same engine, its worker already started
        sources = _channel_sources(settings, _engine_request(settings, recipe, cell, None, reading), plan_channels)
    except UsageError:
        raise  # a refused command (a meta.yaml for rattler-build, an unknown --only cell) changes nothing
    except BaseException:
        _set_aside_earlier_manifest(settings, job, report)  # any other failure is a failed build
        raise
    _set_aside_earlier_manifest(settings, job, report)
    if plan_channels and settings.origin("channels").kind == "default":
        # The plan's dependency channels (cipub plan -c) reach every build job, unless it names its own.
        settings = replace(settings, channels=tuple(plan_channels))
    lookup = needs_channel(explicit=job.build_number, no_bump=job.no_bump, planned=bool(planned))
    # A build job that reuses the plan's numbers and uploads nothing needs no channel (and no token).
    channel = open_target(settings) if job.upload or lookup else None
    if channel is not None and job.upload and not job.dry_run:
        require_write_credentials(channel)  # before the build: a missing token costs seconds, not a build

    def siblings() -> list[BuildNumberDecision]:
        """Every variant's recipe number: the plan's ``--only`` chose from, else planned now."""
        return unplanned if unplanned is not None else _variant_numbers(settings, job, recipe, reading)

    decisions = _build_numbers(recipe, job, planned, channel, report, cell=cell, variant_numbers=siblings)
    if planned and job.plan_file is not None:
        _refuse_a_stale_plan(settings, job.plan_file, decisions, channel)
    runs = [
        (part, numbers, _engine_request(settings, recipe, part, engine_number(numbers, job.build_number), reading))
        for part, numbers in _engine_runs(cell, decisions, job.build_number)
    ]
    if sources:
        # the variant config's channel_sources are the build's channels (conda-smithy's rule): the
        # engines take them from there (conda-build: as its -c), and the messages name them
        runs = [(part, numbers, replace(request, channels=sources)) for part, numbers, request in runs]
    if job.dry_run:
        for part, numbers, request in runs:
            result = _dry_run(settings, job, engine, request, cell=part, decisions=numbers, report=report)
        return BuildResult(replace(result.manifest, build_numbers=decisions), None)
    _keep_secrets_from_the_build(report)
    from cipub.ci import reports
    from cipub.core import manifest as manifest_mod
    from cipub.core.errors import CipubError
    from cipub.core.manifest import Manifest
    from cipub.workflows.ledger import add_record, recorded

    try:
        built = [_run_engine(engine, request, part, numbers, report) for part, numbers, request in runs]
        manifest = _combined(cell, built)
    except CipubError as exc:
        attempt = Manifest(build_numbers=decisions, recipe=str(recipe.path), engine=engine.name)
        add_record(settings, "build", attempt, error=exc)
        raise
    # The manifest is written before any upload: a failed upload loses nothing. The ledger keeps a
    # record of every build, so the next build's manifest never makes this one unpromotable.
    path = manifest_mod.write(manifest, settings.manifest_path)
    add_record(settings, "build", manifest)
    report.say(Result(f"manifest  {path}"))
    if job.upload:
        assert channel is not None
        from cipub.workflows.publish import publish_signed, sign_for_upload, wants_signing

        # signed before anything is uploaded (issue 16): a signing failure uploads nothing
        signed = sign_for_upload(settings, manifest, channel, path, report) if wants_signing(settings, report) else []
        with recorded(settings, "upload", manifest):
            receipts = _upload(manifest, channel, settings.label, report, job)
            if signed:
                # the files this upload put in the label: an attestation found beside one is stale
                fresh = {f"{r.subdir}/{r.filename}" for r in receipts if r.state in ("uploaded", "label-added")}
                publish_signed(settings, channel, signed, path, report, fresh=fresh)
        manifest_mod.write(manifest, path)
    reports.report_manifest("build", manifest, {"manifest": str(path)})
    return BuildResult(manifest, path)


def _refuse_a_stale_plan(
    settings: Settings,
    plan_file: Path,
    decisions: list[BuildNumberDecision],
    channel: Channel | None,
) -> None:
    """Before building: a plan whose numbers the target has moved past since it was written (another
    build published one of them, or a higher one) is refused with exit 6 naming the plan file, the
    number and the file now on the channel. Rebuilding the plan's number would only collide at upload
    (exit 6 after the build) or publish a build that sorts below what is there.

    A job that uploads has the target open already; one that does not (a CI build job, no token)
    opens it to read, and builds on with a warning when it cannot (a private channel, no network):
    the publish job's never-force check still stands. Only decisions the plan made by reading this
    target are checked (a plan made without one, or with --build-number, promised nothing)."""
    from cipub.core.errors import CipubError, ConflictError
    from cipub.policy.buildnumber import published_since
    from cipub.workflows.ledger import load_records

    if not any(d.target is not None for d in decisions):
        return
    log = logging.getLogger("cipub.workflows.build")
    known = {a.key for r in load_records(settings) for a in r.manifest.artifacts}
    opened = channel
    try:
        if opened is None:
            opened = open_target(settings)
        with opened:
            stale = published_since(opened, decisions, known)
    except (CipubError, ImportError) as exc:
        if channel is not None:
            raise  # the target this build uploads to cannot be read: it fails as a lookup would
        log.warning(
            "could not check whether plan %s is still current on %s (%s); building on", plan_file, settings.target, exc
        )
        return
    if not stale:
        return
    d, found = stale[0]
    seen = "nothing" if d.channel_highest is None else f"build {d.channel_highest}"
    raise ConflictError(
        f"plan {plan_file} is out of date: it chose build {d.chosen} for {d.name} {d.version} when {d.target} had "
        f"{seen}; the channel now has build {found.build_number} ({found.key}), published since",
        hint="nothing was built: write the plan again (`cipub plan RECIPE --format json --output FILE`) and run "
        "its jobs; its old number would collide with, or sort below, what is published",
    )


def _channel_sources(settings: Settings, request: BuildRequest, plan_channels: Sequence[str]) -> tuple[str, ...]:
    """The build's channels when its variant config names them in ``channel_sources`` (conda-forge's
    pinning does, for every cell); () when it does not and ``-c`` decides.

    As conda-smithy builds a feedstock, ``channel_sources`` decide: the default channels and a plan's
    give way to them (with a note when they differ). Channels given explicitly (``-c``,
    ``CIPUB_CHANNELS``, the config file) that differ are refused (exit 2), naming both: a build from
    other channels than the feedstock's is asked for by changing ``channel_sources``.
    """
    from cipub.engines.base import CHANNEL_SOURCES, variant_channel_sources

    sources = variant_channel_sources(request)
    if not sources or sources == tuple(settings.channels):
        return sources
    origin = settings.origin("channels")
    shown = ", ".join(map(_shown_channel, sources))
    if origin.kind != "default":
        given = ", ".join(map(_shown_channel, settings.channels))
        raise UsageError(
            f"the variant config names this build's channels (channel_sources: {shown}) and "
            f"-c/--channel ({settings.sources['channels']}) names others: {given}",
            hint=f"drop -c to build from {shown}, as conda-smithy does; to build from other channels, set "
            f"{CHANNEL_SOURCES} in a -m file (above the pinning) or with --variant {CHANNEL_SOURCES}=CHANNEL",
        )
    if plan_channels and tuple(plan_channels) != sources:
        logging.getLogger("cipub.workflows.build").warning(
            "the variant config's channel_sources (%s) are this build's channels, not the plan's (%s)",
            shown,
            ", ".join(map(_shown_channel, plan_channels)),
        )
    return sources


def _set_aside_earlier_manifest(settings: Settings, job: BuildJob, report: Reporter) -> None:
    """From here on a failure must not leave the earlier build's manifest where upload looks
    (README: a build that fails leaves no manifest, so ``cipub upload`` refuses)."""
    if job.dry_run:
        return
    from cipub.core.manifest import set_aside

    earlier = set_aside(settings.manifest_path)
    if earlier is not None:
        report.say(f"earlier manifest moved to {earlier}")


def _keep_secrets_from_the_build(report: Reporter) -> None:
    """The recipe's build script runs as cipub's child: it must find no publish credential in its
    environment, in ``/proc/<cipub>/environ`` or in cipub's memory (see README "Secrets and builds")."""

    from cipub.core.secrets import ancestors_holding, held_secret_values, isolate_secrets_for_build

    taken = isolate_secrets_for_build()
    if taken:
        report.say(f"secrets   {', '.join(taken)} kept from the build (not in its environment)")
        holders = ancestors_holding(held_secret_values())
        if holders:
            logging.getLogger("cipub.workflows.build").warning(
                "the environment of parent process(es) %s still holds %s, readable by the build script; "
                "build with `cipub build --no-upload` in a step without the token, then `cipub upload`",
                ", ".join(map(str, holders)),
                ", ".join(taken),
            )


def _container_options(settings: Settings) -> ContainerOptions | None:
    if not settings.container:
        if settings.container_memory or settings.container_timeout:
            logging.getLogger("cipub.workflows.build").warning(
                "--container-memory / --container-timeout apply to --container builds only; this build runs on the host"
            )
        return None
    from cipub.engines.container import ContainerOptions

    return ContainerOptions(settings.container, settings.container_memory, settings.container_timeout)


def one_platform(platforms: tuple[str, ...], *, only: str | None = None) -> str | None:
    """The build's target platform from the ``platforms`` setting: one, or None for this machine.

    ``build`` and ``plan`` share the setting (``--platform``, ``CIPUB_PLATFORMS``, config
    ``platforms``), so a value set once applies to both; a build makes one platform at a time. With
    ``--only`` the chosen cell (or job) has its platform: several platforms are the plan's (the
    GitLab include hands its ``platforms`` input to every job of the child pipeline), None here.
    """
    if len(platforms) > 1:
        if only is not None:
            return None
        raise UsageError(
            f"cipub build builds one platform at a time, not {', '.join(platforms)}",
            hint="cipub plan --platform A --platform B makes a cell per platform; build each with --only",
        )
    return platforms[0] if platforms else None


def _recipe_and_cell(
    settings: Settings, job: BuildJob
) -> tuple[Recipe, CellChoice, list[BuildNumberDecision], list[str], dict[str, Any], list[BuildNumberDecision] | None]:
    """The recipe, the part of the matrix to build, the build numbers and dependency channels a plan
    file decided (if one is given), the variant files the recipe is read with, and for ``--only``
    without ``--plan`` the plan's decisions made without a channel (every variant's recipe number).

    The recipe is read as ``cipub plan`` reads it (:func:`cipub.workflows.plan.recipe_reading`:
    the pinning, ``-m`` files, and under ``--conda-forge`` the feedstock's migrations), for the
    chosen cell's platform and pinned to the cell's values: a CI job that builds from the plan
    file needs no pinning to read the recipe, since the plan's values say what it would give.
    ``--only`` without ``--plan`` plans as ``cipub plan`` does (same settings, same cells).
    """
    from cipub.policy import cells
    from cipub.policy.plan import make_plan
    from cipub.recipe import load_recipe
    from cipub.recipe.selectors import current_platform
    from cipub.workflows.plan import load_plan, plan_arguments, recipe_reading

    def read(platform: str | None, overrides: Mapping[str, Sequence[str]]) -> tuple[Recipe, dict[str, Any]]:
        chosen, reading = recipe_reading(
            settings, job.recipe, platform or current_platform(), need_pinning=job.plan_file is None
        )
        return load_recipe(job.recipe, target_platform=chosen, overrides=overrides, **reading), reading

    if not (job.only or job.plan_file):
        recipe, reading = read(job.platform, job.variant_overrides)
        return recipe, cells.whole_recipe(job.variant_overrides, job.platform), [], [], reading, None
    unplanned: list[BuildNumberDecision] | None = None
    if job.plan_file:
        the_plan = load_plan(job.plan_file)
        planned = list(the_plan.build_numbers)
        plan_channels = list(the_plan.channels)
    else:
        recipe, _ = read(job.platform, job.variant_overrides)
        the_plan = make_plan(recipe, channel=None, **plan_arguments(settings, recipe, job.variant_overrides, []))
        planned, plan_channels = [], []
        unplanned = list(the_plan.build_numbers)
    chosen = cells.choose(the_plan, job.only, overrides=job.variant_overrides, platform=job.platform)
    platform = chosen.target_platform or (chosen.cells[0].platform if chosen.cells else job.platform)
    recipe, reading = read(platform, chosen.overrides)
    if job.plan_file:
        from cipub.workflows.plan import check_plan_recipe

        check_plan_recipe(the_plan, recipe, job.plan_file)
    return recipe, chosen, planned, plan_channels, reading, unplanned


def _build_numbers(
    recipe: Recipe,
    job: BuildJob,
    planned: list[BuildNumberDecision],
    channel: Channel | None,
    report: Reporter,
    *,
    cell: CellChoice,
    variant_numbers: Callable[[], list[BuildNumberDecision]] = list,
) -> list[BuildNumberDecision]:
    """The numbers this build uses: the plan's for its cells, or decided now from the channel.

    Decided now, a bump (the channel has the recipe's number) asks ``variant_numbers()`` (the
    recipe numbers of every variant, from a plan made without a channel) whether the variants have
    numbers of their own: then they move up together (:func:`~cipub.policy.buildnumber.decide_variants`),
    and this build keeps the decisions of its own cells (all of them for the whole recipe).
    """
    from cipub.policy.buildnumber import decide_outputs, decide_variants, from_plan, refuse_split_bumps

    if planned:
        # the numbers the plan chose for the cells this build makes (variants may differ)
        numbers = {name: set(n.values()) for name, n in _cell_numbers(cell).items()}
        decisions = from_plan(planned, recipe.outputs, numbers)
        report.say("build number from the plan: " + ", ".join(f"{d.name} {d.version} -> {d.chosen}" for d in decisions))
        return decisions
    if channel is not None:
        with channel:  # entered even when the numbers are given: a target that cannot be used fails now
            decisions = decide_outputs(channel, recipe.outputs, explicit=job.build_number, no_bump=job.no_bump)
            # the channel has builds of this version: the variants' numbers decide together (a
            # variant numbered below the one read here may need a bump this one does not)
            if any(d.channel_highest is not None for d in decisions) and job.build_number is None and not job.no_bump:
                found: dict[tuple[str, str], set[int]] = {}
                for d in variant_numbers():
                    found.setdefault((d.name, d.version), set()).add(d.recipe_number)
                own = {name: set(n.values()) for name, n in _cell_numbers(cell).items()}
                redecided: list[BuildNumberDecision] = []
                for d in decisions:
                    variants = found.get((d.name, d.version), set())
                    if len(variants) < 2:
                        redecided.append(d)
                        continue
                    mine = own.get(d.name)
                    every = decide_variants(channel, d.name, d.version, variants)
                    refuse_split_bumps(every, [o.name for o in recipe.outputs])
                    redecided += [v for v in every if mine is None or v.recipe_number in mine]
                decisions = redecided
    else:
        decisions = decide_outputs(None, recipe.outputs, explicit=job.build_number, no_bump=job.no_bump)
    for d in decisions:
        report.say(f"build number for {d.name} {d.version}: {d.chosen} ({d.reason})")
    return decisions


def _engine_runs(
    cell: CellChoice, decisions: list[BuildNumberDecision], explicit: int | None
) -> list[tuple[CellChoice, list[BuildNumberDecision]]]:
    """The engine runs this build needs: one, unless the cells of a job were given different numbers
    by a bump (variants with numbers of their own, moved up together): one engine run gives every
    variant the same number, so each group of cells with the same numbers is a run of its own."""
    from cipub.policy.cells import cell_natives, job_rows

    bumped = any(d.chosen != d.recipe_number for d in decisions)
    groups: dict[tuple[tuple[str, int], ...], list[PlanCell]] = {}
    for member in cell.cells:
        groups.setdefault(tuple(sorted(member.build_numbers.items())), []).append(member)
    if explicit is not None or not bumped or len(groups) < 2:
        return [(cell, decisions)]
    runs: list[tuple[CellChoice, list[BuildNumberDecision]]] = []
    for key, members in groups.items():
        numbers = dict(key)
        rows, zip_keys = job_rows(members, {k: list(v) for k, v in cell.overrides.items()})
        part = replace(
            cell,
            variant={k: v for k, v in members[0].variant.items() if all(c.variant.get(k) == v for c in members)},
            outputs=()
            if any(not c.outputs for c in members)
            else tuple(dict.fromkeys(o for c in members for o in c.outputs)),
            overrides={**cell.overrides, **rows},
            cells=tuple(members),
            zip_keys=zip_keys,
            natives=cell_natives(members),
        )
        runs.append((part, [d for d in decisions if d.name not in numbers or d.chosen == numbers[d.name]]))
    return runs


def _combined(cell: CellChoice, manifests: list[Manifest]) -> Manifest:
    """One manifest of the engine runs of one build (their files, decisions and notes); each file
    of a job's runs names the job, as one run of the whole job would."""
    first = manifests[0]
    if len(manifests) > 1 and len(cell.cells) > 1:
        for m in manifests:
            m.artifacts = [replace(a, job=cell.id) for a in m.artifacts]
    for other in manifests[1:]:
        first.artifacts.extend(other.artifacts)
        first.build_numbers.extend(d for d in other.build_numbers if d not in first.build_numbers)
        first.notes.extend(n for n in other.notes if n not in first.notes)
    return first


def _cell_numbers(cell: CellChoice) -> dict[str, dict[str, int]]:
    """Per output name, the number the plan chose for it in each cell this build makes (by cell id)."""
    numbers: dict[str, dict[str, int]] = {}
    for member in cell.cells:
        for name, number in member.build_numbers.items():
            numbers.setdefault(name, {})[member.id] = number
    return numbers


def _variant_numbers(
    settings: Settings, job: BuildJob, recipe: Recipe, reading: Mapping[str, Any]
) -> list[BuildNumberDecision]:
    """The recipe number of every variant of every output (a plan without a channel decides each
    as the recipe says); empty when the recipe cannot be planned (the build says why), or has one
    variant only (no variant file to read: nothing to render again)."""
    from cipub.core.errors import CipubError
    from cipub.policy.plan import make_plan
    from cipub.recipe import own_variant_file
    from cipub.workflows.plan import plan_arguments

    if not (
        reading.get("variant_files")
        or reading.get("pinning")
        or job.variant_overrides
        or own_variant_file(recipe.directory, recipe.format)
    ):
        return []

    try:
        the_plan = make_plan(recipe, channel=None, **plan_arguments(settings, recipe, job.variant_overrides, []))
    except CipubError:
        return []
    return the_plan.build_numbers


def _engine_request(
    settings: Settings,
    recipe: Recipe,
    cell: CellChoice,
    number: int | None,
    reading: Mapping[str, Any] | None = None,
) -> BuildRequest:
    """What the engine is given: the variant files the recipe was read with (``reading``, see
    :func:`cipub.workflows.plan.recipe_reading`: the pinning lowest, the feedstock's migrations
    under ``--conda-forge``; default the ``-m`` files), the cell's values above them all, and a
    job's cells as rows of one zip."""
    from cipub.engines import BuildRequest

    if reading is None:
        reading = {"variant_files": [Path(p) for p in settings.variant_config]}

    return BuildRequest(
        recipe=recipe,
        output_dir=Path(settings.output_dir),
        variant_configs=tuple(Path(p) for p in reading.get("variant_files", ())),
        variant_overrides={k: list(v) for k, v in cell.overrides.items()},
        zip_keys=cell.zip_keys,
        variant_natives={k: dict(v) for k, v in cell.natives.items()},
        pinning=reading.get("pinning"),
        variant_environ=reading.get("environ"),
        build_number=number,
        target_platform=cell.target_platform,
        channels=tuple(settings.channels),
        run_tests=settings.run_tests and _cross_compiled(cell.target_platform) is None,
    )


def _cross_compiled(target_platform: str | None) -> str | None:
    """This machine's platform when a build for ``target_platform`` cross-compiles here (an osx-arm64
    cell on its build platform's osx-64 runner, conda-forge.yml ``build_platform``), else None. The
    recipe tests of such a build cannot run here: they are skipped, as conda-smithy skips them and
    rattler-build's ``--test native`` does (a noarch package is tested wherever it is built)."""
    from cipub.recipe.selectors import current_platform

    if target_platform is None or target_platform == "noarch":
        return None
    here = current_platform()
    return here if here != target_platform else None


def _shown_channel(channel: str) -> str:
    """A dependency channel as messages show it: a URL's query and fragment (``?auth=...``) as ``***``."""
    from cipub.core.secrets import redact_url

    return redact_url(channel) if "://" in channel else channel


def _dry_run(
    settings: Settings,
    job: BuildJob,
    engine: Engine,
    request: BuildRequest,
    *,
    cell: CellChoice,
    decisions: list[BuildNumberDecision],
    report: Reporter,
) -> BuildResult:
    from cipub.core.manifest import Manifest

    report.say(
        f"would build {request.recipe.path} with {engine.name} into {request.output_dir}"
        + (f" (cell {cell.id})" if cell.id else "")
        + (f" for {request.target_platform}" if request.target_platform else "")
        + f", solving dependencies from {', '.join(map(_shown_channel, request.channels)) or 'no channel'}"
        + (f", build number {request.build_number}" if request.build_number is not None else "")
        + ("" if request.run_tests else ", without recipe tests")
        + (f", then upload to {settings.target} label {settings.label}" if job.upload else "")
    )
    return BuildResult(Manifest(build_numbers=decisions, recipe=str(request.recipe.path), engine=engine.name), None)


def _run_engine(
    engine: Engine,
    request: BuildRequest,
    cell: CellChoice,
    decisions: list[BuildNumberDecision],
    report: Reporter,
) -> Manifest:
    """Build, keep what this cell publishes, and describe it in a manifest (with the noarch advice)."""
    from cipub.core import activity
    from cipub.core.manifest import Manifest
    from cipub.policy.cells import split_owned
    from cipub.policy.noarch import advise

    report.say(f"building {request.recipe.path} with {engine.name}" + (f" (cell {cell.id})" if cell.id else ""))
    activity.now(f"building {request.recipe.path}", "nothing was uploaded")
    if not request.run_tests:
        here = _cross_compiled(request.target_platform)
        if here is not None:
            report.say(
                f"recipe tests: skipped (built for {request.target_platform} on {here}, cross-compiling: "
                "this machine cannot run its programs)"
            )
        else:
            report.say("recipe tests: skipped (--no-test / run-tests = false)")
    with _EarlyChecks() as checks:
        with report.stream(f"building {request.recipe.path}") as log:
            built = engine.build(replace(request, log=log, on_package=checks.start, on_started=checks.prepare))
        if request.run_tests and engine.name == "rattler-build":
            from cipub.core.artifact import carries_recipe_tests

            tested = sum(1 for p in built if carries_recipe_tests(p))
            if tested:
                report.say(f"recipe tests: passed ({tested} of {len(built)} package(s) have tests)")
            else:
                report.say("recipe tests: none (the recipe defines no tests for its package(s))")
        artifacts, skipped = split_owned(cell, [checks.result(p) for p in built])
    for a in skipped:
        report.say(f"not in this cell's outputs (published by another cell): {a.key}")
    if not artifacts:
        raise BuildFailedError(f"{engine.name} finished but produced no package in {request.output_dir}")
    if request.build_number is None:
        decisions = _with_variant_numbers(decisions, artifacts, report)
    manifest = Manifest(
        # each file names the channels it was built from: verify installs it from the same ones
        artifacts=[replace(_entry(cell, a), channels=_recordable(request.channels)) for a in artifacts],
        build_numbers=decisions,
        recipe=str(request.recipe.path),
        engine=engine.name,
    )
    info = getattr(engine, "info", None)  # a container build: the image it ran in
    if info is not None:
        manifest.container = {"image": info.image, "digest": info.digest}
    manifest.notes.extend(advise(request.recipe, artifacts, planned_builds=cell.planned_builds))
    for a in artifacts:
        report.say(Result(f"built     {a.key}  sha256 {a.sha256[:12]}  build {a.build_number}"))
    for note in manifest.notes:
        report.say(f"note: {note}")
    return manifest


def _recordable(channels: Sequence[str]) -> list[str]:
    """The build's channels as the manifest keeps them: all of them, or none when one carries what
    could be a credential (``user:password@``, ``/t/TOKEN/``, a query): the manifest never holds a
    secret, and verify then uses the channels setting, as for a manifest that names none."""
    from cipub.core.secrets import redact_url

    return list(channels) if all(redact_url(c) == c for c in channels) else []


def _with_variant_numbers(
    decisions: list[BuildNumberDecision], artifacts: Sequence[Artifact], report: Reporter
) -> list[BuildNumberDecision]:
    """A recipe built as written makes each variant with its own number (``number: 5`` plus 100
    for ``nompi``): a number no decision names (the recipe was read for one variant) gets one of
    its own, so the manifest and the messages say every number built."""
    from cipub.core.decisions import BuildNumberDecision

    result = list(decisions)
    for a in artifacts:
        if any((d.name, d.version, d.chosen) == (a.name, a.version, a.build_number) for d in result):
            continue
        base = next((d for d in result if (d.name, d.version) == (a.name, a.version)), None)
        if base is None:
            continue
        reason, number = f"{base.reason}, of this variant", a.build_number
        result.append(BuildNumberDecision(a.name, a.version, number, base.channel_highest, number, reason, base.target))
        report.say(f"build number for {a.name} {a.version}: {number} ({reason})")
    return result


def _entry(choice: CellChoice, artifact: Artifact) -> ArtifactEntry:
    """The manifest entry of one built file: the plan cell it was built for and that cell's values
    (each file of a job its own cell), and the job when one run built several cells."""
    from cipub.core.manifest import ArtifactEntry
    from cipub.policy.cells import attribute

    own = attribute(choice, artifact)  # BuildFailedError when the file is no cell's of the plan
    job = choice.id if len(choice.cells) > 1 else None
    if own is None:
        return ArtifactEntry.from_artifact(artifact, dict(choice.variant), choice.id, job)
    return ArtifactEntry.from_artifact(artifact, dict(own.variant), own.id, job)


class _EarlyChecks:
    """Each built package checked (:func:`~cipub.core.artifact.read_artifact`: every member
    decompressed, sha256 and md5) in a background thread as soon as the engine has written it,
    while the engine still indexes its output folder or runs the recipe tests (rattler-build: about
    a second for 100 MB; the check took 0.3-0.6 s after the build, benchmark B7). Once the build
    runs in its own process, the thread imports the checks' own modules (py-rattler) meanwhile.

    A result counts only if the file is unchanged since its check began (same size, mtime and
    inode); a failed or outdated check is done again after the build, so a file the engine was still
    writing is never reported damaged and never described by bytes it no longer has.
    """

    def __enter__(self) -> _EarlyChecks:
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cipub-check")
        self._started: dict[Path, tuple[tuple[int, int, int], Future[Artifact]]] = {}
        return self

    def prepare(self) -> None:
        from cipub.core.artifact import load_checks

        self._pool.submit(load_checks)

    def __exit__(self, *exc: object) -> None:
        # an interrupted or failed build does not wait for checks nobody will read
        self._pool.shutdown(wait=False, cancel_futures=True)

    def start(self, path: Path) -> None:
        from cipub.core.artifact import read_artifact

        stamp = _stamp(path)
        if stamp is not None:
            self._started[path] = (stamp, self._pool.submit(read_artifact, path))

    def result(self, path: Path) -> Artifact:
        from cipub.core.artifact import read_artifact

        started = self._started.pop(path, None)
        if started is not None:
            stamp, future = started
            try:
                artifact = future.result()
            except Exception:  # checked again below, on the file as it is now
                artifact = None
            if artifact is not None and _stamp(path) == stamp:
                return artifact
        return read_artifact(path)


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino)


def _upload(manifest: Manifest, channel: Channel, label: str, report: Reporter, job: BuildJob) -> list[UploadReceipt]:
    from cipub.core import activity
    from cipub.core.errors import ConflictError
    from cipub.policy.publish import upload

    report.say(f"uploading to {channel.display}, label {label}")
    activity.now(f"uploading to {channel.display}", UPLOAD_STATE)
    with report.progress(
        len(manifest.artifacts), "uploading", total_bytes=sum(a.size for a in manifest.artifacts)
    ) as step:
        try:
            # every file was checked in full by this process when the build wrote the manifest
            return upload(manifest, channel, label, progress=rows(step), checked_here=True)
        except ConflictError as exc:
            if job.no_bump or job.build_number is not None:
                flag = "--no-bump" if job.no_bump else "--build-number"
                raise ConflictError(
                    exc.message,
                    hint=f"drop {flag}: the default takes the next build number from the channel; "
                    "what earlier builds staged is still in the ledger (`cipub promote` promotes it)",
                ) from None
            raise
