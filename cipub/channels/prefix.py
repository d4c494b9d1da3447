"""prefix.dev (and self-hosted servers speaking its API): ``https://prefix.dev/CHANNEL``,
``prefix+https://HOST/CHANNEL``.

prefix.dev has no labels, so a label maps to a channel: ``main`` -> ``CHANNEL``, ``L`` ->
``CHANNEL-L`` (``label_channel_name``); those channels must exist (create them on prefix.dev).

- State: each label channel's ``<subdir>/repodata.json`` (sha256, build_number per file). prefix.dev
  has no API that lists channels, so the labels read are ``main``, ``test``, the labels the command
  names and those written in this batch.
- Upload: ``POST /api/v1/upload/<channel>``, multipart part ``file`` with ``X-File-Name`` and
  ``X-File-SHA256`` part headers (what rattler-build sends), streamed from disk. Never ``force``.
  409 means the name exists: the server's sha256 is read back -> identical: fine; else conflict.
- Promotion (``add_label``): download from the source label's channel (range requests, checked by
  sha256), upload to the target label's channel, read back. ``remove_label`` deletes the source
  channel's copy only when another label's copy holds the same sha256 on the server.
- Token: ``PREFIX_API_KEY`` or ``--token-file``; else trusted publishing (``cipub.core.oidc``). Without
  any, public channels can still be read (build numbers); every write fails at once (exit 5).
- prefix.dev indexes uploads asynchronously: reads after a write wait (bounded) until the index
  shows the write.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from cipub.channels import Target, TargetOptions
from cipub.channels.base import MAIN_LABEL, ChannelFile, label_channel_name
from cipub.core.artifact import Artifact, split_filename
from cipub.core.errors import (
    AuthError,
    ConflictError,
    InvalidPackageError,
    NetworkError,
    UsageError,
    VerificationError,
)
from cipub.core.oidc import trusted_publishing_token
from cipub.core.secrets import read_token
from cipub.core.transport import HttpClient, file_chunks, server_message

log = logging.getLogger("cipub.prefix")

_SAFE_FILENAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
_SAFE_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
#: labels read even when the command does not name them (cipub's default staging label)
DEFAULT_LABELS = (MAIN_LABEL, "test")
DOWNLOAD_CHUNK = 8 * 1024 * 1024
#: parallel repodata probes, each thread with its own HTTP client (see ``subdirs``)
PROBE_THREADS = 8

Records = dict[str, dict[str, Any]]


def all_subdirs() -> list[str]:
    from rattler import Subdir

    return [str(p) for p in Subdir.all()]


def _check_label(label: str) -> str:
    if not _SAFE_LABEL.match(label):
        raise UsageError(f"invalid label {label!r}: use letters, digits, '.', '_', '-'")
    return label


def _check_filename(filename: str) -> str:
    if not _SAFE_FILENAME.match(filename):
        raise InvalidPackageError(f"refusing file name {filename!r}")
    split_filename(filename)
    return filename


def multipart_body(path: Path, filename: str, sha256: str, size: int) -> tuple[str, int, Callable[[], Iterator[bytes]]]:
    """(content type, length, body factory) of the upload form, streamed from disk."""
    boundary = f"cipub-{secrets.token_hex(16)}"
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n"
        f"Content-Length: {size}\r\n"
        f"X-File-Name: {filename}\r\n"
        f"X-File-SHA256: {sha256}\r\n"
        "\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    def body() -> Iterator[bytes]:
        yield head
        yield from file_chunks(path)
        yield tail

    return f"multipart/form-data; boundary={boundary}", len(head) + size + len(tail), body


class PrefixChannel:
    """Implements ``cipub.channels.base.Channel`` for prefix.dev's API."""

    def __init__(
        self,
        http: HttpClient,
        channel: str,
        *,
        display: str,
        read_base: str,
        labels: Iterable[str] = (),
        max_parallel: int = 4,
        index_wait: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        anonymous: bool = False,
    ) -> None:
        self.http = http
        self.channel = channel
        self.display = display
        self.read_base = read_base.rstrip("/")
        self.max_parallel = max(1, max_parallel)
        self.index_wait = index_wait
        #: no token: public channels can still be read (build numbers), every write fails at once
        self.anonymous = anonymous
        #: makes the per-thread clients of the repodata probe (tests inject a mock transport)
        self._sleep = sleep
        self._labels = {_check_label(label) for label in (*DEFAULT_LABELS, *labels)}
        self._lock = threading.Lock()
        self._repodata: dict[tuple[str, str], Records] = {}
        #: writes the index must show before a read is trusted: (channel, subdir) -> {filename: sha256 | None}
        self._expect: dict[tuple[str, str], dict[str, str | None]] = {}
        self._subdirs: list[str] | None = None

    # -- context ----------------------------------------------------------------------------------
    def __enter__(self) -> PrefixChannel:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # The next batch reads the server afresh (writes still pending in its index stay expected).
        with self._lock:
            self._repodata.clear()
            self._subdirs = None

    def close(self) -> None:
        self.http.close()

    # -- reading ----------------------------------------------------------------------------------
    def _read_repodata(self, chan: str, subdir: str, http: HttpClient | None = None) -> Records:
        """``{filename: record}`` of one channel subdir; 404 = empty."""
        client = http or self.http
        response = client.request("GET", f"{self.read_base}/{chan}/{subdir}/repodata.json", follow_redirects=True)
        assert response is not None
        if response.status_code == 404:
            return {}
        if response.status_code >= 300:
            raise NetworkError(
                f"{self.display}: reading {chan}/{subdir}/repodata.json answered "
                f"{response.status_code}: {server_message(response)}"
            )
        try:
            data = response.json()
        except ValueError as exc:
            raise NetworkError(f"{self.display}: {chan}/{subdir}/repodata.json is not JSON") from exc
        records: Records = {}
        for section in ("packages", "packages.conda"):
            for filename, record in (data.get(section) or {}).items():
                if isinstance(record, dict):
                    records[filename] = record
        return records

    def _met(self, records: Records, expected: dict[str, str | None]) -> bool:
        for filename, sha in expected.items():
            record = records.get(filename)
            if sha is None and record is not None:
                return False
            if sha is not None and (record is None or record.get("sha256") != sha):
                return False
        return True

    def repodata(self, chan: str, subdir: str, *, fresh: bool = False) -> Records:
        """Cached per batch; after our own writes, wait (bounded) until the index shows them."""
        key = (chan, subdir)
        with self._lock:
            if not fresh and key in self._repodata:
                return self._repodata[key]
            expected = dict(self._expect.get(key, {}))
        records = self._read_repodata(chan, subdir)
        deadline = time.monotonic() + self.index_wait
        delay = 0.2
        while expected and not self._met(records, expected) and time.monotonic() < deadline:
            log.info("%s/%s: waiting for the server's index to show the latest writes", chan, subdir)
            self._sleep(delay)
            delay = min(delay * 2, 5.0)
            records = self._read_repodata(chan, subdir)
        with self._lock:
            self._repodata[key] = records
            if self._met(records, expected):
                self._expect.pop(key, None)
        return records

    def subdirs(self) -> list[str]:
        """Subdirs that exist in any label channel (probed once per batch, in parallel)."""
        with self._lock:
            if self._subdirs is not None:
                return self._subdirs
            labels = sorted(self._labels)
        pairs = [(label_channel_name(self.channel, label), s) for label in labels for s in all_subdirs()]
        # HttpClient keeps one connection pool per thread, so parallel probes do not share one.

        def probe(pair: tuple[str, str]) -> tuple[tuple[str, str], Records]:
            return pair, self._read_repodata(*pair)

        with ThreadPoolExecutor(max_workers=PROBE_THREADS, thread_name_prefix="cipub-prefix-probe") as pool:
            results = list(pool.map(probe, pairs))
        with self._lock:
            for (chan, subdir), records in results:
                if (chan, subdir) not in self._expect:  # pending writes: read again (and wait) later
                    self._repodata.setdefault((chan, subdir), records)
            found = sorted({subdir for (_chan, subdir), records in results if records})
            self._subdirs = found
        return found

    def files(self, name: str, version: str | None = None) -> list[ChannelFile]:
        subdirs = self.subdirs()
        with self._lock:
            labels = sorted(self._labels)
            subdirs = sorted(set(subdirs) | {s for (_c, s) in self._expect})
        found: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        for label in labels:
            chan = label_channel_name(self.channel, label)
            for subdir in subdirs:
                for filename, record in self.repodata(chan, subdir).items():
                    try:
                        f_name, f_version, _build, _ext = split_filename(filename)
                    except InvalidPackageError:
                        continue
                    if f_name == name and (version is None or f_version == version):
                        found.setdefault((subdir, filename), {})[label] = record
        result = []
        for (subdir, filename), by_label in sorted(found.items()):
            f_name, f_version, build, _ext = split_filename(filename)
            shas = {label: str(record.get("sha256") or "") for label, record in by_label.items()}
            distinct = set(shas.values())
            first = by_label[sorted(by_label)[0]]
            number = first.get("build_number")
            result.append(
                ChannelFile(
                    subdir=subdir,
                    filename=filename,
                    name=f_name,
                    version=f_version,
                    build=build,
                    build_number=int(number) if isinstance(number, int) else _suffix_number(build),
                    sha256=distinct.pop() if len(distinct) == 1 else None,
                    labels=frozenset(by_label),
                    label_sha256=tuple(sorted(shas.items())),
                )
            )
        return result

    def _sha_on_server(self, chan: str, subdir: str, filename: str, *, fresh: bool = True) -> str | None:
        record = self.repodata(chan, subdir, fresh=fresh).get(filename)
        return str(record.get("sha256")) if record and record.get("sha256") else None

    # -- writing ----------------------------------------------------------------------------------
    def _expect_write(self, chan: str, subdir: str, filename: str, sha256: str | None, label: str) -> None:
        with self._lock:
            self._expect.setdefault((chan, subdir), {})[filename] = sha256
            self._repodata.pop((chan, subdir), None)
            self._labels.add(label)
            if self._subdirs is not None and subdir not in self._subdirs:
                self._subdirs = sorted({*self._subdirs, subdir})

    def _require_token(self) -> None:
        if self.anonymous:
            raise AuthError(
                f"no token for {self.display}: set PREFIX_API_KEY, or use trusted publishing",
                hint="trusted publishing: GitHub Actions with `permissions: id-token: write`, or GitLab CI with "
                "`id_tokens: PREFIX_DEV_ID_TOKEN: {aud: prefix.dev}`; or pass --token-file PATH",
            )

    def _post(self, chan: str, subdir: str, path: Path, *, filename: str, sha256: str, size: int, label: str) -> None:
        self._require_token()
        _check_filename(filename)
        content_type, length, body = multipart_body(path, filename, sha256, size)

        def landed() -> bool:
            return self._sha_on_server(chan, subdir, filename) == sha256

        response = self.http.request(
            "POST",
            f"/api/v1/upload/{chan}",
            content_factory=body,
            headers={"Content-Type": content_type, "Content-Length": str(length)},
            landed=landed,
        )
        if response is not None and response.status_code == 409:
            # The name exists: identical bytes (an earlier attempt, another job) are fine.
            self._expect_write(chan, subdir, filename, sha256, label)
            found = self._sha_on_server(chan, subdir, filename)
            if found == sha256:
                return
            if found is None:
                raise VerificationError(
                    f"{self.display}: {chan} says {subdir}/{filename} exists, but its index does not show it",
                    hint="wait for the server to finish indexing and re-run",
                )
            raise ConflictError(
                f"{subdir}/{filename} already exists in channel {chan!r} with different content",
                hint="cipub never overwrites; build with a new build number",
            )
        if response is not None and response.status_code >= 300:
            message = server_message(response)
            if response.status_code == 404:
                raise UsageError(
                    f"{self.display}: channel {chan!r} does not exist ({message})",
                    hint=f"create it on the server first; label {label!r} maps to channel {chan!r}",
                )
            if response.status_code in (400, 413, 415, 422):
                raise InvalidPackageError(
                    f"{self.display}: {chan} refused {filename} ({response.status_code}): {message}"
                )
            raise NetworkError(
                f"{self.display}: uploading {filename} to {chan} answered {response.status_code}: {message}"
            )
        self._expect_write(chan, subdir, filename, sha256, label)

    def upload(self, artifact: Artifact, label: str) -> None:
        chan = label_channel_name(self.channel, _check_label(label))
        self._post(
            chan,
            artifact.subdir,
            artifact.path,
            filename=artifact.filename,
            sha256=artifact.sha256,
            size=artifact.size,
            label=label,
        )

    def add_label(self, file: ChannelFile, label: str) -> None:
        if label in file.labels:
            return
        self._require_token()
        _check_label(label)
        sources = [lab for lab in sorted(file.labels) if file.sha256_in(lab)]
        if not sources:
            raise VerificationError(f"{file.key}: no label holds a copy with a known sha256")
        source_label = sources[0]
        sha = file.sha256_in(source_label)
        assert sha is not None
        dest = label_channel_name(self.channel, label)
        existing = self._sha_on_server(dest, file.subdir, file.filename)
        if existing is not None:
            if existing != sha:
                raise ConflictError(
                    f"{file.key} already exists in channel {dest!r} with different content",
                    hint="cipub never overwrites; build with a new build number",
                )
            with self._lock:
                self._labels.add(label)
            return
        source = label_channel_name(self.channel, source_label)
        with tempfile.TemporaryDirectory(prefix="cipub-prefix-") as tmp:
            path = Path(tmp) / _check_filename(file.filename)
            size = self._download(source, file.subdir, file.filename, path, sha)
            self._post(dest, file.subdir, path, filename=file.filename, sha256=sha, size=size, label=label)

    def remove_label(self, file: ChannelFile, label: str) -> None:
        self._require_token()
        sha = file.sha256_in(label)
        keeps = [lab for lab in sorted(file.labels - {label}) if file.sha256_in(lab) == sha]
        if not keeps:
            raise VerificationError(f"refusing to remove {file.key} from {label!r}: no other label holds the same file")
        kept_chan = label_channel_name(self.channel, keeps[0])
        if self._sha_on_server(kept_chan, file.subdir, file.filename) != sha:
            raise VerificationError(
                f"refusing to remove {file.key} from {label!r}: its copy in {kept_chan!r} is missing or differs"
            )
        chan = label_channel_name(self.channel, label)
        filename = _check_filename(file.filename)
        response = self.http.request("DELETE", f"/api/v1/delete/{chan}/{file.subdir}/{filename}")
        assert response is not None
        if response.status_code >= 300 and response.status_code != 404:
            raise NetworkError(
                f"{self.display}: removing {file.key} from {chan} answered "
                f"{response.status_code}: {server_message(response)}"
            )
        self._expect_write(chan, file.subdir, filename, None, label)

    def install_url(self, label: str) -> str:
        return f"{self.read_base}/{label_channel_name(self.channel, label)}"

    def _download(self, chan: str, subdir: str, filename: str, dest: Path, sha256: str) -> int:
        """Fetch a package in ranges (each retried by the transport), memory flat; check sha256."""
        url = f"{self.read_base}/{chan}/{subdir}/{filename}"
        digest = hashlib.sha256()
        offset = 0
        with dest.open("wb") as out:
            while True:
                end = offset + DOWNLOAD_CHUNK - 1
                response = self.http.request(
                    "GET", url, headers={"Range": f"bytes={offset}-{end}"}, follow_redirects=True
                )
                assert response is not None
                if response.status_code == 416:
                    break  # asked past the end: the previous range ended exactly at the size
                if response.status_code not in (200, 206):
                    raise NetworkError(
                        f"{self.display}: downloading {chan}/{subdir}/{filename} answered "
                        f"{response.status_code}: {server_message(response)}"
                    )
                out.write(response.content)
                digest.update(response.content)
                offset += len(response.content)
                if response.status_code == 200:
                    break  # the server ignored the range and sent everything
                total = _content_range_total(response.headers.get("content-range", ""))
                if not response.content or (total is not None and offset >= total):
                    break
        if digest.hexdigest() != sha256:
            raise VerificationError(
                f"{self.display}: {chan}/{subdir}/{filename} downloaded with sha256 {digest.hexdigest()}, "
                f"expected {sha256}"
            )
        return offset


