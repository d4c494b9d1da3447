"""Yank: mark files broken, as conda-forge does: add the ``broken`` label, then take the file off
``main`` (or the label named), never deleting it. Environments that pinned the file still resolve
it from ``broken``; new solves from ``main`` no longer see it.

On every target the same two label operations (:class:`~cipub.channels.base.Channel`): anaconda.org
and PSM label the one stored file; directory and bucket channels copy it to ``label/broken/`` then
remove the ``main`` copy; label-less servers (Quetz, prefix.dev, Artifactory) copy it to the
``CHANNEL-broken`` channel / repository and then delete the ``main`` channel's copy. The ``main``
copy is removed only after the ``broken`` copy is read back with the same sha256 (the last-copy
rule of :func:`cipub.policy.promote.remove_label`), so a file is never gone from the target.
Idempotent: a file already in ``broken`` and not in ``main`` is ``already-yanked``.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Literal

from cipub.channels.base import Channel, ChannelFile, find_file
from cipub.core.errors import ConflictError, UsageError, VerificationError
from cipub.core.ledger import LabelAction
from cipub.core.manifest import ArtifactEntry
from cipub.policy.promote import remove_label
from cipub.policy.publish import Progress, channel_state, verify_labels

BROKEN_LABEL = "broken"


@dataclass(frozen=True)
class Spec:
    """``NAME=VERSION[=BUILD]`` (BUILD may be a glob such as ``*_3``) or a package file name."""

    name: str
    version: str
    build: str = "*"

    def matches(self, f: ChannelFile) -> bool:
        return f.name == self.name and f.version == self.version and fnmatch.fnmatchcase(f.build, self.build)


def parse_spec(text: str) -> Spec:
    from cipub.core.artifact import split_filename
    from cipub.core.errors import InvalidPackageError

    if text.endswith((".conda", ".tar.bz2")):
        try:
            name, version, build, _ext = split_filename(text.rsplit("/", 1)[-1])
        except InvalidPackageError as exc:
            raise UsageError(f"{text!r}: {exc.message}") from None
        return Spec(name, version, build)
    parts = text.split("=")
    if len(parts) not in (2, 3) or not all(parts):
        raise UsageError(
            f"invalid package spec {text!r}",
            hint="write NAME=VERSION or NAME=VERSION=BUILD (BUILD may be a glob, e.g. '*_3'), or a file name",
        )
    return Spec(*parts)


@dataclass(frozen=True)
class YankDecision:
    file: ChannelFile
    action: Literal["yank", "already", "refuse"]
    problem: str = ""


def decide_yank(file: ChannelFile, remove_from: str, broken: str) -> YankDecision:
    if remove_from not in file.labels:
        if broken in file.labels:
            return YankDecision(file, "already")
        labels = ", ".join(sorted(file.labels)) or "none"
        return YankDecision(file, "refuse", f"{file.key} is not in label {remove_from!r} (it has: {labels})")
    if broken in file.labels and file.sha256_in(broken) != file.sha256_in(remove_from):
        return YankDecision(file, "refuse", f"{file.key} in label {broken!r} has different content")
    return YankDecision(file, "yank")


def select_by_specs(channel: Channel, specs: list[Spec], remove_from: str, broken: str) -> list[ChannelFile]:
    """The target's files matching ``specs`` that carry ``remove_from`` or ``broken``."""
    chosen: dict[str, ChannelFile] = {}
    for spec in specs:
        found = [
            f
            for f in channel.files(spec.name, spec.version)
            if spec.matches(f) and (remove_from in f.labels or broken in f.labels)
        ]
        if not found:
            raise UsageError(
                f"no file of {spec.name} {spec.version} (build {spec.build}) is in label {remove_from!r} "
                f"or {broken!r} on {channel.display}",
                hint="`cipub status NAME` shows which files and labels the target has",
            )
        chosen.update((f.key, f) for f in found)
    return list(chosen.values())


def select_by_manifest(channel: Channel, entries: list[ArtifactEntry]) -> list[ChannelFile]:
    state = channel_state(channel, entries)
    files, problems = [], []
    for e in entries:
        f = find_file(state.get(e.key, []), e.subdir, e.filename)
        if f is None:
            problems.append(f"{e.key} is not on the channel")
        elif e.sha256 not in {sha for _label, sha in f.label_sha256} | {f.sha256}:
            problems.append(f"{e.key} on the channel is not the file that was built (sha256 differs)")
        else:
            files.append(f)
    if problems:
        raise VerificationError("cannot yank: " + "; ".join(problems) + " — nothing was changed")
    return files


def yank(
    channel: Channel,
    files: list[ChannelFile],
    remove_from: str,
    broken: str = BROKEN_LABEL,
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
    done: list[LabelAction] | None = None,
) -> list[LabelAction]:
    """Decide for every file first (any refusal changes nothing), then label and verify.

    The actions go to ``done`` (returned) as each file is yanked: a run stopped midway leaves
    there what it did, for the ledger."""
    say = progress or (lambda _msg: None)
    if remove_from == broken:
        raise UsageError(
            f"--remove-from and --broken-label are both {broken!r}",
            hint="yank moves files from a label to another, e.g. --remove-from main --broken-label broken",
        )
    decisions = [decide_yank(f, remove_from, broken) for f in files]
    problems = [d.problem for d in decisions if d.action == "refuse"]
    if problems:
        raise ConflictError("cannot yank: " + "; ".join(problems) + " — nothing was changed")
    actions: list[LabelAction] = done if done is not None else []

    def act(f: ChannelFile, state: str) -> None:
        sha = f.sha256_in(remove_from) or f.sha256_in(broken) or f.sha256
        actions.append(LabelAction("yank", state, channel.display, broken, f.subdir, f.filename, sha))

    with channel:
        for d in decisions:
            if d.action == "already":
                say(f"already   {d.file.key} in {broken}, not in {remove_from}")
                act(d.file, "already-yanked")
            elif dry_run:
                say(f"would yank {d.file.key}: +{broken}, -{remove_from} (the file is kept)")
                act(d.file, "planned")
        todo = [d.file for d in decisions if d.action == "yank"]
        if dry_run or not todo:
            return actions
        for f in todo:
            if broken not in f.labels:
                channel.add_label(f, broken, source_label=remove_from)
        entries = [_as_entry(f, f.sha256_in(remove_from) or "") for f in todo]
        verify_labels(channel, entries, broken)
        by_key = {f.key: f for f in todo}
        yanked: set[str] = set()

        def off_the_label(e: ArtifactEntry) -> None:
            # in broken (verified) and now off --remove-from: this file is yanked
            act(by_key[e.key], "yanked")
            yanked.add(e.key)

        remove_label(channel, entries, remove_from, progress=say, removed=off_the_label)
        for f in todo:
            say(f"yanked    {f.key}: now in {broken}, no longer in {remove_from}")
            if f.key not in yanked:  # already off it (removed meanwhile by another run)
                act(f, "yanked")
    return actions


def _as_entry(f: ChannelFile, sha256: str) -> ArtifactEntry:
    """A manifest entry for a channel file (the verification helpers take entries)."""
    return ArtifactEntry(f.filename, f.subdir, f.name, f.version, f.build, f.build_number, None, sha256, 0, "")
