"""An anaconda.org-protocol server for tests and benchmarks (never shipped in the cipub package).

It speaks the binstar REST API as anaconda-client, rattler-build's uploader and cipub use it
(see ``shared/reference/protocols.md`` §1), stores package files on disk, and serves each owner's
labels as conda channels, the way ``conda.anaconda.org`` does::

    HEAD /                                         reachability
    GET  /user, /user/{login}, /users/{login}/orgs, /packages/{owner}
    GET|DELETE /dist/{owner}/{pkg}/{ver}/{subdir}/{file}   (also .../-/{dist_id} for DELETE)
    GET|POST|PATCH|DELETE /package/{owner}/{pkg};  GET /package/{owner}/{pkg}/files
    GET|POST|PATCH|DELETE /release/{owner}/{pkg}/{ver}
    POST /stage/{owner}/{pkg}/{ver}/{basename}     -> {post_url, form_data, dist_id}; 409 if the file exists
    POST /s3/upload                                the S3-like form POST: 201, checks Content-MD5 and size
    POST /commit/{owner}/{pkg}/{ver}/{basename}    {"dist_id"} -> the file becomes visible
    GET  /channels/{owner}                         labels
    GET|POST|DELETE /channels/{owner}/{label}      show / add label / remove label ({package, version, basename})
    POST /channels/{owner}/{label}/copy/{to};  POST|DELETE /channels/{owner}/{label}/lock
    POST|PUT|PATCH /copy/package/{owner}/{pkg}/{ver}/[{basename}]  {to_owner, from_channel, to_channel}
    GET  /download/{owner}/{pkg}/{ver}/{basename}  302 to the stored object
    GET  [/t/{token}]/{owner}[/label/{label}]/{subdir}/repodata.json | {file}   (conda channels)

Where the real server's behaviour is not documented, the choice made here is marked "[inferred]".

Test hooks: ``anonymous_read=False`` (conda channels only through ``/t/{token}/``, as private
channels on anaconda.org), ``latency`` (seconds added to every response, for WAN-like benchmarks), ``faults``
(a seeded :class:`FaultPlan` failing a fraction of requests: 5xx, 429, connection resets before
or after processing, stalls past the client's read timeout), ``requests`` (the (method, path) log),
``truth()`` / ``file_records()`` / ``verify_storage()`` (the server's own state, read without
HTTP), ``add_org()`` (owners a user may write to) and ``seed_file()`` (big channels for benchmarks,
without uploading). Requests cost the same whatever the channel's size (files are indexed by
package and by owner; repodata is cached until the next change).

The server runs in a thread of the calling process. Clients that hold the GIL while they talk to
it -- py-rattler-build's ``upload_package_to_anaconda`` does -- must run in a child process.

Run standalone for manual experiments::

    python -m tests.servers.anaconda_server --root /tmp/ac --token T --owner alice --port 8123
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import hmac
import json
import os
import random
import re
import shutil
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import parse_qs, quote, unquote, urlsplit

#: keys of a stored file's attrs that go into repodata (the rest is anaconda.org decoration)
REPODATA_KEYS = (
    "build",
    "build_number",
    "depends",
    "constrains",
    "license",
    "license_family",
    "noarch",
    "subdir",
    "timestamp",
    "track_features",
    "features",
    "platform",
    "arch",
    "python_site_packages_path",
)
#: first path segments that are API routes, so they cannot be owners of conda channels
API_ROOTS = frozenset(
    {
        "user",
        "users",
        "packages",
        "package",
        "dist",
        "release",
        "stage",
        "commit",
        "channels",
        "copy",
        "download",
        "s3",
        "authentication",
        "authentications",
        "scopes",
        "t",
    }
)
KNOWN_SUBDIRS = frozenset(
    {
        "noarch",
        "linux-64",
        "linux-aarch64",
        "linux-ppc64le",
        "linux-s390x",
        "linux-32",
        "linux-armv7l",
        "osx-64",
        "osx-arm64",
        "win-64",
        "win-32",
        "win-arm64",
        "emscripten-wasm32",
        "wasi-wasm32",
    }
)
_CHUNK = 256 * 1024
_FIELD_LIMIT = 1024 * 1024
_SECRET = b"anaconda-test-server-s3-signing-key"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --------------------------------------------------------------------------------------------
# state


@dataclass
class PackageRec:
    owner: str
    name: str
    public: bool = True
    public_attrs: dict[str, Any] = field(default_factory=dict)
    package_types: set[str] = field(default_factory=set)
    created_at: str = field(default_factory=_now)


@dataclass
class ReleaseRec:
    owner: str
    name: str
    version: str
    attrs: dict[str, Any] = field(default_factory=dict)
    created_at: str = field(default_factory=_now)


@dataclass
class FileRec:
    owner: str
    package: str
    version: str
    basename: str  # "subdir/filename"
    sha256: str
    md5: str
    size: int
    attrs: dict[str, Any]
    labels: set[str]
    dist_id: str
    storage: Path | None
    description: str | None = None
    dependencies: Any = None
    upload_time: str = field(default_factory=_now)
    ndownloads: int = 0

    @property
    def subdir(self) -> str:
        return self.basename.split("/", 1)[0]

    @property
    def filename(self) -> str:
        return self.basename.rsplit("/", 1)[-1]


@dataclass
class StageRec:
    dist_id: str
    owner: str
    package: str
    version: str
    basename: str
    labels: list[str]
    sha256: str | None
    attrs: dict[str, Any]
    description: str | None
    dependencies: Any
    key: str
    expires: float
    #: set by the form POST: (temporary path, sha256, md5, size)
    uploaded: tuple[Path, str, str, int] | None = None


class ApiError(Exception):
    """An error answer: status and the JSON ``error`` message anaconda-client shows."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Store:
    """All server state, guarded by one lock; package bytes live under ``root``."""

    def __init__(self, root: Path, users: dict[str, list[str]]) -> None:
        self.root = root
        self.objects = root / "objects"
        self.incoming = root / "incoming"
        self.objects.mkdir(parents=True, exist_ok=True)
        self.incoming.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        #: login -> organisations the login may write to
        self.users = users
        self.packages: dict[tuple[str, str], PackageRec] = {}
        self.releases: dict[tuple[str, str, str], ReleaseRec] = {}
        self.files: dict[tuple[str, str, str, str], FileRec] = {}
        #: indexes, so a request costs the same in a channel of 1k or 100k files
        self.by_package: dict[tuple[str, str], dict[tuple[str, str], FileRec]] = {}
        self.by_owner: dict[str, dict[str, FileRec]] = {}
        self.storage_refs: dict[Path, int] = {}
        self.stages: dict[str, StageRec] = {}
        self.locked: set[tuple[str, str]] = set()
        self.generation = 0
        self._repodata_cache: dict[tuple[str, str, str], tuple[int, bytes]] = {}

    # -- helpers ----------------------------------------------------------------------------

    def owners(self) -> set[str]:
        owners = set(self.users)
        for orgs in self.users.values():
            owners.update(orgs)
        return owners

    def can_write(self, login: str | None, owner: str) -> bool:
        return login is not None and (owner == login or owner in self.users.get(login, []))

    def changed(self) -> None:
        self.generation += 1

    def add_file(self, rec: FileRec) -> None:
        self.files[(rec.owner, rec.package, rec.version, rec.basename)] = rec
        self.by_package.setdefault((rec.owner, rec.package), {})[(rec.version, rec.basename)] = rec
        self.by_owner.setdefault(rec.owner, {})[rec.basename] = rec
        if rec.storage is not None:
            self.storage_refs[rec.storage] = self.storage_refs.get(rec.storage, 0) + 1
        self.changed()

    def release_files(self, owner: str, name: str, version: str) -> list[FileRec]:
        files = self.by_package.get((owner, name), {})
        return sorted((f for f in files.values() if f.version == version), key=lambda f: f.basename)

    def package_files(self, owner: str, name: str) -> list[FileRec]:
        return sorted(self.by_package.get((owner, name), {}).values(), key=lambda f: (f.version, f.basename))

    def owner_files(self, owner: str) -> list[FileRec]:
        return list(self.by_owner.get(owner, {}).values())

    def drop_empty(self, owner: str, name: str, version: str) -> None:
        """anaconda.org garbage-collects a release, then a package, when its last file goes."""
        if not self.release_files(owner, name, version):
            self.releases.pop((owner, name, version), None)
        if not self.package_files(owner, name) and not any(
            (r.owner, r.name) == (owner, name) for r in self.releases.values()
        ):
            self.packages.pop((owner, name), None)

    def delete_file(self, rec: FileRec) -> None:
        del self.files[(rec.owner, rec.package, rec.version, rec.basename)]
        del self.by_package[(rec.owner, rec.package)][(rec.version, rec.basename)]
        del self.by_owner[rec.owner][rec.basename]
        if rec.storage is not None:
            self.storage_refs[rec.storage] -= 1
            if not self.storage_refs[rec.storage]:  # the last file using these bytes
                del self.storage_refs[rec.storage]
                with contextlib.suppress(FileNotFoundError):
                    rec.storage.unlink()
        self.drop_empty(rec.owner, rec.package, rec.version)
        self.changed()

    def repodata(self, owner: str, label: str, subdir: str) -> bytes:
        with self.lock:
            cached = self._repodata_cache.get((owner, label, subdir))
            if cached and cached[0] == self.generation:
                return cached[1]
            packages: dict[str, Any] = {}
            conda: dict[str, Any] = {}
            for f in self.by_owner.get(owner, {}).values():
                if label not in f.labels or f.subdir != subdir:
                    continue
                record = {k: f.attrs[k] for k in REPODATA_KEYS if k in f.attrs}
                record.update(name=f.package, version=f.version, md5=f.md5, sha256=f.sha256, size=f.size)
                record.setdefault("depends", [])
                record.setdefault("subdir", subdir)
                (conda if f.filename.endswith(".conda") else packages)[f.filename] = record
            body = json.dumps(
                {
                    "info": {"subdir": subdir},
                    "packages": dict(sorted(packages.items())),
                    "packages.conda": dict(sorted(conda.items())),
                    "removed": [],
                    "repodata_version": 1,
                },
                indent=1,
            ).encode()
            self._repodata_cache[(owner, label, subdir)] = (self.generation, body)
            return body


