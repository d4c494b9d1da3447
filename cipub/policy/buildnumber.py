"""Build numbers come from the channel, decided once, before building.

next = highest build number of (name, version) across every label and subdir of the target, plus
one — unless the recipe's own number is already higher. ``--build-number N`` sets it outright and
``--no-bump`` keeps the recipe's number (a collision then fails cleanly at upload as a conflict).
A build job of a pipeline reuses the numbers its plan decided (:func:`from_plan`).

Variants with numbers of their own (conda-forge's ``number: 5`` plus 100 for ``nompi``, so the
solver prefers one variant) keep them and the gaps between them (:func:`decide_variants`): every
number of the (name, version) moves up by one offset k >= 0, the smallest that puts each of them
above every build number the channel has for that name and version (k = 0 when the channel has
nothing at or above the lowest; else k = highest - lowest + 1). A number above the channel's
highest is never a reused one, and each variant's new build sorts above all its older ones.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
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


def decide_variants(
    channel: Channel | None,
    name: str,
    version: str,
    recipe_numbers: Iterable[int],
    *,
    explicit: int | None = None,
    no_bump: bool = False,
) -> list[BuildNumberDecision]:
    """One decision per distinct number the (name, version) has across variants, lowest first.

    One number: exactly :func:`decide`. Several: each keeps its recipe number plus one offset k
    (the gaps between variants kept), k the smallest with every ``number + k`` above the channel's
    highest build of (name, version); without a channel, or with ``--no-bump``, k = 0;
    ``--build-number N`` sets N for all (what was asked).
    """
    numbers = sorted(set(recipe_numbers)) or [0]
    if len(numbers) == 1 or explicit is not None or no_bump or channel is None:
        return [decide(channel, name, version, n, explicit=explicit, no_bump=no_bump) for n in numbers]
    target = channel.display
    shown = "/".join(map(str, numbers))
    top = highest(channel.files(name, version))
    low = numbers[0]
    if top is None or top < low:
        reason = (
            "not on the channel yet: the recipe's number"
            if top is None
            else f"the recipe's number is above the channel's {top}"
        )
        return [BuildNumberDecision(name, version, n, top, n, f"{reason} (variants {shown})", target) for n in numbers]
    k = top - low + 1
    return [
        BuildNumberDecision(
            name,
            version,
            n,
            top,
            n + k,
            f"channel has build {top}: variants {shown} bumped by {k} to {'/'.join(str(m + k) for m in numbers)}",
            target,
        )
        for n in numbers
    ]


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


def from_plan(
    planned: Sequence[BuildNumberDecision],
    outputs: Iterable[RecipeOutput],
    cell_numbers: Mapping[str, Collection[int]] | None = None,
) -> list[BuildNumberDecision]:
    """The plan's decisions for the outputs this recipe builds (a plan may cover other outputs too).

    ``cell_numbers`` (output name -> the numbers the plan chose for the cells being built): of a
    (name, version) whose variants have numbers of their own, only those cells' decisions. A plan
    that records no per-cell numbers (written before them) gives every decision of the output.
    """
    wanted = {(o.name, o.version) for o in outputs}
    chosen = cell_numbers or {}
    return [
        d for d in planned if (d.name, d.version) in wanted and (d.name not in chosen or d.chosen in chosen[d.name])
    ]


def engine_number(decisions: list[BuildNumberDecision], explicit: int | None) -> int | None:
    """The number to hand the engine: only when it differs from what the recipe says.

    When every output keeps its recipe's number, the engine builds the recipe as written (or with
    ``--build-number`` when given); otherwise every output gets the highest number any one needs.
    One engine run cannot give variants of one output different numbers: when a bump would need
    that (a job of cells whose numbers differ), UsageError: build each cell on its own.
    """
    if all(d.chosen == d.recipe_number for d in decisions):
        return explicit
    per_name: dict[str, set[int]] = {}
    for d in decisions:
        per_name.setdefault(d.name, set()).add(d.chosen)
    split = {name: sorted(n) for name, n in per_name.items() if len(n) > 1}
    if split:
        name, numbers = next(iter(split.items()))
        raise UsageError(
            f"{name}: the variants this build makes need build numbers {', '.join(map(str, numbers))}, "
            "and one engine run gives every variant the same number",
            hint="build each cell on its own: cipub build --only CELL (cipub plan lists them; --plan FILE in CI)",
        )
    return unify(decisions)


def refuse_split_bumps(decisions: Sequence[BuildNumberDecision], output_names: Collection[str]) -> None:
    """A recipe with several outputs cannot have variants with numbers of their own moved up: one
    engine run gives every output of a variant one number, so a sibling pinned with
    ``pin_subpackage`` would carry another variant's number and the published package could not be
    installed. UsageError (exit 2) saying how to get past the channel's numbers instead."""
    if len(set(output_names)) < 2:
        return
    numbers: dict[tuple[str, str], set[int]] = {}
    bumped: set[tuple[str, str]] = set()
    for d in decisions:
        numbers.setdefault((d.name, d.version), set()).add(d.recipe_number)
        if d.chosen != d.recipe_number:
            bumped.add((d.name, d.version))
    for key in bumped:
        if len(numbers[key]) > 1:
            name, version = key
            top = max(d.channel_highest or 0 for d in decisions if (d.name, d.version) == key)
            raise UsageError(
                f"{name} {version}: its variants have build numbers of their own "
                f"({'/'.join(map(str, sorted(numbers[key])))}) and the channel already has build {top}; "
                "in a recipe with several outputs cipub cannot move them up without breaking the pins "
                "between its outputs",
                hint="raise the recipe's build number past the channel's (the variants keep their gaps), "
                "or pass --build-number N (every variant gets N)",
            )


#: the reasons of decisions that did not compare with the channel (the number was asked for)
_NOT_COMPARED = ("set by --build-number", "--no-bump")


def published_since(
    channel: Channel, planned: Sequence[BuildNumberDecision], known: Collection[str] = ()
) -> list[tuple[BuildNumberDecision, ChannelFile]]:
    """What makes a plan's numbers out of date: per decision the plan made by reading ``channel``,
    the highest-numbered file of its (name, version) the channel has now and did not have then
    (a number above the highest the plan saw). A file of one of the plan's own numbers that this
    project built (``known``: ``subdir/filename`` from the ledger) is a sibling cell's, not news.
    Empty: nothing was published since the plan, and its numbers are still the next ones."""
    numbers: dict[tuple[str, str], set[int]] = {}
    for d in planned:
        numbers.setdefault((d.name, d.version), set()).add(d.chosen)
    listed: dict[tuple[str, str], list[ChannelFile]] = {}
    stale: list[tuple[BuildNumberDecision, ChannelFile]] = []
    for d in planned:
        if d.target is None or d.target != channel.display or d.reason.startswith(_NOT_COMPARED):
            continue  # not decided from this channel: it promised nothing about it
        key = (d.name, d.version)
        if key not in listed:
            listed[key] = channel.files(d.name, d.version)
        seen = -1 if d.channel_highest is None else d.channel_highest
        new = [
            f for f in listed[key] if f.build_number > seen and not (f.key in known and f.build_number in numbers[key])
        ]
        if new:
            stale.append((d, max(new, key=lambda f: (f.build_number, f.key))))
    return stale
