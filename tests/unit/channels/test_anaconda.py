"""The anaconda.org target's own decisions, on a scripted transport (no network).

Behaviour against a whole server (and the real clients) is in tests/integration/anaconda; here are
the URL and token rules, and the answers a healthy server rarely gives (lost answers, 409s from a
parallel job, odd file records).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from cipub.channels import TargetOptions, open_channel, parse_target
from cipub.channels.anaconda import AnacondaChannel, conda_base_for, multipart_form, open_target
from cipub.channels.base import ChannelFile
from cipub.core.artifact import Artifact, read_artifact
from cipub.core.errors import AuthError, ConflictError, UsageError
from cipub.core.secrets import Secret
from tests.support.packages import make_package

TOKEN = "anaconda-unit-token-0123456789"
Handler = Callable[[httpx.Request], httpx.Response]


def channel(handler: Handler, *, token: bool = True) -> AnacondaChannel:
    return AnacondaChannel(
        "http://api.test",
        "alice",
        TargetOptions(retries=2, backoff=0.0),
        Secret(TOKEN, "test") if token else None,
        "anaconda+http://api.test/alice",
        sleep=lambda _s: None,
        transport=httpx.MockTransport(handler),
    )


def dist(basename: str, sha: str, labels: list[str], version: str = "1.0") -> dict[str, object]:
    build = basename.rsplit("-", 1)[-1].removesuffix(".conda").removesuffix(".tar.bz2")
    return {
        "basename": basename,
        "version": version,
        "sha256": sha,
        "labels": labels,
        "attrs": {"build": build, "build_number": int(build.rsplit("_", 1)[-1]), "subdir": basename.split("/", 1)[0]},
    }


@pytest.fixture
def art(tmp_path: Path) -> Artifact:
    return read_artifact(make_package(tmp_path, "demo", "1.0", 0))


def test_targets_give_the_api_and_the_conda_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ANACONDA_API_TOKEN", "BINSTAR_API_TOKEN", "ANACONDA_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    org = open_channel("https://anaconda.org/alice")
    assert isinstance(org, AnacondaChannel)
    assert org.api_base == "https://api.anaconda.org"
    assert org.install_url("main") == "https://conda.anaconda.org/alice"
    assert org.install_url("test") == "https://conda.anaconda.org/alice/label/test"

    onprem = open_target(parse_target("https://anaconda.org/team"), TargetOptions(api_url="https://api.corp.test/"))
    assert onprem.api_base == "https://api.corp.test"
    assert onprem.install_url("rc") == "https://conda.corp.test/team/label/rc"

    local = open_channel("anaconda+http://127.0.0.1:8123/bob")
    assert isinstance(local, AnacondaChannel)
    assert local.api_base == "http://127.0.0.1:8123"
    assert local.install_url("main") == "http://127.0.0.1:8123/bob"
    assert local.max_parallel == 4
    assert open_channel("anaconda+http://h:1/bob", TargetOptions(concurrency=9)).max_parallel == 9


def test_conda_host_follows_condas_api_rule() -> None:
    assert conda_base_for("https://api.anaconda.org") == "https://conda.anaconda.org"
    assert conda_base_for("https://repo.corp.test/api") == "https://repo.corp.test/conda"
    assert conda_base_for("https://api.corp.test/") == "https://conda.corp.test"
    assert conda_base_for("http://127.0.0.1:9") == "http://127.0.0.1:9"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"ANACONDA_API_TOKEN": "tok-first-1", "BINSTAR_API_TOKEN": "tok-second-2", "ANACONDA_API_KEY": "tok-3"},
            "tok-first-1",
        ),
        ({"BINSTAR_API_TOKEN": "tok-second-2", "ANACONDA_API_KEY": "tok-third-3"}, "tok-second-2"),
        ({"ANACONDA_API_KEY": "tok-third-3"}, "tok-third-3"),
    ],
)
def test_token_variables_in_order_sent_as_token_scheme(
    env: dict[str, str], expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("ANACONDA_API_TOKEN", "BINSTAR_API_TOKEN", "ANACONDA_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("Authorization"))
        return httpx.Response(404, json={"error": "no such release"})

    chan = open_target(parse_target("anaconda+http://api.test/alice"), TargetOptions())
    chan._transport = httpx.MockTransport(handler)
    with chan:
        assert chan.files("demo", "1.0") == []
    assert seen == [f"token {expected}"]


def test_writes_without_a_token_fail_before_any_request(art: Artifact) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"no request expected, got {request.method} {request.url}")

    chan = channel(handler, token=False)
    with pytest.raises(AuthError) as caught:
        chan.upload(art, "test")
    assert all(v in caught.value.message for v in ("ANACONDA_API_TOKEN", "BINSTAR_API_TOKEN", "ANACONDA_API_KEY"))
    file = ChannelFile("noarch", art.filename, "demo", "1.0", art.build, 0, art.sha256)
    with pytest.raises(AuthError):
        chan.add_label(file, "main", source_label="test")


def test_a_refused_token_is_an_auth_error_with_the_servers_words_only() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": f"Authentication token has expired ({TOKEN})"})

    with pytest.raises(AuthError) as caught:
        channel(handler).files("demo", "1.0")
    assert "has expired" in caught.value.message and TOKEN not in caught.value.message


def test_files_reads_labels_and_sha256_and_skips_what_is_not_conda() -> None:
    """From the package's record while the package is not known yet (its files of other versions
    left out), from the release's record once it is: the same answer either way."""
    good = "a" * 64
    release = [
        dist("noarch/demo-1.0-h0_0.conda", good, ["main", "test"]),
        dist("linux-64/demo-1.0-h1_3.tar.bz2", "None", ["test"]),  # an old record
        {"basename": "demo-1.0.tar.gz", "sha256": good, "labels": ["main"], "version": "1.0"},  # pypi file
    ]
    older = dist("noarch/demo-0.9-h0_7.conda", good, ["main"], version="0.9")
    asked = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        if request.url.path == "/package/alice/demo":
            return httpx.Response(200, json={"versions": ["0.9", "1.0"], "files": [older, *release]})
        if request.url.path == "/release/alice/demo/1.0":
            return httpx.Response(200, json={"distributions": release})
        assert request.url.path == "/package/alice/demo/files"
        return httpx.Response(200, json=[older])

    chan = channel(handler)
    expected = [
        ("noarch/demo-1.0-h0_0.conda", 0, good, frozenset({"main", "test"})),
        ("linux-64/demo-1.0-h1_3.tar.bz2", 3, None, frozenset({"test"})),  # unknown content: never identical
    ]
    for _ in range(2):
        files = chan.files("demo", "1.0")
        assert [(f.key, f.build_number, f.sha256, f.labels) for f in files] == expected
    assert asked == ["/package/alice/demo", "/release/alice/demo/1.0"]
    [old] = chan.files("demo")
    assert (old.version, old.build_number) == ("0.9", 7)


