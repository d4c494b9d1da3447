"""cipub.core.attest: the CEP 27 statement, where the signing identity comes from, the key path."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from cipub.core import attest
from cipub.core.errors import AuthError, UsageError, VerificationError
from tests.servers.oidc_issuer import OidcIssuer

SHA = "ab" * 32


def test_statement_is_the_cep27_publish_statement() -> None:
    assert attest.statement("x-1.0-0.conda", SHA, "https://prefix.dev/chan") == {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "x-1.0-0.conda", "digest": {"sha256": SHA}}],
        "predicateType": "https://schemas.conda.org/attestations-publish-1.schema.json",
        "predicate": {"targetChannel": "https://prefix.dev/chan"},
    }


def test_identity_token_sources(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("from-the-file-123\n")
    assert attest.identity_token(token_file=str(path), environ={}).reveal() == "from-the-file-123"
    gitlab = {"SIGSTORE_ID_TOKEN": "gitlab-sigstore-jwt", "PREFIX_DEV_ID_TOKEN": "for-prefix-only"}
    assert attest.identity_token(environ=gitlab).reveal() == "gitlab-sigstore-jwt"
    with OidcIssuer() as issuer:
        token = attest.identity_token(environ={**issuer.github_env(), "PREFIX_DEV_ID_TOKEN": "for-prefix-only"})
        assert issuer.issued[-1]["aud"] == "sigstore"  # asked for Sigstore's audience, not prefix.dev's
        assert token.reveal().count(".") == 2
    # a token minted for prefix.dev is never used to sign
    with pytest.raises(AuthError, match="OIDC identity") as err:
        attest.identity_token(environ={"PREFIX_DEV_ID_TOKEN": "for-prefix-only"})
    assert err.value.exit_code == 5
    assert "id-token: write" in (err.value.hint or "")


def _key(tmp_path: Path, name: str) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    private, public = tmp_path / f"{name}.pem", tmp_path / f"{name}.pub"
    private.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    public.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return str(private), str(public)


def test_key_signed_envelope_verifies_only_for_its_file_and_key(tmp_path: Path) -> None:
    private, public = _key(tmp_path, "pub")
    _, other = _key(tmp_path, "other")
    [signed] = attest.sign_with_key([attest.statement("x-1.0-0.conda", SHA, "file:///c")], private)
    assert signed.identity is not None and signed.identity.startswith("key:")
    data = attest.verify_envelope(signed.document, filename="x-1.0-0.conda", sha256=SHA, public_key_file=public)
    assert data["predicate"] == {"targetChannel": "file:///c"}

    with pytest.raises(VerificationError, match="not signed by the key"):
        attest.verify_envelope(signed.document, filename="x-1.0-0.conda", sha256=SHA, public_key_file=other)
    with pytest.raises(VerificationError, match="not this file"):
        attest.verify_envelope(signed.document, filename="x-1.0-0.conda", sha256="cd" * 32, public_key_file=public)
    envelope = json.loads(signed.document)
    forged = json.loads(base64.b64decode(envelope["payload"]))
    forged["subject"][0]["digest"]["sha256"] = "cd" * 32
    envelope["payload"] = base64.b64encode(json.dumps(forged).encode()).decode()
    with pytest.raises(VerificationError, match="not signed by the key"):
        attest.verify_envelope(json.dumps(envelope), filename="x-1.0-0.conda", sha256="cd" * 32, public_key_file=public)


def test_key_path_usage_errors(tmp_path: Path) -> None:
    statement = attest.statement("x-1.0-0.conda", SHA, "file:///c")
    with pytest.raises(UsageError, match="--attest-key-file"):
        attest.sign_with_key([statement], "")
    rsa_like = tmp_path / "not-a-key.pem"
    rsa_like.write_text("hello")
    with pytest.raises(UsageError, match="not an unencrypted PEM private key") as err:
        attest.sign_with_key([statement], str(rsa_like))
    assert "hello" not in str(err.value)
    with pytest.raises(UsageError, match="keyless or key"):
        attest.check_kind("gpg")


def test_key_or_token_given_as_the_file_path_is_never_echoed(tmp_path: Path) -> None:
    """``--attest-key-file "$(cat key.pem)"`` must not print the key into the CI log."""
    statement = attest.statement("x-1.0-0.conda", SHA, "file:///c")
    private, _ = _key(tmp_path, "pub")
    pem = Path(private).read_text()
    body = pem.splitlines()[1]
    with pytest.raises(UsageError) as err:
        attest.sign_with_key([statement], pem)
    shown = f"{err.value.message} {err.value.hint}"
    assert body not in shown and "BEGIN" not in shown
    assert "--attest-key-file does not name a readable file" in shown and "key material" in shown
    assert err.value.exit_code == 2
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyZXBvOm8vciJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
    with pytest.raises(UsageError) as err:
        attest.identity_token(token_file=jwt, environ={})
    shown = f"{err.value.message} {err.value.hint}"
    assert jwt not in shown and "eyJ" not in shown
    assert "--identity-token-file does not name a readable file" in shown
    missing = str(tmp_path / "nope.pem")
    with pytest.raises(UsageError, match="does not name a readable file") as err:
        attest.sign_with_key([statement], missing)
    assert missing not in err.value.message


def test_debug_settings_dump_hides_key_material_given_as_a_path() -> None:
    from dataclasses import replace

    from cipub.core.options import Settings
    from cipub.core.settings import describe

    pem = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49\n-----END PRIVATE KEY-----"
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyZXBvOm8vciJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
    lines = "\n".join(describe(replace(Settings(), attest_key_file=pem, identity_token_file=jwt)))
    assert "MIGHAgEA" not in lines and jwt not in lines
    assert "not a path" in lines
    assert "keys/signing.pem" in "\n".join(describe(replace(Settings(), attest_key_file="keys/signing.pem")))


def test_sidecar_name_is_its_own_sha256() -> None:
    data = attest.sidecar(['{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}'])
    name = attest.sidecar_name("x-1.0-0.conda", data)
    assert name == f"x-1.0-0.conda.sigs.{hashlib.sha256(data).hexdigest()}"
    assert json.loads(data) == [{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}]
    assert attest.bundles_in_sidecar(b"not json") == []


@pytest.mark.parametrize(
    ("url", "secret"),
    [
        ("https://user:pw-s3cret@conda.example.com/ch", "pw-s3cret"),
        ("https://conda.anaconda.org/t/tk-s3cret-123/owner", "tk-s3cret-123"),
        ("https://conda.example.com/ch?token=tk-s3cret-456", "tk-s3cret-456"),
        ("https://conda.example.com/ch?x=1", "x=1"),
        ("ftp://conda.example.com/ch", ""),
        ("conda.example.com/ch", ""),
        ("file:relative/dir", ""),
    ],
)
def test_attest_channel_url_with_a_credential_or_not_a_url_is_refused(url: str, secret: str) -> None:
    """The URL is signed into every attestation's targetChannel and kept in the ledger."""
    from cipub.core.settings import resolve

    with pytest.raises(UsageError, match="--attest-channel-url") as err:
        resolve({"attest_channel_url": url}, environ={})
    assert err.value.exit_code == 2
    if secret:
        assert secret not in f"{err.value.message} {err.value.hint}"


