"""A prefix.dev-protocol server for tests (never shipped in the cipub package).

Built from prefix.dev's documented API (https://prefix.dev/docs/prefix/api) and the requests its
real clients send (rattler-build / rattler_upload ``prefix.rs``, ``trusted_publishing.rs``), see
``shared/reference/protocols.md`` §4::

    POST   /api/v1/upload/{channel}[?force=true]      multipart part ``file`` with part headers
                                                     X-File-Name / X-File-SHA256 (current clients),
                                                     or the raw body with those request headers
                                                     (the documented original form).
                                                     200; 409 if the file exists (unless force);
                                                     404 unknown channel; 400 bad sha256/package
    DELETE /api/v1/delete/{channel}/{subdir}/{file}   200 / 404
    POST   /api/v1/reindex/{channel}/{subdir}         200 (indexing is automatic anyway)
    POST   /api/oidc/mint_token   {"token": JWT}      trusted publishing: the JWT is verified against
                                                     the configured issuers (signature via JWKS,
                                                     ``iss``, ``aud``, ``exp``, required claims);
                                                     200 with the raw short-lived token as body
    GET    /{channel}/{subdir}/repodata.json          conda channel (noarch always exists)
    GET    /{channel}/{subdir}/{file}                 package bytes (single byte ranges honoured)
    GET    /{channel}/{subdir}/{file}.v0.sigs         the upload's optional ``attestation`` part (a
                                                     Sigstore bundle) as a JSON list [inferred: the
                                                     list layout CEP 27 and rattler-build describe]

Auth: ``Authorization: Bearer <key>`` with an API key (any channel) or a minted token (its
publisher's channels, until it expires). 401 without a valid token, 403 for another channel.
Private channels need the token for reads too.

Choices the documentation does not settle are marked "[inferred]".

Hooks: ``requests`` (method, path log), ``truth()`` (channel -> {subdir/file: sha256} from the
stored bytes), ``index_delay`` (seconds a new upload stays out of repodata.json, like the real
server's asynchronous indexer).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import secrets
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


# -- small HTTP helpers shared by the test servers in this folder ---------------------------------
def read_body(request: BaseHTTPRequestHandler) -> bytes:
    """The request body, whether sent with Content-Length or chunked (reqwest streams chunked)."""
    if request.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks = []
        while True:
            line = request.rfile.readline().strip()
            size = int(line.split(b";")[0], 16)
            if size == 0:
                request.rfile.readline()
                break
            chunks.append(request.rfile.read(size))
            request.rfile.readline()
        return b"".join(chunks)
    length = int(request.headers.get("Content-Length") or 0)
    return request.rfile.read(length) if length else b""


def send(
    request: BaseHTTPRequestHandler,
    status: int,
    body: bytes | str | dict[str, Any] | list[Any] = b"",
    headers: dict[str, str] | None = None,
) -> None:
    content_type = "application/octet-stream"
    if isinstance(body, dict | list):
        body = json.dumps(body).encode()
        content_type = "application/json"
    elif isinstance(body, str):
        body = body.encode()
        content_type = "text/plain; charset=utf-8"
    request.send_response(status)
    merged = {"Content-Type": content_type, **(headers or {})}
    for key, value in merged.items():
        request.send_header(key, value)
    request.send_header("Content-Length", str(len(body)))
    request.end_headers()
    if request.command != "HEAD":
        request.wfile.write(body)


def send_file(request: BaseHTTPRequestHandler, path: Path) -> None:
    """Serve a file, honouring a single ``Range: bytes=a-b`` like a CDN does."""
    data = path.read_bytes()
    match = re.fullmatch(r"bytes=(\d+)-(\d*)", request.headers.get("Range", "").strip())
    if not match:
        send(request, 200, data, {"Accept-Ranges": "bytes"})
        return
    start = int(match.group(1))
    end = min(int(match.group(2)) if match.group(2) else len(data) - 1, len(data) - 1)
    if start >= len(data):
        send(request, 416, b"", {"Content-Range": f"bytes */{len(data)}"})
        return
    send(request, 206, data[start : end + 1], {"Content-Range": f"bytes {start}-{end}/{len(data)}"})


def parse_multipart(content_type: str, body: bytes) -> list[tuple[dict[str, str], bytes]]:
    """Split a multipart/form-data body into (lower-cased part headers, content); binary safe."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not match:
        raise ValueError("multipart body without a boundary")
    delimiter = b"--" + match.group(1).encode()
    parts = []
    for raw in body.split(delimiter)[1:]:
        if raw.startswith(b"--"):
            break
        head, sep, content = raw.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not sep:
            raise ValueError("multipart part without headers")
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        parts.append((headers, content.removesuffix(b"\r\n")))
    return parts