def test_a_package_record_without_its_files_leaves_the_answer_to_the_release() -> None:
    good = "a" * 64
    asked = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        if request.url.path == "/package/alice/demo":
            return httpx.Response(200, json={"name": "demo"})  # no "files": not this server's way
        return httpx.Response(200, json={"distributions": [dist("noarch/demo-1.0-h0_0.conda", good, ["main"])]})

    [found] = channel(handler).files("demo", "1.0")
    assert (found.key, found.sha256) == ("noarch/demo-1.0-h0_0.conda", good)
    assert asked == ["/package/alice/demo", "/release/alice/demo/1.0"]


class FakeServer:
    """Just enough of the API for one upload, with a switch to lose the first commit answer."""

    def __init__(
        self, file_bytes: bytes = b"", *, existing: dict[str, object] | None = None, lose_commit: bool = False
    ) -> None:
        self.file_bytes = file_bytes
        self.calls: list[tuple[str, str]] = []
        self.existing = existing
        self.lose_commit = lose_commit
        self.committed: dict[str, object] | None = None
        self.stored: bytes = b""
        self.storage_headers: httpx.Headers | None = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.calls.append((request.method, path))
        if request.url.host == "storage.test":
            self.storage_headers = request.headers
            self.stored = request.read()
            return httpx.Response(201, text="<PostResponse/>")
        if request.method == "GET" and path.startswith("/dist/"):
            record = self.committed or self.existing
            return httpx.Response(200, json=record) if record else httpx.Response(404, json={"error": "no"})
        if request.method == "GET":
            return httpx.Response(404, json={"error": "not found"})
        if path.startswith("/stage/"):
            if self.existing:
                return httpx.Response(409, json={"error": "file already exists"})
            body = json.loads(request.content)
            assert body["channels"] == ["test"] and len(body["sha256"]) == 64
            return httpx.Response(
                200, json={"post_url": "http://storage.test/up", "form_data": {"key": "k1"}, "dist_id": "d1"}
            )
        if path.startswith("/commit/"):
            assert json.loads(request.content) == {"dist_id": "d1"}
            if self.committed is None:
                basename = path.split("/", 5)[-1]
                self.committed = dist(basename, hashlib.sha256(self.file_bytes).hexdigest(), ["test"])
                if self.lose_commit:
                    raise httpx.ReadError("connection reset by peer", request=request)
                return httpx.Response(200, json=self.committed)
            return httpx.Response(409, json={"error": "file already exists"})
        return httpx.Response(200 if request.method != "DELETE" else 201, json={})