# --------------------------------------------------------------------------------------------
# faults


FAULT_KINDS = ("500", "502", "503", "429", "reset", "lost", "stall")


@dataclass
class FaultPlan:
    """Fail ``rate`` of the requests, each with a kind drawn from ``kinds``; deterministic per seed.

    Kinds: ``500``/``502``/``503`` (error status, request not processed), ``429`` (with
    ``Retry-After: 0``), ``reset`` (connection reset before the request is processed), ``lost``
    (processed, then the connection is reset: the client never learns it worked), ``stall``
    (wait ``stall_seconds`` -- set it past the client's read timeout -- then process; the answer
    goes to a client that has gone). One ``random.Random(seed)`` is drawn in request-arrival
    order, so the same seed and order give the same faults.
    """

    rate: float = 0.3
    kinds: tuple[str, ...] = ("500", "502", "503", "reset", "lost", "stall")
    seed: int = 0
    stall_seconds: float = 2.0
    #: only requests for which this returns True may be faulted (default: every request)
    applies: Callable[[str, str], bool] = lambda method, path: True
    _rng: random.Random = field(init=False, repr=False)
    _lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)
    #: kind -> how many times it was injected
    injected: dict[str, int] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        unknown = set(self.kinds) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {FAULT_KINDS}")
        self._rng = random.Random(self.seed)

    def draw(self, method: str, path: str) -> str | None:
        if not self.applies(method, path):
            return None
        with self._lock:
            hit = self._rng.random() < self.rate
            kind = self._rng.choice(self.kinds)
            if not hit:
                return None
            self.injected[kind] = self.injected.get(kind, 0) + 1
            return kind


# --------------------------------------------------------------------------------------------
# multipart (streamed: a large upload never sits in memory)


class _Body:
    """Reads exactly ``length`` bytes of a request body, in chunks."""

    def __init__(self, rfile: BinaryIO, length: int) -> None:
        self.rfile = rfile
        self.left = length

    def read(self, n: int = _CHUNK) -> bytes:
        if self.left <= 0:
            return b""
        data = self.rfile.read(min(n, self.left))
        if not data:
            raise ConnectionError("client closed the connection mid-body")
        self.left -= len(data)
        return data

    def drain(self) -> None:
        while self.read():
            pass


def parse_multipart(
    body: _Body, boundary: bytes, open_file: Callable[[str], BinaryIO]
) -> tuple[dict[str, str], str | None]:
    """Parse a multipart/form-data body; text fields into a dict, the ``file`` part streamed to
    ``open_file(filename)``. Returns (fields, filename of the file part)."""
    delimiter = b"\r\n--" + boundary
    buf = b"\r\n"  # lets the first boundary match the same delimiter as the others
    fields: dict[str, str] = {}
    file_name: str | None = None

    def fill(need: int) -> bool:
        nonlocal buf
        while len(buf) < need:
            chunk = body.read()
            if not chunk:
                return False
            buf += chunk
        return True

    # preamble up to the first boundary
    while delimiter not in buf:
        if not fill(len(buf) + 1):
            raise ValueError("no multipart boundary found")
        if len(buf) > _FIELD_LIMIT:
            buf = buf[-len(delimiter) :]
    buf = buf[buf.index(delimiter) + len(delimiter) :]
    while True:
        if not fill(2):
            raise ValueError("truncated multipart body")
        if buf.startswith(b"--"):
            body.drain()
            return fields, file_name
        if not buf.startswith(b"\r\n"):
            raise ValueError("malformed multipart boundary line")
        buf = buf[2:]
        while b"\r\n\r\n" not in buf:
            if len(buf) > 64 * 1024 or not fill(len(buf) + 1):
                raise ValueError("malformed multipart part headers")
        raw_headers, buf = buf.split(b"\r\n\r\n", 1)
        disposition = ""
        for line in raw_headers.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            if key.strip().lower() == "content-disposition":
                disposition = value
        name_match = re.search(r'\bname="([^"]*)"', disposition)
        filename_match = re.search(r'\bfilename="([^"]*)"', disposition)
        name = name_match.group(1) if name_match else ""
        sink: BinaryIO | None = None
        collected = bytearray()
        if name == "file":
            file_name = filename_match.group(1) if filename_match else "file"
            sink = open_file(file_name)
        while True:
            idx = buf.find(delimiter)
            if idx >= 0:
                part, buf = buf[:idx], buf[idx + len(delimiter) :]
            else:
                keep = len(delimiter)
                part, buf = buf[:-keep] if len(buf) > keep else b"", buf[-keep:] if len(buf) > keep else buf
            if sink is not None:
                sink.write(part)
            else:
                collected += part
                if len(collected) > _FIELD_LIMIT:
                    raise ValueError(f"form field {name!r} is too large")
            if idx >= 0:
                break
            chunk = body.read()
            if not chunk:
                raise ValueError("truncated multipart body")
            buf += chunk
        if sink is None:
            fields[name] = collected.decode("utf-8", "replace")


