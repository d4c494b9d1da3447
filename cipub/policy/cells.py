"""Which part of the build matrix one build job builds: one cell or job of the plan, or the whole recipe.

``cipub build --only ID`` builds one cell of a plan, or every cell of one of the plan's jobs (a
job id, see ``Plan.jobs``: conda-smithy's grouping builds a library once for all its pythons), in
one engine run that builds exactly the job's cells: their values are handed to the engine as rows
of one zip group, so no combination the plan did not make is built. The cell's variant pins the
engine's variant and the cell's platform becomes the target platform (unless the cell is noarch); a
``--variant`` or ``--platform`` that contradicts the cell is refused, since the manifest records the
cell. The job publishes only the outputs the plan assigned to its cells: a multi-output recipe
builds every output in every cell, and merged manifests must never hold the same file twice.

After the build, :func:`attribute` finds each file's own cell from the variant the builder recorded
in it (``info/hash_input.json``): the manifest names that cell and its values, and a file whose
values are no cell's of the job (the build differed from the plan) is refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cipub.core.artifact import Artifact
from cipub.core.errors import BuildFailedError, UsageError
from cipub.policy.plan import Plan, PlanCell, select_cells


@dataclass(frozen=True)
class CellChoice:
    """What one build job builds."""

    #: the plan cell's (or job's) id, or None for the whole recipe
    id: str | None = None
    #: the cell's variant (a job's: the values all its cells share), recorded with each artifact in
    #: the manifest
    variant: Mapping[str, str] = field(default_factory=dict)
    #: the outputs this job publishes; empty: every output it builds
    outputs: tuple[str, ...] = ()
    #: variant overrides handed to the engine
    overrides: Mapping[str, Sequence[str]] = field(default_factory=dict)
    target_platform: str | None = None
    #: how many cells the whole plan has (for the noarch advice), or None without a plan
    planned_builds: int | None = None
    #: the plan cells this job builds (one for a cell; every cell of a job), empty without a plan
    cells: tuple[PlanCell, ...] = ()
    #: groups of ``overrides`` keys the engine advances together (a job's cells as rows of one zip)
    zip_keys: tuple[tuple[str, ...], ...] = ()
    #: per key of ``overrides``, the values (by their text) the engine must be given as ints or
    #: booleans (the cells' ``native`` values), so the build strings are a whole-recipe build's
    natives: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def owns(self, output_name: str) -> bool:
        return not self.outputs or output_name in self.outputs


def whole_recipe(overrides: Mapping[str, Sequence[str]], platform: str | None) -> CellChoice:
    """No plan: build every variant the engine finds, publish every output."""
    return CellChoice(overrides=dict(overrides), target_platform=platform)


def choose(
    plan: Plan,
    only: str | None,
    *,
    overrides: Mapping[str, Sequence[str]],
    platform: str | None,
) -> CellChoice:
    """The cell or job ``only`` of ``plan`` (UsageError listing the ids if there is none), or the whole plan."""
    if only is None:
        return CellChoice(overrides=dict(overrides), target_platform=platform, planned_builds=len(plan.cells))
    members = select_cells(plan, only)
    for cell in members:
        _refuse_changes_to_cell(cell, overrides, platform)
    cell = members[0]
    zip_keys: tuple[tuple[str, ...], ...] = ()
    if len(members) == 1:
        pinned: dict[str, Sequence[str]] = {k: [v] for k, v in cell.variant.items() if k != "target_platform"}
        variant = dict(cell.variant)
        outputs = tuple(cell.outputs)
    else:
        if only not in plan.job_variants:
            raise UsageError(
                f"--only {only!r}: the plan names the job's cells but not the values that build them together",
                hint="write the plan again (`cipub plan --format json`), or build each cell with --only",
            )
        rows, zip_keys = job_rows(members, plan.job_variants[only])
        pinned = dict(rows)
        variant = {k: v for k, v in cell.variant.items() if all(c.variant.get(k) == v for c in members)}
        # a cell that publishes everything it builds makes the job publish everything too
        owned = tuple(dict.fromkeys(o for c in members for o in c.outputs))
        outputs = () if any(not c.outputs for c in members) else owned
    return CellChoice(
        id=only,
        variant=variant,
        outputs=outputs,
        # The plan's values win: the manifest records the cell (or job), so the build must be it.
        overrides={**overrides, **pinned},
        target_platform=None if cell.noarch else cell.platform,
        planned_builds=len(plan.cells),
        cells=tuple(members),
        zip_keys=zip_keys,
        natives=cell_natives(members),
    )


def cell_natives(members: Sequence[PlanCell]) -> dict[str, dict[str, Any]]:
    """Per key, the typed values of ``members`` by their text (``{"vc": {"14": 14}}``)."""
    natives: dict[str, dict[str, Any]] = {}
    for cell in members:
        for key, value in cell.native.items():
            if key in cell.variant:
                natives.setdefault(key, {})[str(cell.variant[key])] = value
    return natives


def job_rows(
    members: Sequence[PlanCell], job_variant: Mapping[str, Sequence[str]]
) -> tuple[dict[str, list[str]], tuple[tuple[str, ...], ...]]:
    """The engine values that build exactly the cells ``members`` of one job, and their zip group.

    Every key all the cells have gets one value per cell, in plan order, and those keys form one
    zip group: the engine then makes one combination per cell (the rows), never the product of
    the values, which could pair values of a zip the build does not know (the pinning's python
    and numpy, when the CI job has no pinning) or make a combination the plan dropped. Any zip
    group the engine reads from its variant files has rows of equal length too. Keys only some
    cells have keep the job's values (``Plan.job_variants``).
    """
    keys = [k for k in dict.fromkeys(k for c in members for k in c.variant) if k != "target_platform"]
    rowed = [k for k in keys if all(k in c.variant for c in members)]
    zipped = len(rowed) > 1
    values: dict[str, list[str]] = {}
    for k in keys:
        if k in rowed:
            column = [str(c.variant[k]) for c in members]
            values[k] = column if zipped else list(dict.fromkeys(column))
        elif k in job_variant:
            values[k] = [str(v) for v in job_variant[k]]
    return values, ((tuple(rowed),) if zipped else ())


def _same(planned: str, built: str) -> bool:
    """A plan value and the builder's record of it: the same text (YAML spells booleans either way)."""
    a, b = str(planned).strip(), str(built).strip()
    return a == b or (a.lower() in ("true", "false") and a.lower() == b.lower())


