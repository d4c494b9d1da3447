"""A fault-injecting HTTP reverse proxy on 127.0.0.1, to put between cipub and any test server.

    with FaultProxy("http://127.0.0.1:8123", rate=0.3, seed=1) as proxy:
        run_cipub("--target", f"anaconda+{proxy.url}/owner", ...)
        print(proxy.stats.faults)          # {"http503": 12, "reset_response": 9, ...}

Each request that reaches the proxy is numbered in arrival order; a ``random.Random(seed)`` drawn
once per request decides whether it is faulted (probability ``rate``) and with which of ``faults``.
The same seed and the same request order give the same faults.

Faults (names as in ``FAULTS``) come in two kinds:

* before the upstream sees the request -- the server's state is untouched:
  ``http500`` ``http502`` ``http503`` (error status), ``http429`` (with ``Retry-After``),
  ``reset_request`` (read part of the request body, then reset the connection),
  ``stall`` (never answer until the client gives up: past its read timeout);
* after the upstream processed the request -- the server's state HAS changed, the client does not
  know it (this is what makes a retried upload dangerous):
  ``http502_after`` (answer 502 instead of the real response), ``reset_response`` (send the status
  line, headers and half the body, then reset), ``truncate`` (announce the full Content-Length, send
  half the body, close cleanly), ``stall_after`` (process, then never answer).

Generic on purpose: it speaks plain HTTP/1.1, so it works in front of the anaconda.org-protocol,
Quetz, PSM, prefix, Artifactory and S3 (moto) servers alike. Request bodies (Content-Length or
chunked) are spooled and forwarded with a Content-Length, so upstreams built on ``http.server``
need not understand chunked uploads. Absolute URLs to the upstream in small text/JSON responses
(an anaconda ``post_url``, a redirect ``Location``) are rewritten to the proxy, so follow-up
requests also pass through it.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import random
import socket
import socketserver
import struct
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import IO, Any
from urllib.parse import urlsplit

#: faults that leave the upstream untouched
FAULTS_BEFORE = ("http500", "http502", "http503", "http429", "reset_request", "stall")
#: faults applied after the upstream processed the request
FAULTS_AFTER = ("http502_after", "reset_response", "truncate", "stall_after")
FAULTS = FAULTS_BEFORE + FAULTS_AFTER

_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "content-length",
        # answered by the proxy itself (below), as any HTTP/1.1 server would
        "expect",
    }
)
_REWRITE_MAX = 8 * 1024 * 1024
_CHUNK = 256 * 1024


@dataclass
class FaultEvent:
    seq: int
    method: str
    path: str
    fault: str | None


@dataclass
class ProxyStats:
    requests: int = 0
    forwarded: int = 0
    #: request bodies received from clients, and response bytes (headers included) sent back
    bytes_from_clients: int = 0
    bytes_to_clients: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    events: list[FaultEvent] = field(default_factory=list)

    @property
    def faults_injected(self) -> int:
        return sum(self.faults.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "forwarded": self.forwarded,
            "faults_injected": self.faults_injected,
            "faults": dict(sorted(self.faults.items())),
            "bytes_from_clients": self.bytes_from_clients,
            "bytes_to_clients": self.bytes_to_clients,
        }


class _ClientGone(Exception):
    """The client closed or broke its connection; nothing more to do for it."""


class FaultProxy:
    """Reverse proxy that injects faults; a context manager giving ``.url`` while it runs."""

    def __init__(
        self,
        upstream: str,
        *,
        rate: float = 0.0,
        seed: int = 0,
        faults: Iterable[str] = FAULTS,
        retry_after: str = "1",
        stall_seconds: float = 30.0,
        match: Callable[[str, str], bool] | None = None,
        max_consecutive: int | None = None,
        latency: float = 0.0,
    ) -> None:
        """
        ``upstream``: base URL of the real server (``http://127.0.0.1:PORT``; a path prefix is kept).
        ``rate``: probability in [0, 1] that a request is faulted. ``faults``: the faults to choose from.
        ``retry_after``: the ``Retry-After`` value sent with 429. ``stall_seconds``: how long a stall
        holds the connection (make it longer than the client's read timeout).
        ``match(method, path)``: only matching requests may be faulted (default: all).
        ``max_consecutive``: never fault the same (method, path) more than this many times in a row,
        so a client with at least that many retries always gets through whatever the seed.
        ``latency``: seconds added before every response (a WAN-like round trip).
        """
        unknown = set(faults) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown faults {sorted(unknown)}; known: {FAULTS}")
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be within [0, 1]")
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"upstream must be an http:// URL, not {upstream!r}")
        self.upstream = upstream.rstrip("/")
        self._up_host = parts.hostname
        self._up_port = parts.port or 80
        self._up_prefix = parts.path.rstrip("/")
        self.rate = rate
        self.faults = tuple(faults)
        self.retry_after = retry_after
        self.stall_seconds = stall_seconds
        self.match = match
        self.max_consecutive = max_consecutive
        self.latency = latency
        self.stats = ProxyStats()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._streak: dict[tuple[str, str], int] = {}
        self._stop = threading.Event()
        self._server: socketserver.ThreadingTCPServer | None = None
        self._thread: threading.Thread | None = None
        #: when True every connection is reset at once (the server is "down for good")
        self.down = False
        #: when True no new faults are injected (e.g. while a test reads the truth back)
        self.paused = False

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._server is not None, "proxy not started"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self._up_prefix}"

    def start(self) -> FaultProxy:
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                proxy._serve_connection(self.request)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True
            request_queue_size = 128

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="faultproxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- decisions -------------------------------------------------------------------------------

    def _choose(self, method: str, path: str) -> str | None:
        with self._lock:
            self.stats.requests += 1
            seq = self.stats.requests
            # Draw both numbers every time so the sequence depends only on the seed and request order.
            roll = self._rng.random()
            pick = self._rng.choice(self.faults) if self.faults else None
            fault = pick if (roll < self.rate and not self.paused) else None
            if fault is not None and self.match is not None and not self.match(method, path):
                fault = None
            key = (method, path)
            if (
                fault is not None
                and self.max_consecutive is not None
                and self._streak.get(key, 0) >= self.max_consecutive
            ):
                fault = None
            self._streak[key] = self._streak.get(key, 0) + 1 if fault else 0
            if fault is not None:
                self.stats.faults[fault] += 1
            self.stats.events.append(FaultEvent(seq, method, path, fault))
            return fault

    # -- one client connection -------------------------------------------------------------------

    def _serve_connection(self, sock: socket.socket) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        rfile = sock.makefile("rb")
        try:
            while not self._stop.is_set():
                if self.down:
                    _reset(sock)
                    return
                request_line = rfile.readline(65537)
                if not request_line:
                    return
                if not request_line.strip():
                    continue
                try:
                    method, target, _version = request_line.decode("latin-1").split()
                except ValueError:
                    return
                headers = _read_headers(rfile)
                keep_alive = headers.get("connection", "").lower() != "close"
                if not self._one_request(sock, rfile, method, target, headers):
                    return
                if not keep_alive:
                    return
        except (_ClientGone, OSError):
            return
        finally:
            with contextlib.suppress(OSError):
                rfile.close()
            with contextlib.suppress(OSError):
                sock.close()

    def _one_request(
        self, sock: socket.socket, rfile: IO[bytes], method: str, target: str, headers: dict[str, str]
    ) -> bool:
        """Handle one request; return whether the connection may be reused."""
        path = target.split("?", 1)[0]
        fault = self._choose(method, path)
        if headers.get("expect", "").lower() == "100-continue":
            # An HTTP/1.1 server's interim answer: without it the client (botocore's S3 uploads)
            # sends the body only after its own wait of a second, on every PUT.
            sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        if fault == "reset_request":
            _read_some_body(rfile, headers)
            _reset(sock)
            return False
        body = _read_body(rfile, headers)
        with self._lock:
            self.stats.bytes_from_clients += body.seek(0, 2)
        body.seek(0)
        try:
            if fault in ("http500", "http502", "http503", "http429"):
                self._sleep_latency()
                status = int(fault[4:])
                extra = {"Retry-After": self.retry_after} if status == 429 else {}
                _send_simple(sock, status, f"injected fault {fault}", extra)
                return True
            if fault == "stall":
                self._stop.wait(self.stall_seconds)
                return False
            status, reason, resp_headers, resp_body, length = self._forward(method, target, headers, body)
        finally:
            body.close()
        self.stats.forwarded += 1  # only read for reports; a lost increment under races is harmless
        try:
            self._sleep_latency()
            if fault == "http502_after":
                _drain(resp_body)
                _send_simple(sock, 502, "injected fault http502_after", {})
                return True
            if fault == "stall_after":
                _drain(resp_body)
                self._stop.wait(self.stall_seconds)
                return False
            head = _status_and_headers(status, reason, resp_headers, length)
            if fault in ("reset_response", "truncate"):
                sock.sendall(head)
                data = resp_body.read(max(0, length // 2)) if length else b""
                if data:
                    sock.sendall(data)
                if fault == "reset_response" or not length:
                    _reset(sock)
                return False
            sock.sendall(head)
            sent = len(head)
            if method != "HEAD":
                while chunk := resp_body.read(_CHUNK):
                    sock.sendall(chunk)
                    sent += len(chunk)
            with self._lock:
                self.stats.bytes_to_clients += sent
            return True
        finally:
            resp_body.close()

    def _sleep_latency(self) -> None:
        if self.latency:
            self._stop.wait(self.latency)

    def _forward(
        self, method: str, target: str, headers: dict[str, str], body: IO[bytes]
    ) -> tuple[int, str, list[tuple[str, str]], IO[bytes], int]:
        """Send the request upstream; return status, reason, headers, body stream and body length."""
        size = body.seek(0, 2)
        body.seek(0)
        conn = http.client.HTTPConnection(self._up_host, self._up_port, timeout=300)
        out_headers = {k: v for k, v in headers.items() if k not in _HOP_BY_HOP}
        if size or method in ("POST", "PUT", "PATCH"):
            out_headers["content-length"] = str(size)
        out_headers["connection"] = "close"
        try:
            conn.request(method, target, body=body if size else None, headers=out_headers)
            resp = conn.getresponse()
        except (OSError, http.client.HTTPException):
            conn.close()
            return _bad_gateway(b"upstream unreachable")
        resp_headers = [(k, v) for k, v in resp.getheaders() if k.lower() not in _HOP_BY_HOP]
        if method == "HEAD":
            declared = resp.getheader("content-length")
            resp.read()
            conn.close()
            return resp.status, resp.reason, resp_headers, _bytes_io(b""), int(declared or 0)
        ctype = (resp.getheader("content-type") or "").lower()
        textual = any(t in ctype for t in ("json", "text", "xml", "html"))
        spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=_REWRITE_MAX)
        try:
            while chunk := resp.read(_CHUNK):
                spool.write(chunk)
        except (OSError, http.client.HTTPException):
            # The upstream broke its own answer: pass a 502 on rather than half a body.
            spool.close()
            return _bad_gateway(b"upstream broke its response")
        finally:
            conn.close()
        length = spool.tell()
        spool.seek(0)
        if textual and length <= _REWRITE_MAX:
            data = self._rewrite(spool.read())
            spool.close()
            spool = _bytes_io(data)
            length = len(data)
        resp_headers = [(k, self._rewrite(v.encode("latin-1")).decode("latin-1")) for k, v in resp_headers]
        return resp.status, resp.reason, resp_headers, spool, length

    def _rewrite(self, data: bytes) -> bytes:
        """Point absolute URLs at the upstream to the proxy instead."""
        mine = f"127.0.0.1:{self.port}".encode()
        for theirs in (f"127.0.0.1:{self._up_port}", f"localhost:{self._up_port}"):
            data = data.replace(theirs.encode(), mine)
        return data


# -- small HTTP helpers ----------------------------------------------------------------------------


def _read_headers(rfile: IO[bytes]) -> dict[str, str]:
    headers: dict[str, str] = {}
    while True:
        line = rfile.readline(65537)
        if not line:
            raise _ClientGone
        if line in (b"\r\n", b"\n"):
            return headers
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()


def _iter_body(rfile: IO[bytes], headers: dict[str, str]) -> Iterable[bytes]:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        while True:
            size_line = rfile.readline(1024)
            if not size_line:
                raise _ClientGone
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return
            remaining = size
            while remaining:
                chunk = rfile.read(min(remaining, _CHUNK))
                if not chunk:
                    raise _ClientGone
                remaining -= len(chunk)
                yield chunk
            rfile.readline(8)  # CRLF after the chunk
    remaining = int(headers.get("content-length", "0") or 0)
    while remaining:
        chunk = rfile.read(min(remaining, _CHUNK))
        if not chunk:
            raise _ClientGone
        remaining -= len(chunk)
        yield chunk


def _read_body(rfile: IO[bytes], headers: dict[str, str]) -> IO[bytes]:
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=_REWRITE_MAX)
    for chunk in _iter_body(rfile, headers):
        spool.write(chunk)
    spool.seek(0)
    return spool


def _read_some_body(rfile: IO[bytes], headers: dict[str, str]) -> None:
    """Read about half of the request body (at least one chunk if there is a body)."""
    declared = int(headers.get("content-length", "0") or 0)
    target = declared // 2 if declared else 1
    got = 0
    with contextlib.suppress(_ClientGone, ValueError):
        for chunk in _iter_body(rfile, headers):
            got += len(chunk)
            if got >= target:
                return


def _bytes_io(data: bytes) -> IO[bytes]:
    return io.BytesIO(data)


def _bad_gateway(text: bytes) -> tuple[int, str, list[tuple[str, str]], IO[bytes], int]:
    return 502, "Bad Gateway", [("Content-Type", "text/plain")], _bytes_io(text), len(text)


def _drain(stream: IO[bytes]) -> None:
    while stream.read(_CHUNK):
        pass


def _status_and_headers(status: int, reason: str, headers: list[tuple[str, str]], length: int) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}"]
    lines += [f"{k}: {v}" for k, v in headers]
    lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _send_simple(sock: socket.socket, status: int, message: str, extra: dict[str, str]) -> None:
    body = json.dumps({"error": message}).encode()
    headers = [("Content-Type", "application/json"), *extra.items()]
    reason = http.client.responses.get(status, "Error")
    sock.sendall(_status_and_headers(status, reason, headers, len(body)) + body)


def _reset(sock: socket.socket) -> None:
    """Close with a TCP RST rather than a FIN: the peer sees 'connection reset by peer'."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


__all__ = ["FAULTS", "FAULTS_AFTER", "FAULTS_BEFORE", "FaultEvent", "FaultProxy", "ProxyStats"]
