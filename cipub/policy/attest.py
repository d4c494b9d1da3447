"""Attest what is published, and promote only what is attested (issue 16).

* :func:`sign_manifest`: one CEP 27 publish statement per manifest file for the target channel,
  signed keyless (Sigstore) or with a key (:mod:`cipub.core.attest`); each signed document is
  written beside the manifest (``attestations/<subdir>/<file>.<kind>.json``) and recorded in it.
* :func:`attach_attestations` / :func:`publish_attestations`: stored with the package where the
  target can hold it: sent with the upload (prefix.dev, served as ``<file>.v0.sigs``), or stored
  after it (local channels: the CEP 50 sidecar and ``attestations_sha256`` in repodata, see
  :mod:`cipub.channels.attestations`; S3: the same objects). Other targets keep it in the manifest.
* :func:`check_attestations`: before a promotion changes anything, every file's attestation must
  verify for the required signer *and* name the sha256 the channel holds in the source label;
  one failure refuses the whole promotion (exit 8), nothing promoted.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from cipub.channels.base import Channel
from cipub.core import attest
from cipub.core.errors import UsageError, VerificationError
from cipub.core.manifest import AttestationRecord, Manifest
from cipub.core.secrets import process_environ
from cipub.policy.publish import channel_state

#: issuer required when --attestation-issuer is not given: GitHub Actions' OIDC issuer
DEFAULT_ISSUER = "https://token.actions.githubusercontent.com"
KEY_PREFIX = "key:"


@runtime_checkable
class StoresAttestations(Protocol):
    """A target that stores attestations beside its packages, after the upload (local, S3)."""

    def put_attestation(self, subdir: str, filename: str, label: str, kind: str, data: bytes) -> None: ...

    def get_attestation(self, subdir: str, filename: str, label: str, kind: str) -> bytes | None: ...


@runtime_checkable
class AttachesAttestations(Protocol):
    """A target that takes a file's attestation with its upload (prefix.dev)."""

    def attach_attestation(self, subdir: str, filename: str, sha256: str, bundle: str) -> None: ...


@runtime_checkable
class ReadsAttestations(Protocol):
    """A target that serves the attestations it holds (what consumers see)."""

    def get_attestation(self, subdir: str, filename: str, label: str, kind: str) -> bytes | None: ...


@dataclass(frozen=True)
class SigningRequest:
    kind: str
    target_channel: str
    out_dir: Path
    key_file: str = ""
    token_file: str = ""
    trust_config: str = ""
    #: also a SLSA provenance statement per file, for a build's manifest (it names the recipe)
    provenance: bool = True


def sign_manifest(
    manifest: Manifest, request: SigningRequest, *, environ: Mapping[str, str] | None = None
) -> list[AttestationRecord]:
    """Sign every file of ``manifest`` for ``request.target_channel``; record and return the records."""
    attest.check_kind(request.kind)
    if not request.target_channel:
        raise UsageError(
            "an attestation needs the channel URL it publishes to (--attest-channel-url)",
            hint="the URL consumers install from, e.g. https://conda.example.com/my-channel",
        )
    todo = [(e, "publish", attest.statement(e.filename, e.sha256, request.target_channel)) for e in manifest.artifacts]
    if request.provenance and manifest.recipe:
        env = process_environ() if environ is None else environ
        todo += [
            (e, "provenance", _provenance(manifest, e.filename, e.sha256, e.variant, env)) for e in manifest.artifacts
        ]
    statements = [raw for _e, _what, raw in todo]
    if request.kind == "key":
        signed = attest.sign_with_key(statements, request.key_file)
    else:
        token = attest.identity_token(token_file=request.token_file, environ=environ)
        signed = attest.sign_keyless(statements, token, trust_config=request.trust_config)
    records = []
    for (entry, what, _raw), document in zip(todo, signed, strict=True):
        infix = "" if what == "publish" else f".{what}"
        # named by its digest: a later signing (another target, another key) adds a document and never
        # replaces one an earlier manifest entry points at
        name = f"{entry.filename}{infix}.{document.sha256[:16]}.{document.kind}.json"
        path = request.out_dir / "attestations" / entry.subdir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(document.document, encoding="utf-8")
        record = AttestationRecord(
            filename=entry.filename,
            subdir=entry.subdir,
            sha256=entry.sha256,
            target_channel=request.target_channel,
            kind=document.kind,
            document=os.path.relpath(path, request.out_dir),
            document_sha256=document.sha256,
            identity=document.identity,
            issuer=document.issuer,
            statement=what,
        )
        manifest.attestations = [
            a
            for a in manifest.attestations
            if not (
                a.key == record.key
                and a.kind == record.kind
                and a.target_channel == record.target_channel
                and a.statement == record.statement
            )
        ]
        manifest.attestations.append(record)
        records.append(record)
    return records


