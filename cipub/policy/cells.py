"""Which part of the build matrix one build job builds: one cell of the plan, or the whole recipe.

``cipub build --only ID`` builds one cell of a plan. The cell's variant pins the engine's variant
(a ``--variant`` on the command line still wins), the cell's platform becomes the target platform
(unless the cell is noarch or ``--platform`` names one), and the job publishes only the outputs the
plan assigned to that cell: a multi-output recipe builds every output in every cell, and merged
manifests must never hold the same file twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from cipub.core.artifact import Artifact
from cipub.policy.plan import Plan, select_cell


@dataclass(frozen=True)
class CellChoice:
    """What one build job builds."""

    #: the plan cell's id, or None for the whole recipe
    id: str | None = None
    #: the cell's variant, recorded with each artifact in the manifest
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
    """The cell ``only`` of ``plan`` (UsageError listing the ids if there is none), or the whole plan."""
    if only is None:
        return CellChoice(overrides=dict(overrides), target_platform=platform, planned_builds=len(plan.cells))
    cell = select_cell(plan, only)
    pinned: dict[str, Sequence[str]] = {k: [v] for k, v in cell.variant.items() if k != "target_platform"}
    return CellChoice(
        id=cell.id,
        variant=dict(cell.variant),
        outputs=tuple(cell.outputs),
        overrides={**pinned, **overrides},
        target_platform=platform or (None if cell.noarch else cell.platform),
        planned_builds=len(plan.cells),
    )


def split_owned(choice: CellChoice, built: Sequence[Artifact]) -> tuple[list[Artifact], list[Artifact]]:
    """``built`` split into what this job publishes and what another cell of the plan publishes."""
    mine = [a for a in built if choice.owns(a.name)]
    return mine, [a for a in built if not choice.owns(a.name)]
