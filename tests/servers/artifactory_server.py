"""An Artifactory-protocol server for tests (never shipped in the cipub package): local conda
repositories, built from JFrog's documented REST API (https://jfrog.com/help/r/jfrog-rest-apis)
and the requests rattler-build's Artifactory uploader sends (``shared/reference/protocols.md`` §5).

Everything lives under ``/artifactory``::

    PUT    /{repo}/{path}                 Deploy Artifact: raw body (Content-Length or chunked);
                                          ``X-Checksum-Sha256`` / ``-Sha1`` / ``X-Checksum`` are
                                          checked against the bytes (409 on mismatch [inferred]);
                                          201 with ``checksums``. An existing path is replaced when
                                          the user may overwrite (the default, as for an admin),
                                          else 403 -- as Artifactory does.
    GET    /{repo}/{path}                 download (single byte ranges honoured)
    DELETE /{repo}/{path}                 204 / 404
    GET    /api/storage/{repo}[/{path}]   Folder Info (``children``) or File Info (``checksums``)
    GET    /api/repositories[?type=local] [{"key", "type", "packageType", "url"}]
    POST   /api/copy/{repo}/{path}?to=/{repo2}/{path2}[&dry=1]   Copy Item: 200 ``messages``
    GET    /api/conda/{repo}/{subdir}/repodata.json | {file}     the conda channel of a repository

Auth: ``Authorization: Bearer <token>`` or HTTP Basic ``user:password``; 401 otherwise.
Anonymous reads of ``/api/conda`` are allowed (``anonymous_read``) so installs need no token.
Errors use Artifactory's body ``{"errors": [{"status", "message"}]}``.

The real server recalculates conda metadata asynchronously (documented: up to 30 s); this one does
it on every read, and with ``index_delay`` a deployed or copied file stays out of repodata.json that
many seconds.
Hooks: ``requests`` (method, path), ``truth()`` (repo -> {subdir/file: sha256 of the bytes}).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.servers.prefix_server import ServerThread, package_record, read_body, repodata, send, send_file

PREFIX = "/artifactory"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class _Item:
    path: Path
    sha256: str
    sha1: str
    md5: str
    size: int
    created: str
    #: time.monotonic() from which the repository's conda index lists it (index_delay)
    indexed_at: float = 0.0


@dataclass
class ArtifactoryServer:
    root: Path
    repos: Iterable[str] = ()
    tokens: set[str] = field(default_factory=set)
    users: dict[str, str] = field(default_factory=dict)
    allow_overwrite: bool = True
    anonymous_read: bool = True
    #: seconds a new file stays out of the conda index (the real server indexes in the background)
    index_delay: float = 0.0

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._repos: dict[str, dict[str, _Item]] = {r: {} for r in self.repos}
        self.requests: list[tuple[str, str]] = []
        self._thread: ServerThread | None = None

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> ArtifactoryServer:
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

    def __enter__(self) -> ArtifactoryServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The Artifactory base URL, ``http://127.0.0.1:PORT/artifactory``."""
        assert self._thread is not None, "server not started"
        return self._thread.url + PREFIX

    def create_repo(self, key: str) -> None:
        with self._lock:
            self._repos.setdefault(key, {})

    def index_now(self) -> None:
        """The background indexer catches up: every stored file is listed from now on."""
        with self._lock:
            self.index_delay = 0.0
            for items in self._repos.values():
                for item in items.values():
                    item.indexed_at = 0.0

    def truth(self) -> dict[str, dict[str, str]]:
        with self._lock:
            snapshot = {r: dict(items) for r, items in self._repos.items()}
        return {
            repo: {p: hashlib.sha256(item.path.read_bytes()).hexdigest() for p, item in items.items()}
            for repo, items in snapshot.items()
        }

    # -- plumbing ---------------------------------------------------------------------------------
    @staticmethod
    def _error(request: BaseHTTPRequestHandler, status: int, message: str) -> None:
        send(request, status, {"errors": [{"status": status, "message": message}]})

    def _authenticated(self, request: BaseHTTPRequestHandler) -> bool:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            return value.strip() in self.tokens
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(value.strip()).decode().partition(":")
            except ValueError:
                return False
            return self.users.get(user) == password or password in self.tokens  # token as password
        return False

    def _dispatch(self, request: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(request.path)
        path = unquote(parts.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        with self._lock:
            self.requests.append((request.command, path))
        try:
            body = read_body(request) if request.command in ("PUT", "POST") else b""
            if not path.startswith(PREFIX + "/"):
                self._error(request, 404, "Not found")
                return
            rel = path[len(PREFIX) + 1 :]
            conda_read = rel.startswith("api/conda/") and request.command in ("GET", "HEAD")
            if not (conda_read and self.anonymous_read) and not self._authenticated(request):
                self._error(request, 401, "Bad credentials")
                return
            segments = [s for s in rel.split("/") if s]
            if segments[:2] == ["api", "repositories"] and request.command == "GET":
                self._repositories(request)
            elif segments[:2] == ["api", "storage"] and len(segments) >= 3 and request.command == "GET":
                self._storage(request, segments[2], "/".join(segments[3:]))
            elif segments[:2] == ["api", "copy"] and len(segments) >= 4 and request.command == "POST":
                self._copy(request, segments[2], "/".join(segments[3:]), query)
            elif segments[:2] == ["api", "conda"] and len(segments) == 5 and conda_read:
                self._conda(request, segments[2], segments[3], segments[4])
            elif segments and segments[0] != "api" and len(segments) >= 2:
                repo, item = segments[0], "/".join(segments[1:])
                if request.command == "PUT":
                    self._deploy(request, repo, item, body)
                elif request.command in ("GET", "HEAD"):
                    self._download(request, repo, item)
                elif request.command == "DELETE":
                    self._delete(request, repo, item)
                else:
                    self._error(request, 405, "Method not allowed")
            else:
                self._error(request, 404, "Not found")
        except (BrokenPipeError, ConnectionResetError):
            pass

    # -- handlers ---------------------------------------------------------------------------------
    def _repositories(self, request: BaseHTTPRequestHandler) -> None:
        with self._lock:
            keys = sorted(self._repos)
        base = f"http://{request.headers.get('Host', '127.0.0.1')}{PREFIX}"
        send(request, 200, [{"key": k, "type": "LOCAL", "packageType": "Conda", "url": f"{base}/{k}"} for k in keys])

    def _store(self, repo: str, item: str, data: bytes) -> _Item:
        target = self.root / repo / item
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}")
        tmp.write_bytes(data)
        tmp.replace(target)
        stored = _Item(
            target,
            hashlib.sha256(data).hexdigest(),
            hashlib.sha1(data).hexdigest(),  # noqa: S324 - Artifactory reports it
            hashlib.md5(data).hexdigest(),  # noqa: S324
            len(data),
            _now(),
            time.monotonic() + self.index_delay,
        )
        self._repos[repo][item] = stored
        return stored

    def _item_info(self, request: BaseHTTPRequestHandler, repo: str, item: str, stored: _Item) -> dict[str, Any]:
        base = f"http://{request.headers.get('Host', '127.0.0.1')}{PREFIX}"
        checksums = {"sha1": stored.sha1, "md5": stored.md5, "sha256": stored.sha256}
        return {
            "repo": repo,
            "path": f"/{item}",
            "created": stored.created,
            "createdBy": "cipub-test",
            "lastModified": stored.created,
            "downloadUri": f"{base}/{repo}/{item}",
            "uri": f"{base}/api/storage/{repo}/{item}",
            "mimeType": "application/octet-stream",
            "size": str(stored.size),
            "checksums": checksums,
            "originalChecksums": {"sha256": stored.sha256},
        }

    def _deploy(self, request: BaseHTTPRequestHandler, repo: str, item: str, data: bytes) -> None:
        with self._lock:
            if repo not in self._repos:
                self._error(request, 404, f"Repository {repo} not found")
                return
            expected = {
                "sha256": request.headers.get("X-Checksum-Sha256", "").lower(),
                "sha1": request.headers.get("X-Checksum-Sha1", "").lower(),
            }
            generic = request.headers.get("X-Checksum", "").lower()
            if generic:
                expected[{32: "md5", 40: "sha1", 64: "sha256"}.get(len(generic), "sha256")] = generic
            actual = {
                "sha256": hashlib.sha256(data).hexdigest(),
                "sha1": hashlib.sha1(data).hexdigest(),  # noqa: S324
                "md5": hashlib.md5(data).hexdigest(),  # noqa: S324
            }
            for kind, value in expected.items():
                if value and value != actual[kind]:
                    self._error(request, 409, f"Checksum error: received '{value}' but actually was '{actual[kind]}'")
                    return
            if item in self._repos[repo] and not self.allow_overwrite:
                self._error(request, 403, "Not enough permissions to delete/overwrite artifact")
                return
            stored = self._store(repo, item, data)
        send(request, 201, self._item_info(request, repo, item, stored))

    def _download(self, request: BaseHTTPRequestHandler, repo: str, item: str) -> None:
        with self._lock:
            stored = self._repos.get(repo, {}).get(item)
        if stored is None:
            self._error(request, 404, "File not found.")
            return
        send_file(request, stored.path)

    def _delete(self, request: BaseHTTPRequestHandler, repo: str, item: str) -> None:
        with self._lock:
            stored = self._repos.get(repo, {}).pop(item, None)
        if stored is None:
            self._error(request, 404, "Could not locate artifact")
            return
        stored.path.unlink(missing_ok=True)
        send(request, 204)

    def _storage(self, request: BaseHTTPRequestHandler, repo: str, item: str) -> None:
        with self._lock:
            items = self._repos.get(repo)
            if items is None:
                self._error(request, 404, f"Repository {repo} not found")
                return
            stored = items.get(item) if item else None
            if stored is not None:
                info = self._item_info(request, repo, item, stored)
                send(request, 200, info)
                return
            prefix = f"{item}/" if item else ""
            children: dict[str, bool] = {}
            for key in items:
                if key.startswith(prefix):
                    head, sep, _rest = key[len(prefix) :].partition("/")
                    children[head] = children.get(head, False) or bool(sep)
        if item and not children:
            self._error(request, 404, "Unable to find item")
            return
        base = f"http://{request.headers.get('Host', '127.0.0.1')}{PREFIX}"
        send(
            request,
            200,
            {
                "repo": repo,
                "path": f"/{item}",
                "created": _now(),
                "uri": f"{base}/api/storage/{repo}/{item}".rstrip("/"),
                "children": [{"uri": f"/{name}", "folder": folder} for name, folder in sorted(children.items())],
            },
        )

    def _copy(self, request: BaseHTTPRequestHandler, repo: str, item: str, query: dict[str, list[str]]) -> None:
        to = query.get("to", [""])[-1].strip("/")
        dest_repo, _, dest_item = to.partition("/")
        dry = query.get("dry", ["0"])[-1] in ("1", "true")
        with self._lock:
            stored = self._repos.get(repo, {}).get(item)
            if stored is None:
                self._error(request, 404, f"Could not find source item {repo}/{item}")
                return
            if dest_repo not in self._repos or not dest_item:
                self._error(request, 400, f"Target repository {dest_repo or '?'} does not exist")  # [inferred]
                return
            if dest_item in self._repos[dest_repo] and not self.allow_overwrite:
                self._error(request, 403, "Not enough permissions to overwrite the target")
                return
            if not dry:
                self._store(dest_repo, dest_item, stored.path.read_bytes())
        send(
            request,
            200,
            {
                "messages": [
                    {
                        "level": "INFO",
                        "message": f"copying {repo}:{item} to {dest_repo}:{dest_item} completed successfully, "
                        "1 artifacts and 0 folders were copied",
                    }
                ]
            },
        )

    def _conda(self, request: BaseHTTPRequestHandler, repo: str, subdir: str, name: str) -> None:
        with self._lock:
            items = self._repos.get(repo)
            if items is None:
                self._error(request, 404, f"Repository {repo} not found")
                return
            files = {key.split("/", 1)[1]: st for key, st in items.items() if key.startswith(f"{subdir}/")}
        if name == "repodata.json":
            records = {}
            now = time.monotonic()
            for filename, stored in files.items():
                if stored.indexed_at > now:
                    continue  # not indexed yet
                try:
                    records[filename] = package_record(filename, stored.path.read_bytes())
                except ValueError:
                    continue  # not a conda package: not in the index
            if not records and subdir != "noarch":
                self._error(request, 404, "Not found")
                return
            send(request, 200, repodata(subdir, records))
            return
        stored = files.get(name)
        if stored is None:
            self._error(request, 404, "File not found.")
            return
        send_file(request, stored.path)
