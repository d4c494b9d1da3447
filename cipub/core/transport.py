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

A hostile or broken server cannot hold cipub forever nor fill its memory or disk:
- every answer is read streamed and bounded (``max_answer_bytes`` for API answers, the target's
  ``max_download_bytes`` for packages and repodata); a bigger one is exit 7, never retried;
- each attempt has an overall deadline (``request_timeout``), checked as the body trickles in and as
  an upload is sent, not only the per-read timeout; and a client can carry the command's deadline
  (``command_timeout``): no attempt and no backoff sleep starts past it;
- credentials are bound to the client's origin (scheme, host, port): an httpx auth flow adds them
  only to requests for that origin and a request event hook strips them from every redirect hop
  that leaves it, whatever the header (``Authorization``, ``X-API-Key`` ...);
- an answer that is not the JSON shape expected is exit 7 naming what was expected
  (:meth:`HttpClient.parse`), never a crash.
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import logging
import os
import random
import re
import ssl
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import httpx

from cipub import __version__
from cipub.core.activity import byte_observers
from cipub.core.errors import RETRY_HINT, AuthError, NetworkError, VerificationError
from cipub.core.limits import RetryBudget
from cipub.core.secrets import redact_url, scrub

log = logging.getLogger("cipub.core.transport")

_ssl_lock = threading.Lock()
_ssl_contexts: dict[tuple[str, str], ssl.SSLContext] = {}


def shared_ssl_context() -> ssl.SSLContext:
    """The verifying TLS context every client of this process shares: what httpx makes by default
    (certifi's bundle, or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` when set, read when first needed),
    but made once per process instead of once per client. httpx loads the whole CA bundle for each
    client it creates (~10 ms), and cipub makes several (one per request running at once, per
    host): with a client per thread, 11 % of the samples of a 100-file upload (py-spy, benchmark
    B1). An SSLContext is safe to share between threads; each connection still verifies the
    server's certificate and host name.
    """
    key = (os.environ.get("SSL_CERT_FILE", ""), os.environ.get("SSL_CERT_DIR", ""))
    with _ssl_lock:
        context = _ssl_contexts.get(key)
        if context is None:
            context = _ssl_contexts[key] = httpx.create_ssl_context(verify=True, trust_env=True)
        return context


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
#: the largest API answer (JSON, an error page) read into memory; package-sized reads pass their own
MAX_ANSWER_BYTES = 32 * 1024 * 1024
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _shown(url: str) -> str:
    """``url`` as messages and logs show it: an absolute URL (a server's redirect or presigned
    upload URL, a target's base) through redact_url; a path cipub built from checked names as is."""
    return redact_url(url) if "://" in url else url


