"""The PSM target's own decisions, on a scripted transport (no network). The flows against the
PSM protocol server are in tests/integration/psm."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from cipub.channels import TargetOptions, open_channel
from cipub.channels.base import ChannelFile
from cipub.channels.psm import PSMChannel
from cipub.core.artifact import Artifact, read_artifact
from cipub.core.errors import AuthError, ConflictError, UsageError, VerificationError
from cipub.core.secrets import Secret
from tests.support.packages import make_package

TOKEN = "psm-unit-token-5566"
Handler = Callable[[httpx.Request], httpx.Response]


def channel(handler: Handler, *, token: bool = True) -> PSMChannel:
    return PSMChannel(
        "https://psm.test/api",
        "team",
        TargetOptions(retries=2, backoff=0.0),
        Secret(TOKEN, "test") if token else None,
        "psm+https://psm.test/team",
        sleep=lambda _s: None,
        transport=httpx.MockTransport(handler),
    )


def page(items: list[dict[str, object]], total: int | None = None) -> httpx.Response:
    return httpx.Response(200, json={"total_count": len(items) if total is None else total, "items": items})


def item(ckey: str, sha: str | None, version: str = "1.0") -> dict[str, object]:
    subdir, filename = ckey.split("/")
    name, ver, build = filename.removesuffix(".conda").rsplit("-", 2)
    metadata: dict[str, object] = {"name": name, "version": ver, "build": build, "build_number": 0, "subdir": subdir}
    if sha:
        metadata["sha256"] = sha
    return {"ckey": ckey, "family": "conda", "name": name, "metadata": metadata, "url": f"/api/repo/team/{ckey}"}


@pytest.fixture
def art(tmp_path: Path) -> Artifact:
    return read_artifact(make_package(tmp_path, "demo", "1.0", 0))


def test_target_url_and_token_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PSM_TOKEN", raising=False)
    monkeypatch.setenv("ANACONDA_SERVER_TOKEN", "from-the-old-name")
    chan = open_channel("psm+https://repo.example.com/team")
    assert isinstance(chan, PSMChannel)
    assert chan.api_base == "https://repo.example.com/api"
    assert chan.install_url("main") == "https://repo.example.com/api/repo/team"
    assert chan.install_url("test") == "https://repo.example.com/api/repo/team/test"
    other = open_channel("psm+https://repo.example.com/team", TargetOptions(api_url="https://gw.example.com/psm/api"))
    assert isinstance(other, PSMChannel) and other.api_base == "https://gw.example.com/psm/api"
    with pytest.raises(UsageError, match="channel name"):
        open_channel("psm+https://repo.example.com/Team")


def test_subchannels_are_read_page_by_page() -> None:
    offsets = []

    def handler(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        offsets.append(offset)
        names = [f"s{i}" for i in range(offset, min(offset + 100, 150))]
        return page([{"name": n} for n in names], total=150)

    assert len(channel(handler).subchannels() or ()) == 150
    assert offsets == [0, 100]


def test_files_hashes_the_bytes_when_the_listing_has_no_sha256() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/subchannels"):
            return page([{"name": "test"}])
        if path == "/api/channels/team/subchannels/test/artifacts/conda/demo/files":
            return page([item("noarch/demo-1.0-h_0.conda", None)])
        if path == "/api/repo/team/noarch/demo-1.0-h_0.conda":
            return httpx.Response(200, content=b"abc")
        return httpx.Response(404, json={"message": "not found"})

    [f] = channel(handler).files("demo", "1.0")
    assert f.labels == {"test"}
    assert f.sha256 == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_upload_is_multipart_conda1_with_x_auth_after_a_fresh_check(art: Artifact) -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/subchannels"):
            return page([{"name": "test"}])
        if request.method == "POST":
            request.read()
            sent.append(request)
            return httpx.Response(201)
        return httpx.Response(404, json={"message": "not found"})

    channel(handler).upload(art, "test")
    [post] = sent
    assert post.url.path == "/api/channels/team/subchannels/test/artifacts"
    assert post.headers["X-Auth"] == TOKEN and "authorization" not in post.headers
    assert post.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    body = post.content
    assert b'name="filetype"\r\n\r\nconda1' in body
    assert f'name="content"; filename="{art.filename}"'.encode() in body
    assert art.path.read_bytes() in body


def test_upload_never_sends_over_an_existing_file(art: Artifact) -> None:
    there = {"sha": art.sha256}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/subchannels"):
            return page([{"name": "test"}])
        if request.method == "POST":
            raise AssertionError("must not upload over an existing file")
        return httpx.Response(200, json=item(art.key, there["sha"]))

    channel(handler).upload(art, "test")  # identical: nothing to do
    there["sha"] = "0" * 64
    with pytest.raises(ConflictError, match="different content"):
        channel(handler).upload(art, "test")


def test_a_replaced_file_is_caught_when_the_batch_settles(art: Artifact) -> None:
    posted = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/subchannels"):
            return page([{"name": "test"}])
        if request.method == "POST":
            posted.append(1)
            return httpx.Response(204)  # "subsequent upload": someone else's file was there
        if posted:
            return httpx.Response(200, json=item(art.key, "f" * 64))
        return httpx.Response(404, json={"message": "not found"})

    chan = channel(handler)
    chan.upload(art, "test")
    with pytest.raises(VerificationError, match="expected"):
        chan.settle()


def test_missing_channel_and_token(art: Artifact) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"message": "channel not found"})

    assert channel(handler).files("demo") == []
    with pytest.raises(UsageError, match="does not exist"):
        channel(handler).upload(art, "test")
    with pytest.raises(AuthError, match="PSM_TOKEN or ANACONDA_SERVER_TOKEN"):
        channel(handler, token=False).upload(art, "test")


def _file(labels: dict[str, str]) -> ChannelFile:
    sha = next(iter(set(labels.values()))) if len(set(labels.values())) == 1 else None
    return ChannelFile(
        "noarch", "demo-1.0-h_0.conda", "demo", "1.0", "h_0", 0, sha, frozenset(labels), tuple(sorted(labels.items()))
    )


def test_add_label_sends_one_bulk_copy_and_waits_until_it_shows() -> None:
    bulks: list[tuple[str, dict[str, object]]] = []
    polls = []

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/subchannels"):
            return page([{"name": "test"}])
        if request.method == "PUT":
            bulks.append((path, json.loads(request.content)))
            return httpx.Response(202)
        if path == "/api/channels/team/artifacts/conda/demo/files/noarch/demo-1.0-h_0.conda":
            polls.append(1)
            return (
                httpx.Response(200, json=item("noarch/demo-1.0-h_0.conda", "aa"))
                if len(polls) > 2
                else httpx.Response(404)
            )
        return httpx.Response(404, json={"message": "not found"})

    with channel(handler) as chan:
        chan.add_label(_file({"test": "aa"}), "main", source_label="test")
    assert bulks == [
        (
            "/api/channels/team/subchannels/test/artifacts/bulk",
            {
                "action": "copy",
                "target_channel": "team",
                "items": [{"name": "demo", "family": "conda", "ckey": "noarch/demo-1.0-h_0.conda"}],
            },
        )
    ]
    assert len(polls) == 3


def test_a_copy_that_never_shows_fails_verification() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/subchannels"):
            return page([{"name": "test"}, {"name": "rc"}])
        if request.method == "PUT":
            return httpx.Response(202)
        return httpx.Response(404, json={"message": "not found"})

    chan = channel(handler)
    chan.add_label(_file({"test": "aa"}), "rc", source_label="test")
    with pytest.raises(VerificationError, match="did not show them"):
        chan.settle(timeout=0.0)
    # Copies that differ between labels: the policy's decision now (tests/unit/test_policy.py).


def test_labels_must_be_subchannel_names(art: Artifact) -> None:
    with pytest.raises(UsageError, match="subchannels"):
        channel(lambda r: page([])).upload(art, "Release")