def _content_range_total(value: str) -> int | None:
    _, _, total = value.rpartition("/")
    return int(total) if total.isdigit() else None


def _suffix_number(build: str) -> int:
    tail = build.rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def read_base_for(server: str) -> str:
    """Where channel contents are served: prefix.dev serves them from repo.prefix.dev."""
    host = (urlsplit(server).hostname or "").lower()
    return "https://repo.prefix.dev" if host == "prefix.dev" else server


def open_target(target: Target, options: TargetOptions) -> PrefixChannel:
    server = (options.api_url or target.base).rstrip("/")
    channel = target.name
    if not _SAFE_LABEL.match(channel):
        raise UsageError(f"{target.raw!r}: {channel!r} is not a prefix.dev channel name")
    http = HttpClient.for_target(
        server, options, pool_size=max(8, options.concurrency * 2), what=f"prefix server {server}"
    )
    try:
        token = read_token(["PREFIX_API_KEY"], token_file=options.token_file, required=False)
        if token is None:
            token = trusted_publishing_token(server, http=http)
    except BaseException:
        http.close()
        raise
    if token is not None:
        http.set_header("Authorization", f"Bearer {token.reveal()}")
    labels = options.labels
    return PrefixChannel(
        http,
        channel,
        display=target.raw,
        read_base=read_base_for(server),
        labels=labels,
        max_parallel=options.concurrency,
        anonymous=token is None,
    )