def _provenance(
    manifest: Manifest, filename: str, sha256: str, variant: Mapping[str, str], environ: Mapping[str, str]
) -> dict[str, Any]:
    recipe = Path(str(manifest.recipe))
    with contextlib.suppress(ValueError):  # as the repository names it, not this runner's path
        recipe = recipe.absolute().relative_to(Path.cwd())
    return attest.provenance_statement(
        filename,
        sha256,
        recipe=recipe.as_posix(),
        engine=str(manifest.engine or ""),
        variant=variant,
        tool_version=manifest.tool.get("version", ""),
        environ=environ,
        container=manifest.container,
    )


def _document(record: AttestationRecord, base: Path) -> str:
    path = Path(record.document)
    path = path if path.is_absolute() else base / path
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(
            f"cannot read the attestation {path}: {exc.strerror}",
            hint="the manifest names its attestation documents relative to itself: keep them beside it",
        ) from None


def attach_attestations(channel: Channel, records: list[AttestationRecord], base: Path) -> int:
    """Before the upload, on targets that take the attestation with the file: hand them the Sigstore
    bundles; how many (key-signed envelopes are no bundles: such targets keep none of them)."""
    if not isinstance(channel, AttachesAttestations):
        return 0
    keyless = [r for r in records if r.kind == "keyless" and r.statement == "publish"]
    for record in keyless:
        channel.attach_attestation(record.subdir, record.filename, record.sha256, _document(record, base))
    return len(keyless)


def publish_attestations(
    channel: Channel, label: str, records: list[AttestationRecord], base: Path, fresh: Collection[str] = ()
) -> tuple[int, list[str], list[str]]:
    """Store ``records``' documents with their files in ``label``: how many were stored (0: the
    target cannot hold them, the manifest does), the files whose existing attestation was kept, and
    those whose stale one was replaced.

    Like packages, an attestation already stored for the same file is never overwritten: a re-run
    (or a re-upload with another key) keeps the one there and says so. That protects only a file that
    was in ``label`` before this run: ``fresh`` names (``subdir/filename``) the files this run put
    there, and a sidecar found beside one of them was there without its package, stale or foreign
    (planted before the upload), so it is replaced. One that attests other bytes (the package was
    replaced) is stale and is replaced too.
    """
    records = [r for r in records if r.statement == "publish"]  # provenance stays in the manifest
    if not isinstance(channel, StoresAttestations) or not records:
        return 0, [], []
    stored, kept, replaced = 0, [], []
    with channel:
        for record in records:
            text = _document(record, base)
            data = attest.sidecar([text]) if record.kind == "keyless" else text.encode()
            existing = channel.get_attestation(record.subdir, record.filename, label, record.kind)
            if existing is not None and existing != data:
                if f"{record.subdir}/{record.filename}" in fresh:
                    replaced.append(record.filename)
                elif _attests(existing, record):
                    kept.append(record.filename)
                    continue
            channel.put_attestation(record.subdir, record.filename, label, record.kind, data)
            stored += 1
    return stored, kept, replaced


def _attests(data: bytes, record: AttestationRecord) -> bool:
    """Whether a stored attestation (DSSE envelope, or a CEP 50 sidecar of bundles) names this file."""
    import base64
    import json

    try:
        parsed = json.loads(data)
        envelopes = [parsed] if record.kind == "key" else [b.get("dsseEnvelope", {}) for b in parsed]
        for envelope in envelopes:
            statement = json.loads(base64.b64decode(envelope["payload"]))
            for subject in statement.get("subject", []):
                if subject.get("name") == record.filename and subject.get("digest", {}).get("sha256") == record.sha256:
                    return True
    except (ValueError, KeyError, TypeError, AttributeError):
        return False
    return False


