"""Promotion by manifest: exactly the manifest's files go from one label to another, verified.

1. Read the channel's state; every manifest file must be on the channel with the manifest's sha256
   and carry the source label (or already carry the target label: promotion is idempotent).
   Any problem stops the command before anything changes, naming the files.
2. Add the target label to the files that need it, from the *source label's* copy (label-less
   servers copy those bytes, checked by sha256) — never from whichever copy a server lists first.
3. Read back: each file carries the target label with the manifest's sha256 (else exit 8).
4. With ``move``: only now take the source label off, after reading the channel again and checking
   that no file would lose its last copy; then read back again.
Files that are not in the manifest are never touched, whatever else the source label holds.

The decisions (``decide_promotion``, ``last_copy_problem``) are pure functions of the manifest and
the channel's state, so every kind of target decides alike; targets only do the I/O.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from cipub.channels.base import Channel, ChannelFile, find_file, when_published
from cipub.core.errors import CipubError, ConflictError, UsageError, VerificationError
from cipub.core.manifest import ArtifactEntry, Manifest, PromotionReceipt
from cipub.policy.publish import (
    Progress,
    batch_entries,
    channel_state,
    now_carries,
    receipts_kept,
    verify_labels,
)


@dataclass(frozen=True)
class PromotionDecision:
    """What promoting one manifest file must do: ``promote`` it, nothing (``already`` there), or
    ``refuse`` (``problem`` says why)."""

    entry: ArtifactEntry
    action: Literal["promote", "already", "refuse"]
    file: ChannelFile | None
    problem: str = ""
    #: refused because the destination label holds other bytes under the name (exit 6, not 8)
    conflict: bool = False


#: the label ``cipub yank`` gives a file; a yanked file is never promoted again by a manifest
YANKED_LABEL = "broken"


def decide_promotion(
    entry: ArtifactEntry, file: ChannelFile | None, from_label: str, to_label: str
) -> PromotionDecision:
    """Promote ``entry`` only from the ``from_label`` copy that is exactly the built file (sha256),
    and never a file that was yanked (re-running a CI promote job after a yank must not undo it)."""
    key = entry.key
    if file is None:
        return PromotionDecision(entry, "refuse", None, f"{key} is not on the channel")
    if YANKED_LABEL in file.labels and to_label != YANKED_LABEL and file.sha256_in(YANKED_LABEL) == entry.sha256:
        return PromotionDecision(entry, "refuse", file, f"{key} was yanked (it carries label {YANKED_LABEL!r})")
    if to_label in file.labels and file.sha256_in(to_label) == entry.sha256:
        return PromotionDecision(entry, "already", file)
    if from_label not in file.labels:
        labels = ", ".join(sorted(file.labels))
        return PromotionDecision(entry, "refuse", file, f"{key} is not in label {from_label!r} (it has: {labels})")
    if file.sha256_in(from_label) != entry.sha256:
        there, built = (file.sha256_in(from_label) or "")[:12], entry.sha256[:12]
        problem = f"{key} in label {from_label!r} is not the file that was built (sha256 {there} there, {built} built)"
        return PromotionDecision(entry, "refuse", file, problem)
    if to_label in file.labels:
        return PromotionDecision(
            entry, "refuse", file, f"{key} in label {to_label!r} has different content", conflict=True
        )
    return PromotionDecision(entry, "promote", file)


def last_copy_problem(file: ChannelFile, label: str) -> str | None:
    """Why ``label`` must not be taken off ``file``: no other label holds the same bytes, so the file
    would be gone (label-less servers delete that label's copy). None when another label keeps it."""
    sha = file.sha256_in(label)
    if sha and any(file.sha256_in(other) == sha for other in file.labels - {label}):
        return None
    return f"refusing to remove {file.key} from label {label!r}: no other label holds the same bytes"


def promote(
    manifest: Manifest,
    channel: Channel,
    from_label: str,
    to_label: str,
    *,
    move: bool = False,
    dry_run: bool = False,
    progress: Progress | None = None,
    from_ledger: bool = False,
) -> list[PromotionReceipt]:
    """``from_ledger``: ``manifest`` is the ledger's staged set, not a manifest the user named
    (the hint of a refusal differs)."""
    say = progress or (lambda _msg: None)
    if from_label == to_label:
        raise UsageError(
            f"--from and --to are both {from_label!r}",
            hint="promote from the staging label to another, e.g. --from test --to main",
        )
    if not manifest.artifacts:
        raise UsageError("the manifest lists no artifacts: nothing to promote")
    entries = batch_entries(manifest.artifacts)
    receipts: list[PromotionReceipt] = []
    kept: list[PromotionReceipt] = []  # the receipts of what is on the channel already
    # stopped midway (an error, Ctrl-C, also in the channel's exit): the files already promoted
    # keep their receipts (receipts_kept is entered before the channel, left after it)
    with receipts_kept(manifest.promotions, lambda: kept), channel:
        state = channel_state(channel, entries)
        decisions = [
            decide_promotion(e, find_file(state.get(e.key, []), e.subdir, e.filename), from_label, to_label)
            for e in entries
        ]
        problems = [d.problem for d in decisions if d.action == "refuse"]
        if problems:
            message = "cannot promote: " + "; ".join(problems) + " — nothing was changed"
            if all(d.conflict for d in decisions if d.action == "refuse"):
                # the built file is staged as it should be; the destination holds another one
                raise ConflictError(
                    message,
                    hint=f"{to_label!r} already holds other bytes under that name and files are never "
                    "overwritten: rebuild (the default bumps the build number), upload and promote that",
                )
            raise VerificationError(message, hint=_refusal_hint(decisions, from_label, from_ledger=from_ledger))
        todo = [d for d in decisions if d.action == "promote"]
        done = [d for d in decisions if d.action == "already"]

        def receipt(entry: ArtifactEntry, state: str) -> None:
            receipts.append(done_here := _receipt(entry, channel, from_label, to_label, state))
            # kept once it is on the channel (a local channel links its copies later)
            when_published(channel, entry.subdir, entry.filename, functools.partial(kept.append, done_here))

        if dry_run:
            how = _how_labels_are_added(channel)
            for d in todo:
                say(f"would promote {d.entry.key}: {from_label} -> {to_label} ({how}){' (move)' if move else ''}")
                receipt(d.entry, "planned")
            for d in done:
                say(f"already in {to_label}: {d.entry.key}")
                receipt(d.entry, "already-promoted")
            return receipts

        for d in todo:
            assert d.file is not None
            try:
                added = channel.add_label(d.file, to_label, source_label=from_label)
            except CipubError:
                # An identical promotion running at once may have got there first (and, with --move,
                # taken the source away): the file in --to with the right bytes is the goal, not a failure.
                if not now_carries(channel, d.entry, to_label):
                    raise
                added = False
            if not added:  # the target found it there: another run promoted it, not this one
                say(f"already   {d.entry.key} in {to_label} (promoted meanwhile by another run)")
                receipt(d.entry, "already-promoted")
                continue
            line = f"promoted  {d.entry.key}: {from_label} -> {to_label}"
            when_published(channel, d.entry.subdir, d.entry.filename, functools.partial(say, line))
            receipt(d.entry, "promoted")
        for d in done:
            say(f"already   {d.entry.key} in {to_label}")
            receipt(d.entry, "already-promoted")
        try:
            verify_labels(channel, entries, to_label)
        except CipubError:
            kept.clear()  # --to does not hold them as it should: no receipt is kept
            raise

        if move:
            # the promotion is verified: stopped while removing the source label, it stays recorded
            for entry in remove_label(channel, entries, from_label, progress=say):
                receipt(entry, "removed-from-source")
            verify_labels(channel, entries, to_label)
    manifest.promotions.extend(receipts)
    return receipts


def remove_label(
    channel: Channel,
    entries: list[ArtifactEntry],
    label: str,
    *,
    progress: Progress | None = None,
    removed: Callable[[ArtifactEntry], None] | None = None,
) -> list[ArtifactEntry]:
    """Take ``label`` off the files of ``entries`` that carry it, never a file's last copy.

    The channel is read afresh first; if any file would lose its last copy, nothing is removed
    (VerificationError). Returns the entries whose label was removed, verified gone; ``removed``
    is told of each as it goes (what a run stopped midway did).
    """
    say = progress or (lambda _msg: None)
    with channel:
        state = channel_state(channel, entries)
        carrying = [
            (e, f)
            for e in entries
            if (f := find_file(state.get(e.key, []), e.subdir, e.filename)) is not None and label in f.labels
        ]
        problems = [p for _e, f in carrying if (p := last_copy_problem(f, label))]
        if problems:
            raise VerificationError(
                "; ".join(problems) + " (that would delete the file) — nothing was removed",
                hint="promote the files to another label first",
            )
        for e, f in carrying:
            try:
                channel.remove_label(f, label)
            except CipubError:
                if not _gone(channel, e, label):  # removed meanwhile by an identical --move: fine
                    raise
            say(f"removed   {e.key} from {label}")
            if removed is not None:
                removed(e)
        verify_labels(channel, entries, label, absent=True)
    return [e for e, _f in carrying]


def _refusal_hint(decisions: list[PromotionDecision], from_label: str, *, from_ledger: bool = False) -> str:
    """Uploading again only helps when the files are simply not there yet; a different build under
    the same name (a rebuild with the same number) would conflict. Promoting without --manifest
    already is the ledger's set: then the file on the target was replaced after cipub staged it."""
    if any(d.problem and "was yanked" in d.problem for d in decisions):
        return (
            "a yanked file stays out of promotion; build a new build number, or take the "
            f"{YANKED_LABEL!r} label off the file on the server if the yank was a mistake"
        )
    replaced = [d for d in decisions if d.action == "refuse" and d.file is not None]
    if replaced and from_ledger:
        names = " ".join(dict.fromkeys(d.entry.name for d in replaced))
        return (
            f"the file in {from_label!r} is not the one cipub staged (replaced on the target since?): "
            f"`cipub status {names}` shows both sha256; files are never overwritten, so rebuild (the default "
            "bumps the build number), which uploads a new file, and promote that"
        )
    if replaced:
        return (
            f"this manifest is not what {from_label!r} holds (a rebuild with the same build number?): "
            "`cipub promote` without --manifest promotes what the ledger staged; or rebuild (the default "
            "bumps the build number) and upload that"
        )
    return f"upload the manifest to {from_label!r} first (`cipub upload --label {from_label}`)"


def _gone(channel: Channel, entry: ArtifactEntry, label: str) -> bool:
    state = channel_state(channel, [entry])
    found = find_file(state.get(entry.key, []), entry.subdir, entry.filename)
    return found is None or label not in found.labels


def _how_labels_are_added(channel: Channel) -> str:
    """For ``--dry-run``: what adding a label will do on this kind of target."""
    if channel.capabilities.native_labels:
        return "label added"
    if channel.capabilities.server_side_copy:
        return "copied within the target, no download"
    return "downloaded, checked by sha256, uploaded"


def _receipt(e: ArtifactEntry, channel: Channel, from_label: str, to_label: str, state: str) -> PromotionReceipt:
    return PromotionReceipt(e.filename, e.subdir, e.sha256, channel.display, from_label, to_label, state)  # type: ignore[arg-type]