class _HashingFile:
    """A file that hashes what is written to it (md5, sha256, size)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fh = path.open("wb")
        self.md5 = hashlib.md5()  # noqa: S324 - S3's Content-MD5 check
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.md5.update(data)
        self.sha256.update(data)
        self.size += len(data)
        return self.fh.write(data)

    def close(self) -> None:
        self.fh.close()


# --------------------------------------------------------------------------------------------
# JSON views of records


def file_json(f: FileRec, base: str) -> dict[str, Any]:
    host = base.split("://", 1)[-1]
    return {
        "basename": f.basename,
        "description": f.description,
        "dependencies": f.dependencies or {"depends": []},
        "distribution_type": "conda",
        "type": "conda",
        "attrs": {**f.attrs, "md5": f.md5, "sha256": f.sha256, "size": f.size},
        "upload_time": f.upload_time,
        "md5": f.md5,
        "sha256": f.sha256,
        "size": f.size,
        "version": f.version,
        "owner": f.owner,
        "labels": sorted(f.labels),
        "full_name": f"{f.owner}/{f.package}/{f.version}/{f.basename}",
        "download_url": f"//{host}/download/{f.owner}/{f.package}/{f.version}/{f.basename}",
        "ndownloads": f.ndownloads,
        "dist_id": f.dist_id,
    }


def release_json(store: Store, r: ReleaseRec, base: str) -> dict[str, Any]:
    return {
        "version": r.version,
        "full_name": f"{r.owner}/{r.name}/{r.version}",
        "package": f"{r.owner}/{r.name}",
        "public_attrs": r.attrs,
        "distributions": [file_json(f, base) for f in store.release_files(r.owner, r.name, r.version)],
        "created_at": r.created_at,
    }


def package_json(store: Store, p: PackageRec, base: str) -> dict[str, Any]:
    files = store.package_files(p.owner, p.name)
    versions = sorted({r.version for r in store.releases.values() if (r.owner, r.name) == (p.owner, p.name)})
    types = set(p.package_types) | ({"conda"} if files else set())
    return {
        "name": p.name,
        "full_name": f"{p.owner}/{p.name}",
        "owner": {"login": p.owner},
        "summary": p.public_attrs.get("summary"),
        "description": p.public_attrs.get("description"),
        "license": p.public_attrs.get("license"),
        "public": p.public,
        "package_types": sorted(types),
        "versions": versions,
        "latest_version": versions[-1] if versions else None,
        "releases": [
            {
                "version": v,
                "distributions": [f.basename for f in files if f.version == v],
            }
            for v in versions
        ],
        "conda_platforms": sorted({f.subdir for f in files}),
        "files": [file_json(f, base) for f in files],
        "created_at": p.created_at,
    }


# --------------------------------------------------------------------------------------------
# the server


class _Reset(Exception):
    """Drop the connection with a TCP reset instead of answering."""


class AnacondaServer:
    """The server object: state, hooks, and a ThreadingHTTPServer on 127.0.0.1."""

    def __init__(
        self,
        root: Path,
        *,
        tokens: dict[str, str] | None = None,
        orgs: dict[str, list[str]] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        faults: FaultPlan | None = None,
        record: bool = True,
        anonymous_read: bool = True,
    ) -> None:
        #: conda channels readable without a token; False: only as /t/{token}/{owner}/... by a
        #: login that may read the owner (anaconda.org's private channels) [inferred: 401]
        self.anonymous_read = anonymous_read
        #: token -> login
        self.tokens = dict(tokens if tokens is not None else {"test-token": "alice"})
        users: dict[str, list[str]] = {login: [] for login in self.tokens.values()}
        for login, org_list in (orgs or {}).items():
            users.setdefault(login, []).extend(org_list)
        self.store = Store(Path(root), users)
        self.latency = latency
        self.faults = faults
        self.record = record
        self.requests: list[tuple[str, str]] = []
        self._requests_lock = threading.Lock()
        self._httpd = _HTTPServer((host, port), _Handler)
        self._httpd.app = self
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        host = self._httpd.server_address[0]
        return f"http://{host}:{self.port}"

    def start(self) -> AnacondaServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="anaconda-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop answering: the port closes (a "server down for good")."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> AnacondaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- hooks for tests --------------------------------------------------------------------

    def log_request(self, method: str, path: str) -> None:
        if self.record:
            with self._requests_lock:
                self.requests.append((method, path))

    def clear_requests(self) -> None:
        with self._requests_lock:
            self.requests.clear()

    def add_org(self, org: str, members: list[str]) -> None:
        """Create organisation ``org`` whose files ``members`` may write."""
        with self.store.lock:
            for login in members:
                orgs = self.store.users.setdefault(login, [])
                if org not in orgs:
                    orgs.append(org)

    def conda_url(self, owner: str, label: str = "main") -> str:
        return f"{self.url}/{owner}" + ("" if label == "main" else f"/label/{label}")

    def file_records(self, owner: str | None = None) -> list[FileRec]:
        with self.store.lock:
            return [f for f in self.store.files.values() if owner is None or f.owner == owner]

    def truth(self, owner: str) -> dict[str, dict[str, str]]:
        """{label: {"subdir/filename": sha256}} as the server holds it (bytes re-hashed on disk)."""
        out: dict[str, dict[str, str]] = {}
        for f in self.file_records(owner):
            for label in f.labels:
                out.setdefault(label, {})[f.basename] = f.sha256
        return out

    def verify_storage(self) -> list[str]:
        """Re-hash every stored object; return the problems (empty list: all bytes match records)."""
        problems = []
        for f in self.file_records():
            if f.storage is None:
                continue
            digest = hashlib.sha256(f.storage.read_bytes()).hexdigest()
            if digest != f.sha256:
                problems.append(f"{f.owner}/{f.basename}: stored bytes {digest} != record {f.sha256}")
        return problems

    def seed_file(
        self,
        owner: str,
        name: str,
        version: str,
        subdir: str,
        filename: str,
        *,
        build: str,
        build_number: int,
        labels: tuple[str, ...] = ("main",),
        sha256: str | None = None,
        data: bytes | None = None,
    ) -> FileRec:
        """Insert a file record directly (for big benchmark channels); ``data`` optional."""
        store = self.store
        with store.lock:
            store.packages.setdefault((owner, name), PackageRec(owner, name, package_types={"conda"}))
            store.releases.setdefault((owner, name, version), ReleaseRec(owner, name, version))
            storage = None
            md5 = ""
            size = 0
            if data is not None:
                sha256 = hashlib.sha256(data).hexdigest()
                md5 = hashlib.md5(data).hexdigest()  # noqa: S324
                size = len(data)
                storage = store.objects / sha256
                storage.write_bytes(data)
            rec = FileRec(
                owner=owner,
                package=name,
                version=version,
                basename=f"{subdir}/{filename}",
                sha256=sha256 or hashlib.sha256(filename.encode()).hexdigest(),
                md5=md5,
                size=size,
                attrs={"build": build, "build_number": build_number, "subdir": subdir, "depends": []},
                labels=set(labels),
                dist_id=uuid.uuid4().hex,
                storage=storage,
            )
            store.add_file(rec)
            return rec


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True
    app: AnacondaServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer
    server_version = "anaconda-test-server/1"

    def setup(self) -> None:
        super().setup()
        # One write per answer and no Nagle delay: small JSON answers must not wait for ACKs.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet by default
        pass

    # every method goes through one dispatcher
    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # -- plumbing ---------------------------------------------------------------------------

    @property
    def app(self) -> AnacondaServer:
        return self.server.app

    def _length(self) -> int:
        try:
            return int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return 0

    def _body(self) -> _Body:
        if not hasattr(self, "_body_obj"):
            self._body_obj = _Body(self.rfile, self._length())
        return self._body_obj

    def _json_body(self) -> Any:
        body = self._body()
        if body.left > 4 * 1024 * 1024:
            raise ApiError(413, "request body too large")
        data = b"".join(iter(body.read, b""))
        if not data.strip():
            return {}
        try:
            return json.loads(data)
        except ValueError as exc:
            raise ApiError(400, f"invalid JSON body: {exc}") from exc

    def _send(
        self,
        status: int,
        body: bytes = b"",
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        if getattr(self, "_mute", False):
            return
        lines = [f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}"]
        all_headers = {
            "Server": self.server_version,
            "Date": self.date_time_string(),
            "Content-Type": content_type,
            "Content-Length": str(len(body)),
            **(headers or {}),
        }
        lines += [f"{k}: {v}" for k, v in all_headers.items()]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if self.app.latency:
            time.sleep(self.app.latency)
        self.wfile.write(head + (b"" if self.command == "HEAD" else body))

    def _send_json(self, status: int, data: Any) -> None:
        self._send(status, json.dumps(data).encode())

    def _reset(self) -> None:
        # SO_LINGER 0: close() sends RST, as a crashed proxy or load balancer would
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.close()

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        path = parts.path
        self._mute = False
        if hasattr(self, "_body_obj"):  # keep-alive: a new request on the same connection
            del self._body_obj
        self.app.log_request(method, path)
        fault = self.app.faults.draw(method, path) if self.app.faults else None
        try:
            if fault in ("500", "502", "503", "429"):
                with contextlib.suppress(ConnectionError, ValueError):
                    self._body().drain()
                headers = {"Retry-After": "0"} if fault == "429" else None
                self._send(int(fault), json.dumps({"error": f"injected fault {fault}"}).encode(), headers=headers)
                return
            if fault == "reset":
                self._reset()
                return
            if fault == "stall":
                time.sleep(self.app.faults.stall_seconds if self.app.faults else 0)
            try:
                if fault == "lost":
                    self._route(method, path, parse_qs(parts.query), respond=False)
                    self._reset()
                    return
                self._route(method, path, parse_qs(parts.query))
                self._finish_body()
            except ApiError as exc:
                with contextlib.suppress(ConnectionError, ValueError):
                    self._body().drain()
                if fault == "lost":
                    self._reset()
                    return
                self._send_json(exc.status, {"error": exc.message})
        except (ConnectionError, TimeoutError):
            self.close_connection = True

    def _finish_body(self) -> None:
        """Read what a handler left of the body, so the next request on the connection parses."""
        body = self._body()
        if body.left > 16 * 1024 * 1024:
            self.close_connection = True
        else:
            body.drain()

    # -- auth -------------------------------------------------------------------------------

    def _login(self, required: bool) -> str | None:
        header = self.headers.get("Authorization")
        if not header:
            if required:
                raise ApiError(401, "Authorization header was not given")
            return None
        scheme, _, token = header.partition(" ")
        login = self.app.tokens.get(token.strip()) if scheme.lower() == "token" else None
        if login is None:
            raise ApiError(401, "Authentication token is invalid or has expired")
        return login

    def _writer(self, owner: str) -> str:
        login = self._login(required=True)
        assert login is not None
        if owner not in self.app.store.owners():
            raise ApiError(404, f"User {owner!r} does not exist")
        if not self.app.store.can_write(login, owner):
            raise ApiError(401, f"{login!r} is not allowed to write to {owner!r}")
        return login

    def _reader(self, owner: str) -> None:
        self._login(required=False)
        if owner not in self.app.store.owners():
            raise ApiError(404, f"User {owner!r} does not exist")

    # -- routing ----------------------------------------------------------------------------

    def _route(self, method: str, path: str, query: dict[str, list[str]], respond: bool = True) -> None:
        raw_segments = [s for s in path.split("/") if s]
        # decode per segment: "linux-64%2Ffoo.conda" and "linux-64/foo.conda" both work
        segs = [unquote(s) for s in raw_segments]
        self._mute = not respond
        if not segs:
            if method in ("GET", "HEAD"):
                self._send_json(200, {"ok": 1, "versions": {"api": "1.0"}})
                return
            raise ApiError(405, "method not allowed")
        root = segs[0]
        handler = {
            "user": self._user,
            "users": self._users,
            "packages": self._packages,
            "dist": self._dist,
            "package": self._package,
            "release": self._release,
            "stage": self._stage,
            "commit": self._commit,
            "channels": self._channels,
            "copy": self._copy,
            "download": self._download,
            "s3": self._s3,
        }.get(root)
        if handler is not None:
            handler(method, segs[1:])
            return
        self._conda(method, segs)

    @staticmethod
    def _need(segs: list[str], n: int, what: str) -> None:
        if len(segs) < n:
            raise ApiError(404, f"not found: expected {what}")

    # /user, /user/{login}
    def _user(self, method: str, segs: list[str]) -> None:
        if method not in ("GET", "HEAD"):
            raise ApiError(405, "method not allowed")
        if not segs:
            login = self._login(required=True)
            self._send_json(200, self._user_doc(login or ""))
            return
        if segs == ["orgs"]:
            login = self._login(required=True)
            self._send_json(200, [{"login": o} for o in self.app.store.users.get(login or "", [])])
            return
        self._login(required=False)
        if segs[0] not in self.app.store.owners():
            raise ApiError(404, f"User {segs[0]!r} does not exist")
        self._send_json(200, self._user_doc(segs[0]))

    def _user_doc(self, login: str) -> dict[str, Any]:
        kind = "user" if login in self.app.store.users else "org"
        return {
            "login": login,
            "name": login,
            "user_type": kind,
            "company": None,
            "location": None,
            "url": None,
            "created_at": "2020-01-01T00:00:00Z",
            "description": "",
        }

    # /users/{login}/orgs
    def _users(self, method: str, segs: list[str]) -> None:
        self._need(segs, 2, "/users/{login}/orgs")
        self._reader(segs[0])
        self._send_json(200, [{"login": o} for o in self.app.store.users.get(segs[0], [])])

    # /packages/{owner}
    def _packages(self, method: str, segs: list[str]) -> None:
        self._need(segs, 1, "/packages/{owner}")
        self._reader(segs[0])
        store = self.app.store
        with store.lock:
            docs = [package_json(store, p, self.app.url) for p in store.packages.values() if p.owner == segs[0]]
        self._send_json(200, docs)

    # /dist/{owner}/{pkg}/{ver}/{basename}
    def _dist(self, method: str, segs: list[str]) -> None:
        self._need(segs, 4, "/dist/{owner}/{package}/{version}/{basename}")
        owner, name, version = segs[:3]
        basename = "/".join(segs[3:])
        store = self.app.store
        if method in ("GET", "HEAD"):
            self._reader(owner)
            with store.lock:
                rec = store.files.get((owner, name, version, basename))
                if rec is None:
                    raise ApiError(404, f"file {owner}/{name}/{version}/{basename} does not exist")
                doc = file_json(rec, self.app.url)
            self._send_json(200, doc)
            return
        if method == "DELETE":
            self._writer(owner)
            with store.lock:
                if segs[3] == "-" and len(segs) == 5:
                    rec = next((f for f in store.files.values() if f.dist_id == segs[4]), None)
                else:
                    rec = store.files.get((owner, name, version, basename))
                if rec is None:
                    raise ApiError(404, f"file {owner}/{name}/{version}/{basename} does not exist")
                self._check_unlocked(owner, rec.labels)
                doc = file_json(rec, self.app.url)
                store.delete_file(rec)
            self._send_json(200, doc)
            return
        raise ApiError(405, "method not allowed")

    # /package/{owner}/{pkg}[/files]
    def _package(self, method: str, segs: list[str]) -> None:
        self._need(segs, 2, "/package/{owner}/{package}")
        owner, name = segs[:2]
        store = self.app.store
        if len(segs) == 3 and segs[2] == "files" and method in ("GET", "HEAD"):
            self._reader(owner)
            with store.lock:
                if (owner, name) not in store.packages:
                    raise ApiError(404, f"package {owner}/{name} does not exist")
                docs = [file_json(f, self.app.url) for f in store.package_files(owner, name)]
            self._send_json(200, docs)
            return
        if len(segs) != 2:
            raise ApiError(404, "not found")
        if method in ("GET", "HEAD"):
            self._reader(owner)
            with store.lock:
                pkg = store.packages.get((owner, name))
                if pkg is None:
                    raise ApiError(404, f"package {owner}/{name} does not exist")
                doc = package_json(store, pkg, self.app.url)
            self._send_json(200, doc)
            return
        self._writer(owner)
        payload = self._json_body() if method in ("POST", "PATCH") else {}
        if not isinstance(payload, dict):
            raise ApiError(400, "expected a JSON object")
        with store.lock:
            pkg = store.packages.get((owner, name))
            if method == "POST":
                if pkg is not None:  # [inferred] anaconda-client only POSTs after a 404
                    raise ApiError(409, f"package {owner}/{name} already exists")
                if not re.fullmatch(r"[a-z0-9_][a-z0-9_.+-]*", name, re.IGNORECASE):
                    raise ApiError(400, f"invalid package name {name!r}")
                attrs = payload.get("public_attrs") or {}
                pkg = PackageRec(
                    owner,
                    name,
                    public=bool(payload.get("public", True)),
                    public_attrs=dict(attrs),
                    package_types=set(attrs.get("package_types") or []),
                )
                store.packages[(owner, name)] = pkg
                store.changed()
                doc = package_json(store, pkg, self.app.url)
                status = 200
            elif method == "PATCH":
                if pkg is None:
                    raise ApiError(404, f"package {owner}/{name} does not exist")
                pkg.public_attrs.update(payload.get("public_attrs") or {})
                pkg.package_types |= set(pkg.public_attrs.get("package_types") or [])
                doc = package_json(store, pkg, self.app.url)
                status = 200
            elif method == "DELETE":
                if pkg is None:
                    raise ApiError(404, f"package {owner}/{name} does not exist")
                for f in store.package_files(owner, name):
                    store.delete_file(f)
                for key in [k for k in store.releases if k[:2] == (owner, name)]:
                    del store.releases[key]
                store.packages.pop((owner, name), None)
                store.changed()
                doc, status = {}, 201
            else:
                raise ApiError(405, "method not allowed")
        self._send_json(status, doc)

    # /release/{owner}/{pkg}/{ver}
    def _release(self, method: str, segs: list[str]) -> None:
        self._need(segs, 3, "/release/{owner}/{package}/{version}")
        owner, name, version = segs[:3]
        store = self.app.store
        if method in ("GET", "HEAD"):
            self._reader(owner)
            with store.lock:
                rel = store.releases.get((owner, name, version))
                if rel is None:
                    raise ApiError(404, f"release {owner}/{name}/{version} does not exist")
                doc = release_json(store, rel, self.app.url)
            self._send_json(200, doc)
            return
        self._writer(owner)
        payload = self._json_body() if method in ("POST", "PATCH") else {}
        if not isinstance(payload, dict):
            raise ApiError(400, "expected a JSON object")
        with store.lock:
            rel = store.releases.get((owner, name, version))
            if method == "POST":
                if (owner, name) not in store.packages:
                    raise ApiError(404, f"package {owner}/{name} does not exist")
                if rel is not None:  # [inferred]
                    raise ApiError(409, f"release {owner}/{name}/{version} already exists")
                attrs = {k: v for k, v in payload.items() if k not in ("requirements", "announce")}
                rel = ReleaseRec(owner, name, version, attrs)
                store.releases[(owner, name, version)] = rel
                store.changed()
                doc, status = release_json(store, rel, self.app.url), 200
            elif method == "PATCH":
                if rel is None:
                    raise ApiError(404, f"release {owner}/{name}/{version} does not exist")
                rel.attrs.update(payload.get("public_attrs") or {})
                doc, status = release_json(store, rel, self.app.url), 200
            elif method == "DELETE":
                if rel is None:
                    raise ApiError(404, f"release {owner}/{name}/{version} does not exist")
                for f in store.release_files(owner, name, version):
                    store.delete_file(f)
                store.releases.pop((owner, name, version), None)
                store.changed()
                doc, status = {}, 201
            else:
                raise ApiError(405, "method not allowed")
        self._send_json(status, doc)

    # /stage/{owner}/{pkg}/{ver}/{basename}
    def _stage(self, method: str, segs: list[str]) -> None:
        if method != "POST":
            raise ApiError(405, "method not allowed")
        self._need(segs, 4, "/stage/{owner}/{package}/{version}/{basename}")
        owner, name, version = segs[:3]
        basename = "/".join(segs[3:])
        self._writer(owner)
        payload = self._json_body()
        if not isinstance(payload, dict):
            raise ApiError(400, "expected a JSON object")
        attrs = payload.get("attrs") or {}
        if not isinstance(attrs, dict):
            raise ApiError(400, "attrs must be an object")
        subdir, _, filename = basename.rpartition("/")
        if payload.get("distribution_type", "conda") == "conda":
            self._check_conda_basename(name, version, subdir, filename, attrs)
        labels = payload.get("channels") or ["main"]
        if not isinstance(labels, list) or not all(isinstance(x, str) and x for x in labels):
            raise ApiError(400, "channels must be a list of label names")
        sha256 = payload.get("sha256")
        store = self.app.store
        with store.lock:
            if (owner, name, version) not in store.releases:
                raise ApiError(404, f"release {owner}/{name}/{version} does not exist")
            if (owner, name, version, basename) in store.files:
                raise ApiError(409, f"file {basename} already exists for package {name} version {version}")
            self._check_unlocked(owner, set(labels))
            dist_id = uuid.uuid4().hex
            key = f"{owner}/{name}/{version}/{basename}/{dist_id}"
            store.stages[dist_id] = StageRec(
                dist_id=dist_id,
                owner=owner,
                package=name,
                version=version,
                basename=basename,
                labels=list(dict.fromkeys(x.lower() for x in labels)),
                sha256=sha256 if isinstance(sha256, str) else None,
                attrs=attrs,
                description=payload.get("description"),
                dependencies=payload.get("dependencies"),
                key=key,
                expires=time.time() + 3600,
            )
        policy = base64.b64encode(
            json.dumps({"expiration": time.time() + 3600, "conditions": [{"key": key}]}).encode()
        ).decode()
        signature = hmac.new(_SECRET, policy.encode(), hashlib.sha256).hexdigest()
        form_data = {
            "key": key,
            "acl": "private",
            "success_action_status": "201",
            "Content-Type": "application/octet-stream",
            "policy": policy,
            "x-amz-algorithm": "AWS4-HMAC-SHA256",
            "x-amz-signature": signature,
        }
        self._send_json(200, {"post_url": f"{self.app.url}/s3/upload", "form_data": form_data, "dist_id": dist_id})

    @staticmethod
    def _check_conda_basename(name: str, version: str, subdir: str, filename: str, attrs: dict[str, Any]) -> None:
        if subdir not in KNOWN_SUBDIRS:
            raise ApiError(400, f"basename must be SUBDIR/FILENAME with a conda subdir, got {subdir!r}")
        stem = filename.removesuffix(".conda").removesuffix(".tar.bz2")
        if stem == filename:
            raise ApiError(400, f"{filename!r} is not a conda package file name")
        parts = stem.rsplit("-", 2)
        if len(parts) != 3 or parts[0] != name or parts[1] != version:
            raise ApiError(400, f"{filename!r} does not match package {name!r} version {version!r}")
        if attrs.get("subdir") not in (None, subdir):
            raise ApiError(400, f"attrs.subdir {attrs.get('subdir')!r} does not match basename {subdir!r}")
        if "build" in attrs and attrs["build"] != parts[2]:
            raise ApiError(400, f"attrs.build {attrs['build']!r} does not match {filename!r}")

    def _check_unlocked(self, owner: str, labels: set[str]) -> None:
        locked = sorted(x for x in labels if (owner, x) in self.app.store.locked)
        if locked:  # [inferred] a locked label refuses changes
            raise ApiError(401, f"label {locked[0]!r} is locked")

    # POST /s3/upload: the S3 presigned form POST (no anaconda token here)
    def _s3(self, method: str, segs: list[str]) -> None:
        if segs[:1] == ["object"] and method in ("GET", "HEAD"):
            self._serve_object(segs[1:])
            return
        if segs != ["upload"] or method != "POST":
            self._send(404, b"<Error><Code>NoSuchKey</Code></Error>", "application/xml")
            return
        if "Content-Length" not in self.headers:
            self._s3_error(411, "MissingContentLength", "You must provide the Content-Length HTTP header.")
            return
        content_type = self.headers.get("Content-Type", "")
        match = re.search(r'boundary="?([^";]+)"?', content_type)
        if not content_type.startswith("multipart/form-data") or not match:
            self._body().drain()
            self._s3_error(400, "MalformedPOSTRequest", "The body must be multipart/form-data.")
            return
        store = self.app.store
        tmp = store.incoming / f"{uuid.uuid4().hex}.part"
        sinks: list[_HashingFile] = []

        def open_file(_name: str) -> BinaryIO:
            sink = _HashingFile(tmp)
            sinks.append(sink)
            return sink  # type: ignore[return-value]

        try:
            fields, file_name = parse_multipart(self._body(), match.group(1).encode(), open_file)
        except ValueError as exc:
            for s in sinks:
                s.close()
            tmp.unlink(missing_ok=True)
            self._s3_error(400, "MalformedPOSTRequest", str(exc))
            return
        except ConnectionError:
            for s in sinks:
                s.close()
            tmp.unlink(missing_ok=True)
            raise BrokenPipeError from None
        for s in sinks:
            s.close()
        try:
            self._accept_object(fields, file_name, sinks[0] if sinks else None)
        except ApiError as exc:
            tmp.unlink(missing_ok=True)
            code = exc.message.split(":", 1)[0]
            self._s3_error(exc.status, code, exc.message)

    def _accept_object(self, fields: dict[str, str], file_name: str | None, sink: _HashingFile | None) -> None:
        if sink is None or file_name is None:
            raise ApiError(400, "InvalidArgument: POST requires exactly one file upload per request")
        policy = fields.get("policy", "")
        expected_sig = hmac.new(_SECRET, policy.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(fields.get("x-amz-signature", ""), expected_sig):
            raise ApiError(403, "SignatureDoesNotMatch: the form fields were altered")
        conditions = json.loads(base64.b64decode(policy))
        if time.time() > conditions["expiration"]:
            raise ApiError(403, "AccessDenied: Invalid according to Policy: Policy expired")
        if fields.get("key") != conditions["conditions"][0]["key"]:
            raise ApiError(403, "AccessDenied: key does not match the policy")
        md5_b64 = base64.b64encode(sink.md5.digest()).decode()
        if "Content-MD5" in fields and fields["Content-MD5"] != md5_b64:
            raise ApiError(400, "InvalidDigest: The Content-MD5 you specified was invalid.")
        if "Content-Length" in fields and fields["Content-Length"] != str(sink.size):
            raise ApiError(400, "IncompleteBody: Content-Length field does not match the file size")
        dist_id = fields["key"].rsplit("/", 1)[-1]
        store = self.app.store
        sha256 = sink.sha256.hexdigest()
        with store.lock:
            stage = store.stages.get(dist_id)
            if stage is None:
                raise ApiError(403, "AccessDenied: no upload is staged for this key")
            if stage.sha256 and stage.sha256 != sha256:
                raise ApiError(400, "BadDigest: the file's sha256 differs from the one given at stage")
            final = store.incoming / f"{dist_id}.obj"
            os.replace(sink.path, final)
            stage.uploaded = (final, sha256, sink.md5.hexdigest(), sink.size)
        etag = sink.md5.hexdigest()
        body = (
            "<?xml version='1.0' encoding='UTF-8'?>\n<PostResponse>"
            f"<Location>{self.app.url}/s3/object/{quote(fields['key'])}</Location>"
            f'<Bucket>anaconda-test</Bucket><Key>{fields["key"]}</Key><ETag>"{etag}"</ETag></PostResponse>'
        ).encode()
        self._send(201, body, "application/xml", {"ETag": f'"{etag}"'})

    def _s3_error(self, status: int, code: str, message: str) -> None:
        body = f"<?xml version='1.0' encoding='UTF-8'?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>"
        self._send(status, body.encode(), "application/xml")

    # /commit/{owner}/{pkg}/{ver}/{basename}
    def _commit(self, method: str, segs: list[str]) -> None:
        if method != "POST":
            raise ApiError(405, "method not allowed")
        self._need(segs, 4, "/commit/{owner}/{package}/{version}/{basename}")
        owner, name, version = segs[:3]
        basename = "/".join(segs[3:])
        self._writer(owner)
        payload = self._json_body()
        dist_id = payload.get("dist_id") if isinstance(payload, dict) else None
        store = self.app.store
        with store.lock:
            stage = store.stages.get(str(dist_id))
            if stage is None or (stage.owner, stage.package, stage.version, stage.basename) != (
                owner,
                name,
                version,
                basename,
            ):
                raise ApiError(404, f"Invalid dist_id {dist_id!r}: does not exist")
            if stage.uploaded is None:
                raise ApiError(400, f"dist_id {dist_id!r}: the file was not uploaded to storage")
            if (owner, name, version) not in store.releases:
                raise ApiError(404, f"Invalid dist_id {dist_id!r}: release {name}/{version} does not exist")
            if (owner, name, version, basename) in store.files:
                raise ApiError(409, f"file {basename} already exists for package {name} version {version}")
            self._check_unlocked(owner, set(stage.labels))
            tmp, sha256, md5, size = stage.uploaded
            storage = store.objects / sha256
            if storage.exists():
                tmp.unlink(missing_ok=True)
            else:
                os.replace(tmp, storage)
            rec = FileRec(
                owner=owner,
                package=name,
                version=version,
                basename=basename,
                sha256=sha256,
                md5=md5,
                size=size,
                attrs=dict(stage.attrs),
                labels=set(stage.labels),
                dist_id=dist_id,  # type: ignore[arg-type]
                storage=storage,
                description=stage.description,
                dependencies=stage.dependencies,
            )
            store.add_file(rec)
            del store.stages[stage.dist_id]
            store.packages[(owner, name)].package_types.add("conda")
            store.changed()
            doc = file_json(rec, self.app.url)
        doc["url"] = f"{self.app.url}/{owner}/{name}"
        self._send_json(200, doc)

    # /channels/{owner}[/{label}[/copy/{to}|/lock]]
    def _channels(self, method: str, segs: list[str]) -> None:
        self._need(segs, 1, "/channels/{owner}")
        owner = segs[0]
        store = self.app.store
        if len(segs) == 1:
            if method not in ("GET", "HEAD"):
                raise ApiError(405, "method not allowed")
            self._reader(owner)
            with store.lock:
                counts: dict[str, int] = {}
                for f in store.owner_files(owner):
                    for label in f.labels:
                        counts[label] = counts.get(label, 0) + 1
                for o, label in store.locked:
                    if o == owner:
                        counts.setdefault(label, 0)
                doc = {
                    label: {"is_locked": (owner, label) in store.locked, "num_files": n}
                    for label, n in sorted(counts.items())
                }
            self._send_json(200, doc)
            return
        label = segs[1].lower()
        if len(segs) == 2:
            if method in ("GET", "HEAD"):
                self._reader(owner)
                with store.lock:
                    files = [f for f in store.owner_files(owner) if label in f.labels]
                    if not files and (owner, label) not in store.locked:
                        raise ApiError(404, f"label {label!r} does not exist for {owner!r}")
                    doc = {
                        "is_locked": (owner, label) in store.locked,
                        "files": [file_json(f, self.app.url) for f in sorted(files, key=lambda f: f.basename)],
                    }
                self._send_json(200, doc)
                return
            if method in ("POST", "DELETE"):
                self._writer(owner)
                payload = self._json_body()
                if not isinstance(payload, dict):
                    raise ApiError(400, "expected a JSON object")
                with store.lock:
                    self._check_unlocked(owner, {label})
                    selected = self._select(owner, payload)
                    if method == "POST":
                        if not selected:  # [inferred]
                            raise ApiError(404, "no files match the given package/version/basename")
                        for f in selected:
                            f.labels.add(label)
                    else:
                        for f in selected:
                            f.labels.discard(label)
                    store.changed()
                self._send_json(201, {})
                return
            raise ApiError(405, "method not allowed")
        if len(segs) == 4 and segs[2] == "copy" and method == "POST":
            self._writer(owner)
            to_label = segs[3].lower()
            with store.lock:
                self._check_unlocked(owner, {to_label})
                files = [f for f in store.owner_files(owner) if label in f.labels]
                if not files:
                    raise ApiError(404, f"label {label!r} does not exist for {owner!r}")
                for f in files:
                    f.labels.add(to_label)
                store.changed()
            self._send_json(201, {})
            return
        if len(segs) == 3 and segs[2] == "lock" and method in ("POST", "DELETE"):
            self._writer(owner)
            with store.lock:
                if method == "POST":
                    store.locked.add((owner, label))
                else:
                    store.locked.discard((owner, label))
            self._send_json(201, {})
            return
        raise ApiError(404, "not found")

    def _select(self, owner: str, payload: dict[str, Any]) -> list[FileRec]:
        """Files of ``owner`` narrowed by the optional package / version / basename of a label op."""
        package, version, basename = payload.get("package"), payload.get("version"), payload.get("basename")
        out = []
        for f in self.app.store.owner_files(owner):
            if package is not None and f.package != package:
                continue
            if version is not None and f.version != version:
                continue
            if basename is not None and f.basename != basename:
                continue
            out.append(f)
        return out

    # /copy/package/{owner}/{pkg}/{ver}/[{basename}]
    def _copy(self, method: str, segs: list[str]) -> None:
        if method not in ("POST", "PUT", "PATCH") or segs[:1] != ["package"]:
            raise ApiError(405, "method not allowed")
        segs = segs[1:]
        self._need(segs, 3, "/copy/package/{owner}/{package}/{version}/[{basename}]")
        owner, name, version = segs[:3]
        basename = "/".join(segs[3:]) or None
        login = self._writer(owner)
        payload = self._json_body()
        if not isinstance(payload, dict):
            raise ApiError(400, "expected a JSON object")
        to_owner = payload.get("to_owner") or login
        from_label = (payload.get("from_channel") or "main").lower()
        to_label = (payload.get("to_channel") or "main").lower()
        store = self.app.store
        if not store.can_write(login, to_owner):
            raise ApiError(401, f"{login!r} is not allowed to write to {to_owner!r}")
        with store.lock:
            if (owner, name, version) not in store.releases:
                raise ApiError(404, f"release {owner}/{name}/{version} does not exist")
            sources = [
                f
                for f in store.release_files(owner, name, version)
                if from_label in f.labels and (basename is None or f.basename == basename)
            ]
            self._check_unlocked(to_owner, {to_label})
            copied = []
            if to_owner == owner:
                for f in sources:  # the same file, one more label
                    f.labels.add(to_label)
                    copied.append(f)
            else:
                clashes = [f for f in sources if (to_owner, name, version, f.basename) in store.files]
                if clashes and method == "POST":
                    raise ApiError(409, f"file {clashes[0].basename} already exists in {to_owner}")
                src_pkg = store.packages[(owner, name)]
                src_rel = store.releases[(owner, name, version)]
                for f in sources:
                    existing = store.files.get((to_owner, name, version, f.basename))
                    if existing is not None:
                        if method == "PATCH":  # --update: keep the destination's file
                            existing.labels.add(to_label)
                            continue
                        store.delete_file(existing)  # PUT, --replace
                    store.packages.setdefault(
                        (to_owner, name),
                        PackageRec(
                            to_owner, name, src_pkg.public, dict(src_pkg.public_attrs), set(src_pkg.package_types)
                        ),
                    )
                    store.releases.setdefault(
                        (to_owner, name, version), ReleaseRec(to_owner, name, version, dict(src_rel.attrs))
                    )
                    new = FileRec(
                        **{**f.__dict__, "owner": to_owner, "labels": {to_label}, "dist_id": uuid.uuid4().hex}
                    )
                    store.add_file(new)
                    copied.append(new)
            store.changed()
            docs = [file_json(f, self.app.url) for f in copied]
        self._send_json(200, docs)

    # /download/{owner}/{pkg}/{ver}/{basename}
    def _download(self, method: str, segs: list[str]) -> None:
        self._need(segs, 4, "/download/{owner}/{package}/{version}/{basename}")
        owner, name, version = segs[:3]
        basename = "/".join(segs[3:])
        self._reader(owner)
        with self.app.store.lock:
            rec = self.app.store.files.get((owner, name, version, basename))
            if rec is None or rec.storage is None:
                raise ApiError(404, f"file {owner}/{name}/{version}/{basename} does not exist")
            rec.ndownloads += 1
            etag = rec.md5
        if self.headers.get("ETag") == etag or self.headers.get("If-None-Match") == etag:
            self._send(304, b"")
            return
        location = f"{self.app.url}/s3/object/{rec.sha256}"
        self._send(302, b"", headers={"Location": location})

    def _serve_object(self, segs: list[str]) -> None:
        store = self.app.store
        if len(segs) != 1 or not re.fullmatch(r"[0-9a-f]{64}", segs[0]):
            self._send(404, b"<Error><Code>NoSuchKey</Code></Error>", "application/xml")
            return
        self._stream_file(store.objects / segs[0])

    def _stream_file(self, path: Path) -> None:
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise ApiError(404, "no such file") from None
        head = (
            f"HTTP/1.1 200 OK\r\nServer: {self.server_version}\r\nDate: {self.date_time_string()}\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {size}\r\n\r\n"
        ).encode("latin-1")
        if self.app.latency:
            time.sleep(self.app.latency)
        self.wfile.write(head)
        if self.command == "HEAD":
            return
        with path.open("rb") as fh:
            shutil.copyfileobj(fh, self.wfile, _CHUNK)

    # conda: [/t/{token}]/{owner}[/label/{label}]/{subdir}/{repodata.json|file}
    def _conda(self, method: str, segs: list[str]) -> None:
        if method not in ("GET", "HEAD"):
            raise ApiError(405, "method not allowed")
        token = None
        if segs[:1] == ["t"] and len(segs) > 2:
            token, segs = segs[1], segs[2:]
        owner = segs[0]
        if owner in API_ROOTS or owner not in self.app.store.owners():
            raise ApiError(404, f"channel {owner!r} does not exist")
        # conda clients send the token in the path (conda.anaconda.org/t/TOKEN/...), not a header
        login = self.app.tokens.get(token) if token is not None else None
        if token is not None and login is None:
            raise ApiError(401, "Authentication token is invalid or has expired")
        if not self.app.anonymous_read and not self.app.store.can_write(login, owner):
            raise ApiError(401, f"channel {owner!r} is private: read it as /t/<TOKEN>/{owner}/...")
        rest = segs[1:]
        label = "main"
        if len(rest) >= 2 and rest[0] == "label":
            label, rest = rest[1].lower(), rest[2:]
        if len(rest) != 2 or rest[0] not in KNOWN_SUBDIRS:
            raise ApiError(404, "not found")
        subdir, name = rest
        if name == "repodata.json":
            body = self.app.store.repodata(owner, label, subdir)
            self._send(200, body, headers={"Cache-Control": "public, max-age=0, no-cache"})
            return
        with self.app.store.lock:
            rec = self.app.store.by_owner.get(owner, {}).get(f"{subdir}/{name}")
        if rec is None or label not in rec.labels or rec.storage is None:
            raise ApiError(404, f"{owner}/label/{label}/{subdir}/{name} does not exist")
        self._stream_file(rec.storage)


# --------------------------------------------------------------------------------------------
# entry points


@contextlib.contextmanager
def serve_anaconda(
    root: Path,
    *,
    tokens: dict[str, str] | None = None,
    orgs: dict[str, list[str]] | None = None,
    latency: float = 0.0,
    faults: FaultPlan | None = None,
    anonymous_read: bool = True,
) -> Iterator[AnacondaServer]:
    """Start a server on 127.0.0.1 (free port) in a thread; stop it on exit."""
    server = AnacondaServer(
        root, tokens=tokens, orgs=orgs, latency=latency, faults=faults, anonymous_read=anonymous_read
    )
    with server:
        yield server


def main(argv: list[str] | None = None) -> None:  # pragma: no cover - manual use
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--owner", default="alice")
    parser.add_argument("--token", default=os.environ.get("ANACONDA_TEST_SERVER_TOKEN", "test-token"))
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every response")
    args = parser.parse_args(argv)
    server = AnacondaServer(args.root, tokens={args.token: args.owner}, port=args.port, latency=args.latency)
    with server:
        print(f"serving {server.url} (owner {args.owner})", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)


if __name__ == "__main__":  # pragma: no cover
    main()
