"""Publish attestations (CEP 27): who published which file, for which channel, signed.

The statement is an in-toto Statement v1 about one package file::

    {"_type": "https://in-toto.io/Statement/v1",
     "subject": [{"name": "<file name>", "digest": {"sha256": "<hex>"}}],
     "predicateType": "https://schemas.conda.org/attestations-publish-1.schema.json",
     "predicate": {"targetChannel": "<channel URL>"}}

Two ways to sign it, both as a DSSE envelope (payload type ``application/vnd.in-toto+json``):

* **keyless** (:func:`sign_keyless`): Sigstore. The signer is the CI job's OIDC identity (audience
  ``sigstore``): Fulcio issues a short-lived certificate for it, Rekor logs the signature, and the
  result is a Sigstore bundle (``application/vnd.dev.sigstore.bundle.v0.3+json``). A private
  Sigstore is named by a client trust config (``--sigstore-trust-config``); the default is the
  public instance. Needs the ``sigstore`` package (``pip install 'cipub[attest]'``).
* **key** (:func:`sign_with_key`): an ECDSA P-256 private key (PEM) of the publisher's, for servers
  and networks without Sigstore. The envelope's signature carries the key id (sha256 of the public
  key, DER SubjectPublicKeyInfo); a consumer verifies with the public key.

Verification (:func:`verify_bundle`, :func:`verify_envelope`) checks the signature, the signer
(certificate identity and issuer, or the key), and that the statement's subject is exactly this
file name and sha256 with the CEP 27 predicate type. Any failure is a :class:`VerificationError`
(exit 8). Sigstore verification is offline: against the trusted root, no network.

Secrets: the identity token and the key never leave this module's locals; the bundle holds only the
certificate (public), the signature and the log entry.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cipub.core.errors import AuthError, UsageError, VerificationError
from cipub.core.extras import import_extra
from cipub.core.secrets import Secret, process_environ, read_token, unreadable_file

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PUBLISH_PREDICATE = "https://schemas.conda.org/attestations-publish-1.schema.json"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
#: audience of the OIDC token Sigstore's Fulcio accepts
SIGSTORE_AUDIENCE = "sigstore"
#: GitLab CI: ``id_tokens: SIGSTORE_ID_TOKEN: {aud: sigstore}``
GITLAB_TOKEN_VARIABLE = "SIGSTORE_ID_TOKEN"  # noqa: S105 - a variable name
KINDS = ("keyless", "key")
#: the keyless sidecar (CEP 50) and the key-signed envelope, named after the package file
SIDECAR_INFIX = ".sigs."
#: CEP 50's mutable URL beside the content-addressed sidecar: ``F.sigs``, the same bytes
MUTABLE_SIDECAR_SUFFIX = ".sigs"
KEY_ENVELOPE_SUFFIX = ".dsse.json"


def statement(filename: str, sha256: str, target_channel: str) -> dict[str, Any]:
    """The CEP 27 publish statement for one package file."""
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": filename, "digest": {"sha256": sha256}}],
        "predicateType": PUBLISH_PREDICATE,
        "predicate": {"targetChannel": target_channel},
    }


SLSA_PREDICATE = "https://slsa.dev/provenance/v1"
#: what a cipub build is, for SLSA's buildType (the parameters below are its definition)
BUILD_TYPE = "https://github.com/cipub-dev/cipub/blob/main/README.md#trust-model-publish-attestations"


def ci_run(environ: Mapping[str, str]) -> dict[str, str]:
    """Where the build ran and from what source, as the CI provider says (empty outside CI)."""
    if environ.get("GITHUB_REPOSITORY"):
        server = environ.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
        repo = f"{server}/{environ['GITHUB_REPOSITORY']}"
        run = f"{repo}/actions/runs/{environ.get('GITHUB_RUN_ID', '')}".rstrip("/")
        found = {"repository": repo, "commit": environ.get("GITHUB_SHA", ""), "ref": environ.get("GITHUB_REF", "")}
        return {k: v for k, v in {**found, "builder": run}.items() if v}
    if environ.get("CI_PROJECT_URL"):
        found = {
            "repository": environ["CI_PROJECT_URL"],
            "commit": environ.get("CI_COMMIT_SHA", ""),
            "ref": environ.get("CI_COMMIT_REF_NAME", ""),
            "builder": environ.get("CI_JOB_URL", ""),
        }
        return {k: v for k, v in found.items() if v}
    return {}


def provenance_statement(
    filename: str,
    sha256: str,
    *,
    recipe: str,
    engine: str,
    variant: Mapping[str, str],
    tool_version: str,
    environ: Mapping[str, str],
    container: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A SLSA v1 provenance statement for one built file: recipe, variant, engine, source and commit,
    builder (the CI run), and for a build in a container (``cipub build --container``, the manifest's
    ``container: {image, digest}``) the image it ran in, pinned by digest: a resolved dependency and
    a dependency of the builder, as SLSA v1 names them."""
    run = ci_run(environ)
    image = _container_dependency(container)
    dependencies: list[dict[str, Any]] = []
    if run.get("repository"):
        source: dict[str, Any] = {"uri": f"git+{run['repository']}" + (f"@{run['ref']}" if run.get("ref") else "")}
        if run.get("commit"):
            source["digest"] = {"gitCommit": run["commit"]}
        dependencies.append(source)
    builder: dict[str, Any] = {"id": run.get("builder", "cipub (outside CI)")}
    if image:
        dependencies.append(image)
        builder["builderDependencies"] = [image]
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": filename, "digest": {"sha256": sha256}}],
        "predicateType": SLSA_PREDICATE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {"recipe": recipe, "variant": dict(variant)},
                "internalParameters": {"engine": engine, "cipub": tool_version},
                "resolvedDependencies": dependencies,
            },
            "runDetails": {"builder": builder},
        },
    }


