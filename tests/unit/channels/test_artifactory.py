"""Artifactory channel logic with httpx's MockTransport (no network): check-before-PUT, checksum
headers, copy API, refusals, labels from the repository list, credentials. The protocol server and
rattler-build's uploader are exercised in tests/integration/targets/."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest

from cipub.channels import TargetOptions, parse_target
from cipub.channels.artifactory import ArtifactoryChannel, open_target
from cipub.core.artifact import Artifact, read_artifact
from cipub.core.errors import AuthError, ConflictError, UsageError, VerificationError
from cipub.core.manifest import ArtifactEntry
from cipub.core.secrets import Secret
from cipub.policy.promote import remove_label
from tests.support.packages import make_package

BASE = "http://art.test/artifactory"


class FakeArtifactory:
    """Just enough of the REST API to drive the client: path -> bytes, per repository."""

    def __init__(self, repos: tuple[str, ...] = ("conda", "conda-test")) -> None:
        self.repos: dict[str, dict[str, bytes]] = {r: {} for r in repos}
        self.requests: list[tuple[str, str]] = []
        self.lie_about_sha: str | None = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = unquote(request.url.path).removeprefix("/artifactory/")
        self.requests.append((request.method, path))
        parts = path.split("/")
        if path.startswith("api/repositories"):
            return httpx.Response(200, json=[{"key": k, "type": "LOCAL"} for k in [*self.repos, "condax-other"]])
        if parts[:2] == ["api", "storage"]:
            repo, rest = parts[2], "/".join(parts[3:])
            items = self.repos.get(repo)
            if items is None:
                return httpx.Response(404, json={"errors": [{"status": 404, "message": "no repo"}]})
            if rest in items:
                sha = self.lie_about_sha or hashlib.sha256(items[rest]).hexdigest()
                return httpx.Response(200, json={"checksums": {"sha256": sha}})
            children = {
                k[len(rest) + 1 :].split("/")[0] if rest else k.split("/")[0] for k in items if k.startswith(rest)
            }
            if rest and not children:
                return httpx.Response(404, json={"errors": [{"status": 404, "message": "not found"}]})
            return httpx.Response(
                200, json={"children": [{"uri": f"/{c}", "folder": not rest} for c in sorted(children)]}
            )
        if parts[:2] == ["api", "copy"]:
            src, rest = parts[2], "/".join(parts[3:])
            to = request.url.params["to"].strip("/").split("/", 1)
            self.repos[to[0]][to[1]] = self.repos[src][rest]
            return httpx.Response(200, json={"messages": []})
        if parts[:2] == ["api", "conda"]:
            return httpx.Response(404)
        repo, rest = parts[0], "/".join(parts[1:])
        if request.method == "PUT":
            if repo not in self.repos:
                return httpx.Response(404, json={"errors": [{"status": 404, "message": "no repo"}]})
            body = request.read()
            assert request.headers["x-checksum-sha256"] == hashlib.sha256(body).hexdigest()
            self.repos[repo][rest] = body
            return httpx.Response(201, json={})
        if request.method == "DELETE":
            self.repos[repo].pop(rest)
            return httpx.Response(204)
        return httpx.Response(404)


def channel(fake: Callable[[httpx.Request], httpx.Response]) -> ArtifactoryChannel:
    options = TargetOptions(retries=0)
    token = Secret("art-unit-token-0042", "test")
    return ArtifactoryChannel(BASE, "conda", options, token, "artifactory", transport=httpx.MockTransport(fake))


def pkg(tmp_path: Path, payload: str = "p") -> Artifact:
    return read_artifact(make_package(tmp_path / payload, "demo", "1.0", 1, payload=payload))


def test_upload_puts_with_checksum_to_the_label_repository(tmp_path: Path) -> None:
    fake, art = FakeArtifactory(), pkg(tmp_path)
    ch = channel(fake)
    ch.upload(art, "test")
    assert fake.repos["conda-test"] == {f"noarch/{art.filename}": art.path.read_bytes()}
    [f] = ch.files("demo", "1.0")
    assert (f.labels, f.sha256, f.build_number) == ({"test"}, art.sha256, 1)
    assert ch.labels() == ["main", "test"]  # condax-other is not one of ours


def test_existing_same_file_is_not_sent_again_and_different_one_conflicts(tmp_path: Path) -> None:
    fake, first, second = FakeArtifactory(), pkg(tmp_path, "one"), pkg(tmp_path, "two")
    ch = channel(fake)
    ch.upload(first, "test")
    puts = [r for r in fake.requests if r[0] == "PUT"]
    ch.upload(first, "test")
    assert [r for r in fake.requests if r[0] == "PUT"] == puts
    with pytest.raises(ConflictError):
        ch.upload(second, "test")
    assert [r for r in fake.requests if r[0] == "PUT"] == puts
    assert fake.repos["conda-test"][f"noarch/{first.filename}"] == first.path.read_bytes()


def test_upload_is_read_back(tmp_path: Path) -> None:
    fake, art = FakeArtifactory(), pkg(tmp_path)
    fake.lie_about_sha = "0" * 64
    with pytest.raises(VerificationError, match="after the upload"):
        channel(fake).upload(art, "test")


def test_missing_repository_names_the_label_mapping(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="conda-rc") as failed:
        channel(FakeArtifactory()).upload(pkg(tmp_path), "rc")
    assert "label 'rc'" in (failed.value.hint or "")


def test_promotion_uses_the_copy_api_and_move_deletes_only_with_a_copy_kept(tmp_path: Path) -> None:
    fake, art = FakeArtifactory(), pkg(tmp_path)
    ch = channel(fake)
    ch.upload(art, "test")
    [f] = ch.files("demo")
    ch.add_label(f, "main", source_label="test")
    assert ("POST", f"api/copy/conda-test/noarch/{art.filename}") in fake.requests
    [f] = ch.files("demo")
    assert f.labels == {"test", "main"}
    ch.remove_label(f, "test")
    assert fake.repos["conda-test"] == {} and f"noarch/{art.filename}" in fake.repos["conda"]
    with pytest.raises(VerificationError, match="no other label"):
        remove_label(ch, [ArtifactEntry.from_artifact(art)], "main")  # the only copy left
    assert f"noarch/{art.filename}" in fake.repos["conda"]


def test_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    target = parse_target("artifactory+https://jfrog.test/artifactory/conda")
    for name in ("ARTIFACTORY_TOKEN", "ARTIFACTORY_USERNAME", "ARTIFACTORY_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(AuthError, match="ARTIFACTORY_TOKEN"):
        open_target(target, TargetOptions())
    monkeypatch.setenv("ARTIFACTORY_USERNAME", "ci")
    monkeypatch.setenv("ARTIFACTORY_PASSWORD", "pw-unit-secret")
    basic = open_target(target, TargetOptions())
    assert basic.http.credentials["authorization"].startswith("Basic ")
    assert basic.install_url("test") == "https://jfrog.test/artifactory/api/conda/conda-test"
    monkeypatch.setenv("ARTIFACTORY_TOKEN", "art-unit-token")
    bearer = open_target(target, TargetOptions())
    assert bearer.http.credentials["authorization"] == "Bearer art-unit-token"


def test_a_file_without_sha256_on_the_server_is_not_trusted(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"checksums": {"sha1": "abc"}})

    ch = channel(handler)
    with pytest.raises(VerificationError, match="sha256"):
        ch.file_sha256("conda", "noarch", "demo-1.0-0.conda")