@pytest.mark.parametrize("url", ["https://conda.example.com/my-channel", "http://host:8080/ch", "file:///srv/ch"])
def test_attest_channel_url_accepts_public_http_and_file_urls(url: str) -> None:
    from cipub.core.settings import resolve

    assert resolve({"attest_channel_url": url}, environ={}).attest_channel_url == url


def test_an_empty_require_attestation_is_an_error_not_the_gate_turned_off(tmp_path: Path) -> None:
    """In CI an unset variable renders as "": promote must not then accept unsigned files."""
    from cipub.core.settings import resolve

    for flags, environ in (
        ({"require_attestation": ""}, {}),
        ({"require_attestation": "  "}, {}),
        ({}, {"CIPUB_REQUIRE_ATTESTATION": ""}),
    ):
        with pytest.raises(UsageError, match="empty: name the identity, or leave the option out") as err:
            resolve(flags, environ=environ, cwd=tmp_path)
        assert err.value.exit_code == 2
    (tmp_path / "cipub.toml").write_text('require-attestation = ""\n')
    with pytest.raises(UsageError, match="require-attestation is empty"):
        resolve({}, environ={}, cwd=tmp_path)
    (tmp_path / "cipub.toml").unlink()
    assert resolve({}, environ={}, cwd=tmp_path).require_attestation == ""  # left out: no gate


