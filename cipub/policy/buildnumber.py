"""Build numbers come from the channel, decided once, before building.

next = highest build number of (name, version) across every label and subdir of the target, plus
one — unless the recipe's own number is already higher. ``--build-number N`` sets it outright and
``--no-bump`` keeps the recipe's number (a collision then fails cleanly at upload as a conflict).
A build job of a pipeline reuses the numbers its plan decided (:func:`from_plan`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from cipub.core.decisions import BuildNumberDecision
from cipub.core.errors import UsageError

if TYPE_CHECKING:
    # the channel layer (channels.base, core.artifact) only where a channel is asked: a plan
    # without a target decides from the recipe alone (start-up, benchmark B9)
    from cipub.channels.base import Channel, ChannelFile
    from cipub.recipe import RecipeOutput


def highest(files: Iterable[ChannelFile]) -> int | None:
    """The highest valid build number among ``files`` (one no package may carry is passed over)."""
    from cipub.channels.base import valid_build_number

    numbers = [n for f in files if (n := valid_build_number(f.build_number)) is not None]
    return max(numbers) if numbers else None


def decide(
    channel: Channel | None,
    name: str,
    version: str,
    recipe_number: int,
    *,
    explicit: int | None = None,
    no_bump: bool = False,
) -> BuildNumberDecision:
    """Choose the build number for one (name, version), and say why."""
    target = channel.display if channel is not None else None
    if explicit is not None:
        return BuildNumberDecision(name, version, recipe_number, None, explicit, "set by --build-number", target)
    if no_bump or channel is None:
        reason = "--no-bump: the recipe's number" if no_bump else "no channel to compare with: the recipe's number"
        return BuildNumberDecision(name, version, recipe_number, None, recipe_number, reason, target)
    top = highest(channel.files(name, version))
    if top is None:
        return BuildNumberDecision(
            name, version, recipe_number, None, recipe_number, "not on the channel yet: the recipe's number", target
        )
    if recipe_number > top:
        return BuildNumberDecision(
            name,
            version,
            recipe_number,
            top,
            recipe_number,
            f"the recipe's number is above the channel's {top}",
            target,
        )
    return BuildNumberDecision(
        name, version, recipe_number, top, top + 1, f"channel has build {top}: bumped to {top + 1}", target
    )


def unify(decisions: list[BuildNumberDecision]) -> int | None:
    """One engine call builds every output with one number: the highest any output needs."""
    return max((d.chosen for d in decisions), default=None)


def check_request(explicit: int | None, no_bump: bool) -> None:
    """``--build-number N`` and ``--no-bump`` cannot both be meant."""
    if explicit is not None and no_bump:
        raise UsageError("--build-number and --no-bump contradict each other")


def needs_channel(*, explicit: int | None, no_bump: bool, planned: bool) -> bool:
    """Whether deciding the numbers asks the channel: not when they are set, kept, or planned."""
    return not (no_bump or explicit is not None or planned)


def decide_outputs(
    channel: Channel | None,
    outputs: Iterable[RecipeOutput],
    *,
    explicit: int | None = None,
    no_bump: bool = False,
) -> list[BuildNumberDecision]:
    """One decision per output of the recipe."""
    return [decide(channel, o.name, o.version, o.build_number, explicit=explicit, no_bump=no_bump) for o in outputs]


def from_plan(planned: Sequence[BuildNumberDecision], outputs: Iterable[RecipeOutput]) -> list[BuildNumberDecision]:
    """The plan's decisions for the outputs this recipe builds (a plan may cover other outputs too)."""
    wanted = {(o.name, o.version) for o in outputs}
    return [d for d in planned if (d.name, d.version) in wanted]


def engine_number(decisions: list[BuildNumberDecision], explicit: int | None) -> int | None:
    """The number to hand the engine: only when it differs from what the recipe says.

    When every output keeps its recipe's number, the engine builds the recipe as written (or with
    ``--build-number`` when given); otherwise every output gets the highest number any one needs.
    """
    if all(d.chosen == d.recipe_number for d in decisions):
        return explicit
    return unify(decisions)
