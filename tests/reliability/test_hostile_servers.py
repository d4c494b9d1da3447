"""Issue 18 class 4: hostile or broken servers.

A server (or whatever answers in its place: a captive portal, a misconfigured proxy, an attacker)
may send a huge body, trickle bytes forever, answer 200 with HTML or JSON of another shape, or
redirect elsewhere. cipub must stop with exit 7 saying what it expected, never exit 1, never hang,
never fill memory or disk, and never hand a credential to another origin.

The hostile servers here are real sockets on 127.0.0.1 (``HostileServer``); the shape property test
drives every HTTP target's read path through httpx's MockTransport with any JSON hypothesis draws.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cipub.channels.anaconda import AnacondaChannel
from cipub.channels.artifactory import ArtifactoryChannel
from cipub.channels.http import HttpChannel
from cipub.channels.prefix import PrefixChannel
from cipub.channels.psm import PSMChannel
from cipub.channels.quetz import QuetzChannel
from cipub.channels.target import TargetOptions
from cipub.core.errors import CipubError, NetworkError
from cipub.core.secrets import Secret
from cipub.core.transport import HttpClient

Handler = Callable[[socket.socket, bytes], None]


class HostileServer:
    """A raw-socket HTTP server: ``handler(sock, request_head)`` writes whatever it likes."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[bytes] = []
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def _serve(self) -> None:
        self._sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError), conn:
            conn.settimeout(5)
            head = b""
            while b"\r\n\r\n" not in head:
                data = conn.recv(65536)
                if not data:
                    return
                head += data
            self.requests.append(head)
            self.handler(conn, head)

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._sock.close()

    def stopped(self) -> bool:
        return self._stop.is_set()


def _head(status: str, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in headers.items()), "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _client(url: str, **kwargs: Any) -> HttpClient:
    defaults: dict[str, Any] = {"retries": 1, "backoff": 0.0, "read_timeout": 5.0, "connect_timeout": 2.0}
    return HttpClient(url, sleep=lambda _s: None, **{**defaults, **kwargs})


# -- huge bodies ---------------------------------------------------------------------------------


def _endless(sock: socket.socket, _head_bytes: bytes) -> None:
    """200 with no length, then megabytes without end (until the client hangs up)."""
    sock.sendall(_head("200 OK", {"Content-Type": "application/json"}))
    chunk = b"[" + b"0," * 65536
    with contextlib.suppress(OSError):
        for _ in range(10_000):
            sock.sendall(chunk)


def test_a_huge_api_answer_is_cut_off_with_exit_7() -> None:
    with HostileServer(_endless) as server:
        client = _client(server.url, max_answer_bytes=2 * 1024 * 1024)
        with pytest.raises(NetworkError, match="more than 2 MiB") as caught:
            client.request("GET", "/api")
    assert caught.value.exit_code == 7


def test_a_huge_download_is_cut_off_and_leaves_no_file(tmp_path: Path) -> None:
    dest = tmp_path / "pkg.conda"
    with HostileServer(_endless) as server:
        client = _client(server.url, max_download_bytes=3 * 1024 * 1024)
        with pytest.raises(NetworkError, match="more than 3 MiB"):
            client.download("/pkg.conda", dest)
    assert not dest.exists()


def test_a_compression_bomb_is_bounded_by_its_decoded_size() -> None:
    import gzip

    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024))  # 64 MiB of zeros, ~64 KiB on the wire

    def handler(sock: socket.socket, _h: bytes) -> None:
        sock.sendall(
            _head("200 OK", {"Content-Encoding": "gzip", "Content-Length": str(len(bomb))}) + bomb,
        )

    with HostileServer(handler) as server, pytest.raises(NetworkError, match="more than 1 MiB"):
        _client(server.url, max_answer_bytes=1024 * 1024).request("GET", "/bomb")


# -- trickling servers ---------------------------------------------------------------------------


def _trickle(sock: socket.socket, _h: bytes) -> None:
    """A byte every 50 ms: never idle long enough for a read timeout."""
    sock.sendall(_head("200 OK", {"Content-Type": "application/json", "Content-Length": "100000"}))
    with contextlib.suppress(OSError):
        for _ in range(100_000):
            sock.sendall(b" ")
            time.sleep(0.05)


def test_a_trickling_answer_hits_the_request_deadline() -> None:
    with HostileServer(_trickle) as server:
        client = _client(server.url, request_timeout=1.0, read_timeout=5.0)
        with pytest.raises(NetworkError, match="request_timeout") as caught:
            client.request("GET", "/slow")
    assert caught.value.exit_code == 7


def test_a_trickling_download_hits_the_command_deadline(tmp_path: Path) -> None:
    with HostileServer(_trickle) as server:
        client = _client(server.url, deadline=time.monotonic() + 1.0)
        with pytest.raises(NetworkError, match="deadline"):
            client.download("/pkg.conda", tmp_path / "pkg.conda")
    assert not (tmp_path / "pkg.conda").exists()


def test_no_request_starts_after_the_command_deadline() -> None:
    with HostileServer(_trickle) as server:
        client = _client(server.url, deadline=time.monotonic() - 1)
        with pytest.raises(NetworkError, match="deadline"):
            client.request("GET", "/x")
        assert server.requests == []


def test_command_timeout_reaches_the_client_from_settings() -> None:
    from cipub.core.options import Settings
    from cipub.workflows.target import target_options

    options = target_options(Settings(command_timeout=5.0, request_timeout=2.0, max_download_mb=3))
    assert options.command_deadline is not None and 0 < options.command_deadline - time.monotonic() <= 5.0
    client = HttpClient.for_target("http://x.test", options, what="x")
    assert (client.request_timeout, client.max_download_bytes) == (2.0, 3 * 1024 * 1024)