def _container_dependency(container: Mapping[str, str] | None) -> dict[str, Any] | None:
    """The SLSA ResourceDescriptor of the build container: ``docker://IMAGE`` and its digest."""
    if not container:
        return None
    image, digest = str(container.get("image", "")), str(container.get("digest", ""))
    algorithm, _, value = digest.partition(":")
    if not image or not value:
        return None
    return {"name": "container-image", "uri": f"docker://{image}", "digest": {algorithm: value}}


#: how to make a signing key --attest key accepts (unencrypted PKCS#8 PEM, ECDSA P-256)
MAKE_KEY_HINT = (
    "make one with: openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt -out key.pem"
)


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise UsageError(
            f"--attest must be keyless or key, not {kind!r}",
            hint="keyless signs with the CI job's OIDC identity (Sigstore); key signs with --attest-key-file",
        )
    return kind


# -- keyless (Sigstore) ------------------------------------------------------------------------
def _sigstore() -> Any:
    return import_extra(
        "sigstore.models",
        extra="attest",
        needed_for="keyless attestations",
        otherwise="or pass --attest key with --attest-key-file",
    )


def _trust_config(path: str) -> Any:
    models = _sigstore()
    if not path:
        try:
            return models.ClientTrustConfig.production()
        except Exception as exc:  # TUF refresh: network, or a stale cache
            from cipub.core.errors import NetworkError

            raise NetworkError(
                f"cannot load the public Sigstore trust root: {type(exc).__name__}: {exc}",
                hint="check the network, or pass --sigstore-trust-config PATH; to publish unsigned, drop --attest "
                "(the shipped workflow and include: input `attest: none`)",
            ) from None
    try:
        return models.ClientTrustConfig.from_json(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(
            f"cannot read the Sigstore trust config {path}: {exc.strerror}",
            hint="--sigstore-trust-config takes a client trust config (JSON); unset, the public Sigstore is used",
        ) from exc
    except Exception as exc:  # the library raises its own parse errors
        raise UsageError(
            f"{path} is not a Sigstore client trust config: {exc}",
            hint="the file sigstore-python reads with --trust-config (media type "
            "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json)",
        ) from exc


def identity_token(*, token_file: str = "", environ: Mapping[str, str] | None = None) -> Secret:
    """The OIDC token keyless signing uses: ``token_file``, GitLab's ``SIGSTORE_ID_TOKEN``, or
    GitHub Actions' token service for audience ``sigstore`` (the job needs ``id-token: write``)."""
    from cipub.core.oidc import ci_identity_token

    env = process_environ() if environ is None else dict(environ)  # also what a build's isolation holds
    if token_file:
        found = read_token(
            (), token_file=Path(token_file), environ=env, what="Sigstore signing", option="--identity-token-file"
        )
        assert found is not None
        return found
    gitlab = read_token((GITLAB_TOKEN_VARIABLE,), environ=env, required=False)
    if gitlab is not None:
        return gitlab
    github_only = {k: v for k, v in env.items() if k.startswith("ACTIONS_ID_TOKEN_REQUEST_")}
    token = ci_identity_token(SIGSTORE_AUDIENCE, environ=github_only)
    if token is None:
        raise AuthError(
            "keyless attestation needs the CI job's OIDC identity, and none is available",
            hint="GitHub: `permissions: id-token: write`; GitLab: `id_tokens: SIGSTORE_ID_TOKEN: {aud: sigstore}`; "
            "or pass --identity-token-file PATH; to publish unsigned, drop --attest (the shipped workflow and "
            "include: input `attest: none`)",
        )
    return token


@dataclass(frozen=True)
class Signed:
    """A signed attestation: the document to store, and who signed it."""

    kind: str
    document: str  # the Sigstore bundle (keyless) or the DSSE envelope (key), JSON
    identity: str | None
    issuer: str | None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.document.encode()).hexdigest()