def origin_of(url: httpx.URL | str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port made explicit: what credentials are bound to."""
    parsed = httpx.URL(url) if isinstance(url, str) else url
    return parsed.scheme, parsed.host, parsed.port or _DEFAULT_PORTS.get(parsed.scheme)


@dataclass
class _Attempt:
    """One attempt of a request (:meth:`HttpClient._attempts`): why it failed, and the answer whose
    ``Retry-After`` sets the pause before the next one."""

    number: int
    problem: str = ""
    response: httpx.Response | None = None

    def failed(self, problem: str, response: httpx.Response | None = None) -> None:
        self.problem, self.response = problem, response


class _DeadlinePassed(Exception):
    """An attempt (or the command) ran past its overall deadline while the body was moving."""


class _TooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit


class OriginBoundCredentials(httpx.Auth):
    """Adds credential headers to requests for one origin only (an httpx auth flow).

    httpx runs the auth flow once per request, not per redirect hop; :meth:`strip_foreign` (a request
    event hook) covers the hops: a credential never reaches another scheme, host or port.
    """

    def __init__(self, origin: tuple[str, str, int | None], headers: dict[str, str]) -> None:
        self.origin = origin
        self.headers = dict(headers)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if origin_of(request.url) == self.origin:
            request.headers.update(self.headers)
        yield request

    def strip_foreign(self, request: httpx.Request) -> None:
        if origin_of(request.url) != self.origin:
            for name in self.headers:
                request.headers.pop(name, None)


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):g} MiB"


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
            for observer in tuple(byte_observers):
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
        ctype = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if "html" in ctype or response.text.lstrip()[:1] == "<":
            # a web page (a proxy, a login portal, a plain web server): its title says enough
            title = re.search(r"<title[^>]*>(.*?)</title>", response.text[:20000], re.I | re.S)
            text = f"an HTML page ({' '.join(title.group(1).split())[:120]})" if title else "an HTML page"
        else:
            lines = response.text[:2000].strip().splitlines()
            text = lines[0][:200] if lines else ""
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
        credentials: dict[str, str] | None = None,
        request_timeout: float = 600.0,
        deadline: float | None = None,
        max_download_bytes: int = 8 * 1024**3,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
        refusal_is_auth: bool = True,
    ) -> None:
        """``headers`` go to every request; ``credentials`` only to ``base_url``'s origin.
        ``deadline`` is a ``time.monotonic()`` instant (the command's) no attempt starts after."""
        self.what = what
        self.retries = retries
        self.backoff = backoff
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.request_timeout = request_timeout
        self.deadline = deadline
        self.max_download_bytes = max_download_bytes
        self.max_answer_bytes = max_answer_bytes
        #: 401/403 mean "bad token" (exit 5) only where this client sends one; presigned storage
        #: answers 403 for an expired policy or a signature mismatch, which its caller explains
        self.refusal_is_auth = refusal_is_auth
        self._sleep = sleep
        self._credentials = OriginBoundCredentials(origin_of(base_url), credentials or {})
        self._client_options: dict[str, Any] = {
            "base_url": base_url,
            "headers": {"User-Agent": USER_AGENT, **(headers or {})},
            "timeout": httpx.Timeout(read_timeout, connect=connect_timeout),
            "limits": httpx.Limits(max_connections=pool_size, max_keepalive_connections=pool_size),
            "follow_redirects": False,
            "transport": transport,
            "auth": self._credentials,
            "event_hooks": {"request": [self._credentials.strip_foreign]},
        }
        # One request at a time per httpx client: with parallel uploads sharing one connection pool,
        # httpcore was seen closing a connection another thread was reading (EBADF, then a
        # read-timeout stall). A request leases an idle client (or makes one) and gives it back once
        # its answer is read: a batch makes as many clients as it runs requests at once, not one per
        # thread of each pool it starts (state, uploads, read-back), and their connections stay
        # open from one phase to the next (a new client is a new TCP and TLS handshake).
        self._idle: list[httpx.Client] = []
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
        credentials: dict[str, str] | None = None,
        pool_size: int | None = None,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
        refusal_is_auth: bool = True,
    ) -> HttpClient:
        """A client with the retry budget, timeouts and bounds the user configured for this target."""
        return cls(
            base_url,
            headers=headers,
            credentials=credentials,
            request_timeout=options.request_timeout,
            deadline=options.command_deadline,
            max_download_bytes=options.max_download_bytes,
            refusal_is_auth=refusal_is_auth,
            retries=options.retries,
            backoff=options.backoff,
            connect_timeout=options.connect_timeout,
            read_timeout=options.read_timeout,
            pool_size=pool_size or max(8, options.concurrency + 2),
            what=what,
            sleep=sleep,
            transport=transport,
        )

    @contextlib.contextmanager
    def leased(self) -> Iterator[httpx.Client]:
        """An httpx client for this thread alone until the block ends (see ``__init__``)."""
        with self._clients_lock:
            client = self._idle.pop() if self._idle else None
        if client is None:
            client = httpx.Client(**self._client_options, verify=shared_ssl_context())
            with self._clients_lock:
                self._clients.append(client)
        try:
            yield client
        finally:
            with self._clients_lock:
                if any(c is client for c in self._clients):  # not closed meanwhile
                    self._idle.append(client)

    @property
    def credentials(self) -> httpx.Headers:
        """The credential headers (sent to this client's origin only)."""
        return httpx.Headers(self._credentials.headers)

    def set_credential(self, name: str, value: str) -> None:
        """Add a credential header (e.g. a token minted after the client was made), bound to the origin."""
        with self._clients_lock:
            self._credentials.headers[name] = value

    def close(self) -> None:
        with self._clients_lock:
            clients, self._clients, self._idle = self._clients, [], []
        for client in clients:
            client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _attempts(self, method: str, url: str) -> Iterator[_Attempt]:
        """The attempts of one request, the one retry loop of every HTTP call: after an attempt that
        ``failed`` (the caller returns or raises on every other outcome) the backoff pause, honouring
        the answer's ``Retry-After`` and logged for -v; once the retries are used up, exit 7 naming
        the last problem."""
        problem = ""
        for number in range(self.retries + 1):
            attempt = _Attempt(number)
            yield attempt
            problem = attempt.problem or problem
            if number < self.retries:
                delay = self._delay(number, attempt.response)
                # detail (-v, --debug): by default the final NetworkError is the one line
                log.info(
                    "%s %s failed (%s); retry %d/%d in %.1fs",
                    method,
                    _shown(url),
                    problem,
                    number + 1,
                    self.retries,
                    delay,
                )
                self._pause(delay)
        raise NetworkError(
            f"{self.what}: {method} {_shown(url)} kept failing after {self.retries} retries ({problem})",
            hint=RETRY_HINT,
        )

    def _delay(self, attempt: int, response: httpx.Response | None) -> float:
        if response is not None:
            after = _retry_after(response)
            if after is not None:
                return min(after, 60.0)
        base = self.backoff * (2**attempt)
        return float(min(base + random.uniform(0, base / 4), 30.0))

    def _attempt_deadline(self, method: str, url: str) -> float:
        """When this attempt must be over: ``request_timeout`` from now, never past the command's."""
        now = time.monotonic()
        if self.deadline is not None and now >= self.deadline:
            raise NetworkError(
                f"{self.what}: {method} {_shown(url)} not sent: the command's deadline passed",
                hint="raise command_timeout (CIPUB_COMMAND_TIMEOUT) if the server is just slow",
            )
        ends = now + self.request_timeout
        return min(ends, self.deadline) if self.deadline is not None else ends

    def _timeout(self, ends: float) -> httpx.Timeout:
        left = max(0.001, ends - time.monotonic())
        return httpx.Timeout(min(self.read_timeout, left), connect=min(self.connect_timeout, left))

    def _pause(self, delay: float) -> None:
        if self.deadline is not None:
            delay = min(delay, max(0.0, self.deadline - time.monotonic()))
        self._sleep(delay)

    @staticmethod
    def _timed_body(body: Any, ends: float) -> Any:
        """An upload body that stops when the attempt's deadline passes (a server reading a trickle)."""
        if isinstance(body, (bytes, str)) or not isinstance(body, Iterable):
            return body

        def chunks() -> Iterator[bytes]:
            for chunk in body:
                if time.monotonic() > ends:
                    raise _DeadlinePassed
                yield chunk

        return chunks()

    @staticmethod
    def _bounded_chunks(response: httpx.Response, limit: int, ends: float) -> Iterator[bytes]:
        """A streamed body's chunks as they come: at most ``limit`` bytes in all, none after ``ends``
        (the deadline is checked per read)."""
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > limit:
                raise _TooLarge(limit)
            if time.monotonic() > ends:
                raise _DeadlinePassed
            yield chunk

    @classmethod
    def _read_bounded(cls, response: httpx.Response, limit: int, ends: float) -> None:
        """Read a streamed body into the response, at most ``limit`` bytes, before ``ends``."""
        response._content = b"".join(cls._bounded_chunks(response, limit, ends))

    def request(
        self,
        method: str,
        url: str,
        *,
        content_factory: Callable[[], Any] | None = None,
        landed: Callable[[], bool] | None = None,
        max_bytes: int | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send with retries. Returns the final response (any status but the retried ones and 401/403).

        When ``landed`` reports that an earlier attempt already succeeded, nothing more is sent and
        the answer is a made-up ``200 OK`` (see :func:`landed_earlier`).
        ``content_factory`` re-creates a streamed body for every attempt. The answer is read whole
        but bounded: ``max_bytes`` (default ``max_answer_bytes``); more is exit 7.
        """
        limit = self.max_answer_bytes if max_bytes is None else max_bytes
        follow_redirects = kwargs.pop("follow_redirects", None)
        for attempt in self._attempts(method, url):
            if attempt.number and landed is not None and landed():
                log.info("%s %s: an earlier attempt landed; not sending again", method, _shown(url))
                with self.leased() as client:
                    made_up = client.build_request(method, url)
                return httpx.Response(200, request=made_up, extensions={LANDED: True})
            ends = self._attempt_deadline(method, url)
            try:
                if content_factory is not None:
                    kwargs["content"] = content_factory()
                if "content" in kwargs:
                    kwargs["content"] = self._timed_body(kwargs["content"], ends)
                with self.leased() as client:
                    built = client.build_request(method, url, timeout=self._timeout(ends), **kwargs)
                    response = client.send(built, stream=True, follow_redirects=follow_redirects)
                    try:
                        self._read_bounded(response, limit, ends)
                    finally:
                        response.close()
            except httpx.TransportError as exc:
                attempt.failed(f"{type(exc).__name__}: {scrub(str(exc)) or 'no detail'}")
            except _DeadlinePassed:
                attempt.failed(f"not done within the {self.request_timeout:g} s request_timeout (a trickling server?)")
            except _TooLarge as exc:
                raise NetworkError(
                    f"{self.what}: {method} {_shown(url)} answered with more than {_mib(exc.limit)}; "
                    "expected a small answer",
                    hint="the server or a proxy in front of it misbehaves",
                ) from None
            else:
                if response.status_code in (401, 403) and self.refusal_is_auth:
                    raise AuthError(
                        f"{self.what} refused the credentials ({response.status_code}): {server_message(response)}",
                        hint="check the token's scopes and that it has not expired",
                    )
                if response.status_code not in RETRY_STATUS:
                    return response
                attempt.failed(f"HTTP {response.status_code} {server_message(response)}", response)
        raise AssertionError("unreachable: _attempts raises once the retries are used up")

    def download(self, url: str, dest: Path, *, max_bytes: int | None = None) -> Downloaded:
        """GET ``url`` streaming the body into ``dest`` (never whole in memory), with the same retries.

        Returns the status, headers and, for a 200, the sha256 and size of what was written. Other
        answers (redirects, 404...) leave ``dest`` untouched and carry their (small) body in ``text``.
        At most ``max_bytes`` (default: the target's ``max_download_bytes``) are written; more is exit 7.
        The whole download is bounded by the command's deadline (a big file may take longer than
        one ``request_timeout``).
        """
        limit = self.max_download_bytes if max_bytes is None else max_bytes
        for attempt in self._attempts("GET", url):
            ends = self._attempt_deadline("GET", url)
            if self.deadline is not None:
                ends = self.deadline  # a big file may take longer than one request_timeout
            try:
                with self.leased() as client, client.stream("GET", url, timeout=self._timeout(ends)) as response:
                    status = response.status_code
                    if status in (401, 403):
                        self._read_bounded(response, MAX_ANSWER_BYTES, ends)
                        raise AuthError(
                            f"{self.what} refused the credentials ({status}): {server_message(response)}",
                            hint="check the token's scopes and that it has not expired",
                        )
                    if status == 200:
                        digest = hashlib.sha256()
                        size = 0
                        with dest.open("wb") as fh:
                            for chunk in self._bounded_chunks(response, limit, ends):
                                size += len(chunk)
                                digest.update(chunk)
                                fh.write(chunk)
                        return Downloaded(status, response.headers, digest.hexdigest(), size, "")
                    self._read_bounded(response, MAX_ANSWER_BYTES, ends)
                    if status not in RETRY_STATUS:
                        return Downloaded(status, response.headers, None, 0, response.text[:2000])
                    attempt.failed(f"HTTP {status} {server_message(response)}", response)
            except httpx.TransportError as exc:
                attempt.failed(f"{type(exc).__name__}: {scrub(str(exc)) or 'no detail'}")
            except _DeadlinePassed:
                dest.unlink(missing_ok=True)
                raise NetworkError(
                    f"{self.what}: GET {_shown(url)} not done before the command's deadline (a trickling server?)",
                    hint="raise command_timeout (CIPUB_COMMAND_TIMEOUT) if the server is just slow",
                ) from None
            except _TooLarge as exc:
                dest.unlink(missing_ok=True)
                raise NetworkError(
                    f"{self.what}: GET {_shown(url)} sent more than {_mib(exc.limit)}",
                    hint="raise max_download_mb (CIPUB_MAX_DOWNLOAD_MB) if packages are really this big",
                ) from None
        raise AssertionError("unreachable: _attempts raises once the retries are used up")

    def parse(self, response: httpx.Response, expect: type[dict[str, Any]] | type[list[Any]], action: str) -> Any:
        """The JSON body of ``response`` if it is a JSON ``expect`` (object or array), else exit 7
        saying what came and what was expected (an HTML login page, a proxy's error, another API)."""
        wanted = "a JSON object" if expect is dict else "a JSON array"
        try:
            data = response.json()
        except ValueError:
            ctype = response.headers.get("content-type", "no content type").split(";")[0]
            raise NetworkError(
                f"{self.what}: {action} answered {response.status_code} with {ctype}, not JSON; expected {wanted}",
                hint="is the URL the server's API? a login page or a proxy may be answering instead",
            ) from None
        if not isinstance(data, expect):
            raise NetworkError(
                f"{self.what}: {action} answered {response.status_code} with a JSON {type(data).__name__}; "
                f"expected {wanted}",
                hint="is the URL the server's API, and the server a supported version?",
            )
        return data

    def json(
        self,
        method: str,
        url: str,
        *,
        expect: type[dict[str, Any]] | type[list[Any]] = dict,
        **kwargs: Any,
    ) -> Any:
        """Request expecting a 2xx JSON answer of the ``expect`` shape; anything else is exit 7."""
        response = self.request(method, url, **kwargs)
        if response.status_code >= 300:
            raise NetworkError(
                f"{self.what}: {method} {_shown(url)} answered {response.status_code}: {server_message(response)}",
                hint="check the target URL (and --api-url): it should reach the server's API itself"
                if response.status_code == 404
                else None,
            )
        return self.parse(response, expect, f"{method} {_shown(url)}")
