"""HTTP for every server target: timeouts, bounded retries with backoff and jitter, error mapping.

httpx retries only connection setup, so the retry policy is ours and lives only here:
- retried: connection errors, timeouts, protocol errors (resets, truncated bodies), 5xx, 429
  (honouring ``Retry-After``);
- never retried: any other 4xx;
- 401/403 -> AuthError (exit 5) with the server's message, scrubbed of secrets;
- retries exhausted -> NetworkError (exit 7).
A non-idempotent request (an upload) can pass ``landed``: before each retry it is asked whether the
previous attempt reached the server after all, so a retried upload never runs twice. ``request()``
always returns a response: when an earlier attempt landed, a ``200 OK`` of its own making, which
:func:`landed_earlier` tells apart (callers treat it as the success it was).

Retry budget with the defaults (5 retries, 0.5 s base): at most 0.5+1+2+4+8 s of sleep plus jitter
(<= 25 %), plus the per-attempt timeouts (10 s connect, 60 s read).
"""

from __future__ import annotations

import email.utils
import hashlib
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import httpx

from cipub import __version__
from cipub.core.errors import AuthError, NetworkError, VerificationError
from cipub.core.secrets import scrub

log = logging.getLogger("cipub.core.transport")


class RetryBudget(Protocol):
    """What a client needs of a target's settings (``cipub.channels.target.TargetOptions`` is one)."""

    @property
    def retries(self) -> int: ...
    @property
    def backoff(self) -> float: ...
    @property
    def connect_timeout(self) -> float: ...
    @property
    def read_timeout(self) -> float: ...
    @property
    def concurrency(self) -> int: ...


@dataclass(frozen=True)
class Downloaded:
    status: int
    headers: httpx.Headers
    sha256: str | None
    size: int
    text: str


#: response extension marking the answer ``request()`` makes up when ``landed`` said yes
LANDED = "cipub.landed"
RETRY_STATUS = frozenset({429, 500, 502, 503, 504, 520, 521, 522, 523, 524})
USER_AGENT = f"cipub/{__version__}"
_CHUNK = 1024 * 1024


#: who is told about every chunk of a file sent (the CLI's progress display: bytes, rate, ETA)
_byte_observers: list[Callable[[Path, int], None]] = []


@contextmanager
def observe_bytes(observer: Callable[[Path, int], None]) -> Iterator[None]:
    """Call ``observer(path, n)`` for every chunk :func:`file_chunks` hands to a request, meanwhile."""
    _byte_observers.append(observer)
    try:
        yield
    finally:
        _byte_observers.remove(observer)


def _changed(path: Path | str, got: str, expected: str) -> VerificationError:
    return VerificationError(
        f"{Path(path).name} changed while it was being sent (sha256 {got}, checked file had {expected}); "
        "the upload was cut short",
        hint="something rewrote the file after cipub checked it: rebuild, then upload again",
    )


def file_chunks(path: Path, chunk_size: int = _CHUNK, *, sha256: str | None = None) -> Iterator[bytes]:
    """Stream a file from disk: memory stays flat whatever the file size.

    With ``sha256``: hash what is sent while it is sent, and hold the last chunk back until the
    digest is known, so a file swapped after its check never reaches the server whole (the request
    fails short of its Content-Length, and the server commits nothing).
    """
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        held = fh.read(chunk_size)
        while held:
            following = fh.read(chunk_size)
            digest.update(held)
            if not following and sha256 is not None and digest.hexdigest() != sha256:
                raise _changed(path, digest.hexdigest(), sha256)
            for observer in tuple(_byte_observers):
                observer(path, len(held))
            yield held
            held = following
        if sha256 is not None and digest.hexdigest() != sha256:  # an empty file
            raise _changed(path, digest.hexdigest(), sha256)