def attribute(choice: CellChoice, artifact: Artifact) -> PlanCell | None:
    """The cell of ``choice`` that ``artifact`` was built for; None without a plan cell to name.

    The builder records the values it used for the file in ``info/hash_input.json`` (the keys the
    output uses): the file belongs to the cells whose values agree on every key they share, and of
    those to the first that publishes this output (the plan's owner; an output using fewer keys is
    built in several cells and published by one). A file whose values agree with no cell of the
    job was built differently from the plan: BuildFailedError (exit 4) naming the values. Without
    ``hash_input.json``, a file of a one-cell build is that cell's; in a job, the first cell that
    publishes its output, when only one does; else None (the job's shared values are all that is known).
    """
    if not choice.cells:
        return None
    used = {k: v for k, v in (artifact.hash_input or {}).items() if k != "target_platform"}
    if artifact.hash_input is None:
        if len(choice.cells) == 1:
            return choice.cells[0]
        owners = [c for c in choice.cells if artifact.name in c.outputs]
        return owners[0] if len(owners) == 1 else None
    agreeing = [c for c in choice.cells if all(_same(c.variant[k], v) for k, v in used.items() if k in c.variant)]
    if not agreeing:
        shown = " ".join(f"{k}={v}" for k, v in sorted(used.items()) if any(k in c.variant for c in choice.cells))
        expected = "; ".join(
            f"{c.id}: " + " ".join(f"{k}={c.variant[k]}" for k in sorted(c.variant) if k in used) for c in choice.cells
        )
        raise BuildFailedError(
            f"{artifact.filename} was built with {shown or 'other values'}, which is no cell of "
            f"{choice.id!r} ({expected}): the build did not use the plan's variant",
            hint="build from the plan the pipeline wrote (--plan FILE), with the variant files it was planned "
            "with (--conda-forge, --pinning, -m), or plan again",
        )
    owners = [c for c in agreeing if not c.outputs or artifact.name in c.outputs]
    return (owners or agreeing)[0]


def _refuse_changes_to_cell(cell: PlanCell, overrides: Mapping[str, Sequence[str]], platform: str | None) -> None:
    """``--variant``/``--platform`` may shape the plan a cell is chosen from, never contradict the cell.

    Otherwise the build would differ from the cell the manifest and the build numbers describe.
    """
    for key, values in overrides.items():
        if key in cell.variant and str(cell.variant[key]) not in [str(v) for v in values]:
            raise UsageError(
                f"--variant {key}={','.join(values)} contradicts cell {cell.id!r} ({key} = {cell.variant[key]})",
                hint="choose the cell whose values you want with --only (cipub plan lists them), or drop --variant",
            )
    if platform is not None and not cell.noarch and platform != cell.platform:
        raise UsageError(
            f"--platform {platform} contradicts cell {cell.id!r} (built for {cell.platform})",
            hint="choose a cell of that platform with --only, or drop --platform",
        )


def split_owned(choice: CellChoice, built: Sequence[Artifact]) -> tuple[list[Artifact], list[Artifact]]:
    """``built`` split into what this job publishes and what another cell of the plan publishes."""
    mine = [a for a in built if choice.owns(a.name)]
    return mine, [a for a in built if not choice.owns(a.name)]