def read_index_json(filename: str, data: bytes) -> dict[str, Any]:
    """info/index.json of a package held in memory (raises ValueError if it is not a package)."""
    import io

    from conda_package_streaming import package_streaming

    fileobj = io.BytesIO(data)
    for tar, member in package_streaming.stream_conda_info(filename, fileobj):
        if member.name == "info/index.json":
            extracted = tar.extractfile(member)
            if extracted is not None:
                loaded: dict[str, Any] = json.loads(extracted.read())
                return loaded
    raise ValueError(f"{filename} has no info/index.json")


def package_record(filename: str, data: bytes) -> dict[str, Any]:
    """A repodata record for a package: its index.json plus size and digests."""
    try:
        index = read_index_json(filename, data)
    except Exception as exc:
        raise ValueError(f"{filename} is not a readable conda package ({type(exc).__name__})") from exc
    ext = ".conda" if filename.endswith(".conda") else ".tar.bz2"
    stem = filename[: -len(ext)]
    if stem != f"{index.get('name')}-{index.get('version')}-{index.get('build')}":
        raise ValueError(f"{filename} does not match its info/index.json")
    return {
        **index,
        "sha256": hashlib.sha256(data).hexdigest(),
        "md5": hashlib.md5(data).hexdigest(),  # noqa: S324 - repodata field
        "size": len(data),
    }


def repodata(subdir: str, records: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        "info": {"subdir": subdir},
        "packages": {fn: r for fn, r in records.items() if fn.endswith(".tar.bz2")},
        "packages.conda": {fn: r for fn, r in records.items() if fn.endswith(".conda")},
        "removed": [],
        "repodata_version": 1,
    }


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that drops a kept-alive connection is normal; only real bugs are printed."""
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError | OSError):
            return
        super().handle_error(request, client_address)


class ServerThread:
    """Run a ThreadingHTTPServer on 127.0.0.1 in a daemon thread."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = _QuietServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# -- the prefix.dev server -------------------------------------------------------------------------
@dataclass
class TrustedPublisher:
    """prefix.dev's trusted-publisher configuration: which CI identity may publish where."""

    issuer: str
    audience: str
    #: claims that must match exactly, e.g. {"repository": "acme/widgets", "workflow": "release"}
    claims: dict[str, str]
    channels: set[str]


@dataclass
class _Minted:
    channels: set[str]
    expires: float


@dataclass
class _Stored:
    path: Path
    record: dict[str, Any]
    visible_at: float
    #: the upload's ``attestation`` part (a Sigstore bundle, JSON text), served as ``<file>.v0.sigs``
    attestation: str | None = None