def test_upload_creates_package_and_release_then_stages_stores_and_commits(art: Artifact) -> None:
    server = FakeServer(art.path.read_bytes())
    with channel(server) as chan:
        chan.upload(art, "test")
    stage = f"/alice/demo/1.0/noarch/{art.filename}"
    assert server.calls == [
        ("GET", "/package/alice/demo"),
        ("POST", "/package/alice/demo"),
        ("GET", "/release/alice/demo/1.0"),
        ("POST", "/release/alice/demo/1.0"),
        ("POST", f"/stage{stage}"),
        ("POST", "/up"),
        ("POST", f"/commit{stage}"),
    ]
    # the storage host never sees the anaconda token; the form is S3's: fields, then the file
    assert server.storage_headers is not None and "authorization" not in server.storage_headers
    assert int(server.storage_headers["content-length"]) == len(server.stored)
    md5 = base64.b64encode(hashlib.md5(server.file_bytes).digest()).decode()
    assert f'name="Content-MD5"\r\n\r\n{md5}\r\n'.encode() in server.stored
    assert f'name="Content-Length"\r\n\r\n{art.size}\r\n'.encode() in server.stored
    assert server.stored.index(b'name="key"') < server.stored.index(b'name="file"')
    assert server.file_bytes in server.stored


def test_a_lost_commit_answer_is_checked_not_repeated(art: Artifact) -> None:
    server = FakeServer(art.path.read_bytes(), lose_commit=True)
    with channel(server) as chan:
        chan.upload(art, "test")
    commits = [c for c in server.calls if c[1].startswith("/commit/")]
    assert len(commits) == 1  # the retry asked GET /dist first and found our file
    assert server.calls[-1] == ("GET", f"/dist/alice/demo/1.0/noarch/{art.filename}")


def test_stage_409_with_our_file_just_adds_the_label(art: Artifact) -> None:
    server = FakeServer(existing=dist(f"noarch/{art.filename}", art.sha256, ["dev"]))
    with channel(server) as chan:
        chan.upload(art, "test")
    assert server.calls[-1] == ("POST", "/channels/alice/test")
    assert not any(c[1].startswith("/commit/") for c in server.calls)


def test_stage_409_with_other_content_is_a_conflict(art: Artifact) -> None:
    server = FakeServer(existing=dist(f"noarch/{art.filename}", "b" * 64, ["test"]))
    with pytest.raises(ConflictError), channel(server) as chan:
        chan.upload(art, "test")
    assert not any(m in ("DELETE", "PUT") for m, _ in server.calls)  # never force


def test_label_changes_name_exactly_one_file() -> None:
    bodies: list[tuple[str, str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append((request.method, request.url.path, json.loads(request.content)))
        return httpx.Response(201, json={})

    file = ChannelFile("noarch", "demo-1.0-h0_0.conda", "demo", "1.0", "h0_0", 0, "a" * 64, frozenset({"test"}))
    chan = channel(handler)
    chan.add_label(file, "main", source_label="test")
    chan.remove_label(file, "test")
    one = {"package": "demo", "version": "1.0", "basename": "noarch/demo-1.0-h0_0.conda"}
    assert bodies == [("POST", "/channels/alice/main", one), ("DELETE", "/channels/alice/test", one)]
    with pytest.raises(UsageError):
        # the server would lower-case it; verification would then fail
        chan.add_label(file, "Main", source_label="test")
    with pytest.raises(UsageError):
        chan.remove_label(ChannelFile("noarch", "", "demo", "1.0", "", 0, None), "test")


def test_multipart_body_streams_and_announces_its_exact_length(tmp_path: Path) -> None:
    blob = tmp_path / "blob.conda"
    blob.write_bytes(bytes(range(256)) * 5000)
    content_type, length, body = multipart_form([("key", "k"), ("policy", "p")], "blob.conda", blob, 1_280_000)
    chunks = list(body())
    assert len(chunks) > 3  # the file comes in chunks, not as one bytes object
    data = b"".join(chunks)
    assert len(data) == length
    boundary = content_type.split("boundary=", 1)[1]
    assert data.endswith(f"\r\n--{boundary}--\r\n".encode())
    assert blob.read_bytes() in data
    assert b"".join(body()) == data  # the factory makes a fresh body for each attempt


def test_upload_reuses_what_the_state_query_learned(art: Artifact) -> None:
    """The state query reads the package's record: a 404 there means neither package nor release
    exists, so the upload creates both without asking again; a record that lists the release means
    neither is created; one that does not list it, the release only, without asking."""
    server = FakeServer(art.path.read_bytes())
    with channel(server) as chan:
        assert chan.files("demo", "1.0") == []
        chan.upload(art, "test")
    assert [c for c in server.calls if c[0] == "GET"] == [("GET", "/package/alice/demo")]
    assert {("POST", "/package/alice/demo"), ("POST", "/release/alice/demo/1.0")} <= set(server.calls)

    for versions, created in ((["0.9", "1.0"], []), (["0.9"], [("POST", "/release/alice/demo/1.0")])):

        def present(request: httpx.Request, versions: list[str] = versions) -> httpx.Response:
            if request.method == "GET" and request.url.path == "/package/alice/demo":
                server.calls.append(("GET", request.url.path))
                return httpx.Response(200, json={"versions": versions, "files": []})
            return server(request)

        server.calls.clear()
        server.committed = None
        with channel(present) as chan:
            chan.files("demo", "1.0")
            chan.upload(art, "test")
        writes = [c for c in server.calls if c[1].startswith(("/package/", "/release/"))]
        assert writes == [("GET", "/package/alice/demo"), *created]
