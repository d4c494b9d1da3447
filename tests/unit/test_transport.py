"""The one retry policy, driven through httpx's mock transport (no network)."""

from __future__ import annotations

import httpx
import pytest

from cipub.core.errors import AuthError, NetworkError
from cipub.core.secrets import Secret
from cipub.core.transport import HttpClient, landed_earlier


def client(handler, retries: int = 3, sleeps: list[float] | None = None) -> HttpClient:
    record = sleeps if sleeps is not None else []
    return HttpClient(
        "http://server", retries=retries, backoff=0.01, transport=httpx.MockTransport(handler), sleep=record.append
    )


def test_retries_5xx_then_succeeds() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(503 if len(calls) < 3 else 200, json={})

    sleeps: list[float] = []
    assert client(handler, sleeps=sleeps).request("GET", "/x").status_code == 200
    assert len(calls) == 3
    assert len(sleeps) == 2
    assert sleeps[1] > sleeps[0]  # exponential


def test_honours_retry_after() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            return httpx.Response(429, headers={"Retry-After": "7"})
        return httpx.Response(200)

    sleeps: list[float] = []
    client(handler, sleeps=sleeps).request("GET", "/x")
    assert sleeps == [7.0]


def test_never_retries_other_4xx() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(409, json={"error": "exists"})

    assert client(handler).request("POST", "/x").status_code == 409
    assert len(calls) == 1


def test_connection_errors_exhaust_to_network_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    with pytest.raises(NetworkError, match="kept failing after 3 retries"):
        client(handler).request("GET", "/x")


def test_auth_error_carries_server_message_not_token() -> None:
    token = Secret("canary-token-123", "TEST_TOKEN")

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == "token canary-token-123"
        return httpx.Response(401, json={"error": "bad token canary-token-123"})

    c = HttpClient(
        "http://server", headers={"Authorization": f"token {token.reveal()}"}, transport=httpx.MockTransport(handler)
    )
    with pytest.raises(AuthError) as exc:
        c.request("GET", "/user")
    assert "canary-token-123" not in str(exc.value)
    assert "bad token ***" in str(exc.value)
    assert "canary" not in repr(token) and "canary" not in f"{token}"


def test_landed_callback_stops_a_retried_upload() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(502)

    result = client(handler).request("POST", "/upload", landed=lambda: True)
    assert result.status_code == 200 and landed_earlier(result)  # made up, never None
    assert len(calls) == 1
    assert not landed_earlier(client(lambda r: httpx.Response(201)).request("POST", "/upload"))


def test_content_factory_recreated_per_attempt() -> None:
    bodies = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(request.read())
        return httpx.Response(500 if len(bodies) == 1 else 201)

    made = []

    def factory() -> bytes:
        made.append(1)
        return b"payload"

    assert client(handler).request("PUT", "/f", content_factory=factory).status_code == 201
    assert bodies == [b"payload", b"payload"]
    assert len(made) == 2


def test_download_streams_to_file_with_sha256_and_retries(tmp_path) -> None:
    import hashlib

    payload = b"x" * 3_000_000
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            return httpx.Response(503)
        return httpx.Response(200, content=payload)

    dest = tmp_path / "f.conda"
    got = client(handler).download("/get/f.conda", dest)
    assert (got.status, got.size, got.sha256) == (200, len(payload), hashlib.sha256(payload).hexdigest())
    assert dest.read_bytes() == payload
    assert len(calls) == 2


def test_download_other_status_leaves_file_alone(tmp_path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, text="no such file")

    dest = tmp_path / "f.conda"
    got = client(handler).download("/get/f.conda", dest)
    assert (got.status, got.sha256, got.text) == (404, None, "no such file")
    assert not dest.exists()


def _tls_context(client: HttpClient) -> object:
    with client.leased() as leased:
        return leased._transport._pool._ssl_context  # type: ignore[attr-defined]


def test_clients_share_one_verifying_tls_context(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every client of the process (one per request at a time, one per host) uses the same TLS
    context, and it verifies certificates and host names as httpx's default does."""
    import ssl
    import threading

    import certifi

    from cipub.core.transport import shared_ssl_context

    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    first, second = HttpClient("https://one.example"), HttpClient("", what="storage")
    contexts = []
    thread = threading.Thread(target=lambda: contexts.append(_tls_context(second)))
    thread.start()
    thread.join()
    context = _tls_context(first)
    assert contexts == [context]
    assert context is shared_ssl_context()
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    # SSL_CERT_FILE is still honoured, as httpx honours it: another bundle, another context
    monkeypatch.setenv("SSL_CERT_FILE", certifi.where())
    assert shared_ssl_context() is not context
    assert _tls_context(HttpClient("https://two.example")) is shared_ssl_context()
    monkeypatch.setenv("SSL_CERT_FILE", "/nonexistent/ca.pem")
    with pytest.raises(OSError):
        shared_ssl_context()


def test_requests_share_clients_but_never_at_the_same_time() -> None:
    """A client serves one request at a time; requests from threads that come and go reuse the
    idle ones, so a batch opens as many clients (connections) as it runs requests at once."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    inside = threading.Semaphore(0)
    release = threading.Event()
    busy: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/hold":
            inside.release()
            release.wait(5)
        return httpx.Response(200, json={})

    http = client(handler)
    with ThreadPoolExecutor(max_workers=3) as pool:
        held = [pool.submit(http.request, "GET", "/hold") for _ in range(3)]
        for _ in range(3):
            assert inside.acquire(timeout=5)  # three requests at once: three clients
        busy.append(len(http._clients))
        release.set()
        assert all(f.result().status_code == 200 for f in held)
    for _round in range(3):  # new threads each round, as each phase of a batch starts its own pool
        with ThreadPoolExecutor(max_workers=2) as pool:
            assert all(r.status_code == 200 for r in pool.map(lambda _i: http.request("GET", "/x"), range(10)))
    assert busy == [3] and len(http._clients) == 3
    http.close()
    assert http._clients == [] and http.request("GET", "/x").status_code == 200
