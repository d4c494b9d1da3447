"""``cipub upload`` and ``cipub promote``: act on a manifest, never on "whatever is in the label".

The policy (skip identical, refuse conflicts, verify) is :mod:`cipub.policy.publish` and
:mod:`cipub.policy.promote`; this module picks the manifest, opens the target, records the
receipts in the manifest and reports to the CI provider.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cipub.core.errors import UsageError
from cipub.core.options import Settings
from cipub.workflows.report import SILENT, Reporter
from cipub.workflows.target import load_manifests, open_target, require_write_credentials

if TYPE_CHECKING:
    from cipub.core.manifest import Manifest, PromotionReceipt, UploadReceipt


@dataclass(frozen=True)
class Published:
    """What an upload or a promotion did."""

    manifest: Manifest
    receipts: Sequence[UploadReceipt | PromotionReceipt]
    #: where the manifest with its new receipts was written; None for a dry run
    manifest_path: Path | None

    def count(self, state: str) -> int:
        return sum(1 for r in self.receipts if r.state == state)


def upload(
    settings: Settings,
    *,
    files: Sequence[Path] = (),
    manifests: Sequence[Path] = (),
    dry_run: bool = False,
    report: Reporter = SILENT,
) -> Published:
    """Upload package ``files``, or the files of ``manifests`` (merged), to ``settings.label``."""
    from cipub.ci import reports
    from cipub.core import activity
    from cipub.core import manifest as manifest_mod
    from cipub.policy.publish import upload as upload_manifest

    manifest, found_at = _manifest_to_upload(settings, files, manifests)
    write_to = None if dry_run else found_at
    channel = open_target(settings)
    if not dry_run:
        require_write_credentials(channel)
    report.say(f"uploading {len(manifest.artifacts)} file(s) to {channel.display}, label {settings.label}")
    activity.now(f"uploading to {channel.display}", "each file is either complete on the target or absent")
    with report.progress(
        len(manifest.artifacts), "uploading", total_bytes=sum(a.size for a in manifest.artifacts)
    ) as step:
        receipts = upload_manifest(manifest, channel, settings.label, dry_run=dry_run, progress=step)
    counts = {state: sum(1 for r in receipts if r.state == state) for state in {r.state for r in receipts}}
    report.say("done: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    if write_to is not None:
        manifest_mod.write(manifest, write_to)
    reports.report_manifest("upload", manifest, {"manifest": str(write_to)} if write_to else None)
    return Published(manifest, receipts, write_to)


def _manifest_to_upload(settings: Settings, files: Sequence[Path], manifests: Sequence[Path]) -> tuple[Manifest, Path]:
    from cipub.core.artifact import read_artifact
    from cipub.core.manifest import ArtifactEntry, Manifest

    if files and manifests:
        raise UsageError("give either package FILES or --manifest, not both")
    if files:
        # Every file is checked (whole, metadata matches its name) before anything is sent.
        entries = [ArtifactEntry.from_artifact(read_artifact(f)) for f in files]
        return Manifest(artifacts=entries), settings.manifest_path
    return load_manifests(manifests, settings)


def promote(
    settings: Settings,
    *,
    manifests: Sequence[Path] = (),
    move: bool = False,
    dry_run: bool = False,
    report: Reporter = SILENT,
) -> Published:
    """Promote exactly the manifest's files from ``settings.promote_from`` to ``settings.promote_to``."""
    from cipub.ci import reports
    from cipub.core import activity
    from cipub.core import manifest as manifest_mod
    from cipub.policy.promote import promote as promote_manifest

    manifest, write_to = load_manifests(manifests, settings)
    channel = open_target(settings)
    if not dry_run:
        require_write_credentials(channel)
    report.say(
        f"promoting {len(manifest.artifacts)} file(s) on {channel.display}: "
        f"{settings.promote_from} -> {settings.promote_to}{' (move)' if move else ''}"
    )
    activity.now(
        f"promoting on {channel.display}",
        f"each file is in {settings.promote_to} with its sha256 or not yet; {settings.promote_from} is untouched",
    )
    with report.progress(len(manifest.artifacts), "promoting") as step:
        receipts = promote_manifest(
            manifest,
            channel,
            settings.promote_from,
            settings.promote_to,
            move=move,
            dry_run=dry_run,
            progress=step,
        )
    done = Published(manifest, receipts, None if dry_run else write_to)
    report.say(f"done: {done.count('promoted')} promoted, {done.count('already-promoted')} already there")
    if done.manifest_path is not None:
        manifest_mod.write(manifest, done.manifest_path)
    reports.report_manifest("promote", manifest, None if dry_run else {"manifest": str(write_to)})
    return done
