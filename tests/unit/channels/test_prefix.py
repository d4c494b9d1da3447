"""prefix.dev channel and trusted-publishing logic, with httpx's MockTransport (no network).
The protocol server and real clients (rattler-build) are in tests/integration/targets/."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from cipub.channels import TargetOptions, parse_target
from cipub.channels.base import ChannelFile
from cipub.channels.prefix import PrefixChannel, open_target, read_base_for
from cipub.core import oidc
from cipub.core.artifact import Artifact, read_artifact
from cipub.core.errors import AuthError, ConflictError, UsageError, VerificationError
from cipub.core.manifest import ArtifactEntry
from cipub.core.secrets import Secret, scrub
from cipub.core.transport import HttpClient
from cipub.policy.promote import remove_label
from tests.servers.prefix_server import parse_multipart, repodata
from tests.support.packages import make_package

BASE = "http://prefix.test"
Handler = Callable[[httpx.Request], httpx.Response]


def http(handler: Handler) -> HttpClient:
    return HttpClient(BASE, retries=0, transport=httpx.MockTransport(handler))


def channel(handler: Handler, index_wait: float = PrefixChannel.index_wait) -> PrefixChannel:
    chan = PrefixChannel(
        BASE,
        "chan",
        TargetOptions(retries=0),
        Secret("pfx_unit_key_0099", "test"),
        "prefix",
        sleep=lambda _s: None,
        transport=httpx.MockTransport(handler),
    )
    chan.index_wait = index_wait
    return chan


def pkg(tmp_path: Path, payload: str = "p") -> Artifact:
    return read_artifact(make_package(tmp_path / payload, "demo", "1.0", 2, payload=payload))


def record(art: Artifact) -> dict[str, Any]:
    return {"name": art.name, "version": art.version, "build": art.build, "build_number": 2, "sha256": art.sha256}


def repodata_response(records: dict[str, dict[str, Any]]) -> httpx.Response:
    return httpx.Response(200, json=repodata("noarch", records))


def test_upload_sends_rattler_builds_multipart_form_to_the_label_channel(tmp_path: Path) -> None:
    art = pkg(tmp_path)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            seen.append(request)
            return httpx.Response(200, json={})
        return repodata_response({art.filename: record(art)})

    channel(handler).upload(art, "test")
    [request] = seen
    assert request.url.path == "/api/v1/upload/chan-test"
    assert "force" not in request.url.query.decode()
    body = request.read()
    assert int(request.headers["content-length"]) == len(body)
    [(headers, content)] = parse_multipart(request.headers["content-type"], body)
    assert 'name="file"' in headers["content-disposition"]
    assert headers["x-file-name"] == art.filename
    assert headers["x-file-sha256"] == art.sha256
    assert content == art.path.read_bytes()


@pytest.mark.parametrize(
    ("server_sha", "outcome"), [("same", None), ("other", ConflictError), (None, VerificationError)]
)
def test_409_compares_the_servers_sha256(
    tmp_path: Path, server_sha: str | None, outcome: type[Exception] | None
) -> None:
    art = pkg(tmp_path)
    shown = {"same": art.sha256, "other": "0" * 64}.get(server_sha or "")

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(409, json={"error": "exists"})
        return repodata_response({art.filename: {**record(art), "sha256": shown}} if shown else {})

    ch = channel(handler, index_wait=0.0)
    if outcome is None:
        ch.upload(art, "main")
    else:
        with pytest.raises(outcome):
            ch.upload(art, "main")


def test_unknown_channel_is_a_usage_error_naming_the_label_mapping(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"error": "Channel 'chan-rc' not found"})

    with pytest.raises(UsageError, match="chan-rc") as failed:
        channel(handler).upload(pkg(tmp_path), "rc")
    assert "label 'rc' maps to channel 'chan-rc'" in (failed.value.hint or "")


def test_reads_wait_for_the_index_to_show_our_writes(tmp_path: Path) -> None:
    art = pkg(tmp_path)
    reads = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(200)
        if request.url.path == "/chan-test/noarch/repodata.json":
            reads["n"] += 1
            return repodata_response({art.filename: record(art)} if reads["n"] >= 3 else {})
        return httpx.Response(404)

    ch = channel(handler)
    with ch:
        ch.upload(art, "test")
        [f] = ch.files("demo", "1.0")
    assert f.labels == {"test"} and f.sha256 == art.sha256 and f.build_number == 2
    assert reads["n"] >= 3


def test_add_label_downloads_in_ranges_checks_sha_and_uploads(tmp_path: Path) -> None:
    art = pkg(tmp_path)
    data = art.path.read_bytes()
    uploads: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "POST":
            uploads.append(path)
            return httpx.Response(200)
        if path.endswith(art.filename):
            start, end = map(int, request.headers["range"].removeprefix("bytes=").split("-"))
            chunk = data[start : min(end, len(data) - 1) + 1]
            return httpx.Response(206, content=chunk, headers={"content-range": f"bytes {start}-{end}/{len(data)}"})
        if path == "/chan/noarch/repodata.json" and uploads:
            return repodata_response({art.filename: record(art)})
        return httpx.Response(404)

    import cipub.channels.prefix as prefix_module

    file = ChannelFile("noarch", art.filename, "demo", "1.0", art.build, 2, art.sha256, frozenset({"test"}))
    original = prefix_module.DOWNLOAD_CHUNK
    prefix_module.DOWNLOAD_CHUNK = 1000  # several ranges for a small file
    try:
        channel(handler).add_label(file, "main", source_label="test")
    finally:
        prefix_module.DOWNLOAD_CHUNK = original
    assert uploads == ["/api/v1/upload/chan"]

    bad = ChannelFile("noarch", art.filename, "demo", "1.0", art.build, 2, "f" * 64, frozenset({"test"}))
    uploads.clear()
    with pytest.raises(VerificationError, match="sha256"):
        channel(handler).add_label(bad, "main", source_label="test")
    assert uploads == []


def test_removing_a_label_checks_the_kept_copy_on_the_server(tmp_path: Path) -> None:
    """The policy guard reads the server's index itself: the "main" copy is not really there,
    so taking "test" off (the only copy) is refused and nothing is deleted."""
    art = pkg(tmp_path)
    deletes: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "DELETE":
            deletes.append(request.url.path)
            return httpx.Response(200)
        if request.url.path == "/chan-test/noarch/repodata.json":
            return repodata_response({art.filename: record(art)})
        return repodata_response({})

    with pytest.raises(VerificationError, match="no other label"):
        remove_label(channel(handler), [ArtifactEntry.from_artifact(art)], "test")
    assert deletes == []


def test_token_sources(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    target = parse_target("https://prefix.dev/mychan")
    for name in (
        "PREFIX_API_KEY",
        "ACTIONS_ID_TOKEN_REQUEST_URL",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        "PREFIX_DEV_ID_TOKEN",
        "PREFIX_ID_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)
    anonymous = open_target(target, TargetOptions())  # public channels can be read without a token
    with anonymous.http.leased() as client:
        assert "authorization" not in client.headers
    with pytest.raises(AuthError, match="PREFIX_API_KEY") as failed:
        anonymous.upload(pkg(tmp_path), "test")
    assert failed.value.exit_code == 5 and "id-token" in (failed.value.hint or "")
    monkeypatch.setenv("PREFIX_API_KEY", "pfx_unit_key_123")
    ch = open_target(target, TargetOptions())
    assert ch.http.credentials["authorization"] == "Bearer pfx_unit_key_123"
    assert ch.install_url("test") == "https://repo.prefix.dev/mychan-test"
    assert read_base_for("http://127.0.0.1:9") == "http://127.0.0.1:9"


# -- trusted publishing (cipub.core.oidc) ------------------------------------------------------------------
def test_audience_and_gitlab_variable_names() -> None:
    assert oidc.audience_for("https://prefix.dev") == "prefix.dev"
    assert oidc.audience_for("https://repo.prefix.dev") == "prefix.dev"
    assert oidc.audience_for("http://127.0.0.1:8000") == "127.0.0.1"
    assert oidc.gitlab_variables("prefix.dev") == ["PREFIX_DEV_ID_TOKEN", "PREFIX_ID_TOKEN"]
    assert oidc.gitlab_variables("conda.example.org")[0] == "CONDA_EXAMPLE_ORG_ID_TOKEN"


def test_no_ci_identity_means_no_trusted_publishing() -> None:
    assert oidc.ci_identity_token("prefix.dev", environ={}) is None


def test_gitlab_id_token_is_read_from_the_variable() -> None:
    secret = oidc.ci_identity_token("prefix.dev", environ={"PREFIX_DEV_ID_TOKEN": "gl.jwt.value"})
    assert secret is not None and secret.reveal() == "gl.jwt.value"
    assert "gl.jwt.value" not in f"{secret}" and scrub("x gl.jwt.value y") == "x *** y"


def test_github_token_request_keeps_api_version_and_adds_audience() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"count": 1, "value": "gh.jwt.value"})

    env = {
        "ACTIONS_ID_TOKEN_REQUEST_URL": "https://gh.test/token?api-version=2.0",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "req-tok",
    }
    secret = oidc.ci_identity_token("prefix.dev", environ=env, http=http(handler))
    assert secret is not None and secret.reveal() == "gh.jwt.value"
    [request] = seen
    assert dict(request.url.params) == {"api-version": "2.0", "audience": "prefix.dev"}
    assert request.headers["authorization"] == "bearer req-tok"


def test_half_configured_github_oidc_is_an_auth_error() -> None:
    with pytest.raises(AuthError, match="id-token|OIDC") as failed:
        oidc.ci_identity_token("prefix.dev", environ={"ACTIONS_ID_TOKEN_REQUEST_URL": "https://x"})
    assert "id-token: write" in (failed.value.hint or "")


def test_mint_token_returns_the_raw_body_as_a_secret() -> None:
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.read()))
        assert request.url.path == "/api/oidc/mint_token"
        return httpx.Response(200, text="pfx_minted_abc\n")

    identity = oidc.ci_identity_token("x", environ={"PREFIX_ID_TOKEN": "id.jwt"})
    assert identity is not None
    token = oidc.mint_token(BASE, identity, http=http(handler))
    assert token.reveal() == "pfx_minted_abc" and seen == [{"token": "id.jwt"}]


@pytest.mark.parametrize("status", [400, 401, 403])
def test_mint_token_refusal_is_exit_5_with_the_trusted_publisher_hint(status: int) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json={"error": "No trusted publisher matches this token"})

    identity = oidc.ci_identity_token("x", environ={"PREFIX_ID_TOKEN": "id.jwt.2"})
    assert identity is not None
    with pytest.raises(AuthError) as failed:
        oidc.mint_token(BASE, identity, http=http(handler))
    assert "trusted publisher" in (failed.value.hint or "")
    assert "id.jwt.2" not in failed.value.message
