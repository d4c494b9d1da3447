"""A Package Security Manager (Anaconda Server) protocol server for tests (never shipped).

Built from the documented API only: the Anaconda Server 6.5 OpenAPI document and the PSM user
guides (``shared/reference/protocols.md`` §2). No real PSM and no PSM client (conda-repo-cli is
not installable here) could be run against it, so its fidelity rests on that documentation; the
conda-serving half is checked by py-rattler, which solves and installs from it. Where the
documents are silent, the choice made here is marked "[inferred]".

Routes (all under ``/api``; ``{sc}`` = ``/subchannels/{sub}``, optional)::

    GET|POST        /channels                          ?q= &offset= &limit=  ({total_count, items})
    GET|DELETE      /channels/{c}
    GET|POST        /channels/{c}/subchannels
    GET|DELETE      /channels/{c}/subchannels/{s}
    GET             /channels/{c}{sc}/artifacts        ?q= &only_names= &offset= &limit=
    POST            /channels/{c}{sc}/artifacts        multipart: filetype=conda1, content=<file>
                                                        201 first upload, 204 subsequent upload
    GET|DELETE      /channels/{c}{sc}/artifacts/{family}/{name}
    GET             /channels/{c}{sc}/artifacts/{family}/{name}/files   ?ckey= &version= &offset= &limit=
    GET             /channels/{c}{sc}/artifacts/{family}/{name}/files/{ckey}
    PUT             /channels/{c}{sc}/artifacts/bulk   {action: copy|move|delete, target_channel,
                                                        target_subchannel, items: [{name, family, ckey?}]} -> 202
    GET             /repo/{c}[/{s}]/{subdir}/repodata.json | {file}     conda channel serving

Auth: ``X-Auth: <token>`` (the ``user_token`` scheme) or ``Authorization: Bearer <token>`` (the
``jwt`` scheme; here any configured token). Missing/unknown token on a write -> 401; a read-only
token writing -> 403. Public channels are readable anonymously; others need a token.

[inferred] choices:
- A conda file's ``metadata`` is its index.json plus ``sha256``, ``md5`` and ``size`` computed by
  the server (the shape PSM's signature-verification request uses for conda metadata).
- Uploading a ckey that exists answers 204 and *replaces* the bytes (the OpenAPI's "successful
  subsequent file uploads"): the worst reading, so clients must check before they upload.
  ``duplicate_upload="reject"`` answers 409 instead.
- Bulk actions are validated at once (404 for an unknown target or item) and applied in the
  background after ``bulk_delay`` seconds (the API answers 202 Accepted); a copy never replaces
  a different file already at the target (that item is skipped), identical files are a no-op.
- New subchannels inherit the parent channel's privacy; new channels default to ``private``.

Test hooks: ``requests`` (method, path) log, ``truth(channel)`` (the stored state, read without
HTTP), ``index_delay`` (uploads become visible after a delay, like an asynchronous indexer),
``file_sha256_in_metadata`` (False to omit sha256 from listings).

Run by hand: ``python -m tests.servers.psm_server --token T --port 8124``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import mmap
import re
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from conda_package_streaming import package_streaming

NAME_RE = re.compile(r"^[a-z][a-z0-9_\-]*$")
FAMILIES = frozenset(
    {"anaconda_project", "anaconda_env", "cve", "conda", "python", "cran", "notebook", "docker", "sbom"}
)
SUBDIRS = frozenset(
    {"noarch", "linux-64", "linux-aarch64", "linux-ppc64le", "linux-s390x", "linux-32", "linux-armv7l",
     "osx-64", "osx-arm64", "win-64", "win-32", "win-arm64", "emscripten-wasm32", "wasi-wasm32"}
)  # fmt: skip
_CHUNK = 256 * 1024


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


# --------------------------------------------------------------------------------------------
# state


@dataclass
class FileRec:
    ckey: str  # "<subdir>/<filename>"
    name: str
    metadata: dict[str, Any]  # index.json + sha256, md5, size
    blob: str  # sha256 of the stored bytes
    size: int
    created_at: str = field(default_factory=_now)
    visible_at: float = 0.0  # monotonic time from which listings show it (index_delay)

    @property
    def subdir(self) -> str:
        return self.ckey.split("/", 1)[0]

    @property
    def filename(self) -> str:
        return self.ckey.split("/", 1)[1]


@dataclass
class Place:
    """A channel or a subchannel: where files live."""

    name: str
    privacy: str
    description: str = ""
    parent: str | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created: str = field(default_factory=_now)
    files: dict[str, FileRec] = field(default_factory=dict)  # ckey -> file
    subchannels: dict[str, Place] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "privacy": self.privacy,
            "channel_type": "default",
            "created": self.created,
            "updated": self.created,
        }
        if self.parent is not None:
            data["parent"] = self.parent
        else:
            data["artifact_count"] = len({f.name for f in self.files.values()})
        return data


def read_index(path: Path, filename: str) -> dict[str, Any]:
    """info/index.json of a stored package, or ApiError 400."""
    try:
        with path.open("rb") as fh:
            for tar, member in package_streaming.stream_conda_info(filename, fh):
                if member.name == "info/index.json":
                    extracted = tar.extractfile(member)
                    if extracted is not None:
                        data = json.loads(extracted.read())
                        if isinstance(data, dict):
                            return data
    except Exception as exc:
        raise ApiError(400, "invalid-artifact", f"cannot read {filename}: {type(exc).__name__}") from exc
    raise ApiError(400, "invalid-artifact", f"{filename} has no info/index.json")


class Store:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs = root / "blobs"
        self.blobs.mkdir(parents=True, exist_ok=True)
        self.channels: dict[str, Place] = {}
        self.lock = threading.RLock()

    def channel(self, name: str) -> Place:
        place = self.channels.get(name)
        if place is None:
            raise ApiError(404, "not-found", f"channel {name!r} not found")
        return place

    def place(self, channel: str, sub: str | None) -> Place:
        parent = self.channel(channel)
        if sub is None:
            return parent
        place = parent.subchannels.get(sub)
        if place is None:
            raise ApiError(404, "not-found", f"subchannel {channel}/{sub} not found")
        return place

    def add_blob(self, source: Path) -> tuple[str, str, int]:
        sha256, md5, size = hashlib.sha256(), hashlib.md5(), 0  # noqa: S324 - repodata field
        with source.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                sha256.update(chunk)
                md5.update(chunk)
                size += len(chunk)
        digest = sha256.hexdigest()
        target = self.blobs / digest
        if not target.exists():
            shutil.copyfile(source, target)
        return digest, md5.hexdigest(), size


# --------------------------------------------------------------------------------------------
# multipart (streamed to disk, parsed through mmap so memory stays flat)


def parse_multipart(body: Path, boundary: bytes, workdir: Path) -> tuple[dict[str, str], dict[str, tuple[str, Path]]]:
    fields: dict[str, str] = {}
    files: dict[str, tuple[str, Path]] = {}
    if body.stat().st_size == 0:
        raise ApiError(400, "bad-request", "empty multipart body")
    delimiter = b"--" + boundary
    with body.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
        pos = data.find(delimiter)
        if pos < 0:
            raise ApiError(400, "bad-request", "multipart boundary not found")
        while True:
            pos += len(delimiter)
            if data[pos : pos + 2] == b"--":
                break
            pos += 2  # CRLF after the delimiter
            head_end = data.find(b"\r\n\r\n", pos)
            if head_end < 0:
                raise ApiError(400, "bad-request", "truncated multipart headers")
            headers = data[pos:head_end].decode("utf-8", "replace")
            start = head_end + 4
            end = data.find(b"\r\n" + delimiter, start)
            if end < 0:
                raise ApiError(400, "bad-request", "truncated multipart body")
            disposition = next((h for h in headers.split("\r\n") if h.lower().startswith("content-disposition:")), "")
            name = re.search(r'\bname="([^"]*)"', disposition)
            filename = re.search(r'\bfilename="([^"]*)"', disposition)
            if name is None:
                raise ApiError(400, "bad-request", "multipart part without a name")
            if filename is not None:
                target = workdir / f"part-{uuid.uuid4().hex}"
                with target.open("wb") as out:
                    for offset in range(start, end, _CHUNK):
                        out.write(data[offset : min(offset + _CHUNK, end)])
                files[name.group(1)] = (Path(filename.group(1)).name, target)
            else:
                fields[name.group(1)] = data[start:end].decode("utf-8")
            pos = end + 2
    return fields, files


# --------------------------------------------------------------------------------------------
# the server


class PSMServer:
    """State, hooks, and a ThreadingHTTPServer on 127.0.0.1."""

    def __init__(
        self,
        root: Path,
        tokens: dict[str, bool] | None = None,
        *,
        bulk_delay: float = 0.05,
        index_delay: float = 0.0,
        duplicate_upload: str = "replace",
        file_sha256_in_metadata: bool = True,
    ) -> None:
        self.store = Store(root)
        self.workdir = root / "incoming"
        self.workdir.mkdir(parents=True, exist_ok=True)
        #: token -> may it write?
        self.tokens: dict[str, bool] = dict(tokens or {})
        self.bulk_delay = bulk_delay
        self.index_delay = index_delay
        self.duplicate_upload = duplicate_upload
        self.file_sha256_in_metadata = file_sha256_in_metadata
        self.requests: list[tuple[str, str]] = []
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._pending: list[threading.Timer] = []

    # -- lifecycle ------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._httpd is not None
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self, port: int = 0) -> PSMServer:
        self._httpd = _HTTPServer(("127.0.0.1", port), _Handler)
        self._httpd.app = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="psm-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        for timer in self._pending:
            timer.cancel()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def settle(self, timeout: float = 10.0) -> None:
        """Wait until every accepted bulk action has been applied (for assertions)."""
        deadline = time.monotonic() + timeout
        for timer in list(self._pending):
            timer.join(max(0.0, deadline - time.monotonic()))

    # -- admin side (no HTTP) -----------------------------------------------------------------
    def create_channel(self, name: str, privacy: str = "public") -> None:
        with self.store.lock:
            self.store.channels[name] = Place(name, privacy)

    def truth(self, channel: str) -> dict[str, dict[str, str]]:
        """{"main" | subchannel: {ckey: sha256 of the stored bytes}}, visible or not."""
        with self.store.lock:
            parent = self.store.channels.get(channel)
            if parent is None:
                return {}
            places = {"main": parent, **parent.subchannels}
            return {
                label: {ckey: rec.blob for ckey, rec in sorted(place.files.items())}
                for label, place in places.items()
                if place.files
            }

    # -- auth -----------------------------------------------------------------------------------
    def token_of(self, headers: Any) -> str | None:
        token = headers.get("X-Auth")
        if not token:
            auth = headers.get("Authorization", "")
            if auth.lower().startswith("bearer "):
                token = auth[7:].strip()
        return token or None

    def require_write(self, token: str | None) -> None:
        if token is None or token not in self.tokens:
            raise ApiError(401, "unauthenticated", "no token is provided or the token is invalid")
        if not self.tokens[token]:
            raise ApiError(403, "forbidden", "the token does not allow this action")

    def require_read(self, token: str | None, place: Place) -> None:
        if place.privacy == "public":
            return
        if token is None or token not in self.tokens:
            raise ApiError(401, "unauthenticated", "no token is provided or the token is invalid")

    # -- channels -------------------------------------------------------------------------------
    def list_channels(self, query: dict[str, list[str]]) -> dict[str, Any]:
        with self.store.lock:
            items = sorted(self.store.channels.values(), key=lambda p: p.name)
            q = _one(query, "q")
            if q:
                items = [p for p in items if q in p.name]
            return _page([p.to_json() for p in items], query)

    def post_channel(self, token: str | None, body: dict[str, Any], parent: str | None) -> dict[str, Any]:
        self.require_write(token)
        name = str(body.get("name", ""))
        if not NAME_RE.match(name):
            raise ApiError(400, "bad-request", f"invalid channel name {name!r}")
        privacy = body.get("privacy")
        if privacy not in (None, "private", "authenticated", "public"):
            raise ApiError(400, "bad-request", f"invalid privacy {privacy!r}")
        with self.store.lock:
            if parent is None:
                if name in self.store.channels:
                    raise ApiError(409, "conflict", f"channel {name!r} already exists")
                place = Place(name, privacy or "private", str(body.get("description", "")))
                self.store.channels[name] = place
            else:
                owner = self.store.channel(parent)
                if name in owner.subchannels:
                    raise ApiError(409, "conflict", f"subchannel {parent}/{name} already exists")
                place = Place(name, privacy or owner.privacy, str(body.get("description", "")), parent=parent)
                owner.subchannels[name] = place
            return place.to_json()

    # -- artifacts ------------------------------------------------------------------------------
    def _visible(self, place: Place) -> list[FileRec]:
        now = time.monotonic()
        return [f for f in place.files.values() if f.visible_at <= now]

    def _file_json(self, channel: str, place: Place, rec: FileRec) -> dict[str, Any]:
        metadata = dict(rec.metadata)
        if not self.file_sha256_in_metadata:
            metadata.pop("sha256", None)
        repo = f"{channel}/{place.name}" if place.parent else channel
        return {
            "channel": channel,
            "subchannel": place.name if place.parent else None,
            "ckey": rec.ckey,
            "family": "conda",
            "name": rec.name,
            "metadata": metadata,
            "size": rec.size,
            "url": f"/api/repo/{repo}/{rec.ckey}",
            "created_at": rec.created_at,
            "updated_at": rec.created_at,
        }

    def list_artifacts(self, channel: str, place: Place, query: dict[str, list[str]]) -> dict[str, Any]:
        names: dict[str, list[FileRec]] = {}
        for rec in self._visible(place):
            names.setdefault(rec.name, []).append(rec)
        q = _one(query, "q")
        only = {n for v in query.get("only_names", []) for n in v.split(",") if n}
        items = []
        for name, recs in sorted(names.items()):
            if (q and q not in name) or (only and name not in only):
                continue
            latest = max(recs, key=lambda r: r.created_at)
            items.append(
                {
                    "name": name,
                    "family": "conda",
                    "channel": channel,
                    "subchannel": place.name if place.parent else None,
                    "privacy": place.privacy,
                    "file_count": len(recs),
                    "download_count": 0,
                    "metadata": {"latest_version": latest.metadata.get("version")},
                    "updated_at": latest.created_at,
                }
            )
        return _page(items, query)

    def artifact_files(
        self, channel: str, place: Place, family: str, name: str, query: dict[str, list[str]]
    ) -> dict[str, Any]:
        if family not in FAMILIES:
            raise ApiError(400, "bad-request", f"unknown artifact family {family!r}")
        recs = [r for r in self._visible(place) if r.name == name and family == "conda"]
        if not recs:
            raise ApiError(404, "not-found", f"artifact {family}/{name} not found")
        ckey, version = _one(query, "ckey"), _one(query, "version")
        recs = [
            r for r in recs if (not ckey or r.ckey == ckey) and (not version or r.metadata.get("version") == version)
        ]
        return _page([self._file_json(channel, place, r) for r in sorted(recs, key=lambda r: r.ckey)], query)

    def upload(
        self, token: str | None, place: Place, fields: dict[str, str], files: dict[str, tuple[str, Path]]
    ) -> int:
        self.require_write(token)
        if fields.get("filetype") != "conda1":
            raise ApiError(
                400, "bad-request", f"unsupported filetype {fields.get('filetype')!r} (this server keeps conda1)"
            )
        if "content" not in files:
            raise ApiError(400, "bad-request", "the multipart field 'content' is required")
        filename, part = files["content"]
        if not filename.endswith((".conda", ".tar.bz2")):
            raise ApiError(400, "bad-request", f"{filename} is not a conda package")
        index = read_index(part, filename)
        stem = filename[: -len(".conda")] if filename.endswith(".conda") else filename[: -len(".tar.bz2")]
        expected = f"{index.get('name')}-{index.get('version')}-{index.get('build')}"
        if stem != expected:
            raise ApiError(400, "invalid-artifact", f"{filename} does not match its index.json ({expected})")
        subdir = str(index.get("subdir") or "noarch")
        if subdir not in SUBDIRS:
            raise ApiError(400, "invalid-artifact", f"unknown subdir {subdir!r}")
        digest, md5, size = self.store.add_blob(part)
        ckey = f"{subdir}/{filename}"
        metadata = {**index, "sha256": digest, "md5": md5, "size": size}
        with self.store.lock:
            existing = place.files.get(ckey)
            if existing is not None and self.duplicate_upload == "reject" and existing.blob != digest:
                raise ApiError(409, "conflict", f"{ckey} already exists")
            place.files[ckey] = FileRec(
                ckey, str(index["name"]), metadata, digest, size, visible_at=time.monotonic() + self.index_delay
            )
        return 201 if existing is None else 204

    def bulk(self, token: str | None, channel: str, place: Place, body: dict[str, Any]) -> None:
        self.require_write(token)
        action = body.get("action")
        if action not in ("copy", "move", "delete"):
            raise ApiError(400, "bad-request", f"invalid bulk action {action!r}")
        items = body.get("items")
        if not isinstance(items, list) or not items:
            raise ApiError(400, "bad-request", "items must be a non-empty list")
        with self.store.lock:
            target: Place | None = None
            if action in ("copy", "move"):
                target_channel = body.get("target_channel")
                if not isinstance(target_channel, str):
                    raise ApiError(400, "bad-request", "target_channel is required for copy and move")
                target = self.store.place(target_channel, body.get("target_subchannel"))
                if target is place:
                    raise ApiError(400, "bad-request", "source and target are the same")
            chosen: list[FileRec] = []
            for item in items:
                if not isinstance(item, dict) or item.get("family") != "conda" or not item.get("name"):
                    raise ApiError(400, "bad-request", f"invalid item {item!r}")
                recs = [r for r in place.files.values() if r.name == item["name"]]
                if item.get("ckey"):
                    recs = [r for r in recs if r.ckey == item["ckey"]]
                if not recs:
                    raise ApiError(404, "not-found", f"artifact file {item.get('ckey') or item['name']} not found")
                chosen.extend(recs)

        def apply() -> None:
            with self.store.lock:
                for rec in chosen:
                    if target is not None:
                        there = target.files.get(rec.ckey)
                        if there is None:
                            target.files[rec.ckey] = FileRec(rec.ckey, rec.name, dict(rec.metadata), rec.blob, rec.size)
                        elif there.blob != rec.blob:
                            continue  # never replace a different file; a move keeps its source then
                    if action in ("move", "delete"):
                        place.files.pop(rec.ckey, None)

        timer = threading.Timer(self.bulk_delay, apply)
        timer.daemon = True
        self._pending.append(timer)
        timer.start()

    # -- conda serving --------------------------------------------------------------------------
    def resolve_repo(self, parts: list[str]) -> tuple[Place, str]:
        """/repo/{c}[/{s}]/{rest}: a subchannel if the second segment names one, else a subdir."""
        if len(parts) < 2:
            raise ApiError(404, "not-found", "not found")
        with self.store.lock:
            channel = self.store.channel(parts[0])
            if len(parts) >= 3 and parts[1] in channel.subchannels and parts[1] not in SUBDIRS:
                return channel.subchannels[parts[1]], "/".join(parts[2:])
            return channel, "/".join(parts[1:])

    def repodata(self, place: Place, subdir: str) -> bytes:
        packages: dict[str, Any] = {}
        conda: dict[str, Any] = {}
        with self.store.lock:
            for rec in self._visible(place):
                if rec.subdir != subdir:
                    continue
                (conda if rec.filename.endswith(".conda") else packages)[rec.filename] = dict(rec.metadata)
        doc = {
            "info": {"subdir": subdir},
            "packages": packages,
            "packages.conda": conda,
            "removed": [],
            "repodata_version": 1,
        }
        return json.dumps(doc, indent=1, sort_keys=True).encode()


def _one(query: dict[str, list[str]], key: str) -> str | None:
    values = query.get(key)
    return values[0] if values else None


def _page(items: list[dict[str, Any]], query: dict[str, list[str]]) -> dict[str, Any]:
    try:
        offset = int(_one(query, "offset") or 0)
        limit = int(_one(query, "limit") or 100)
    except ValueError as exc:
        raise ApiError(400, "bad-parameter", "offset and limit must be integers") from exc
    if offset < 0 or limit < 1:
        raise ApiError(400, "bad-parameter", "offset must be >= 0 and limit >= 1")
    return {"total_count": len(items), "items": items[offset : offset + limit]}


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    app: PSMServer


_ARTIFACTS = re.compile(
    r"^/api/channels/(?P<c>[^/]+)(?:/subchannels/(?P<s>[^/]+))?/artifacts"
    r"(?:/(?P<bulk>bulk)|/(?P<family>[^/]+)/(?P<name>[^/]+)(?P<files>/files(?:/(?P<ckey>.+))?)?)?$"
)
_SUBCHANNELS = re.compile(r"^/api/channels/(?P<c>[^/]+)/subchannels(?:/(?P<s>[^/]+))?$")
_CHANNEL = re.compile(r"^/api/channels(?:/(?P<c>[^/]+))?$")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    # -- plumbing -------------------------------------------------------------------------------
    def _send(self, status: int, body: bytes = b"", content_type: str = "application/json") -> None:
        self.send_response(status)
        if status != 204:
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and status != 204 and self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, data: Any) -> None:
        self._send(status, json.dumps(data).encode())

    def _error(self, exc: ApiError) -> None:
        self._json(exc.status, {"code": exc.code, "message": exc.message, "status": exc.status})

    def _body_json(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            data = json.loads(raw or b"{}")
        except ValueError as exc:
            raise ApiError(400, "bad-request", "invalid JSON body") from exc
        if not isinstance(data, dict):
            raise ApiError(400, "bad-request", "the body must be a JSON object")
        return data

    def _spool_body(self, workdir: Path) -> Path:
        length = int(self.headers.get("Content-Length") or 0)
        target = workdir / f"body-{uuid.uuid4().hex}"
        with target.open("wb") as out:
            remaining = length
            while remaining:
                chunk = self.rfile.read(min(_CHUNK, remaining))
                if not chunk:
                    raise ApiError(400, "bad-request", "body shorter than Content-Length")
                out.write(chunk)
                remaining -= len(chunk)
        return target

    def _dispatch(self) -> None:
        app = self.server.app
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        query = parse_qs(parts.query)
        app.requests.append((self.command, path))
        token = app.token_of(self.headers)
        try:
            self._route(app, path, query, token)
        except ApiError as exc:
            if self.command in ("POST", "PUT"):
                self.close_connection = True  # the body may be unread
            self._error(exc)

    def _route(self, app: PSMServer, path: str, query: dict[str, list[str]], token: str | None) -> None:
        method = self.command
        if path.startswith("/api/repo/") and method in ("GET", "HEAD"):
            return self._repo(app, path[len("/api/repo/") :].split("/"), token)
        if m := _ARTIFACTS.match(path):
            return self._artifacts(app, m, method, query, token)
        if m := _SUBCHANNELS.match(path):
            return self._subchannels(app, m["c"], m["s"], method, token)
        if m := _CHANNEL.match(path):
            return self._channels(app, m["c"], method, query, token)
        raise ApiError(404, "not-found", f"no route for {method} {path}")

    def _channels(
        self, app: PSMServer, name: str | None, method: str, query: dict[str, list[str]], token: str | None
    ) -> None:
        if name is None:
            if method == "GET":
                return self._json(200, app.list_channels(query))
            if method == "POST":
                return self._json(201, app.post_channel(token, self._body_json(), None))
        elif method == "GET":
            with app.store.lock:
                place = app.store.channel(name)
                app.require_read(token, place)
                return self._json(200, place.to_json())
        elif method == "DELETE":
            app.require_write(token)
            with app.store.lock:
                app.store.channel(name)
                del app.store.channels[name]
            return self._send(204)
        raise ApiError(405, "method-not-allowed", f"{method} not allowed here")

    def _subchannels(self, app: PSMServer, channel: str, sub: str | None, method: str, token: str | None) -> None:
        if sub is None:
            if method == "GET":
                with app.store.lock:
                    parent = app.store.channel(channel)
                    app.require_read(token, parent)
                    items = [p.to_json() for _, p in sorted(parent.subchannels.items())]
                return self._json(200, _page(items, parse_qs(urlsplit(self.path).query)))
            if method == "POST":
                return self._json(201, app.post_channel(token, self._body_json(), channel))
        elif method == "GET":
            with app.store.lock:
                place = app.store.place(channel, sub)
                app.require_read(token, place)
                return self._json(200, place.to_json())
        elif method == "DELETE":
            app.require_write(token)
            with app.store.lock:
                app.store.place(channel, sub)
                del app.store.channels[channel].subchannels[sub]
            return self._send(204)
        raise ApiError(405, "method-not-allowed", f"{method} not allowed here")

    def _artifacts(
        self, app: PSMServer, m: re.Match[str], method: str, query: dict[str, list[str]], token: str | None
    ) -> None:
        channel, sub = m["c"], m["s"]
        with app.store.lock:
            place = app.store.place(channel, sub)
        if m["bulk"]:
            if method != "PUT":
                raise ApiError(405, "method-not-allowed", "bulk takes PUT")
            app.bulk(token, channel, place, self._body_json())
            return self._send(202, b"")
        if m["family"] is None:
            if method == "GET":
                app.require_read(token, place)
                with app.store.lock:
                    return self._json(200, app.list_artifacts(channel, place, query))
            if method == "POST":
                app.require_write(token)  # before reading a possibly large body
                ctype = self.headers.get("Content-Type", "")
                found = re.search(r'boundary="?([^";]+)"?', ctype)
                if not ctype.startswith("multipart/form-data") or found is None:
                    raise ApiError(400, "bad-request", "expected multipart/form-data")
                with tempfile.TemporaryDirectory(dir=app.workdir) as tmp:
                    body = self._spool_body(Path(tmp))
                    fields, files = parse_multipart(body, found.group(1).encode(), Path(tmp))
                    status = app.upload(token, place, fields, files)
                return self._send(status, b"")
            raise ApiError(405, "method-not-allowed", f"{method} not allowed here")
        family, name = m["family"], m["name"]
        app.require_read(token, place)
        with app.store.lock:
            if m["files"] and method == "GET":
                if m["ckey"]:
                    data = app.artifact_files(channel, place, family, name, {"ckey": [m["ckey"]]})
                    if not data["items"]:
                        raise ApiError(404, "not-found", f"file {m['ckey']} not found")
                    return self._json(200, data["items"][0])
                return self._json(200, app.artifact_files(channel, place, family, name, query))
            if not m["files"] and method == "GET":
                listed = app.list_artifacts(channel, place, {"only_names": [name], "limit": ["1"]})
                if not listed["items"] or family != "conda":
                    raise ApiError(404, "not-found", f"artifact {family}/{name} not found")
                return self._json(200, listed["items"][0])
            if not m["files"] and method == "DELETE":
                app.require_write(token)
                doomed = [k for k, r in place.files.items() if r.name == name]
                if not doomed:
                    raise ApiError(404, "not-found", f"artifact {family}/{name} not found")
                for key in doomed:
                    del place.files[key]
                return self._send(204)
        raise ApiError(405, "method-not-allowed", f"{method} not allowed here")

    def _repo(self, app: PSMServer, parts: list[str], token: str | None) -> None:
        place, rest = app.resolve_repo(parts)
        app.require_read(token, place)
        subdir, _, filename = rest.partition("/")
        if subdir not in SUBDIRS or not filename:
            raise ApiError(404, "not-found", f"{rest} not found")
        if filename == "repodata.json":
            self._send(200, app.repodata(place, subdir))
            return
        with app.store.lock:
            rec = place.files.get(f"{subdir}/{filename}")
            visible = rec is not None and rec.visible_at <= time.monotonic()
        if rec is None or not visible:
            raise ApiError(404, "not-found", f"{rest} not found")
        blob = app.store.blobs / rec.blob
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(rec.size))
        self.end_headers()
        if self.command == "GET":
            with blob.open("rb") as fh:
                shutil.copyfileobj(fh, self.wfile, _CHUNK)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _dispatch


@contextlib.contextmanager
def serve_psm(root: Path, tokens: dict[str, bool] | None = None, **options: Any) -> Iterator[PSMServer]:
    server = PSMServer(root, tokens, **options).start()
    try:
        yield server
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=None)
    parser.add_argument("--token", action="append", default=[], help="a write token (repeatable)")
    parser.add_argument("--channel", action="append", default=[], help="create a public channel")
    parser.add_argument("--port", type=int, default=8124)
    args = parser.parse_args()
    root = args.root or Path(tempfile.mkdtemp(prefix="psm-"))
    server = PSMServer(root, dict.fromkeys(args.token, True)).start(args.port)
    for name in args.channel:
        server.create_channel(name)
    print(f"PSM protocol server at {server.url}/api (root {root})")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
