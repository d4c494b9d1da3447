"""Promotion from one target to another (``cipub promote --to-target URL``): a staging owner or
channel to production, as conda-forge copies ``cf-staging`` to ``conda-forge``.

1. Source: every manifest file must be in the source's ``--from`` label with the built sha256.
2. Destination: the upload policy (:func:`cipub.policy.publish.decide_upload`) against *every*
   label there: absent -> copy; same bytes -> skip (or add ``--to`` to it); other bytes -> conflict,
   exit 6, before anything is written. Never overwrites.
3. Copy: anaconda.org to anaconda.org on one server, owner to owner, server-side (``/copy/package``,
   no download) with the destination's token; otherwise by bytes: downloaded from the source with
   the source's credentials, checked by sha256, uploaded with the destination's.
4. Read back: each file is in the destination's ``--to`` label with the manifest's sha256 (exit 8).

The two targets are two channel objects opened with their own token sources; no token passes
from one to the other.
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path
from typing import Protocol, runtime_checkable

from cipub.channels.base import Channel, ChannelFile, Uploaded, find_file, when_published
from cipub.channels.target import ledger_target
from cipub.core.artifact import read_artifact
from cipub.core.errors import CipubError, ConflictError, UsageError, VerificationError
from cipub.core.manifest import ArtifactEntry, Manifest, PromotionReceipt
from cipub.policy.promote import decide_promotion
from cipub.policy.publish import Progress, channel_state, decide_upload, receipts_kept, verify_labels


@runtime_checkable
class Fetches(Protocol):
    """A target cipub can read a file's bytes from (a label's copy)."""

    def fetch(self, file: ChannelFile, label: str, dest: Path) -> None: ...


@runtime_checkable
class CopiesFromOwner(Protocol):
    """anaconda.org: copy a file from another owner on the same server, without a download."""

    api_base: str
    owner: str

    def copy_from_owner(self, source_owner: str, file: ChannelFile, from_label: str, to_label: str) -> None: ...


def _server_side(source: Channel, dest: Channel) -> bool:
    return (
        isinstance(source, CopiesFromOwner)
        and isinstance(dest, CopiesFromOwner)
        and type(source) is type(dest)
        and source.api_base == dest.api_base
    )


def promote_across(
    manifest: Manifest,
    source: Channel,
    dest: Channel,
    from_label: str,
    to_label: str,
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> list[PromotionReceipt]:
    say = progress or (lambda _msg: None)
    if not manifest.artifacts:
        raise UsageError("nothing to promote: the manifest lists no artifacts")
    # one channel in two spellings (./ch and $PWD/ch/) is one target, as the ledger counts it
    if (ledger_target(source.display) or source.display) == (ledger_target(dest.display) or dest.display):
        raise UsageError("--to-target is --target: promote between labels with --from/--to instead")
    server_side = _server_side(source, dest)
    if not server_side and not isinstance(source, Fetches):
        raise UsageError(f"cipub cannot read package bytes from {source.display} yet (cross-target source)")
    receipts: list[PromotionReceipt] = []
    kept: list[PromotionReceipt] = []  # the receipts of what is on the destination already
    # stopped midway (an error, Ctrl-C, also in a channel's exit): the files already copied keep
    # their receipts (receipts_kept is entered before the channels, left after them)
    with receipts_kept(manifest.promotions, lambda: kept), source, dest:
        src_state = channel_state(source, manifest.artifacts)
        sources = {}
        problems = []
        for e in manifest.artifacts:
            f = find_file(src_state.get(e.key, []), e.subdir, e.filename)
            # the source must hold exactly the built file in --from ("already" there counts too)
            d = decide_promotion(e, f, from_label, from_label + "\0")
            if d.action == "refuse":
                problems.append(d.problem.replace("the channel", source.display))
            else:
                sources[e.key] = f
        if problems:
            raise VerificationError("cannot promote: " + "; ".join(problems) + " — nothing was changed")
        dst_state = channel_state(dest, manifest.artifacts)
        actions = [
            decide_upload(e, find_file(dst_state.get(e.key, []), e.subdir, e.filename), to_label)
            for e in manifest.artifacts
        ]
        conflicts = [a.detail for a in actions if a.action == "conflict"]
        if conflicts:
            raise ConflictError(
                "; ".join(c.replace("the channel", dest.display) for c in conflicts) + " — nothing was copied",
                hint="cipub never overwrites: the destination holds another build under that name",
            )

        def receipt(e: ArtifactEntry, state: str, how: str) -> None:
            done_here = PromotionReceipt(
                e.filename,
                e.subdir,
                e.sha256,
                dest.display,
                from_label,
                to_label,
                state,  # type: ignore[arg-type]
                message=f"from {source.display} ({how})",
            )
            receipts.append(done_here)
            # kept once it is on the destination (a local channel links its copies later)
            when_published(dest, e.subdir, e.filename, functools.partial(kept.append, done_here))

        how = "server-side copy" if server_side else "downloaded, checked by sha256, uploaded"
        for a in actions:
            if a.action == "skip":
                say(f"already   {a.entry.key} in {dest.display} {to_label}")
                receipt(a.entry, "already-promoted", "identical file already there")
            elif dry_run:
                say(f"would copy {a.entry.key}: {source.display} {from_label} -> {dest.display} {to_label} ({how})")
                receipt(a.entry, "planned", how)
            elif a.action == "add-label":
                assert a.existing is not None
                if dest.add_label(a.existing, to_label, source_label=a.source_label):
                    say(f"labelled  {a.entry.key} +{to_label} in {dest.display} (identical file already there)")
                    receipt(a.entry, "promoted", "identical file already there, label added")
                else:  # the destination had it in --to by then: another run labelled it first
                    say(f"already   {a.entry.key} in {dest.display} {to_label} (labelled meanwhile by another run)")
                    receipt(a.entry, "already-promoted", "identical file labelled meanwhile by another run")
            elif (
                _copy(a.entry, sources[a.entry.key], source, dest, from_label, to_label, server_side)
                != "skipped-identical"
            ):
                say(f"copied    {a.entry.key}: {source.display} {from_label} -> {dest.display} {to_label}")
                receipt(a.entry, "promoted", how)
            else:  # the destination had these bytes by then: another run copied them first
                say(f"already   {a.entry.key} in {dest.display} {to_label} (copied meanwhile by another run)")
                receipt(a.entry, "already-promoted", "identical file written meanwhile by another run")
        if not dry_run:
            try:
                verify_labels(dest, manifest.artifacts, to_label)
            except CipubError:
                kept.clear()  # the destination does not hold them as it should: no receipt is kept
                raise
    manifest.promotions.extend(receipts)
    return receipts


def _copy(  # noqa: PLR0917 - one call site, every argument named there
    entry: ArtifactEntry,
    file: ChannelFile | None,
    source: Channel,
    dest: Channel,
    from_label: str,
    to_label: str,
    server_side: bool,
) -> Uploaded:
    """Copy the file into ``dest``; what the destination's upload says it did."""
    assert file is not None
    if server_side:
        assert isinstance(source, CopiesFromOwner) and isinstance(dest, CopiesFromOwner)
        dest.copy_from_owner(source.owner, file, from_label, to_label)
        return "uploaded"
    assert isinstance(source, Fetches)
    with tempfile.TemporaryDirectory(prefix="cipub-copy-") as scratch:
        path = Path(scratch) / entry.filename
        source.fetch(file, from_label, path)
        artifact = read_artifact(path)
        if artifact.sha256 != entry.sha256:
            raise VerificationError(
                f"{source.display}: {entry.key} downloaded with sha256 {artifact.sha256}, expected {entry.sha256}"
                " — nothing was uploaded for it",
                hint="re-run the same command: finished files are skipped",
            )
        return dest.upload(artifact, to_label)
