"""prefix.dev (and self-hosted servers speaking its API): ``https://prefix.dev/CHANNEL``,
``prefix+https://HOST/CHANNEL``.

prefix.dev has no labels, so a label maps to a channel: ``main`` -> ``CHANNEL``, ``L`` ->
``CHANNEL-L`` (``label_channel_name``); those channels must exist (create them on prefix.dev).

- State: each label channel's ``<subdir>/repodata.json`` (sha256, build_number per file). prefix.dev
  has no API that lists channels (``Capabilities.lists_labels`` is False), so the labels read are
  ``main``, ``test``, the labels the command names (``TargetOptions.labels``) and those written in
  this batch.
- Upload: ``POST /api/v1/upload/<channel>``, multipart part ``file`` with ``X-File-Name`` and
  ``X-File-SHA256`` part headers (what rattler-build sends), streamed from disk. Never ``force``.
  409 means the name exists: the server's sha256 is read back -> identical: fine; else conflict.
- Promotion (``add_label``): download from the source label's channel (range requests, checked by
  sha256), upload to the target label's channel, read back. ``remove_label`` deletes that label
  channel's copy.
- Token: ``PREFIX_API_KEY`` or ``--token-file``; else trusted publishing (``cipub.core.oidc``). Without
  any, public channels can still be read (build numbers); every write fails at once (exit 5).
- prefix.dev indexes uploads asynchronously: reads after a write wait (bounded) until the index
  shows the write.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cipub.channels.base import (
    MAIN_LABEL,
    Capabilities,
    ChannelFile,
    Uploaded,
    check_filename,
    group_copies,
    int_or_none,
    label_channel_name,
    package_of,
    poll_until,
    repodata_records,
)
from cipub.channels.http import Body, HttpChannel, file_form
from cipub.channels.target import Target, TargetOptions
from cipub.core.artifact import Artifact
from cipub.core.attest import bundles_in_sidecar
from cipub.core.errors import ConflictError, NetworkError, VerificationError
from cipub.core.oidc import trusted_publishing_token
from cipub.core.transport import HttpClient

log = logging.getLogger("cipub.prefix")

#: labels read even when the command does not name them (cipub's default staging label)
DEFAULT_LABELS = (MAIN_LABEL, "test")
DOWNLOAD_CHUNK = 8 * 1024 * 1024
#: parallel repodata probes, each thread with its own HTTP client (see ``subdirs``)
PROBE_THREADS = 8
#: how long a read after our own write waits for the server's index to show it, seconds
INDEX_WAIT_SECONDS = 60.0
#: where the token is read from, first name first (also the secret `cipub ci init github` names)
TOKEN_ENV = ("PREFIX_API_KEY",)

Records = dict[str, dict[str, Any]]


def all_subdirs() -> list[str]:
    from rattler import Subdir

    return [str(p) for p in Subdir.all()]


def multipart_body(
    path: Path, filename: str, sha256: str, size: int, attestation: str | None = None
) -> tuple[str, int, Body]:
    """(content type, length, body factory) of the upload form, streamed from disk; with the
    optional ``attestation`` part (a Sigstore bundle, as rattler-build sends it) before the file."""
    boundary = f"cipub-{secrets.token_hex(16)}"
    attested = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="attestation"\r\n'
        "Content-Type: application/json\r\n"
        "\r\n"
        f"{attestation}\r\n"
        if attestation
        else ""
    )
    head = attested + (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n"
        f"Content-Length: {size}\r\n"
        f"X-File-Name: {filename}\r\n"
        f"X-File-SHA256: {sha256}\r\n"
        "\r\n"
    )
    return file_form(boundary, head, path, size, sha256)


class PrefixChannel(HttpChannel):
    """Implements ``cipub.channels.base.Channel`` for prefix.dev's API."""

    capabilities = Capabilities(server_side_index=True, async_index=True)
    server = "prefix server"
    token_env = TOKEN_ENV
    credentials_hint = (
        "or use trusted publishing: GitHub Actions with `permissions: id-token: write`, or GitLab CI with "
        "`id_tokens: PREFIX_DEV_ID_TOKEN: {aud: prefix.dev}`; or pass --token-file PATH"
    )

    name_what = "prefix.dev channel name"
    #: how long a read after our own write waits for the index to show it, seconds
    index_wait: float = INDEX_WAIT_SECONDS

    _labels: set[str]
    #: writes the index must show before a read is trusted: (channel, subdir) -> {filename: sha256 | None}
    _expect: dict[tuple[str, str], dict[str, str | None]]
    _repodata: dict[tuple[str, str], Records]
    _subdirs: list[str] | None
    #: bundles to send with the upload of (subdir, filename, sha256): attach_attestation
    _attestations: dict[tuple[str, str, str], str]

    def _start(self) -> None:
        # Both outlive a batch: labels written stay readable, a write still pending in the index
        # stays expected.
        self._labels = {self.check_label(label) for label in (*DEFAULT_LABELS, *self._options.labels)}
        self._expect = {}
        self._attestations = {}

    def _forget_batch(self) -> None:
        with self._lock:
            self._repodata = {}
            self._subdirs = None

    @property
    def read_base(self) -> str:
        return read_base_for(self.base_url).rstrip("/")

    # -- reading ----------------------------------------------------------------------------------
    def _read_repodata(self, chan: str, subdir: str) -> Records:
        """``{filename: record}`` of one channel subdir; 404 = empty."""
        where = f"{chan}/{subdir}/repodata.json"
        response = self.http.request(
            "GET", f"{self.read_base}/{where}", follow_redirects=True, max_bytes=self._options.max_download_bytes
        )
        if response.status_code == 404:
            return {}
        if response.status_code >= 300:
            raise self._fail(response, f"reading {where}")
        return repodata_records(self.http.parse(response, dict, f"reading {where}"))

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
        records: Records = {}

        def shown() -> bool:
            nonlocal records
            records = self._read_repodata(chan, subdir)
            return self._met(records, expected)

        met = poll_until(shown, timeout=self.index_wait, sleep=self._sleep, delay=0.2, max_delay=5.0)
        if not met:
            log.info("%s/%s: the server's index does not show the latest writes yet", chan, subdir)
        with self._lock:
            self._repodata[key] = records
            if met:
                self._expect.pop(key, None)
        return records

    def subdirs(self) -> list[str]:
        """Subdirs that exist in any label channel (probed once per batch, in parallel)."""
        with self._lock:
            if self._subdirs is not None:
                return self._subdirs
            labels = sorted(self._labels)
        pairs = [(label_channel_name(self.name, label), s) for label in labels for s in all_subdirs()]
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
        rows = (
            ((subdir, filename), label, str(record.get("sha256") or ""), record)
            for label in labels
            for subdir in subdirs
            for filename, record in self.repodata(label_channel_name(self.name, label), subdir).items()
            if package_of(filename, name, version)
        )
        return [
            ChannelFile.from_copies(subdir, filename, copies, build_number=int_or_none(record.get("build_number")))
            for (subdir, filename), copies, record in group_copies(rows)
        ]

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

    def _post(
        self, chan: str, subdir: str, path: Path, *, filename: str, sha256: str, size: int, label: str
    ) -> Uploaded:
        """Create the file in ``chan``; identical bytes already there (409) count as done, and say so."""
        self._require_token()
        check_filename(filename)
        attestation = self._attestations.get((subdir, filename, sha256))
        content_type, length, body = multipart_body(path, filename, sha256, size, attestation)

        def landed() -> bool:
            return self._sha_on_server(chan, subdir, filename) == sha256

        response = self.http.request(
            "POST",
            f"/api/v1/upload/{chan}",
            content_factory=body,
            headers={"Content-Type": content_type, "Content-Length": str(length)},
            landed=landed,
        )
        if response.status_code == 409:
            # The name exists: identical bytes (an earlier attempt, another job) are fine.
            self._expect_write(chan, subdir, filename, sha256, label)
            found = self._sha_on_server(chan, subdir, filename)
            if found == sha256:
                return "skipped-identical"
            if found is None:
                raise VerificationError(
                    f"{self.display}: {chan} says {subdir}/{filename} exists, but its index does not show it",
                    hint="wait for the server to finish indexing and re-run",
                )
            raise ConflictError(
                f"{subdir}/{filename} already exists in channel {chan!r} with different content",
                hint="cipub never overwrites; build with a new build number",
            )
        if not response.is_success:
            raise self._refused(response, f"uploading {filename} to {chan}", missing=f"channel {chan!r}", label=label)
        self._expect_write(chan, subdir, filename, sha256, label)
        return "uploaded"

    def upload(self, artifact: Artifact, label: str) -> Uploaded:
        chan = label_channel_name(self.name, self.check_label(label))
        return self._post(
            chan,
            artifact.subdir,
            artifact.path,
            filename=artifact.filename,
            sha256=artifact.sha256,
            size=artifact.size,
            label=label,
        )

    # -- attestations (issue 16): prefix.dev takes one with the upload, serves it as <file>.v0.sigs --
    def attach_attestation(self, subdir: str, filename: str, sha256: str, bundle: str) -> None:
        """Send ``bundle`` with the upload of ``filename`` (these bytes) from now on."""
        with self._lock:
            self._attestations[(subdir, filename, sha256)] = bundle

    def get_attestation(self, subdir: str, filename: str, label: str, kind: str) -> bytes | None:
        """The attestations the server holds for the file in ``label`` (a JSON list of bundles), or None."""
        if kind != "keyless":
            return None  # the server holds Sigstore bundles only
        where = f"{label_channel_name(self.name, self.check_label(label))}/{subdir}/{check_filename(filename)}.v0.sigs"
        response = self.http.request(
            "GET", f"{self.read_base}/{where}", follow_redirects=True, max_bytes=self._options.max_download_bytes
        )
        if response.status_code == 404:
            return None
        if response.status_code >= 300:
            raise self._fail(response, f"reading {where}")
        return response.content

    def add_label(self, file: ChannelFile, label: str, *, source_label: str | None) -> bool:
        source_label, sha = file.source_copy(source_label)
        self._require_token()
        held = self.get_attestation(file.subdir, file.filename, source_label, "keyless")
        bundles = bundles_in_sidecar(held) if held else []
        if bundles:  # the copy keeps its attestation (it names the channel, not the label's channel)
            self.attach_attestation(file.subdir, file.filename, sha, bundles[0])
        dest = label_channel_name(self.name, self.check_label(label))
        existing = self._sha_on_server(dest, file.subdir, file.filename)
        if existing is not None:
            if existing != sha:
                raise ConflictError(
                    f"{file.key} already exists in channel {dest!r} with different content",
                    hint="cipub never overwrites; build with a new build number",
                )
            with self._lock:
                self._labels.add(label)
            return False
        source = label_channel_name(self.name, source_label)
        with tempfile.TemporaryDirectory(prefix="cipub-prefix-") as tmp:
            path = Path(tmp) / check_filename(file.filename)
            size = self._download(source, file.subdir, file.filename, path, sha)
            return self._post(dest, file.subdir, path, filename=file.filename, sha256=sha, size=size, label=label) == (
                "uploaded"
            )

    def remove_label(self, file: ChannelFile, label: str) -> None:
        self._require_token()
        chan = label_channel_name(self.name, label)
        filename = check_filename(file.filename)
        response = self.http.request("DELETE", f"/api/v1/delete/{chan}/{file.subdir}/{filename}")
        if response.status_code >= 300 and response.status_code != 404:  # 404: already gone
            raise self._fail(response, f"removing {file.key} from {chan}")
        self._expect_write(chan, file.subdir, filename, None, label)

    def install_url(self, label: str) -> str:
        return f"{self.read_base}/{label_channel_name(self.name, label)}"

    def fetch(self, file: ChannelFile, label: str, dest: Path) -> None:
        """Download ``label``'s copy of ``file`` to ``dest`` (cross-target promotion)."""
        _label, sha = file.source_copy(label)
        self._download(label_channel_name(self.name, label), file.subdir, file.filename, dest, sha)

    def _download(self, chan: str, subdir: str, filename: str, dest: Path, sha256: str) -> int:
        """Fetch a package in ranges (each retried by the transport), memory flat; check sha256."""
        where = f"{chan}/{subdir}/{filename}"
        digest = hashlib.sha256()
        offset = 0
        with dest.open("wb") as out:
            while True:
                end = offset + DOWNLOAD_CHUNK - 1
                response = self.http.request(
                    "GET",
                    f"{self.read_base}/{where}",
                    headers={"Range": f"bytes={offset}-{end}"},
                    follow_redirects=True,
                    max_bytes=self._options.max_download_bytes,
                )
                if response.status_code == 416:
                    break  # asked past the end: the previous range ended exactly at the size
                if response.status_code not in (200, 206):
                    raise self._fail(response, f"downloading {where}")
                out.write(response.content)
                digest.update(response.content)
                offset += len(response.content)
                if offset > self._options.max_download_bytes:
                    raise NetworkError(
                        f"{self.display}: {where} is bigger than max_download_mb",
                        hint="raise max_download_mb (CIPUB_MAX_DOWNLOAD_MB) if packages are really this big",
                    )
                if response.status_code == 200:
                    break  # the server ignored the range and sent everything
                total = _content_range_total(response.headers.get("content-range", ""))
                if not response.content or (total is not None and offset >= total):
                    break
        if digest.hexdigest() != sha256:
            raise VerificationError(
                f"{self.display}: {where} downloaded with sha256 {digest.hexdigest()}, expected {sha256}"
            )
        return offset


def _content_range_total(value: str) -> int | None:
    _, _, total = value.rpartition("/")
    return int(total) if total.isdigit() else None


def read_base_for(server: str) -> str:
    """Where channel contents are served: prefix.dev serves them from repo.prefix.dev."""
    host = (urlsplit(server).hostname or "").lower()
    return "https://repo.prefix.dev" if host == "prefix.dev" else server


def open_target(target: Target, options: TargetOptions) -> PrefixChannel:
    server = (options.api_url or target.base).rstrip("/")
    token = options.read_token(TOKEN_ENV)
    if token is None:
        with HttpClient.for_target(server, options, what=f"prefix server {server}") as minting:
            token = trusted_publishing_token(server, http=minting)
    return PrefixChannel(server, target.name, options, token, target.display)
