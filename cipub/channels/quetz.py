"""Quetz (``quetz+http(s)://HOST/CHANNEL``): labels are channels, promotion copies bytes.

Quetz has no labels, so a label maps to a channel of its own (``label_channel_name``):
``main`` is ``CHANNEL`` itself, any other label ``L`` is the channel ``CHANNEL-L``. Any channel on
the server named ``CHANNEL-<something>`` is therefore read as label ``<something>`` of CHANNEL
(one ``GET /api/channels?q=CHANNEL`` finds them all); do not give unrelated channels such names.

- Token: ``QUETZ_API_KEY`` (as rattler-build and pixi read it) or ``--token-file``; sent as the
  ``X-API-Key`` header. Reading works without one on public channels; any write needs it.
- Upload: ``POST /api/channels/{ch}/upload/{filename}?sha256=...&force=false`` with the raw bytes
  streamed from disk (Quetz checks the sha256 itself, 406 on mismatch). ``force`` is always false:
  a 409 means the name is taken; identical bytes count as done, different bytes are a conflict.
- State: ``GET /api/channels/{ch}/packages/{name}/versions`` per label channel; each record's
  ``info.sha256`` is what Quetz computed from the bytes it stored.
- add_label: download the file from a label channel holding it, check its sha256, upload it to the
  label's channel. remove_label: delete it from that label's channel, only while another label
  keeps a copy with the same sha256.
- Missing label channels are created with the main channel's visibility (so staging is never more
  public than releases); when the main channel does not exist either, they are created private,
  Quetz's own default. Make channels public with Quetz's UI or ``PATCH /api/channels/NAME``.
- Quetz rebuilds ``repodata.json`` in the background after each change. Leaving the batch
  (``__exit__``) waits, bounded by ``INDEX_WAIT_SECONDS``, until the served repodata lists what
  was written and drops what was removed, so a CI step that installs right after sees the files.
"""

from __future__ import annotations

import logging
import re
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from cipub.channels import Target, TargetOptions
from cipub.channels.base import MAIN_LABEL, ChannelFile, find_file, label_channel_name
from cipub.core.artifact import Artifact
from cipub.core.errors import (
    AuthError,
    ConflictError,
    InvalidPackageError,
    NetworkError,
    UsageError,
    VerificationError,
)
from cipub.core.secrets import Secret, read_token, scrub
from cipub.core.transport import HttpClient, file_chunks, server_message

log = logging.getLogger("cipub.channels.quetz")

TOKEN_ENV = ("QUETZ_API_KEY",)
#: Quetz's limit on channel names (rest_models.ChannelBase)
MAX_CHANNEL_NAME = 50
#: how long leaving a batch waits for Quetz's background indexer, seconds
INDEX_WAIT_SECONDS = 60.0
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class _LabelChannel:
    label: str
    name: str
    private: bool


def _segment(value: str) -> str:
    return quote(value, safe="")


