"""What every target that speaks HTTP shares: anaconda.org, PSM, Quetz, prefix.dev, Artifactory.

- One :class:`~cipub.core.transport.HttpClient` per host, created on first use with the target's
  retry budget and timeouts, and closed when the batch ends (the object can serve another batch).
  Only the client for the target's own server carries the token: presigned storage and package
  stores a server redirects to get a client without it.
- The token check before the first request of any write, naming where a token comes from.
- One mapping of answers a write did not expect to cipub's errors (exit codes 2, 7, 9).

Subclasses declare the server's name, token variables, naming rules and :class:`Capabilities`, and
implement the wire protocol. They do not override the constructor (one signature for all); they hook in:
``_start`` (their own state, once), ``_forget_batch`` (drop what they cached for a batch; also
run at the start) and ``_settle`` (wait for the server's background work when a batch ends well).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import quote, urlsplit

import httpx

from cipub.channels.base import NAMES, Batch, Capabilities, NameRule
from cipub.core.errors import AuthError, CipubError, InvalidPackageError, NetworkError, UsageError
from cipub.core.secrets import Secret, redact_url
from cipub.core.transport import Downloaded, HttpClient, file_chunks, server_message

if TYPE_CHECKING:
    from cipub.channels.target import TargetOptions

CREDENTIALS_HINT = "or pass --token-file PATH; tokens are never accepted as command-line values"
#: answers that mean "this package is not acceptable" rather than "the server failed"
PACKAGE_REFUSED = frozenset({400, 413, 415, 422})
Body = Callable[[], Iterator[bytes]]


def segment(value: str) -> str:
    """``value`` as one URL path segment (a ``/`` in it is escaped, never a separator)."""
    return quote(value, safe="")


def file_form(boundary: str, head: str, path: Path, size: int, sha256: str | None = None) -> tuple[str, int, Body]:
    """A multipart/form-data body whose last part is a file streamed from disk.

    ``head`` is every part before the file's content (the file part's own headers included).
    Returns (content type, exact length, factory of a fresh body for each attempt): memory stays
    flat whatever the file size, and the length goes out as Content-Length (S3 refuses chunked
    form POSTs).
    """
    first, last = head.encode(), f"\r\n--{boundary}--\r\n".encode()

    def body() -> Iterator[bytes]:
        yield first
        yield from file_chunks(path, sha256=sha256)  # hashed while sent: see file_chunks
        yield last

    return f"multipart/form-data; boundary={boundary}", len(first) + size + len(last), body


class HttpChannel(Batch):
    """Base of the HTTP targets (see the module docstring); implements the plumbing of
    ``cipub.channels.base.Channel``, not its operations."""

    capabilities: ClassVar[Capabilities]
    #: the server's kind, in messages and the client's name ("Quetz", "PSM"...)
    server: ClassVar[str]
    #: environment variables a token is read from, in order (named when a write has none)
    token_env: ClassVar[tuple[str, ...]]
    credentials_hint: ClassVar[str] = CREDENTIALS_HINT
    #: the label names this server accepts (the one rule, unless the server documents another)
    label_names: ClassVar[NameRule] = NAMES
    #: what ``name`` is on this server (its channel, owner or repository) and the rule for it
    name_what: ClassVar[str] = "channel name"
    name_rule: ClassVar[NameRule] = NAMES
    #: headers every request to this server sends, whoever the host
    extra_headers: ClassVar[tuple[tuple[str, str], ...]] = ()

    def __init__(
        self,
        base_url: str,
        name: str,
        options: TargetOptions,
        token: Secret | None,
        display: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        #: the channel (PSM, Quetz, prefix), owner (anaconda) or repository (Artifactory)
        self.name = self.name_rule.check(name, self.name_what)
        self.display = display
        self.max_parallel = max(1, options.concurrency)
        self._options = options
        self._token = token
        self._sleep = sleep
        self._transport = transport  # tests inject one; None = the network
        self._lock = threading.Lock()
        #: one creation of a place on the server (channel, subchannel, package) at a time
        self._create_lock = threading.Lock()
        self._clients: dict[tuple[str, bool], HttpClient] = {}
        self._start()
        self._forget_batch()

    def _start(self) -> None:
        """Set up the target's own state that outlives a batch (called once, by ``__init__``)."""

    # -- clients ----------------------------------------------------------------------------------
    def auth_headers(self, token: Secret) -> dict[str, str]:
        """How this server wants the token (default: ``Authorization: Bearer``)."""
        return {"Authorization": f"Bearer {token.reveal()}"}

    def install_url(self, label: str) -> str:
        """Where conda reads ``label`` (every HTTP target defines it)."""
        raise NotImplementedError

    def install_credentials(self, label: str) -> tuple[str, dict[str, str]] | None:
        """(host of ``install_url(label)``, headers) a conda client sends to read a private label;
        None without a token. ``ci verify --mode install`` gives them to py-rattler, bound to that host."""
        if self._token is None:
            return None
        host = urlsplit(self.install_url(label)).hostname or ""
        return host, self.auth_headers(self._token)

    @property
    def http(self) -> HttpClient:
        """The client for this target's server, with the token."""
        return self._client(self.base_url, authenticated=True)

    def plain_client(self, base_url: str, what: str) -> HttpClient:
        """A client for another host (storage, a package store): it never carries the token."""
        return self._client(base_url.rstrip("/"), authenticated=False, what=what)

    def download_from_store(self, path: str, dest: Path) -> Downloaded:
        """GET ``path`` on this server into ``dest``, following a redirect to a package store (S3, a
        CDN) without the token when it leaves this host: the token is for this server only."""
        got = self.http.download(path, dest)
        if got.status in (301, 302, 303, 307, 308) and "location" in got.headers:
            location = httpx.URL(self.base_url + path).join(got.headers["location"])
            if location.host == httpx.URL(self.base_url).host:
                got = self.http.download(str(location), dest)
            else:
                store = f"{location.scheme}://{location.netloc.decode()}"
                got = self.plain_client(store, f"package store {location.host}").download(str(location), dest)
        return got

    def _client(self, base_url: str, *, authenticated: bool, what: str | None = None) -> HttpClient:
        with self._lock:
            client = self._clients.get((base_url, authenticated))
            if client is None:
                # credentials are bound to this server's origin by the client: never sent elsewhere,
                # never carried along a redirect to another scheme, host or port
                credentials = self.auth_headers(self._token) if authenticated and self._token is not None else {}
                client = HttpClient.for_target(
                    base_url,
                    self._options,
                    headers=dict(self.extra_headers),
                    credentials=credentials,
                    refusal_is_auth=authenticated,
                    what=what
                    or f"{self.server} {urlsplit(base_url).netloc.rpartition('@')[2] or redact_url(base_url)}",
                    sleep=self._sleep,
                    transport=self._transport,
                )
                self._clients[(base_url, authenticated)] = client
            return client

    # -- the batch --------------------------------------------------------------------------------
    def _end_batch(self, exc: BaseException | None) -> None:
        try:
            if exc is None:
                self._settle()
        finally:
            self._forget_batch()
            with self._lock:
                clients, self._clients = list(self._clients.values()), {}
            for client in clients:
                client.close()

    def _settle(self) -> None:
        """Wait for the server's background work on this batch's writes (servers that index async)."""

    def _forget_batch(self) -> None:
        """(Re)set what is cached for one batch: the next batch reads the server afresh."""

    # -- checks and errors ------------------------------------------------------------------------
    def require_credentials(self) -> None:
        """Fail (exit 5) when a write would have no token: called before building or uploading
        anything, so a missing secret costs seconds, not a whole build."""
        self._require_token()

    def _require_token(self) -> None:
        if self._token is None:
            sources = " or ".join(self.token_env)
            raise AuthError(f"no token for {self.display}: set {sources}", hint=self.credentials_hint)

    def check_label(self, label: str) -> str:
        return self.label_names.check(label, "label")

    def _fail(self, response: httpx.Response, action: str) -> NetworkError:
        hint = None
        if "html" in response.headers.get("content-type", "").lower():
            hint = f"a web page answered, not the {self.server} API: check the target URL (and --api-url)"
        elif response.status_code == 404:
            hint = f"check the target URL (and --api-url): it should reach the {self.server} API itself"
        return NetworkError(
            f"{self.display}: {action} answered {response.status_code}: {server_message(response)}", hint=hint
        )

    def _not_found(self, response: httpx.Response, action: str) -> bool:
        """True for the API's "not found" (a 404 with the API's own error body). A 404 with an empty
        body or a web page is no API's answer but another server's (a plain web server, a proxy, a
        URL missing the API's path): exit 7, where reading on would report an empty channel."""
        if response.status_code != 404:
            return False
        body = response.content.strip()
        page = "html" in response.headers.get("content-type", "").lower() or body[:1] == b"<"
        if body and not page:
            return True
        raise NetworkError(
            f"{self.display}: {action} answered 404 with {'a web page' if body else 'an empty body'}, "
            f"not the {self.server} API's answer",
            hint=f"check the target URL (and --api-url): it should reach the {self.server} API itself",
        )

    def _refused(
        self, response: httpx.Response, action: str, *, missing: str | None = None, label: str | None = None
    ) -> CipubError:
        """The error for a write the server did not take: a 404 names the ``missing`` place (and the
        label that maps to it), a refused package is exit 9, anything else the server's failure."""
        status = response.status_code
        if status == 402:
            return UsageError(
                f"{self.display}: {action}: the account's storage quota or plan limit is reached (402): "
                f"{server_message(response)}",
                hint="free space (remove old builds) or raise the quota, then re-run: finished files are skipped",
            )
        if status == 404 and missing:
            hint = f"create {missing} on the server first" + (f"; label {label!r} maps to {missing}" if label else "")
            message = f"{self.display}: {action}: {missing} does not exist ({server_message(response)})"
            return UsageError(message, hint=hint)
        if status in PACKAGE_REFUSED:
            return InvalidPackageError(
                f"{self.display} refused {action} ({status}): {server_message(response)}",
                hint="the server rejected the package or its metadata (info/index.json)",
            )
        return self._fail(response, action)