def sign_keyless(statements: list[dict[str, Any]], token: Secret, *, trust_config: str = "") -> list[Signed]:
    """Sign each statement with one short-lived Sigstore certificate for ``token``'s identity."""
    _sigstore()
    from sigstore import dsse
    from sigstore.oidc import IdentityError, IdentityToken
    from sigstore.sign import SigningContext

    config = _trust_config(trust_config)
    try:
        identity = IdentityToken(token.reveal())
    except IdentityError as exc:
        raise AuthError(
            f"the OIDC token from {token.source} is not usable for Sigstore: {exc}",
            hint="Sigstore needs a token with audience 'sigstore' that has not expired",
        ) from None
    context = SigningContext.from_trust_config(config)
    signed: list[Signed] = []
    try:
        with context.signer(identity) as signer:  # one key pair and certificate for the batch
            for raw in statements:
                bundle = signer.sign_dsse(dsse.Statement(json.dumps(raw, sort_keys=True).encode()))
                signed.append(Signed("keyless", bundle.to_json(), identity.identity, identity.issuer))
    except Exception as exc:  # network and server failures of Fulcio or Rekor
        from cipub.core.errors import NetworkError

        raise NetworkError(
            f"Sigstore signing failed: {type(exc).__name__}: {exc}",
            hint="nothing was uploaded; re-run when Fulcio/Rekor answer, or publish unsigned by dropping --attest "
            "(the shipped workflow and include: input `attest: none`)",
        ) from None
    return signed


def verify_bundle(
    document: str, *, filename: str, sha256: str, identity: str, issuer: str, trust_config: str = ""
) -> dict[str, Any]:
    """Verify a Sigstore bundle offline; the statement, or VerificationError (exit 8)."""
    models = _sigstore()
    from sigstore.verify import Verifier
    from sigstore.verify.policy import Identity

    config = _trust_config(trust_config)
    try:
        bundle = models.Bundle.from_json(document)
        payload_type, payload = Verifier(trusted_root=config.trusted_root).verify_dsse(
            bundle, Identity(identity=identity, issuer=issuer)
        )
    except Exception as exc:  # a malformed bundle fails in the parser, a forged one in the verifier
        raise VerificationError(f"{filename}: the attestation does not verify: {exc}") from None
    return _checked_statement(payload_type, payload, filename, sha256)


# -- key-based ---------------------------------------------------------------------------------
def _pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what the signature covers."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def _key_id(public_key: Any) -> str:
    from cryptography.hazmat.primitives import serialization

    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def check_signing(kind: str, key_file: str) -> None:
    """Refuse (exit 2) signing options that would fail only after a build: an unknown ``--attest``
    kind, or for ``key`` a key file that is missing, unreadable or not an ECDSA P-256 private key.
    Nothing is signed and the key's contents are never printed."""
    check_kind(kind)
    if kind == "key":
        load_signing_key(key_file)


def load_signing_key(key_file: str) -> Any:
    """The ECDSA P-256 private key in ``key_file`` (PEM, unencrypted); exit 2 otherwise, never
    echoing what the file (or the value, which may be the key itself) holds."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    if not key_file:
        raise UsageError(
            "--attest key needs --attest-key-file PATH (an ECDSA P-256 private key, PEM)",
            hint=MAKE_KEY_HINT,
        )
    try:
        pem = Path(key_file).read_bytes()
    except OSError as exc:  # never echo the value: it may be the key itself ("$(cat key.pem)")
        raise unreadable_file("--attest-key-file", key_file, exc.strerror or "") from None
    except ValueError:  # a NUL byte: not a path
        raise unreadable_file("--attest-key-file", key_file, "not a path") from None
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        raise UsageError(
            f"--attest-key-file {key_file} is not an unencrypted PEM private key",
            hint=MAKE_KEY_HINT,
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise UsageError(
            f"--attest-key-file {key_file}: the signing key must be ECDSA P-256",
            hint=MAKE_KEY_HINT,
        )
    return key


def sign_with_key(statements: list[dict[str, Any]], key_file: str) -> list[Signed]:
    """Sign each statement with the ECDSA P-256 private key in ``key_file`` (PEM, unencrypted)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    key = load_signing_key(key_file)
    key_id = _key_id(key.public_key())
    signed = []
    for raw in statements:
        payload = json.dumps(raw, sort_keys=True).encode()
        sig = key.sign(_pae(PAYLOAD_TYPE, payload), ec.ECDSA(hashes.SHA256()))
        envelope = {
            "payload": base64.b64encode(payload).decode(),
            "payloadType": PAYLOAD_TYPE,
            "signatures": [{"keyid": key_id, "sig": base64.b64encode(sig).decode()}],
        }
        signed.append(Signed("key", json.dumps(envelope, sort_keys=True), f"key:{key_id}", None))
    return signed