@dataclass(frozen=True)
class Requirement:
    """Who must have signed: a certificate identity and issuer (keyless), or ``key:PATH``."""

    identity: str
    issuer: str = ""
    trust_config: str = ""
    #: the channel URL the attestations were signed for (--attest-channel-url), besides the target's own
    channel_url: str = ""

    def __post_init__(self) -> None:
        # A public key given without "key:" would be taken for a certificate identity and every
        # file reported as unattested: say what to write instead.
        identity = self.identity.strip()
        if self.kind == "keyless" and (identity.endswith((".pem", ".pub")) or Path(identity).is_file()):
            raise UsageError(
                f"--require-attestation {identity!r} looks like a public key file, not a signer identity",
                hint=f"for key-signed attestations write key:{identity}; for Sigstore, the certificate "
                "identity (a workflow URL or an e-mail)",
            )

    @property
    def kind(self) -> str:
        return "key" if self.identity.startswith(KEY_PREFIX) else "keyless"

    @property
    def other_kind(self) -> str:
        return "keyless" if self.kind == "key" else "key"


def _verify_one(document: str, filename: str, sha256: str, requirement: Requirement) -> dict[str, Any]:
    if requirement.kind == "key":
        return attest.verify_envelope(
            document, filename=filename, sha256=sha256, public_key_file=requirement.identity[len(KEY_PREFIX) :]
        )
    return attest.verify_bundle(
        document,
        filename=filename,
        sha256=sha256,
        identity=requirement.identity,
        issuer=requirement.issuer or DEFAULT_ISSUER,
        trust_config=requirement.trust_config,
    )


def _documents(channel: Channel, manifest: Manifest, key: str, label: str, kind: str) -> list[str]:
    """The attestations to check for ``key``: the target's own (what consumers see), or, on a
    target that cannot hold them, the manifest's."""
    subdir, filename = key.split("/", 1)
    if isinstance(channel, ReadsAttestations):
        data = channel.get_attestation(subdir, filename, label, kind)
        if data is None:
            return []
        return attest.bundles_in_sidecar(data) if kind == "keyless" else [data.decode("utf-8", "replace")]
    base = manifest.base_dir or Path()
    wanted = [a for a in manifest.attestations if a.key == key and a.kind == kind and a.statement == "publish"]
    return [_document(a, base) for a in wanted]


def check_attestations(
    channel: Channel,
    manifest: Manifest,
    label: str,
    requirement: Requirement,
    *,
    consequence: str = "nothing was promoted",
) -> int:
    """Refuse (VerificationError, exit 8) unless every manifest file in ``label`` has an attestation
    that verifies for ``requirement`` and names the sha256 the channel holds; returns how many were
    verified (a file missing from ``label`` is not counted: the promotion itself refuses it)."""
    from cipub.channels.base import MAIN_LABEL

    state = channel_state(channel, manifest.artifacts)
    # an attestation signed for another channel must not pass here (replayed from elsewhere)
    channels = {u.rstrip("/") for u in (channel.install_url(MAIN_LABEL), requirement.channel_url) if u}
    problems: list[str] = []
    verified = 0
    for entry in manifest.artifacts:
        copies = [f.sha256_in(label) for f in state.get(entry.key, [])]
        held = next((sha for sha in copies if sha), None)
        if held is None:
            continue  # not in the source label: the promotion itself refuses it, naming why
        documents = _documents(channel, manifest, entry.key, label, requirement.kind)
        if not documents:
            other = _documents(channel, manifest, entry.key, label, requirement.other_kind)
            problems.append(
                f"{entry.key}: no attestation"
                + (f" of that kind (it has a {requirement.other_kind}-signed one)" if other else "")
            )
            continue
        reasons = []
        for document in documents:
            try:
                statement = _verify_one(document, entry.filename, held, requirement)
                named = str((statement.get("predicate") or {}).get("targetChannel", "")).rstrip("/")
                if named not in channels:
                    raise VerificationError(
                        f"{entry.filename}: the attestation is for channel {named or '(none)'}, "
                        f"not {' or '.join(sorted(channels))}"
                    )
                verified += 1
                break
            except VerificationError as exc:
                reasons.append(exc.message.removeprefix(f"{entry.filename}: "))
        else:
            problems.append(f"{entry.key}: {reasons[0]}")
    if problems:
        shown = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
        if any("the attestation is for channel" in p for p in problems):
            hint = (
                "the files were signed for another channel URL; if that URL is this channel's public "
                "address, pass it with --attest-channel-url"
            )
        elif any("-signed one)" in p for p in problems):
            hint = (
                "the files are signed the other way: key-signed attestations are required with "
                "--require-attestation key:PUBLIC.pem, Sigstore ones with the signer's identity"
            )
        else:
            hint = "upload with --attest from the trusted CI job, or check --require-attestation/--attestation-issuer"
        raise VerificationError(
            f"{len(problems)} file(s) lack a valid attestation by {requirement.identity}: {shown} — {consequence}",
            hint=hint,
        )
    return verified
