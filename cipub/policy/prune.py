"""Prune: take old staging builds off the staging label, by a retention rule, never a release.

A file on the staging label is removed only when every one of these holds:

- it carries no other label on the target (a file in ``main``, ``broken`` or any label is kept);
- the project's ledger staged it and never promoted it (to any label, on this target or, with
  ``--to-target``, into another): files the ledger does not know are kept — cipub prunes only what
  it staged, so "never promoted" is known;
- a rule picks it: ``superseded`` (the target has a newer build number of the same name, version,
  subdir and variant, i.e. build string apart from ``_N``) or ``older_than`` (staged more than N
  days ago, by the ledger's receipt);
- it is not the newest build of its variant on the target, unless ``include_newest`` is asked for:
  ``older_than`` alone never takes away the build ``cipub promote`` would promote next.

Removing the label is the target's ``remove_label``: anaconda.org and PSM keep the file without
that label; directory, bucket and label-less servers delete that label's copy, which for a
staged-only file is its only copy (that is the point of pruning). A promoted file is never touched,
so its last copy is never removed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from cipub.channels.base import Channel, ChannelFile
from cipub.core.ledger import LabelAction
from cipub.policy.ledger import LedgerFacts, variant_key
from cipub.policy.publish import Progress, verify_labels
from cipub.policy.yank import _as_entry


@dataclass(frozen=True)
class PruneDecision:
    file: ChannelFile
    action: Literal["remove", "keep"]
    reason: str


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def decide_prune(
    files: Iterable[ChannelFile],
    facts: LedgerFacts,
    staging: str,
    *,
    superseded: bool,
    older_than_days: int | None,
    now: datetime,
    include_newest: bool = False,
) -> list[PruneDecision]:
    files = list(files)
    newest: dict[tuple[str, str, str, str], ChannelFile] = {}
    for f in files:
        k = variant_key(f.name, f.version, f.subdir, f.build)
        if k not in newest or f.build_number > newest[k].build_number:
            newest[k] = f
    decisions = []
    for f in sorted(files, key=lambda f: (f.name, f.version, f.build_number, f.key)):
        if staging not in f.labels:
            continue
        sha = f.sha256_in(staging) or ""
        pair = (f.key, sha)

        def keep(reason: str, f: ChannelFile = f) -> None:
            decisions.append(PruneDecision(f, "keep", reason))

        others = sorted(f.labels - {staging})
        if others:
            keep(f"also in label {', '.join(others)}")
        elif any(p[0] == f.key for p in facts.ever_promoted):
            keep("was promoted once (the ledger says so)")
        elif pair not in facts.staged:
            keep("not staged by this project's ledger (cipub prunes only what it staged)")
        else:
            winner = newest[variant_key(f.name, f.version, f.subdir, f.build)]
            staged_at = _parse_time(facts.staged[pair][1].at)
            age = now - staged_at
            if superseded and winner.build_number > f.build_number:
                decisions.append(PruneDecision(f, "remove", f"superseded by build {winner.build_number}"))
            elif winner is f and not include_newest:
                keep("newest build of its variant (--include-newest prunes it too)")
            elif older_than_days is not None and age > timedelta(days=older_than_days):
                decisions.append(PruneDecision(f, "remove", f"staged {age.days} day(s) ago"))
            else:
                keep(f"staged {age.days} day(s) ago")
    return decisions


def prune(
    channel: Channel,
    decisions: list[PruneDecision],
    staging: str,
    *,
    apply: bool,
    progress: Progress | None = None,
    done: list[LabelAction] | None = None,
) -> list[LabelAction]:
    """Report every decision; with ``apply``, remove the label from the files to remove, verified.

    The actions go to ``done`` (returned), with ``apply`` as each file's label is removed: a run
    stopped midway leaves there what it did, for the ledger."""
    say = progress or (lambda _msg: None)
    actions: list[LabelAction] = done if done is not None else []
    for d in decisions:
        verb = ("remove" if apply else "would remove") if d.action == "remove" else "keep"
        say(f"{verb:<12} {d.file.key} from {staging}: {d.reason}")
    todo = [d.file for d in decisions if d.action == "remove"]

    def act(f: ChannelFile, state: str) -> None:
        actions.append(
            LabelAction("prune", state, channel.display, staging, f.subdir, f.filename, f.sha256_in(staging))
        )

    if not apply or not todo:
        for f in todo:
            act(f, "planned")
        return actions
    with channel:
        for f in todo:
            channel.remove_label(f, staging)
            act(f, "pruned")
        verify_labels(channel, [_as_entry(f, f.sha256_in(staging) or "") for f in todo], staging, absent=True)
    return actions