def verify_envelope(document: str, *, filename: str, sha256: str, public_key_file: str) -> dict[str, Any]:
    """Verify a key-signed DSSE envelope with the publisher's public key (PEM)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    if not public_key_file.strip():
        raise UsageError("key: needs the path of the publisher's PEM public key", hint="e.g. key:publisher.pub.pem")
    try:
        public = serialization.load_pem_public_key(Path(public_key_file).read_bytes())
    except OSError as exc:
        raise UsageError(
            f"cannot read the public key {public_key_file}: {exc.strerror}",
            hint="key:PATH names the publisher's public key file (PEM)",
        ) from None
    except ValueError:
        raise UsageError(
            f"{public_key_file} is not a PEM public key",
            hint="export it from the signing key: openssl ec -in key.pem -pubout -out pub.pem",
        ) from None
    if not isinstance(public, ec.EllipticCurvePublicKey) or public.curve.name != "secp256r1":
        raise UsageError(
            f"{public_key_file}: the public key must be ECDSA P-256 (what --attest key signs with)",
            hint="export it from the signing key: openssl ec -in key.pem -pubout -out pub.pem",
        )
    try:
        envelope = json.loads(document)
        payload = base64.b64decode(envelope["payload"], validate=True)
        signatures = envelope["signatures"]
        payload_type = envelope["payloadType"]
    except (ValueError, KeyError, TypeError):
        raise VerificationError(f"{filename}: the attestation is not a DSSE envelope") from None
    wanted = _key_id(public)
    for sig in signatures if isinstance(signatures, list) else []:
        if not isinstance(sig, dict) or sig.get("keyid") != wanted:
            continue
        try:
            public.verify(
                base64.b64decode(str(sig.get("sig", "")), validate=True),
                _pae(str(payload_type), payload),
                ec.ECDSA(hashes.SHA256()),
            )
        except (InvalidSignature, ValueError):
            continue
        return _checked_statement(str(payload_type), payload, filename, sha256)
    raise VerificationError(f"{filename}: the attestation is not signed by the key {public_key_file}")


# -- the statement inside ----------------------------------------------------------------------
def _checked_statement(
    payload_type: str, payload: bytes, filename: str, sha256: str, predicate_type: str = PUBLISH_PREDICATE
) -> dict[str, Any]:
    if payload_type != PAYLOAD_TYPE:
        raise VerificationError(f"{filename}: the attestation's payload is {payload_type}, not an in-toto statement")
    try:
        data = json.loads(payload)
    except ValueError:
        raise VerificationError(f"{filename}: the attested statement is not JSON") from None
    if not isinstance(data, dict) or data.get("predicateType") != predicate_type:
        raise VerificationError(f"{filename}: the attestation is not a {predicate_type} statement")
    raw_subjects = data.get("subject")
    subjects: list[Any] = raw_subjects if isinstance(raw_subjects, list) else []
    for subject in subjects:
        digest = subject.get("digest") if isinstance(subject, dict) else None
        if isinstance(digest, dict) and subject.get("name") == filename and digest.get("sha256") == sha256:
            return data
    named = [f"{s.get('name')} sha256 {(s.get('digest') or {}).get('sha256')}" for s in subjects if isinstance(s, dict)]
    raise VerificationError(
        f"{filename}: the attestation is for {', '.join(named) or 'no file'}, "
        f"not this file ({filename} sha256 {sha256})",
        hint="the file on the channel is not the one that was attested: re-upload the attested build",
    )


def sidecar(bundles: list[str]) -> bytes:
    """The CEP 50 sidecar: a JSON array of Sigstore bundles (its sha256 goes into repodata)."""
    return json.dumps([json.loads(b) for b in bundles], separators=(",", ":")).encode()


def sidecar_name(filename: str, data: bytes) -> str:
    return f"{filename}{SIDECAR_INFIX}{hashlib.sha256(data).hexdigest()}"


def bundles_in_sidecar(data: bytes) -> list[str]:
    try:
        parsed = json.loads(data)
    except ValueError:
        return []
    return [json.dumps(b) for b in parsed if isinstance(b, dict)] if isinstance(parsed, list) else []