@dataclass
class PrefixServer:
    root: Path
    api_keys: set[str] = field(default_factory=set)
    channels: Iterable[str] = ()
    private: set[str] = field(default_factory=set)
    publishers: list[TrustedPublisher] = field(default_factory=list)
    token_ttl: float = 900.0
    index_delay: float = 0.0

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._channels: dict[str, dict[tuple[str, str], _Stored]] = {c: {} for c in self.channels}
        self._minted: dict[str, _Minted] = {}
        self.requests: list[tuple[str, str]] = []
        self.mint_failures: list[str] = []
        self._thread: ServerThread | None = None

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> PrefixServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                server._dispatch(self)

            do_HEAD = do_POST = do_DELETE = do_PUT = do_GET

        self._thread = ServerThread(Handler)
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._thread.stop()
            self._thread = None

    def __enter__(self) -> PrefixServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._thread is not None, "server not started"
        return self._thread.url

    def create_channel(self, name: str, *, private: bool = False) -> None:
        with self._lock:
            self._channels.setdefault(name, {})
            if private:
                self.private.add(name)

    def truth(self) -> dict[str, dict[str, str]]:
        """channel -> {subdir/file: sha256 of the stored bytes}."""
        with self._lock:
            snapshot = {c: dict(files) for c, files in self._channels.items()}
        return {
            channel: {
                f"{s}/{fn}": hashlib.sha256(stored.path.read_bytes()).hexdigest() for (s, fn), stored in files.items()
            }
            for channel, files in snapshot.items()
        }

    def minted_tokens(self) -> list[str]:
        """Tokens handed out by trusted publishing (for tests that check they never leak)."""
        with self._lock:
            return list(self._minted)

    # -- auth -------------------------------------------------------------------------------------
    def _token(self, request: BaseHTTPRequestHandler) -> str | None:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        return value.strip() if scheme.lower() == "bearer" and value.strip() else None

    def _authorize(self, request: BaseHTTPRequestHandler, channel: str) -> bool:
        """True if allowed; otherwise the 401/403 answer was sent."""
        token = self._token(request)
        if token is None:
            send(request, 401, {"error": "Authentication required"}, {"WWW-Authenticate": "Bearer"})
            return False
        if token in self.api_keys:
            return True
        with self._lock:
            minted = self._minted.get(token)
        if minted is None or minted.expires < time.time():
            send(request, 401, {"error": "Invalid or expired token"}, {"WWW-Authenticate": "Bearer"})
            return False
        if channel not in minted.channels:
            send(request, 403, {"error": f"Token may not publish to channel '{channel}'"})
            return False
        return True

    # -- routing ----------------------------------------------------------------------------------
    def _dispatch(self, request: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(request.path)
        path = unquote(parts.path)
        query = parse_qs(parts.query)
        with self._lock:
            self.requests.append((request.command, path))
        segments = [s for s in path.split("/") if s]
        try:
            body = read_body(request) if request.command in ("POST", "PUT") else b""
            if request.command == "POST" and segments[:3] == ["api", "v1", "upload"] and len(segments) == 4:
                self._upload(request, segments[3], body, force=query.get("force", ["false"])[-1] == "true")
            elif request.command == "DELETE" and segments[:3] == ["api", "v1", "delete"] and len(segments) == 6:
                self._delete(request, segments[3], segments[4], segments[5])
            elif request.command == "POST" and segments[:3] == ["api", "v1", "reindex"] and len(segments) == 5:
                if self._authorize(request, segments[3]):
                    send(request, 200, {"status": "ok"})
            elif request.command == "POST" and path == "/api/oidc/mint_token":
                self._mint(request, body)
            elif request.command in ("GET", "HEAD") and len(segments) == 3:
                self._serve(request, *segments)
            else:
                send(request, 404, {"error": "Not found"})
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _upload(self, request: BaseHTTPRequestHandler, channel: str, body: bytes, *, force: bool) -> None:
        if not self._authorize(request, channel):
            return
        with self._lock:
            exists = channel in self._channels
        if not exists:
            send(request, 404, {"error": f"Channel '{channel}' not found"})
            return
        content_type = request.headers.get("Content-Type", "")
        if content_type.startswith("multipart/form-data"):
            try:
                parts = parse_multipart(content_type, body)
            except ValueError as exc:
                send(request, 400, {"error": str(exc)})
                return
            file_parts = [(h, c) for h, c in parts if 'name="file"' in h.get("content-disposition", "")]
            if not file_parts:
                send(request, 400, {"error": "multipart body has no 'file' part"})
                return
            headers, data = file_parts[0]
            filename = headers.get("x-file-name", "")
            sha256 = headers.get("x-file-sha256", "")
            attested = [c for h, c in parts if 'name="attestation"' in h.get("content-disposition", "")]
            attestation = attested[0].decode("utf-8", "replace") if attested else None
        else:  # the documented raw-body form
            attestation = None
            data = body
            filename = request.headers.get("X-File-Name", "")
            sha256 = request.headers.get("X-File-SHA256", "")
        if not _NAME.match(filename) or not filename.endswith((".conda", ".tar.bz2")):
            send(request, 400, {"error": "X-File-Name is missing or not a package file name"})
            return
        if sha256.lower() != hashlib.sha256(data).hexdigest():
            send(request, 400, {"error": "X-File-SHA256 does not match the uploaded bytes"})  # [inferred]
            return
        try:
            record = package_record(filename, data)
        except ValueError as exc:
            send(request, 400, {"error": str(exc)})
            return
        subdir = str(record.get("subdir") or "noarch")
        with self._lock:
            files = self._channels[channel]
            if (subdir, filename) in files and not force:
                send(request, 409, {"error": f"Package {subdir}/{filename} already exists"})
                return
            target = self.root / channel / subdir / filename
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{filename}.{secrets.token_hex(4)}")
            tmp.write_bytes(data)
            tmp.replace(target)
            files[(subdir, filename)] = _Stored(target, record, time.monotonic() + self.index_delay, attestation)
        send(request, 200, {"status": "ok"})  # [inferred] body; clients only check for 2xx

    def _delete(self, request: BaseHTTPRequestHandler, channel: str, subdir: str, filename: str) -> None:
        if not self._authorize(request, channel):
            return
        with self._lock:
            stored = self._channels.get(channel, {}).pop((subdir, filename), None)
        if stored is None:
            send(request, 404, {"error": "Package not found"})
            return
        stored.path.unlink(missing_ok=True)
        send(request, 200, {"status": "deleted"})

    def _mint(self, request: BaseHTTPRequestHandler, body: bytes) -> None:
        import jwt

        try:
            token = json.loads(body)["token"]
            unverified = jwt.decode(token, options={"verify_signature": False})
        except (ValueError, KeyError, TypeError, jwt.PyJWTError):
            self.mint_failures.append("malformed request or token")
            send(request, 400, {"error": 'Expected JSON {"token": <OIDC token>}'})
            return
        for publisher in self.publishers:
            if unverified.get("iss") != publisher.issuer:
                continue
            try:
                jwks = jwt.PyJWKClient(f"{publisher.issuer}/.well-known/jwks")
                key = jwks.get_signing_key_from_jwt(token)
                claims = jwt.decode(
                    token,
                    key.key,
                    algorithms=["RS256"],
                    audience=publisher.audience,
                    issuer=publisher.issuer,
                    options={"require": ["exp", "iat", "iss", "aud"]},
                )
            except jwt.PyJWTError as exc:
                self.mint_failures.append(f"{type(exc).__name__}: {exc}")
                send(request, 401, {"error": f"Invalid OIDC token: {exc}"})
                return
            mismatched = [k for k, v in publisher.claims.items() if claims.get(k) != v]
            if mismatched:
                self.mint_failures.append(f"claims differ: {mismatched}")
                send(request, 403, {"error": "No trusted publisher matches this token"})
                return
            minted = f"pfx_tp_{secrets.token_hex(20)}"
            with self._lock:
                self._minted[minted] = _Minted(set(publisher.channels), time.time() + self.token_ttl)
            send(request, 200, minted)
            return
        self.mint_failures.append(f"unknown issuer {unverified.get('iss')!r}")
        send(request, 401, {"error": "Unknown token issuer"})

    def _serve(self, request: BaseHTTPRequestHandler, channel: str, subdir: str, name: str) -> None:
        with self._lock:
            files = self._channels.get(channel)
            if files is None:
                send(request, 404, {"error": "Channel not found"})
                return
            now = time.monotonic()
            visible = {fn: st for (s, fn), st in files.items() if s == subdir and st.visible_at <= now}
        if channel in self.private:
            token = self._token(request)
            valid = token in self.api_keys or (token is not None and token in self._minted)
            if not valid:
                send(request, 401, {"error": "Authentication required"}, {"WWW-Authenticate": "Bearer"})
                return
        if name == "repodata.json":
            if not visible and subdir != "noarch":
                send(request, 404, {"error": "Subdir not found"})  # [inferred]
                return
            send(request, 200, repodata(subdir, {fn: st.record for fn, st in visible.items()}))
            return
        attested = visible.get(name.removesuffix(".v0.sigs")) if name.endswith(".v0.sigs") else None
        if attested is not None and attested.attestation is not None:  # [inferred] a JSON list of bundles
            data = ("[" + attested.attestation + "]").encode()
            request.send_response(200)
            request.send_header("Content-Type", "application/json")
            request.send_header("Content-Length", str(len(data)))
            request.end_headers()
            if request.command != "HEAD":
                request.wfile.write(data)
            return
        stored = visible.get(name)
        if stored is None:
            send(request, 404, {"error": "File not found"})
            return
        send_file(request, stored.path)


@contextlib.contextmanager
def running(root: Path, **kwargs: Any) -> Iterator[PrefixServer]:
    server = PrefixServer(root, **kwargs)
    with server:
        yield server