# -- 200 with the wrong content ------------------------------------------------------------------


def test_html_instead_of_json_is_exit_7_naming_what_was_expected() -> None:
    def portal(sock: socket.socket, _h: bytes) -> None:
        body = b"<html><body>Please log in</body></html>"
        sock.sendall(_head("200 OK", {"Content-Type": "text/html", "Content-Length": str(len(body))}) + body)

    expected = "text/html, not JSON; expected a JSON object"
    with HostileServer(portal) as server, pytest.raises(NetworkError, match=expected):
        _client(server.url).json("GET", "/api/x")


# -- redirects never carry a credential to another origin ---------------------------------------


def _recorder(seen: list[dict[str, str]]) -> Handler:
    def handler(sock: socket.socket, head: bytes) -> None:
        lines = head.decode("latin-1").split("\r\n")[1:]
        seen.append({k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines if ln)})
        sock.sendall(_head("200 OK", {"Content-Type": "application/json", "Content-Length": "2"}) + b"{}")

    return handler


def _redirector(to: str) -> Handler:
    def handler(sock: socket.socket, _h: bytes) -> None:
        sock.sendall(_head("302 Found", {"Location": to, "Content-Length": "0"}))

    return handler


CREDENTIALS = {"Authorization": "Bearer canary-redirect-token", "X-API-Key": "canary-api-key-123"}


@pytest.mark.parametrize("how", ["other-port", "other-host"])
def test_a_redirect_to_another_origin_drops_every_credential(how: str) -> None:
    seen: list[dict[str, str]] = []
    with HostileServer(_recorder(seen)) as other:
        port = other.url.rsplit(":", 1)[1]
        # 127.0.0.1 and localhost are different hosts to an origin check: same machine, other origin
        elsewhere = f"http://localhost:{port}/loot" if how == "other-host" else f"{other.url}/loot"
        with HostileServer(_redirector(elsewhere)) as server:
            client = _client(server.url, credentials=CREDENTIALS)
            response = client.request("GET", "/file", follow_redirects=True)
            assert response.status_code == 200
            # the first hop did carry them: the test would be vacuous otherwise
            assert b"canary-api-key-123" in server.requests[0]
    assert seen, "the redirect was not followed"
    assert "authorization" not in seen[0] and "x-api-key" not in seen[0]


def test_a_redirect_within_the_origin_keeps_the_credential() -> None:
    seen: list[dict[str, str]] = []
    state = {"n": 0}
    recorder = _recorder(seen)

    def handler(sock: socket.socket, head: bytes) -> None:
        state["n"] += 1
        if state["n"] == 1:
            _redirector("/moved")(sock, head)
        else:
            recorder(sock, head)

    with HostileServer(handler) as server:
        _client(server.url, credentials=CREDENTIALS).request("GET", "/file", follow_redirects=True)
    assert seen[0]["x-api-key"] == "canary-api-key-123"


def test_a_credential_never_goes_to_an_absolute_url_of_another_origin() -> None:
    seen: list[dict[str, str]] = []
    with HostileServer(_recorder(seen)) as other:
        client = _client("http://127.0.0.1:1", credentials=CREDENTIALS)
        client.request("GET", f"{other.url}/x")
    assert "authorization" not in seen[0] and "x-api-key" not in seen[0]


def test_http_to_https_on_the_same_host_is_another_origin() -> None:
    """httpx itself keeps Authorization on an http->https upgrade of one host; cipub does not."""
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        if request.url.scheme == "http":
            return httpx.Response(301, headers={"Location": "https://srv.test/file"})
        return httpx.Response(200, json={})

    client = _client("http://srv.test", credentials=CREDENTIALS, transport=httpx.MockTransport(handler))
    client.request("GET", "/file", follow_redirects=True)
    assert "authorization" in sent[0].headers
    assert "authorization" not in sent[1].headers and "x-api-key" not in sent[1].headers


# -- every HTTP target's read path, any JSON shape ------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "distributions",
                    "basename",
                    "attrs",
                    "labels",
                    "sha256",
                    "items",
                    "total_count",
                    "metadata",
                    "name",
                    "info",
                    "platform",
                    "filename",
                    "key",
                    "children",
                    "checksums",
                    "packages",
                    "packages.conda",
                    "uri",
                    "folder",
                ]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)
BODIES = JSON.map(lambda doc: ("application/json", json.dumps(doc).encode())) | st.sampled_from(
    [("text/html", b"<html>login</html>"), ("application/json", b"{not json"), ("text/plain", b"")]
)
TARGETS: list[type[HttpChannel]] = [AnacondaChannel, PSMChannel, QuetzChannel, PrefixChannel, ArtifactoryChannel]


def _channel(kind: type[HttpChannel], body: tuple[str, bytes]) -> HttpChannel:
    ctype, content = body

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Type": ctype}, content=content)

    options = TargetOptions(retries=0, backoff=0.0, labels=("test",))
    return kind(
        "http://srv.test",
        "chan",
        options,
        Secret("canary-shape-token", "test"),
        "test target",
        sleep=lambda _s: None,
        transport=httpx.MockTransport(handler),
    )


@pytest.mark.parametrize("kind", TARGETS, ids=lambda k: k.__name__)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=BODIES, version=st.sampled_from([None, "1.0"]))
def test_any_answer_shape_is_read_or_refused_with_an_exit_code(
    kind: type[HttpChannel], body: tuple[str, bytes], version: str | None
) -> None:
    channel = _channel(kind, body)
    try:
        with channel:
            found = channel.files("demo", version)
    except CipubError as exc:
        assert exc.exit_code != 1, exc
    else:
        assert isinstance(found, list)