class VerifiedReader:
    """A binary file for httpx's ``files=`` that hashes what is read and refuses to hand out its
    last bytes when the digest is not ``sha256`` (the same guarantee as ``file_chunks``)."""

    def __init__(self, fh: BinaryIO, sha256: str) -> None:
        self._fh = fh
        self._sha256 = sha256
        self._digest = hashlib.sha256()
        self._size = os.fstat(fh.fileno()).st_size

    def fileno(self) -> int:
        return self._fh.fileno()

    def tell(self) -> int:
        return self._fh.tell()

    def seek(self, offset: int, whence: int = 0) -> int:
        position = self._fh.seek(offset, whence)
        if position == 0:
            self._digest = hashlib.sha256()  # httpx rewinds for each retry
        return position

    def read(self, size: int = -1) -> bytes:
        start = self._fh.tell()
        data = self._fh.read(size)
        if start == 0:
            self._digest = hashlib.sha256()
        self._digest.update(data)
        if data and self._fh.tell() >= self._size and self._digest.hexdigest() != self._sha256:
            raise _changed(getattr(self._fh, "name", "file"), self._digest.hexdigest(), self._sha256)
        return data


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def landed_earlier(response: httpx.Response) -> bool:
    """True for the answer ``HttpClient.request`` made up because an earlier attempt had landed."""
    return bool(response.extensions.get(LANDED))


def server_message(response: httpx.Response) -> str:
    """The server's own words, short and scrubbed."""
    text = ""
    try:
        data = response.json()
        if isinstance(data, dict):
            text = str(data.get("error") or data.get("detail") or data.get("message") or "")
    except ValueError:
        text = response.text[:300]
    text = text.strip() or response.reason_phrase
    return scrub(text)


