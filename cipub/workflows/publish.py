"""``cipub upload`` and ``cipub promote``: act on a manifest, never on "whatever is in the label".

The policy (skip identical, refuse conflicts, verify) is :mod:`cipub.policy.publish` and
:mod:`cipub.policy.promote`; this module picks the manifest, opens the target, records the
receipts in the manifest and reports to the CI provider.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cipub.core.errors import AuthError, UsageError
from cipub.core.options import Settings
from cipub.core.secrets import redact_url
from cipub.workflows.report import SILENT, Reporter, Result, rows
from cipub.workflows.target import load_manifests, open_target, require_write_credentials, target_options

if TYPE_CHECKING:
    from cipub.channels.base import Channel
    from cipub.channels.target import TargetOptions
    from cipub.core.ledger import Command
    from cipub.core.manifest import AttestationRecord, Manifest, PromotionReceipt, UploadReceipt
    from cipub.policy.attest import Requirement
    from cipub.workflows.report import Step


@dataclass(frozen=True)
class Published:
    """What an upload or a promotion did."""

    manifest: Manifest
    receipts: Sequence[UploadReceipt | PromotionReceipt]
    #: where the manifest with its new receipts was written; None for a dry run
    manifest_path: Path | None
    dry_run: bool = False

    def count(self, state: str) -> int:
        return sum(1 for r in self.receipts if r.state == state)

    def document(self) -> dict[str, Any]:
        """The ``--json`` document: the manifest (schema ``manifest-1``); a dry run's also holds
        ``dry_run`` and the ``plan`` (a receipt per file saying what would be done), as yank's and
        prune's documents do, since a dry run records no receipt in the manifest."""
        from dataclasses import asdict

        data = self.manifest.to_dict()
        if self.dry_run:
            data["dry_run"] = True
            data["plan"] = [asdict(r) for r in self.receipts]
        return data


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

    check_signing_options(settings)  # a bad key fails now, and in a dry run, not after the upload
    manifest, found_at = _manifest_to_upload(settings, files, manifests)
    write_to = None if dry_run else found_at
    channel = open_target(settings)
    if not dry_run:
        require_write_credentials(channel)
    report.say(f"uploading {len(manifest.artifacts)} file(s) to {channel.display}, label {settings.label}")
    recording = _recording(settings, "upload", manifest, dry_run)
    signing = wants_signing(settings, report)
    signed = sign_for_upload(settings, manifest, channel, found_at, report) if signing and not dry_run else []
    activity.now(
        f"uploading to {channel.display}",
        "each file is either complete on the target or absent (the label's index may lag until then)",
    )
    with (
        report.progress(
            len(manifest.artifacts), "uploading", total_bytes=sum(a.size for a in manifest.artifacts)
        ) as step,
        recording,
    ):
        receipts = upload_manifest(manifest, channel, settings.label, dry_run=dry_run, progress=rows(step))
    if signed:
        # the files this upload put in the label: an attestation found beside one of them is stale
        fresh = {f"{r.subdir}/{r.filename}" for r in receipts if r.state in ("uploaded", "label-added")}
        publish_signed(settings, channel, signed, found_at, report, fresh=fresh)
    counts = {state: sum(1 for r in receipts if r.state == state) for state in {r.state for r in receipts}}
    report.say(
        Result(("dry run: " if dry_run else "done: ") + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    )
    if write_to is not None:
        manifest_mod.write_receipts(manifest, write_to)
    reports.report_manifest("upload", manifest, {"manifest": str(write_to)} if write_to else None)
    return Published(manifest, receipts, write_to, dry_run=dry_run)


def _attest_dir(settings: Settings, found_at: Path | None) -> Path:
    """Where signed documents go: beside the manifest (``found_at`` is its file or its directory)."""
    if found_at is None:
        return Path(settings.output_dir)
    return found_at if found_at.is_dir() else found_at.parent


def check_signing_options(settings: Settings) -> None:
    """Exit 2 up front (before a build, an upload, or in a dry run) for --attest options that would
    fail only when signing: the kind, and for key the key file (readable, ECDSA P-256)."""
    if settings.attest:
        from cipub.core.attest import check_signing

        check_signing(settings.attest, settings.attest_key_file)


def wants_signing(settings: Settings, report: Reporter) -> bool:
    """Whether this upload signs; says so when a key file is set without ``--attest`` (it would
    otherwise publish unsigned without a word)."""
    if not settings.attest and settings.attest_key_file:
        report.say(
            "note: --attest-key-file is set but --attest is not: publishing unsigned (pass --attest key to sign)"
        )
    return bool(settings.attest)


def sign_for_upload(
    settings: Settings, manifest: Manifest, channel: Channel, found_at: Path | None, report: Reporter
) -> list[AttestationRecord]:
    """Sign a CEP 27 publish attestation per file, before anything is uploaded (a signing failure
    uploads nothing)."""
    from cipub.channels.base import MAIN_LABEL
    from cipub.policy.attest import SigningRequest, attach_attestations, sign_manifest

    request = SigningRequest(
        kind=settings.attest,
        target_channel=settings.attest_channel_url or channel.install_url(MAIN_LABEL),
        out_dir=_attest_dir(settings, found_at),
        key_file=settings.attest_key_file,
        token_file=settings.identity_token_file,
        trust_config=settings.sigstore_trust_config,
    )
    records = sign_manifest(manifest, request)
    who = records[0].identity if records else ""
    published = sum(1 for r in records if r.statement == "publish")
    extra = f" and {len(records) - published} provenance statement(s)" if len(records) > published else ""
    report.say(
        f"signed {published} publish attestation(s){extra} ({settings.attest}, {who}) for {request.target_channel}"
    )
    if attach_attestations(channel, records, request.out_dir):
        report.say(f"the attestations go to {channel.display} with the uploads")
    return records


def publish_signed(
    settings: Settings,
    channel: Channel,
    records: list[AttestationRecord],
    found_at: Path | None,
    report: Reporter,
    *,
    fresh: Collection[str] = (),
) -> None:
    from cipub.policy.attest import AttachesAttestations, publish_attestations

    stored, kept, replaced = publish_attestations(
        channel, settings.label, records, _attest_dir(settings, found_at), fresh
    )
    for filename in replaced:
        report.say(
            f"note: replaced a stale attestation for {filename} on {channel.display} (it was there "
            "without its package, so it was not the publisher's)"
        )
    for filename in kept:
        report.say(
            f"note: {filename} already has an attestation on {channel.display}; it was kept "
            "(attestations, like packages, are never overwritten)"
        )
    if stored:
        report.say(f"stored {stored} attestation(s) with the packages on {channel.display}")
    elif not kept and not isinstance(channel, AttachesAttestations):
        report.say(
            f"note: {channel.display} cannot hold attestations; they are in the manifest (keep it as a CI artifact)"
        )


def _manifest_to_upload(
    settings: Settings, files: Sequence[Path], manifests: Sequence[Path]
) -> tuple[Manifest, Path | None]:
    from cipub.core.artifact import read_artifact
    from cipub.core.manifest import ArtifactEntry, Manifest

    if files and manifests:
        raise UsageError("give either package FILES or --manifest, not both")
    if files:
        missing = [str(f) for f in files if not Path(f).is_file()]
        if missing:  # a path that names nothing is a mistyped argument, not a damaged package (9)
            raise UsageError(
                f"no such package file: {', '.join(missing[:3])}"
                + (f" and {len(missing) - 3} more" if len(missing) > 3 else ""),
                hint="pass .conda or .tar.bz2 files that exist, or --manifest from cipub build",
            )
        # Every file is checked (whole, metadata matches its name) before anything is sent.
        entries = [ArtifactEntry.from_artifact(read_artifact(f)) for f in files]
        # Package files are recorded in the ledger only: the build's manifest stays the build's.
        return Manifest(artifacts=entries), None
    return load_manifests(manifests, settings)


def promote(
    settings: Settings,
    *,
    manifests: Sequence[Path] = (),
    selectors: Sequence[str] = (),
    move: bool = False,
    dry_run: bool = False,
    report: Reporter = SILENT,
) -> Published:
    """Promote exactly the manifest's files from ``settings.promote_from`` to ``settings.promote_to``;
    without ``manifests``, the ledger's default promotion set (:mod:`cipub.policy.ledger`)."""
    from cipub.core import activity
    from cipub.core import manifest as manifest_mod

    if manifests and selectors:
        raise UsageError("give either --manifest or recipes/package names, not both")
    if settings.to_target:
        check_signing_options(settings)  # --attest signs for the destination: a bad key fails now
    write_to: Path | None = None
    if manifests:
        # Read (and check) the manifest before the target is opened: a missing or invalid manifest
        # fails without importing the channels, py-rattler or httpx (start-up, issue 12).
        manifest, write_to = load_manifests(manifests, settings)
    channel = open_target(settings)
    if not dry_run and not settings.to_target:  # a cross-target source is only read
        require_write_credentials(channel)
    if not manifests:
        manifest = _ledger_set(settings, channel.display, selectors, report)
    # imported once there is something to promote: a refused command does not pay for them (issue 12)
    from cipub.ci import reports
    from cipub.policy.promote import promote as promote_manifest

    report.say(
        f"promoting {len(manifest.artifacts)} file(s) on {channel.display}: "
        f"{settings.promote_from} -> {_shown_target(settings.to_target) + ' ' if settings.to_target else ''}"
        f"{settings.promote_to}{' (move)' if move else ''}"
    )
    activity.now(
        f"promoting on {channel.display}",
        f"each file is in {settings.promote_to} with its sha256 or not yet; "
        + (
            f"a file leaves {settings.promote_from} only once it is in {settings.promote_to}"
            if move
            else f"{settings.promote_from} is untouched"
        ),
    )
    recording = _recording(settings, "promote", manifest, dry_run)
    if settings.attest and not settings.to_target:
        report.say(
            "note: --attest signs only for a cross-target promotion (--to-target); the files keep the "
            "attestations they were uploaded with"
        )
    if settings.to_target and not settings.attest and manifest.attestations:
        report.say(
            "note: the files' attestations name the source channel and are not copied to "
            f"{_shown_target(settings.to_target)}; pass --attest (with its key or identity) to sign for it"
        )
    if settings.require_attestation:
        _require_attestations(settings, channel, manifest, report)
    # where the promoted files must show in the index: the destination of a cross-target promotion
    indexed: Channel = channel
    index_options: TargetOptions | None = None
    with report.progress(len(manifest.artifacts), "promoting") as step, recording:
        if settings.to_target:
            receipts, indexed, index_options = _promote_across(
                settings, manifest, channel, move=move, dry_run=dry_run, progress=rows(step)
            )
        else:
            receipts = promote_manifest(
                manifest,
                channel,
                settings.promote_from,
                settings.promote_to,
                move=move,
                dry_run=dry_run,
                progress=rows(step),
                from_ledger=not manifests,
            )
    if not dry_run:
        options = index_options or target_options(settings)
        _wait_for_the_index(settings, indexed, manifest, receipts, report, options=options)
    done = Published(manifest, receipts, None if dry_run else write_to, dry_run=dry_run)
    if dry_run:
        report.say(
            Result(f"dry run: would promote {done.count('planned')}, {done.count('already-promoted')} already there")
        )
    else:
        report.say(Result(f"done: {done.count('promoted')} promoted, {done.count('already-promoted')} already there"))
    if done.manifest_path is not None:
        manifest_mod.write_receipts(manifest, done.manifest_path)
    reports.report_manifest("promote", manifest, {"manifest": str(write_to)} if done.manifest_path else None)
    return done


def _wait_for_the_index(
    settings: Settings,
    channel: Channel,
    manifest: Manifest,
    receipts: Sequence[PromotionReceipt],
    report: Reporter,
    *,
    options: TargetOptions,
) -> None:
    """Servers that index in the background: success only once ``--to``'s index on ``channel`` (the
    target, or the destination of a cross-target promotion, reached with ``options``) lists the files."""
    from cipub.workflows.index import wait_until_listed

    if not channel.capabilities.server_side_index:
        return
    keys = {f"{r.subdir}/{r.filename}" for r in receipts if r.state in ("promoted", "already-promoted")}
    promoted = [e for e in manifest.artifacts if e.key in keys]
    where = f" on {channel.display}" if settings.to_target else ""
    report.say(f"waiting for the index of {settings.promote_to}{where} to list {len(promoted)} file(s)")
    wait_until_listed(channel, promoted, settings.promote_to, options, settings.index_wait)


def attestation_requirement(settings: Settings, report: Reporter) -> Requirement:
    """Who must have signed (--require-attestation), with a note for the options it ignores."""
    from cipub.policy.attest import Requirement

    requirement = Requirement(
        settings.require_attestation,
        settings.attestation_issuer,
        settings.sigstore_trust_config,
        channel_url=settings.attest_channel_url,
    )
    if requirement.kind == "key" and settings.attestation_issuer:
        report.say("note: --attestation-issuer applies to Sigstore identities; a key: requirement ignores it")
    return requirement


def _require_attestations(settings: Settings, channel: Channel, manifest: Manifest, report: Reporter) -> None:
    """Every file must be attested by the required signer for the bytes in the source label."""
    from cipub.policy.attest import check_attestations

    requirement = attestation_requirement(settings, report)
    count = check_attestations(channel, manifest, settings.promote_from, requirement)
    report.say(f"verified {count} attestation(s) by {settings.require_attestation}")


def _shown_target(raw: str) -> str:
    """A --to-target as messages show it: a URL through redact_url (a credential never reaches a log)."""
    return redact_url(raw) if "://" in raw else raw


#: the --to-target's token: its own variable, never the --target's (ANACONDA_API_TOKEN ...)
TO_TOKEN_ENV = ("CIPUB_TO_TOKEN",)


def _promote_across(
    settings: Settings, manifest: Manifest, source: Channel, *, move: bool, dry_run: bool, progress: Step
) -> tuple[list[PromotionReceipt], Channel, TargetOptions]:
    """Copy the manifest's files into ``settings.to_target`` (:mod:`cipub.policy.crosspromote`);
    the receipts, and the destination with its options (its index is waited for like a target's)."""
    from dataclasses import replace

    from cipub.channels import open_channel
    from cipub.policy.crosspromote import promote_across

    if move:
        raise UsageError("--move is for promotion between labels of one target, not with --to-target")
    options = replace(
        target_options(settings),
        api_url=None,  # the destination URL names its server (anaconda+https://HOST/OWNER)
        token_file=Path(settings.to_token_file) if settings.to_token_file else None,
        token_env=TO_TOKEN_ENV,
        file_flag="--to-token-file",
    )
    dest = open_channel(settings.to_target, options)
    if not dry_run:
        try:
            require_write_credentials(dest)
        except AuthError as exc:
            # the target's own variables (QUETZ_API_KEY ...) name the source's token: never read here
            raise AuthError(
                f"no token for the destination {_shown_target(settings.to_target)}",
                hint=f"set {TO_TOKEN_ENV[0]} or pass --to-token-file PATH (the --target's token is never used)",
            ) from exc
    # Re-attest for the destination channel (issue 16): the source's statements name the source.
    signed = (
        sign_for_upload(settings, manifest, dest, manifest.base_dir, SILENT) if settings.attest and not dry_run else []
    )
    receipts = promote_across(
        manifest, source, dest, settings.promote_from, settings.promote_to, dry_run=dry_run, progress=progress
    )
    if signed:
        from cipub.policy.attest import publish_attestations

        # one already there for the same file is kept (never overwritten), as in an upload
        # a sidecar beside a file this promotion just put there was not the publisher's: replaced
        fresh = {f"{r.subdir}/{r.filename}" for r in receipts if r.state == "promoted"}
        publish_attestations(dest, settings.promote_to, signed, _attest_dir(settings, manifest.base_dir), fresh)
    return receipts, dest, options


def _ledger_set(settings: Settings, target: str, selectors: Sequence[str], report: Reporter) -> Manifest:
    """The ledger's default promotion set as a manifest; its notes say what was left out."""
    from cipub.core.manifest import Manifest
    from cipub.policy.ledger import promotion_set
    from cipub.workflows.ledger import ledger_path, load_records, wanted_by

    records = load_records(settings)
    chosen = promotion_set(
        records, target, settings.promote_from, settings.promote_to, wanted_by(selectors), root=settings.project_root
    )
    for note in chosen.notes:
        report.say(f"note: {note}")
    if not chosen.entries:
        named = f" for {', '.join(selectors)}" if selectors else ""
        raise UsageError(
            f"the ledger ({ledger_path(settings)}) records nothing staged on {target} label "
            f"{settings.promote_from!r}{named}: nothing to promote",
            hint="run `cipub build` (or `cipub upload`) first, or pass --manifest PATH",
        )
    return Manifest(artifacts=chosen.entries, notes=chosen.notes, base_dir=ledger_path(settings))


@contextmanager
def _recording(settings: Settings, command: Command, manifest: Manifest, dry_run: bool) -> Iterator[None]:
    """A real run is recorded in the ledger (ok, or failed with its error); a dry run is not."""
    if dry_run:
        yield
        return
    from cipub.workflows.ledger import recorded

    with recorded(settings, command, manifest):
        yield
