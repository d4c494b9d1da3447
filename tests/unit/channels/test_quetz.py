"""The Quetz target's own decisions, on a scripted transport (no network). Behaviour against the
real server is in tests/integration/quetz; here are the answers a healthy local Quetz rarely gives
(406, lost responses, redirects to a package store, copies that disagree)."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from cipub.channels import TargetOptions
from cipub.channels.base import ChannelFile
from cipub.channels.quetz import QuetzChannel
from cipub.core.artifact import Artifact, read_artifact
from cipub.core.errors import AuthError, ConflictError, InvalidPackageError, UsageError, VerificationError
from cipub.core.secrets import Secret
from tests.support.packages import make_package

KEY = "quetz-unit-key-0123456789"
Handler = Callable[[httpx.Request], httpx.Response]


def channel(handler: Handler, *, token: bool = True, name: str = "proj") -> QuetzChannel:
    return QuetzChannel(
        "http://quetz.test",
        name,
        TargetOptions(retries=2, backoff=0.0),
        Secret(KEY, "test") if token else None,
        f"quetz+http://quetz.test/{name}",
        sleep=lambda _s: None,
        transport=httpx.MockTransport(handler),
    )


def record(chan: str, filename: str, sha: str, version: str = "1.0", platform: str = "noarch") -> dict[str, object]:
    name, ver, build = filename.rsplit(".", 1)[0].removesuffix(".tar").rsplit("-", 2)
    return {
        "channel_name": chan,
        "package_name": name,
        "platform": platform,
        "version": ver,
        "build_string": build,
        "build_number": int(build.rsplit("_", 1)[-1]),
        "filename": filename,
        "info": {"sha256": sha, "subdir": platform},
    }


@pytest.fixture
def art(tmp_path: Path) -> Artifact:
    return read_artifact(make_package(tmp_path, "demo", "1.0", 0))


def test_labels_are_the_channels_named_after_the_target(tmp_path: Path) -> None:
    listed = ["proj", "proj-test", "Proj-RC", "project", "proj-", "other", "proj-a b"]

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.params["q"] == "proj"
        return httpx.Response(200, json=[{"name": n, "private": n != "proj-test"} for n in listed])

    found = channel(handler).label_channels()
    assert {label: (c.name, c.private) for label, c in found.items()} == {
        "main": ("proj", True),
        "test": ("proj-test", False),
        "RC": ("Proj-RC", True),
    }


def test_files_merges_copies_and_tells_differing_ones_apart() -> None:
    versions = {
        "proj": [record("proj", "demo-1.0-h_0.conda", "aa"), record("proj", "demo-2.0-h_0.conda", "cc", "2.0")],
        # Quetz repeats rows when it joins uploader profiles; one per label counts.
        "proj-test": [record("proj-test", "demo-1.0-h_0.conda", "bb")] * 2,
    }

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/channels":
            return httpx.Response(200, json=[{"name": "proj"}, {"name": "proj-test"}])
        chan = request.url.path.split("/")[3]
        return httpx.Response(200, json=versions[chan])

    [f] = channel(handler).files("demo", "1.0")
    assert f.key == "noarch/demo-1.0-h_0.conda"
    assert f.labels == {"main", "test"} and f.sha256 is None
    assert (f.sha256_in("main"), f.sha256_in("test")) == ("aa", "bb")
    assert len(channel(handler).files("demo")) == 2


def test_upload_answers(art: Artifact) -> None:
    answers: list[httpx.Response] = []
    existing: dict[str, str] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/channels":
            return httpx.Response(200, json=[{"name": "proj", "private": False}, {"name": "proj-test"}])
        if request.method == "POST":
            assert request.headers["X-API-Key"] == KEY
            assert request.url.params["sha256"] == art.sha256 and request.url.params["force"] == "false"
            assert request.headers["Content-Length"] == str(art.size)
            assert request.read() == art.path.read_bytes()
            return answers.pop(0)
        return httpx.Response(200, json=[record("proj-test", art.filename, sha) for sha in existing.values()])

    answers.append(httpx.Response(201))
    channel(handler).upload(art, "test")

    answers.append(httpx.Response(409, json={"detail": "Duplicate"}))
    existing["x"] = art.sha256
    channel(handler).upload(art, "test")  # identical bytes already there: done

    answers.append(httpx.Response(409, json={"detail": "Duplicate"}))
    existing["x"] = "0" * 64
    with pytest.raises(ConflictError, match="different content"):
        channel(handler).upload(art, "test")

    answers.append(httpx.Response(406, json={"detail": "Wrong SHA256 checksum"}))
    with pytest.raises(VerificationError, match="different sha256"):
        channel(handler).upload(art, "test")

    answers.append(httpx.Response(400, json={"detail": "package name mismatch"}))
    with pytest.raises(InvalidPackageError, match="package name mismatch"):
        channel(handler).upload(art, "test")


def test_a_lost_response_is_not_uploaded_twice(art: Artifact) -> None:
    posts = []
    stored: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/channels":
            return httpx.Response(200, json=[{"name": "proj-test"}])
        if request.method == "POST":
            posts.append(1)
            stored.append(record("proj-test", art.filename, art.sha256))
            return httpx.Response(502)  # the upload landed, the answer got lost
        return httpx.Response(200, json=stored)

    channel(handler).upload(art, "test")
    assert len(posts) == 1


def test_missing_label_channel_gets_the_main_channels_visibility(art: Artifact) -> None:
    created = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/channels" and request.method == "GET":
            return httpx.Response(200, json=[{"name": "proj", "private": False}, *created])
        if request.url.path == "/api/channels":
            body = json.loads(request.content)
            created.append(body)
            return httpx.Response(201)
        if request.url.path.endswith("repodata.json"):
            return httpx.Response(200, json={"packages.conda": {art.filename: {}}})
        return httpx.Response(201)

    with channel(handler) as chan:
        chan.upload(art, "rc")
        chan.upload(art, "rc")
    assert [(c["name"], c["private"]) for c in created] == [("proj-rc", False)]


def test_without_main_channel_label_channels_are_private(art: Artifact) -> None:
    created = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/channels" and request.method == "GET":
            return httpx.Response(200, json=[])
        if request.url.path == "/api/channels":
            created.append(json.loads(request.content))
        return httpx.Response(201)

    channel(handler).upload(art, "test")
    assert created[0]["private"] is True


def test_writes_need_a_token_before_any_request(art: Artifact) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request may be sent")

    with pytest.raises(AuthError, match="QUETZ_API_KEY"):
        channel(handler, token=False).upload(art, "test")


def test_names_are_checked() -> None:
    with pytest.raises(UsageError):
        channel(lambda r: httpx.Response(200), name="a/b")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=[])

    with pytest.raises(UsageError, match="longer than 50"):
        channel(handler, name="p" * 45)._ensure_channel("staging")
    with pytest.raises(UsageError, match="invalid label"):
        channel(handler)._ensure_channel("a/b")


def _file(sha: str, labels: dict[str, str]) -> ChannelFile:
    return ChannelFile(
        "noarch", "demo-1.0-h_0.conda", "demo", "1.0", "h_0", 0, sha, frozenset(labels), tuple(sorted(labels.items()))
    )


def test_add_label_follows_a_store_redirect_without_the_key() -> None:
    body = b"package bytes"
    sha = hashlib.sha256(body).hexdigest()
    seen: list[tuple[str, str | None]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((f"{request.url.host}{request.url.path}", request.headers.get("X-API-Key")))
        if request.url.path == "/api/channels":
            return httpx.Response(200, json=[{"name": "proj-test"}, {"name": "proj"}])
        if request.url.path.startswith("/get/"):
            return httpx.Response(302, headers={"Location": "https://store.example/bucket/x.conda?sig=1"})
        if request.url.host == "store.example":
            return httpx.Response(200, content=body)
        assert request.url.params["sha256"] == sha and request.content == body
        return httpx.Response(201)

    channel(handler).add_label(_file(sha, {"test": sha}), "main", source_label="test")
    assert ("store.example/bucket/x.conda", None) in seen
    assert ("quetz.test/api/channels/proj/upload/demo-1.0-h_0.conda", KEY) in seen


def test_add_label_refuses_bytes_that_do_not_match() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/channels":
            return httpx.Response(200, json=[{"name": "proj-test"}, {"name": "proj"}])
        if request.url.path.startswith("/get/"):
            return httpx.Response(200, content=b"not what the index says")
        raise AssertionError("nothing may be uploaded")

    with pytest.raises(VerificationError, match="expected"):
        channel(handler).add_label(_file("ab" * 32, {"test": "ab" * 32}), "main", source_label="test")
    # Copies that differ between labels: the policy's decision now (tests/unit/test_policy.py).


def test_leaving_a_batch_waits_for_the_index(art: Artifact, caplog: pytest.LogCaptureFixture) -> None:
    polls = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/channels":
            return httpx.Response(200, json=[{"name": "proj-test"}])
        if request.url.path.endswith("repodata.json"):
            polls.append(1)
            listed = {art.filename: {"sha256": art.sha256}} if len(polls) >= 3 else {}
            return httpx.Response(200, json={"packages": {}, "packages.conda": listed})
        return httpx.Response(201)

    with channel(handler) as chan:
        chan.upload(art, "test")
    assert len(polls) == 3

    polls.clear()

    def no_index(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("repodata.json"):
            return httpx.Response(404)
        if request.url.path.endswith("/versions"):  # the read-back of what the index never showed
            return httpx.Response(200, json=[record("proj-test", art.filename, art.sha256)])
        return handler(request)

    chan = channel(no_index)
    with caplog.at_level(logging.WARNING):
        chan.upload(art, "test")
        chan._changed[("proj-test", "noarch")] = {art.filename: (art.name, art.sha256)}
        assert chan.wait_indexed(timeout=0.0) is False
    assert "has not re-indexed" in caplog.text


def test_an_index_listing_other_bytes_fails_verification(art: Artifact) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/channels":
            return httpx.Response(200, json=[{"name": "proj-test"}])
        if request.url.path.endswith("repodata.json"):
            return httpx.Response(200, json={"packages.conda": {art.filename: {"sha256": "f" * 64}}})
        return httpx.Response(201)

    with pytest.raises(VerificationError, match="lists noarch/"), channel(handler) as chan:
        chan.upload(art, "test")


def test_one_package_listing_per_channel_and_no_read_back_per_package(tmp_path: Path) -> None:
    """State for many packages: one package listing per label channel; versions only where the
    package exists; reading back after the writes costs nothing more (the index check does it)."""
    arts = [read_artifact(make_package(tmp_path, f"pkg{i}", "1.0", 0)) for i in range(5)]
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        path = request.url.path
        if path == "/api/channels":
            return httpx.Response(200, json=[{"name": "proj"}, {"name": "proj-test"}])
        if path.endswith("/packages"):
            return httpx.Response(200, json=[{"name": "pkg0"}] if path.startswith("/api/channels/proj-test/") else [])
        if path.endswith("/versions"):
            return httpx.Response(200, json=[])
        if path.endswith("repodata.json"):
            return httpx.Response(200, json={"packages.conda": {a.filename: {"sha256": a.sha256} for a in arts}})
        return httpx.Response(201)

    with channel(handler) as chan:
        before = {a.name: chan.files(a.name, a.version) for a in arts}
        for a in arts:
            chan.upload(a, "test")
        after = {a.name: chan.files(a.name, a.version) for a in arts}
    assert all(files == [] for files in before.values())
    assert all([f.sha256_in("test") for f in files] == [a.sha256] for a, files in zip(arts, after.values()))
    gets = [s for s in seen if s.startswith("GET /api/")]
    assert gets.count("GET /api/channels/proj/packages") == 1
    assert gets.count("GET /api/channels/proj-test/packages") == 1
    assert [s for s in gets if s.endswith("/versions")] == ["GET /api/channels/proj-test/packages/pkg0/versions"]
    assert len([s for s in seen if s.startswith("POST")]) == 5


def test_install_url() -> None:
    chan = channel(lambda r: httpx.Response(200))
    assert chan.install_url("main") == "http://quetz.test/get/proj"
    assert chan.install_url("test") == "http://quetz.test/get/proj-test"


def test_a_label_channel_created_in_the_batch_is_read_back_without_asking(tmp_path: Path) -> None:
    arts = [read_artifact(make_package(tmp_path, f"new{i}", "1.0", 0)) for i in range(3)]
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        path = request.url.path
        if path == "/api/channels" and request.method == "GET":
            return httpx.Response(200, json=[{"name": "proj", "private": False}])
        if path == "/api/channels":
            return httpx.Response(201)
        if path.endswith("/packages"):
            return httpx.Response(200, json=[])
        if path.endswith("repodata.json"):
            return httpx.Response(200, json={"packages.conda": {a.filename: {"sha256": a.sha256} for a in arts}})
        return httpx.Response(201)

    with channel(handler) as chan:
        assert all(chan.files(a.name, a.version) == [] for a in arts)
        for a in arts:
            chan.upload(a, "test")
        after = [chan.files(a.name, a.version) for a in arts]
    assert [[f.sha256_in("test") for f in files] for files in after] == [[a.sha256] for a in arts]
    assert not [s for s in seen if s.endswith("/versions")]
    assert [s for s in seen if s.endswith("/packages")] == ["GET /api/channels/proj/packages"]