class QuetzChannel:
    """Implements ``cipub.channels.base.Channel`` against a Quetz server's REST API."""

    def __init__(
        self,
        base_url: str,
        channel: str,
        options: TargetOptions,
        token: Secret | None,
        display: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not _NAME.match(channel) or len(channel) > MAX_CHANNEL_NAME:
            raise UsageError(
                f"invalid Quetz channel name {channel!r}",
                hint=f"use letters, digits, '.', '_', '-' (at most {MAX_CHANNEL_NAME} characters)",
            )
        self.display = display
        self.max_parallel = max(1, options.concurrency)
        self.base_url = base_url.rstrip("/")
        self.channel = channel
        self._options = options
        self._token = token
        self._sleep = sleep
        self._transport = transport  # tests inject one; None = the network
        self._http: HttpClient | None = None
        self._lock = threading.Lock()
        #: one channel creation at a time: parallel uploads to a new label must not race Quetz
        #: (its create-channel answers 500 to the loser of a race, not 409)
        self._create_lock = threading.Lock()
        self._depth = 0
        #: label -> its channel, cached for one batch (refreshed outside a batch)
        self._labels: dict[str, _LabelChannel] | None = None
        #: (channel, subdir) -> {filename: should it be listed?}, for the index wait
        self._changed: dict[tuple[str, str], dict[str, bool]] = {}

    # -- plumbing -----------------------------------------------------------------------------
    @property
    def http(self) -> HttpClient:
        with self._lock:
            if self._http is None:
                headers = {"X-API-Key": self._token.reveal()} if self._token else {}
                self._http = HttpClient.for_target(
                    self.base_url,
                    self._options,
                    headers=headers,
                    pool_size=self.max_parallel + 2,
                    what=f"Quetz {urlsplit(self.base_url).netloc}",
                    sleep=self._sleep,
                    transport=self._transport,
                )
            return self._http

    def __enter__(self) -> QuetzChannel:
        self._depth += 1
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._depth -= 1
        if self._depth:
            return
        try:
            if exc_type is None:
                self.wait_indexed()
        finally:
            self._changed.clear()
            self._labels = None
            if self._http is not None:
                self._http.close()
                self._http = None

    def _require_token(self) -> None:
        if self._token is None:
            raise AuthError(
                f"no token for Quetz {self.display}: set {' or '.join(TOKEN_ENV)}",
                hint="or pass --token-file PATH; tokens are never accepted as command-line values",
            )

    def _fail(self, response: httpx.Response, action: str) -> NetworkError:
        return NetworkError(
            f"Quetz: {action} answered {response.status_code}: {server_message(response)}",
        )

    # -- label channels -----------------------------------------------------------------------
    def _label_of(self, channel_name: str) -> str | None:
        """Which label of our channel a server channel holds (Quetz names are case-insensitive)."""
        lowered, ours = channel_name.lower(), self.channel.lower()
        if lowered == ours:
            return MAIN_LABEL
        if lowered.startswith(ours + "-") and len(lowered) > len(ours) + 1:
            return channel_name[len(ours) + 1 :]
        return None

    def label_channels(self) -> dict[str, _LabelChannel]:
        """Every label of the target, found in one listing (cached for the batch)."""
        with self._lock:
            if self._labels is not None and self._depth:
                return dict(self._labels)
        listed = self.http.json("GET", "/api/channels", params={"q": self.channel})
        found: dict[str, _LabelChannel] = {}
        for item in listed if isinstance(listed, list) else []:
            name = str(item.get("name", ""))
            label = self._label_of(name)
            if label is not None and _NAME.match(label):
                found[label] = _LabelChannel(label, name, bool(item.get("private", True)))
        with self._lock:
            self._labels = found
        return dict(found)

    def _channel_for(self, label: str) -> str:
        known = self.label_channels().get(label)
        return known.name if known else label_channel_name(self.channel, label)

    def _ensure_channel(self, label: str) -> str:
        """The label's channel, created if missing (visibility of the main channel, else private)."""
        if not _NAME.match(label):
            raise UsageError(f"invalid label {label!r}: use letters, digits, '.', '_', '-'")
        known = self.label_channels()
        if label in known:
            return known[label].name
        with self._create_lock:
            known = self.label_channels()  # another thread may have created it meanwhile
            if label in known:
                return known[label].name
            return self._create_channel(label, known.get(MAIN_LABEL))

    def _create_channel(self, label: str, main: _LabelChannel | None) -> str:
        name = label_channel_name(self.channel, label)
        if len(name) > MAX_CHANNEL_NAME:
            raise UsageError(
                f"Quetz channel name {name!r} for label {label!r} is longer than {MAX_CHANNEL_NAME} characters",
                hint="use a shorter label or channel name",
            )
        private = main.private if main else True
        response = self.http.request(
            "POST",
            "/api/channels",
            json={
                "name": name,
                "private": private,
                "description": f"label {label!r} of channel {self.channel!r} (created by cipub)",
            },
        )
        assert response is not None
        if response.status_code not in (201, 409):  # 409: another process created it meanwhile
            raise self._fail(response, f"creating channel {name!r}")
        if response.status_code == 201:
            log.info("created Quetz channel %s (private=%s) for label %s", name, private, label)
        with self._lock:
            if self._labels is not None:
                self._labels[label] = _LabelChannel(label, name, private)
        return name

    # -- reading ------------------------------------------------------------------------------
    def _versions(self, channel_name: str, name: str) -> list[dict[str, Any]]:
        response = self.http.request(
            "GET", f"/api/channels/{_segment(channel_name)}/packages/{_segment(name)}/versions"
        )
        assert response is not None
        if response.status_code == 404:  # no such package (or channel) there
            return []
        if response.status_code != 200:
            raise self._fail(response, f"listing {name} in {channel_name!r}")
        data = response.json()
        return [d for d in data if isinstance(d, dict)] if isinstance(data, list) else []

    def _copy_sha(self, channel_name: str, name: str, subdir: str, filename: str) -> str | None:
        """sha256 Quetz recorded for one file of one channel, or None if absent."""
        for record in self._versions(channel_name, name):
            if record.get("platform") == subdir and record.get("filename") == filename:
                return str((record.get("info") or {}).get("sha256") or "") or None
        return None

    def files(self, name: str, version: str | None = None) -> list[ChannelFile]:
        copies: dict[tuple[str, str], dict[str, str]] = {}
        records: dict[tuple[str, str], dict[str, Any]] = {}
        for label, chan in sorted(self.label_channels().items()):
            for record in self._versions(chan.name, name):
                info = record.get("info") or {}
                if version is not None and str(record.get("version")) != version:
                    continue
                key = (str(record.get("platform")), str(record.get("filename")))
                # Rows can repeat (Quetz joins uploader profiles); one per label is what counts.
                copies.setdefault(key, {})[label] = str(info.get("sha256") or "")
                records.setdefault(key, record)
        result = []
        for (subdir, filename), by_label in sorted(copies.items()):
            record = records[(subdir, filename)]
            shas = set(by_label.values())
            result.append(
                ChannelFile(
                    subdir=subdir,
                    filename=filename,
                    name=str(record.get("package_name") or name),
                    version=str(record.get("version")),
                    build=str(record.get("build_string")),
                    build_number=int(record.get("build_number") or 0),
                    sha256=next(iter(shas)) if len(shas) == 1 else None,
                    labels=frozenset(by_label),
                    label_sha256=tuple(sorted(by_label.items())),
                )
            )
        return result

    # -- writing ------------------------------------------------------------------------------
    def _post_package(
        self,
        channel_name: str,
        *,
        name: str,
        subdir: str,
        filename: str,
        sha256: str,
        size: int,
        body: Callable[[], Any],
    ) -> None:
        """Create one file in one channel; identical bytes already there count as done."""

        def landed() -> bool:
            return self._copy_sha(channel_name, name, subdir, filename) == sha256

        response = self.http.request(
            "POST",
            f"/api/channels/{_segment(channel_name)}/upload/{_segment(filename)}",
            params={"sha256": sha256, "force": "false"},
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
            content_factory=body,
            landed=landed,
        )
        if response is not None and response.status_code != 201:
            if response.status_code == 409:
                existing = self._copy_sha(channel_name, name, subdir, filename)
                if existing != sha256:
                    raise ConflictError(
                        f"{subdir}/{filename} already exists in Quetz channel {channel_name!r} with different content",
                        hint="cipub never overwrites; build with a new build number",
                    )
            elif response.status_code == 406:
                raise VerificationError(
                    f"Quetz received {filename} with a different sha256 than was sent "
                    "(changed on disk during the upload, or damaged in transit)",
                    hint="re-run the command",
                )
            elif response.status_code == 400:
                raise InvalidPackageError(f"Quetz refused {filename}: {server_message(response)}")
            else:
                raise self._fail(response, f"uploading {filename} to {channel_name!r}")
        with self._lock:
            self._changed.setdefault((channel_name, subdir), {})[filename] = True

    def upload(self, artifact: Artifact, label: str) -> None:
        self._require_token()
        channel_name = self._ensure_channel(label)
        self._post_package(
            channel_name,
            name=artifact.name,
            subdir=artifact.subdir,
            filename=artifact.filename,
            sha256=artifact.sha256,
            size=artifact.size,
            body=lambda: file_chunks(artifact.path),
        )

    def _download(self, channel_name: str, subdir: str, filename: str, dest: Path) -> tuple[str, int]:
        """Stream one file to ``dest``; returns (sha256, size). Memory stays flat."""
        path = f"/get/{_segment(channel_name)}/{_segment(subdir)}/{_segment(filename)}"
        got = self.http.download(path, dest)
        if got.status in (301, 302, 303, 307, 308) and "location" in got.headers:
            # A package store may redirect (S3, CDN). Follow it without the API key when it
            # leaves this server: the key is for Quetz only.
            location = httpx.URL(self.base_url + path).join(got.headers["location"])
            if location.host == httpx.URL(self.base_url).host:
                got = self.http.download(str(location), dest)
            else:
                with HttpClient.for_target(
                    f"{location.scheme}://{location.netloc.decode()}",
                    self._options,
                    what=f"package store {location.host}",
                    sleep=self._sleep,
                    transport=self._transport,
                ) as store:
                    got = store.download(str(location), dest)
        if got.status != 200 or got.sha256 is None:
            raise NetworkError(
                f"Quetz: downloading {subdir}/{filename} from {channel_name!r} answered {got.status}: "
                f"{scrub(got.text[:200]) or 'no detail'}"
            )
        return got.sha256, got.size

    def add_label(self, file: ChannelFile, label: str) -> None:
        if label in file.labels:
            return
        shas: set[str | None] = {sha for _label, sha in file.label_sha256} or {file.sha256}
        if len(shas) != 1 or None in shas or not file.labels:
            raise ConflictError(
                f"{file.key}: the copies in labels {', '.join(sorted(file.labels))} differ; "
                "cipub will not pick one to copy",
                hint="remove the wrong copy with Quetz's UI, or publish a new build number",
            )
        expected = str(next(iter(shas)))
        self._require_token()
        source = self._channel_for(MAIN_LABEL if MAIN_LABEL in file.labels else sorted(file.labels)[0])
        target = self._ensure_channel(label)
        with tempfile.TemporaryDirectory(prefix="cipub-quetz-") as scratch:
            copy = Path(scratch) / file.filename
            got, size = self._download(source, file.subdir, file.filename, copy)
            if got != expected:
                raise VerificationError(
                    f"{file.key} downloaded from Quetz channel {source!r} has sha256 {got}, expected {expected}",
                    hint="the copy on the server differs from what its index says; re-run, or check the server",
                )
            self._post_package(
                target,
                name=file.name,
                subdir=file.subdir,
                filename=file.filename,
                sha256=expected,
                size=size,
                body=lambda: file_chunks(copy),
            )

    def remove_label(self, file: ChannelFile, label: str) -> None:
        self._require_token()
        fresh = find_file(self.files(file.name, file.version), file.subdir, file.filename)
        if fresh is None or label not in fresh.labels:
            return  # already gone: removing is idempotent
        sha = fresh.sha256_in(label)
        keepers = [lab for lab, other in fresh.label_sha256 if lab != label and other == sha]
        if not keepers:
            raise VerificationError(
                f"refusing to remove {file.key} from label {label!r}: no other label holds the same "
                "bytes (that would delete the file)"
            )
        channel_name = self._channel_for(label)
        response = self.http.request(
            "DELETE",
            f"/api/channels/{_segment(channel_name)}/packages/{_segment(file.name)}"
            f"/versions/{_segment(file.subdir)}/{_segment(file.filename)}",
        )
        assert response is not None
        if response.status_code not in (200, 204, 404):
            raise self._fail(response, f"removing {file.key} from {channel_name!r}")
        with self._lock:
            self._changed.setdefault((channel_name, file.subdir), {})[file.filename] = False

    def install_url(self, label: str) -> str:
        return f"{self.base_url}/get/{label_channel_name(self.channel, label)}"

    # -- Quetz's background indexer -----------------------------------------------------------
    def _index_agrees(self, channel_name: str, subdir: str, expected: dict[str, bool]) -> bool:
        response = self.http.request("GET", f"/get/{_segment(channel_name)}/{_segment(subdir)}/repodata.json")
        assert response is not None
        if response.status_code != 200:
            return False
        try:
            repodata = response.json()
        except ValueError:
            return False  # caught mid-write
        listed = set(repodata.get("packages") or {}) | set(repodata.get("packages.conda") or {})
        return all((filename in listed) == present for filename, present in expected.items())

    def wait_indexed(self, timeout: float = INDEX_WAIT_SECONDS) -> bool:
        """Wait until Quetz's served repodata reflects this batch's writes; warn if it never does."""
        pending = dict(self._changed)
        deadline = time.monotonic() + timeout
        delay = 0.1
        while pending:
            for key, expected in list(pending.items()):
                if self._index_agrees(key[0], key[1], expected):
                    del pending[key]
            if not pending:
                break
            if time.monotonic() >= deadline:
                log.warning(
                    "Quetz has not re-indexed %s after %.0fs; the files are stored, installers may not see them yet",
                    ", ".join(f"{c}/{s}" for c, s in sorted(pending)),
                    timeout,
                )
                return False
            self._sleep(delay)
            delay = min(delay * 2, 2.0)
        return True


def open_target(target: Target, options: TargetOptions) -> QuetzChannel:
    token = read_token(TOKEN_ENV, token_file=options.token_file, required=False, what=f"Quetz {target.raw}")
    return QuetzChannel(target.base, target.name, options, token, target.raw)
