"""Which part of the build matrix one build job builds: one cell or job of the plan, or the whole recipe.

``cipub build --only ID`` builds one cell of a plan, or every cell of one of the plan's jobs (a
job id, see ``Plan.jobs``: conda-smithy's grouping builds a library once for all its pythons), in
one engine run pinned to the job's values (``Plan.job_variants``). The cell's variant pins the engine's variant
and the cell's platform becomes the target platform (unless the cell is noarch); a ``--variant`` or
``--platform`` that contradicts the cell is refused, since the manifest records the cell. The job
publishes only the outputs the plan assigned to that cell: a multi-output recipe builds every
output in every cell, and merged manifests must never hold the same file twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from cipub.core.artifact import Artifact
from cipub.core.errors import UsageError
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
        pinned = {k: list(v) for k, v in plan.job_variants[only].items()}
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
    )


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
