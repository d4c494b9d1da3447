"""Build numbers come from the channel, decided once, before building.

next = highest build number of (name, version) across every label and subdir of the target, plus
one — unless the recipe's own number is already higher. ``--build-number N`` sets it outright and
``--no-bump`` keeps the recipe's number (a collision then fails cleanly at upload as a conflict).
"""

from __future__ import annotations

from collections.abc import Iterable

from cipub.channels.base import Channel, ChannelFile
from cipub.core.manifest import BuildNumberDecision


def highest(files: Iterable[ChannelFile]) -> int | None:
    numbers = [f.build_number for f in files]
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