class HttpClient:
    """One httpx client with cipub's retry policy. Headers may hold secrets; they are never logged."""

    def __init__(
        self,
        base_url: str,
        *,
        headers: dict[str, str] | None = None,
        retries: int = 5,
        backoff: float = 0.5,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        pool_size: int = 8,
        what: str = "server",
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.what = what
        self.retries = retries
        self.backoff = backoff
        self._sleep = sleep
        self._client_options: dict[str, Any] = {
            "base_url": base_url,
            "headers": {"User-Agent": USER_AGENT, **(headers or {})},
            "timeout": httpx.Timeout(read_timeout, connect=connect_timeout),
            "limits": httpx.Limits(max_connections=pool_size, max_keepalive_connections=pool_size),
            "follow_redirects": False,
            "transport": transport,
        }
        # One httpx client per thread: with parallel uploads sharing one connection pool, httpcore
        # was seen closing a connection another thread was reading (EBADF, then a read-timeout stall).
        self._local = threading.local()
        self._clients: list[httpx.Client] = []
        self._clients_lock = threading.Lock()

    @classmethod
    def for_target(
        cls,
        base_url: str,
        options: RetryBudget,
        *,
        what: str,
        headers: dict[str, str] | None = None,
        pool_size: int | None = None,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> HttpClient:
        """A client with the retry budget and timeouts the user configured for this target."""
        return cls(
            base_url,
            headers=headers,
            retries=options.retries,
            backoff=options.backoff,
            connect_timeout=options.connect_timeout,
            read_timeout=options.read_timeout,
            pool_size=pool_size or max(8, options.concurrency + 2),
            what=what,
            sleep=sleep,
            transport=transport,
        )

    @property
    def client(self) -> httpx.Client:
        client: httpx.Client | None = getattr(self._local, "client", None)
        if client is None:
            client = httpx.Client(**self._client_options)
            self._local.client = client
            with self._clients_lock:
                self._clients.append(client)
        return client

    def set_header(self, name: str, value: str) -> None:
        """Add a header (e.g. a token minted after the client was made) for every thread's client."""
        with self._clients_lock:
            self._client_options["headers"] = {**self._client_options["headers"], name: value}
            for client in self._clients:
                client.headers[name] = value

    def close(self) -> None:
        with self._clients_lock:
            clients, self._clients = self._clients, []
        for client in clients:
            client.close()
        self._local = threading.local()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _delay(self, attempt: int, response: httpx.Response | None) -> float:
        if response is not None:
            after = _retry_after(response)
            if after is not None:
                return min(after, 60.0)
        base = self.backoff * (2**attempt)
        return float(min(base + random.uniform(0, base / 4), 30.0))

    def request(
        self,
        method: str,
        url: str,
        *,
        content_factory: Callable[[], Any] | None = None,
        landed: Callable[[], bool] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send with retries. Returns the final response (any status but the retried ones and 401/403).

        When ``landed`` reports that an earlier attempt already succeeded, nothing more is sent and
        the answer is a made-up ``200 OK`` (see :func:`landed_earlier`).
        ``content_factory`` re-creates a streamed body for every attempt.
        """
        last_problem = ""
        for attempt in range(self.retries + 1):
            if attempt and landed is not None and landed():
                log.info("%s %s: an earlier attempt landed; not sending again", method, url)
                return httpx.Response(200, request=self.client.build_request(method, url), extensions={LANDED: True})
            response: httpx.Response | None = None
            try:
                if content_factory is not None:
                    kwargs["content"] = content_factory()
                response = self.client.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                last_problem = f"{type(exc).__name__}: {scrub(str(exc)) or 'no detail'}"
            else:
                if response.status_code in (401, 403):
                    raise AuthError(
                        f"{self.what} refused the credentials ({response.status_code}): {server_message(response)}",
                        hint="check the token's scopes and that it has not expired",
                    )
                if response.status_code not in RETRY_STATUS:
                    return response
                last_problem = f"HTTP {response.status_code} {server_message(response)}"
            if attempt < self.retries:
                delay = self._delay(attempt, response)
                # detail (-v, --debug): by default the final NetworkError is the one line
                log.info(
                    "%s %s failed (%s); retry %d/%d in %.1fs",
                    method,
                    url,
                    last_problem,
                    attempt + 1,
                    self.retries,
                    delay,
                )
                self._sleep(delay)
        raise NetworkError(
            f"{self.what}: {method} {url} kept failing after {self.retries} retries ({last_problem})",
            hint="the server may be down; re-running is safe: finished files are skipped",
        )

    def download(self, url: str, dest: Path) -> Downloaded:
        """GET ``url`` streaming the body into ``dest`` (never whole in memory), with the same retries.

        Returns the status, headers and, for a 200, the sha256 and size of what was written. Other
        answers (redirects, 404...) leave ``dest`` untouched and carry their (small) body in ``text``.
        """
        last_problem = ""
        for attempt in range(self.retries + 1):
            status: int | None = None
            try:
                with self.client.stream("GET", url) as response:
                    status = response.status_code
                    if status in (401, 403):
                        response.read()
                        raise AuthError(
                            f"{self.what} refused the credentials ({status}): {server_message(response)}",
                            hint="check the token's scopes and that it has not expired",
                        )
                    if status == 200:
                        digest = hashlib.sha256()
                        size = 0
                        with dest.open("wb") as fh:
                            for chunk in response.iter_bytes(_CHUNK):
                                digest.update(chunk)
                                size += len(chunk)
                                fh.write(chunk)
                        return Downloaded(status, response.headers, digest.hexdigest(), size, "")
                    response.read()
                    if status not in RETRY_STATUS:
                        return Downloaded(status, response.headers, None, 0, response.text[:2000])
                    last_problem = f"HTTP {status} {server_message(response)}"
                    delay = self._delay(attempt, response)
            except httpx.TransportError as exc:
                last_problem = f"{type(exc).__name__}: {scrub(str(exc)) or 'no detail'}"
                delay = self._delay(attempt, None)
            if attempt < self.retries:
                log.info(
                    "GET %s failed (%s); retry %d/%d in %.1fs", url, last_problem, attempt + 1, self.retries, delay
                )
                self._sleep(delay)
        raise NetworkError(
            f"{self.what}: GET {url} kept failing after {self.retries} retries ({last_problem})",
            hint="the server may be down; re-running is safe: finished files are skipped",
        )

    def json(self, method: str, url: str, **kwargs: Any) -> Any:
        """Request expecting a 2xx JSON answer; anything else is a NetworkError naming the status."""
        response = self.request(method, url, **kwargs)
        if response.status_code >= 300:
            raise NetworkError(
                f"{self.what}: {method} {url} answered {response.status_code}: {server_message(response)}"
            )
        try:
            return response.json()
        except ValueError as exc:
            raise NetworkError(f"{self.what}: {method} {url} answered with invalid JSON") from exc