def test_provenance_of_a_container_build_names_the_image_by_digest(tmp_path: Path) -> None:
    """``cipub build --container``: the manifest's ``container: {image, digest}`` goes into the signed
    SLSA provenance, as a resolved dependency and a dependency of the builder."""
    from cipub.core.artifact import read_artifact
    from cipub.core.manifest import ArtifactEntry, Manifest
    from cipub.policy.attest import SigningRequest, sign_manifest
    from tests.support.packages import make_package

    private, _public = _key(tmp_path, "builder")
    pkg = read_artifact(make_package(tmp_path / "build"))
    digest = "sha256:" + "e3" * 32
    manifest = Manifest(
        artifacts=[ArtifactEntry.from_artifact(pkg, {"python": "3.12"}, "cell-1")],
        recipe=str(tmp_path / "recipe.yaml"),
        engine="rattler-build",
    )
    manifest.container = {"image": "localhost/cipub-test:1", "digest": digest}
    request = SigningRequest(kind="key", target_channel="file:///c", out_dir=tmp_path / "out", key_file=private)
    records = sign_manifest(manifest, request, environ={"GITHUB_REPOSITORY": "acme/w", "GITHUB_SHA": "c0" * 20})
    [provenance] = [r for r in records if r.statement == "provenance"]
    document = (tmp_path / "out" / provenance.document).read_text()
    slsa = json.loads(base64.b64decode(json.loads(document)["payload"]))
    assert slsa["predicateType"] == "https://slsa.dev/provenance/v1"
    image = {"name": "container-image", "uri": "docker://localhost/cipub-test:1", "digest": {"sha256": "e3" * 32}}
    assert image in slsa["predicate"]["buildDefinition"]["resolvedDependencies"]
    assert slsa["predicate"]["runDetails"]["builder"]["builderDependencies"] == [image]
    # a host build names no image
    manifest.container = None
    host = attest.provenance_statement(
        pkg.filename, pkg.sha256, recipe="r", engine="e", variant={}, tool_version="0", environ={}, container=None
    )
    assert host["predicate"]["buildDefinition"]["resolvedDependencies"] == []
    assert "builderDependencies" not in host["predicate"]["runDetails"]["builder"]


def test_a_public_key_that_cannot_have_signed_is_a_usage_error(tmp_path: Path) -> None:
    """Cold review: a P-384 key gave exit 8 'not signed by the key' (RSA gave 2); `key:` alone read '.'."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from cipub.core.attest import verify_envelope
    from cipub.core.errors import UsageError

    p384 = tmp_path / "p384.pem"
    p384.write_bytes(
        ec.generate_private_key(ec.SECP384R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(UsageError, match="must be ECDSA P-256"):
        verify_envelope("{}", filename="f.conda", sha256="0" * 64, public_key_file=str(p384))
    with pytest.raises(UsageError, match="needs the path"):
        verify_envelope("{}", filename="f.conda", sha256="0" * 64, public_key_file="")


def test_every_refused_key_or_config_says_what_to_do(tmp_path: Path) -> None:
    """Each usage error of the signing and verifying inputs carries a hint line (a cold review
    found bare messages): how to make the key, what the option takes."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    junk = tmp_path / "junk.pem"
    junk.write_text("not a key")
    rsa_key = tmp_path / "rsa.pem"
    rsa_key.write_bytes(
        rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    refusals = [
        lambda: attest.check_kind("gpg"),
        lambda: attest.sign_with_key([{}], ""),
        lambda: attest.sign_with_key([{}], str(junk)),
        lambda: attest.sign_with_key([{}], str(rsa_key)),
        lambda: attest.verify_envelope("{}", filename="f", sha256=SHA, public_key_file=str(tmp_path / "missing.pem")),
        lambda: attest.verify_envelope("{}", filename="f", sha256=SHA, public_key_file=str(junk)),
    ]
    for refuse in refusals:
        with pytest.raises(UsageError) as err:
            refuse()
        assert err.value.hint, err.value.message
