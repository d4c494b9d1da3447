"""The fault proxy itself: each fault does what it says, decisions follow the seed, counters count.

The upstream is a tiny ``http.server`` that stores POSTed bodies, so a test can tell whether a
faulted request reached it (faults "before" must not; faults "after" must).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from cipub.core.errors import NetworkError
from cipub.core.transport import HttpClient
from tests.support.faultproxy import FAULTS, FAULTS_AFTER, FAULTS_BEFORE, FaultProxy


class _Store:
    def __init__(self) -> None:
        self.bodies: dict[str, list[bytes]] = {}
        self.lock = threading.Lock()

    def count(self, name: str) -> int:
        with self.lock:
            return len(self.bodies.get(name, []))


@pytest.fixture
def upstream() -> Iterator[tuple[str, _Store]]:
    store = _Store()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _json(self, status: int, doc: object) -> None:
            body = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path.startswith("/count/"):
                self._json(200, {"count": store.count(self.path[7:])})
            elif self.path == "/self":
                host = f"127.0.0.1:{self.server.server_address[1]}"
                self._json(200, {"post_url": f"http://{host}/store/x"})
            elif self.path == "/big":
                body = b"x" * 100_000
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            else:
                self._json(200, {"path": self.path})

        do_HEAD = do_GET

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            name = self.path.rsplit("/", 1)[-1]
            with store.lock:
                store.bodies.setdefault(name, []).append(body)
            self._json(201, {"sha256": hashlib.sha256(body).hexdigest(), "size": len(body)})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", store
    server.shutdown()
    server.server_close()


def test_passes_requests_through_unchanged(upstream: tuple[str, _Store]) -> None:
    url, store = upstream
    payload = bytes(range(256)) * 1000
    with FaultProxy(url, rate=0.0) as proxy, httpx.Client(base_url=proxy.url) as client:
        assert client.get("/hello?x=1").json() == {"path": "/hello?x=1"}
        assert client.head("/hello").status_code == 200
        posted = client.post("/store/a", content=payload).json()
        # a streamed (chunked) body arrives whole, with a Content-Length the upstream understands
        chunked = client.post("/store/b", content=iter([payload[:1000], payload[1000:]])).json()
        assert client.get("/big").content == b"x" * 100_000
    expected = {"sha256": hashlib.sha256(payload).hexdigest(), "size": len(payload)}
    assert posted == expected
    assert chunked == expected
    assert store.bodies == {"a": [payload], "b": [payload]}
    assert proxy.stats.requests == 5
    assert proxy.stats.faults_injected == 0
    assert proxy.stats.bytes_from_clients == 2 * len(payload)
    assert proxy.stats.bytes_to_clients > 100_000  # the /big body, plus headers and small answers


def test_rewrites_upstream_urls_to_the_proxy(upstream: tuple[str, _Store]) -> None:
    url, _ = upstream
    with FaultProxy(url) as proxy, httpx.Client() as client:
        doc = client.get(f"{proxy.url}/self").json()
    assert doc["post_url"] == f"{proxy.url}/store/x"


@pytest.mark.parametrize("status", [500, 502, 503])
def test_error_status_does_not_reach_upstream(upstream: tuple[str, _Store], status: int) -> None:
    url, store = upstream
    with FaultProxy(url, rate=1.0, faults=[f"http{status}"]) as proxy, httpx.Client() as client:
        response = client.post(f"{proxy.url}/store/f", content=b"data")
    assert response.status_code == status
    assert store.count("f") == 0
    assert proxy.stats.faults == {f"http{status}": 1}


def test_429_carries_retry_after(upstream: tuple[str, _Store]) -> None:
    url, store = upstream
    with FaultProxy(url, rate=1.0, faults=["http429"], retry_after="7") as proxy, httpx.Client() as c:
        response = c.get(f"{proxy.url}/anything")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"


def test_502_after_reaches_upstream(upstream: tuple[str, _Store]) -> None:
    url, store = upstream
    with FaultProxy(url, rate=1.0, faults=["http502_after"]) as proxy, httpx.Client() as client:
        response = client.post(f"{proxy.url}/store/g", content=b"data")
    assert response.status_code == 502
    assert store.count("g") == 1


def test_reset_during_request_body(upstream: tuple[str, _Store]) -> None:
    url, store = upstream
    with (
        FaultProxy(url, rate=1.0, faults=["reset_request"]) as proxy,
        httpx.Client() as client,
        pytest.raises(httpx.TransportError),
    ):
        client.post(f"{proxy.url}/store/h", content=b"y" * 2_000_000)
    assert store.count("h") == 0
    assert proxy.stats.faults == {"reset_request": 1}


@pytest.mark.parametrize("fault", ["reset_response", "truncate"])
def test_broken_response_after_upstream_processed(upstream: tuple[str, _Store], fault: str) -> None:
    url, store = upstream
    with FaultProxy(url, rate=1.0, faults=[fault]) as proxy, httpx.Client() as client:
        with pytest.raises(httpx.TransportError):
            client.post(f"{proxy.url}/store/i", content=b"data")
        with pytest.raises(httpx.TransportError):
            client.get(f"{proxy.url}/big")
    assert store.count("i") == 1


@pytest.mark.parametrize("fault", ["stall", "stall_after"])
def test_stall_outlasts_the_read_timeout(upstream: tuple[str, _Store], fault: str) -> None:
    url, store = upstream
    with (
        FaultProxy(url, rate=1.0, faults=[fault], stall_seconds=5) as proxy,
        httpx.Client(timeout=httpx.Timeout(0.3)) as client,
        pytest.raises(httpx.ReadTimeout),
    ):
        client.post(f"{proxy.url}/store/j", content=b"data")
    assert store.count("j") == (1 if fault == "stall_after" else 0)


def test_same_seed_same_faults(upstream: tuple[str, _Store]) -> None:
    url, _ = upstream

    def run(seed: int) -> list[str | None]:
        with FaultProxy(url, rate=0.5, seed=seed, faults=FAULTS_BEFORE[:4]) as proxy, httpx.Client() as client:
            for i in range(40):
                client.get(f"{proxy.url}/n/{i}")
        return [e.fault for e in proxy.stats.events]

    first, again, other = run(3), run(3), run(4)
    assert first == again
    assert first != other
    assert 5 < sum(f is not None for f in first) < 35


def test_counters_add_up(upstream: tuple[str, _Store]) -> None:
    url, _ = upstream
    with FaultProxy(url, rate=0.4, seed=11, faults=["http500", "http503"]) as proxy, httpx.Client() as client:
        statuses = [client.get(f"{proxy.url}/n/{i}").status_code for i in range(50)]
    assert proxy.stats.requests == 50
    assert proxy.stats.faults_injected == sum(s != 200 for s in statuses)
    assert proxy.stats.forwarded == statuses.count(200)
    assert proxy.stats.as_dict()["faults"] == dict(proxy.stats.faults)


def test_max_consecutive_lets_a_retrying_client_through(upstream: tuple[str, _Store]) -> None:
    url, _ = upstream
    with FaultProxy(url, rate=1.0, faults=["http503"], max_consecutive=2) as proxy, httpx.Client() as client:
        statuses = [client.get(f"{proxy.url}/same").status_code for _ in range(3)]
    assert statuses == [503, 503, 200]


def test_match_limits_which_requests_are_faulted(upstream: tuple[str, _Store]) -> None:
    url, _ = upstream
    only_posts = lambda method, path: method == "POST"  # noqa: E731
    with FaultProxy(url, rate=1.0, faults=["http500"], match=only_posts) as proxy, httpx.Client() as client:
        assert client.get(f"{proxy.url}/x").status_code == 200
        assert client.post(f"{proxy.url}/store/k", content=b"1").status_code == 500


def test_down_refuses_every_connection(upstream: tuple[str, _Store]) -> None:
    url, _ = upstream
    with FaultProxy(url) as proxy, httpx.Client() as client:
        proxy.down = True
        with pytest.raises(httpx.TransportError):
            client.get(f"{proxy.url}/x")


def test_unknown_fault_is_refused(upstream: tuple[str, _Store]) -> None:
    with pytest.raises(ValueError, match="unknown faults"):
        FaultProxy(upstream[0], faults=["explode"])
    assert set(FAULTS) == set(FAULTS_BEFORE) | set(FAULTS_AFTER)


def test_cipub_transport_survives_every_fault(upstream: tuple[str, _Store]) -> None:
    """cipub's HttpClient, retried through every fault, stores each body exactly once."""
    url, store = upstream
    with (
        FaultProxy(url, rate=0.5, seed=5, stall_seconds=3, max_consecutive=3, retry_after="0") as proxy,
        HttpClient(proxy.url, retries=4, backoff=0.01, read_timeout=0.5) as client,
    ):
        for i in range(20):
            name = f"u{i}"
            body = f"payload {i}".encode()

            def landed(name: str = name) -> bool:
                return bool(client.json("GET", f"/count/{name}")["count"])

            client.request("POST", f"/store/{name}", content=body, landed=landed)
    assert proxy.stats.faults_injected > 5
    assert {name: len(bodies) for name, bodies in store.bodies.items()} == {f"u{i}": 1 for i in range(20)}


def test_cipub_transport_gives_up_with_network_error(upstream: tuple[str, _Store]) -> None:
    url, _ = upstream
    with (
        FaultProxy(url, rate=1.0, faults=["http503"]) as proxy,
        HttpClient(proxy.url, retries=2, backoff=0.01) as client,
        pytest.raises(NetworkError),
    ):
        client.request("GET", "/x")
    assert proxy.stats.requests == 3
