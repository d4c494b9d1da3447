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
- add_label: download the file from the source label's channel (the policy names it), check its
  sha256, upload it to the label's channel. remove_label: delete it from that label's channel.
- Missing label channels are created with the main channel's visibility (so staging is never more
  public than releases); when the main channel does not exist either, they are created private,
  Quetz's own default. Make channels public with Quetz's UI or ``PATCH /api/channels/NAME``.
- Quetz rebuilds ``repodata.json`` in the background after each change. Leaving the batch
  waits, bounded by ``INDEX_WAIT_SECONDS``, until the served repodata lists what was written and
  drops what was removed, so a CI step that installs right after sees the files.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from cipub.channels.base import (
    MAIN_LABEL,
    NAMES,
    Capabilities,
    ChannelFile,
    NameRule,
    as_dict,
    group_copies,
    int_or_none,
    label_channel_name,
    label_of_channel,
    package_of,
    poll_until,
)
from cipub.channels.http import HttpChannel, segment
from cipub.channels.target import Target, TargetOptions
from cipub.core.artifact import Artifact
from cipub.core.errors import ConflictError, NetworkError, UsageError, VerificationError
from cipub.core.secrets import Secret, read_token, scrub
from cipub.core.transport import file_chunks

log = logging.getLogger("cipub.channels.quetz")

TOKEN_ENV = ("QUETZ_API_KEY",)
#: Quetz's limit on channel names (rest_models.ChannelBase)
MAX_CHANNEL_NAME = 50
#: Quetz channel names follow the one naming rule, with Quetz's length limit
CHANNEL_NAMES = NameRule(NAMES.pattern, f"{NAMES.explained}, at most {MAX_CHANNEL_NAME} characters", MAX_CHANNEL_NAME)
#: how long leaving a batch waits for Quetz's background indexer, seconds
INDEX_WAIT_SECONDS = 60.0


@dataclass(frozen=True)
class _LabelChannel:
    label: str
    name: str
    private: bool


class QuetzChannel(HttpChannel):
    """Implements ``cipub.channels.base.Channel`` against a Quetz server's REST API."""

    capabilities = Capabilities(server_side_index=True, async_index=True, lists_labels=True)
    server = "Quetz"
    token_env = TOKEN_ENV
    name_what = "Quetz channel name"
    name_rule = CHANNEL_NAMES

    #: label -> its channel, cached for one batch (refreshed outside a batch)
    _labels: dict[str, _LabelChannel] | None
    #: (channel, subdir) -> {filename: should it be listed?}, for the index wait
    _changed: dict[tuple[str, str], dict[str, bool]]

    def auth_headers(self, token: Secret) -> dict[str, str]:
        return {"X-API-Key": token.reveal()}

    def _settle(self) -> None:
        self.wait_indexed()

    def _forget_batch(self) -> None:
        self._changed = {}
        self._labels = None

    # -- label channels -----------------------------------------------------------------------
    def label_channels(self) -> dict[str, _LabelChannel]:
        """Every label of the target, found in one listing (cached for the batch)."""
        with self._lock:
            if self._labels is not None and self.in_batch:
                return dict(self._labels)
        listed = self.http.json("GET", "/api/channels", params={"q": self.name}, expect=list)
        found: dict[str, _LabelChannel] = {}
        for item in map(as_dict, listed):
            name = str(item.get("name", ""))
            # Quetz channel names are case-insensitive
            label = label_of_channel(self.name, name, ignore_case=True)
            if label is not None:
                found[label] = _LabelChannel(label, name, bool(item.get("private", True)))
        with self._lock:
            self._labels = found
        return dict(found)

    def _channel_for(self, label: str) -> str:
        known = self.label_channels().get(label)
        return known.name if known else label_channel_name(self.name, label)

    def _ensure_channel(self, label: str) -> str:
        """The label's channel, created if missing (visibility of the main channel, else private)."""
        self.check_label(label)
        known = self.label_channels()
        if label in known:
            return known[label].name
        # One creation at a time: Quetz answers 500, not 409, to the loser of a race.
        with self._create_lock:
            known = self.label_channels()  # another thread may have created it meanwhile
            if label in known:
                return known[label].name
            return self._create_channel(label, known.get(MAIN_LABEL))

    def _create_channel(self, label: str, main: _LabelChannel | None) -> str:
        name = label_channel_name(self.name, label)
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
                "description": f"label {label!r} of channel {self.name!r} (created by cipub)",
            },
        )
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
        response = self.http.request("GET", f"/api/channels/{segment(channel_name)}/packages/{segment(name)}/versions")
        if response.status_code == 404:  # no such package (or channel) there
            return []
        if response.status_code != 200:
            raise self._fail(response, f"listing {name} in {channel_name!r}")
        data = self.http.parse(response, list, f"listing {name} in {channel_name!r}")
        return [d for d in data if isinstance(d, dict)]

    def _copy_sha(self, channel_name: str, name: str, subdir: str, filename: str) -> str | None:
        """sha256 Quetz recorded for one file of one channel, or None if absent."""
        for record in self._versions(channel_name, name):
            if record.get("platform") == subdir and record.get("filename") == filename:
                return str(as_dict(record.get("info")).get("sha256") or "") or None
        return None

    def files(self, name: str, version: str | None = None) -> list[ChannelFile]:
        # Rows can repeat (Quetz joins uploader profiles); one per label is what counts.
        rows = (
            (
                (str(record.get("platform")), str(record.get("filename"))),
                label,
                str(as_dict(record.get("info")).get("sha256") or ""),
                record,
            )
            for label, chan in sorted(self.label_channels().items())
            for record in self._versions(chan.name, name)
            if package_of(str(record.get("filename")), name, version)
        )
        return [
            ChannelFile.from_copies(subdir, filename, copies, build_number=int_or_none(record.get("build_number")))
            for (subdir, filename), copies, record in group_copies(rows)
        ]

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

        action = f"uploading {filename} to {channel_name!r}"
        response = self.http.request(
            "POST",
            f"/api/channels/{segment(channel_name)}/upload/{segment(filename)}",
            params={"sha256": sha256, "force": "false"},
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
            content_factory=body,
            landed=landed,
        )
        if response.status_code == 409:
            if self._copy_sha(channel_name, name, subdir, filename) != sha256:
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
        elif not response.is_success:
            raise self._refused(response, action)
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
            body=lambda: file_chunks(artifact.path, sha256=artifact.sha256),
        )

    def _download(self, channel_name: str, subdir: str, filename: str, dest: Path) -> tuple[str, int]:
        """Stream one file to ``dest``; returns (sha256, size). Memory stays flat."""
        path = f"/get/{segment(channel_name)}/{segment(subdir)}/{segment(filename)}"
        got = self.http.download(path, dest)
        if got.status in (301, 302, 303, 307, 308) and "location" in got.headers:
            # A package store may redirect (S3, CDN). Follow it without the API key when it
            # leaves this server: the key is for Quetz only.
            location = httpx.URL(self.base_url + path).join(got.headers["location"])
            if location.host == httpx.URL(self.base_url).host:
                got = self.http.download(str(location), dest)
            else:
                store_base = f"{location.scheme}://{location.netloc.decode()}"
                got = self.plain_client(store_base, f"package store {location.host}").download(str(location), dest)
        if got.status != 200 or got.sha256 is None:
            raise NetworkError(
                f"{self.display}: downloading {subdir}/{filename} from {channel_name!r} answered {got.status}: "
                f"{scrub(got.text[:200]) or 'no detail'}"
            )
        return got.sha256, got.size

    def fetch(self, file: ChannelFile, label: str, dest: Path) -> None:
        """Download ``label``'s copy of ``file`` to ``dest`` (cross-target promotion)."""
        self._download(self._channel_for(label), file.subdir, file.filename, dest)

    def add_label(self, file: ChannelFile, label: str, *, source_label: str | None) -> None:
        source_label, expected = file.source_copy(source_label)
        self._require_token()
        source = self._channel_for(source_label)
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
        channel_name = self._channel_for(label)
        response = self.http.request(
            "DELETE",
            f"/api/channels/{segment(channel_name)}/packages/{segment(file.name)}"
            f"/versions/{segment(file.subdir)}/{segment(file.filename)}",
        )
        if response.status_code not in (200, 204, 404):  # 404: already gone, removing is idempotent
            raise self._fail(response, f"removing {file.key} from {channel_name!r}")
        with self._lock:
            self._changed.setdefault((channel_name, file.subdir), {})[file.filename] = False

    def install_url(self, label: str) -> str:
        return f"{self.base_url}/get/{label_channel_name(self.name, label)}"

    # -- Quetz's background indexer -----------------------------------------------------------
    def _index_agrees(self, channel_name: str, subdir: str, expected: dict[str, bool]) -> bool:
        response = self.http.request("GET", f"/get/{segment(channel_name)}/{segment(subdir)}/repodata.json")
        if response.status_code != 200:
            return False
        try:
            repodata = response.json()
        except ValueError:
            return False  # caught mid-write
        listed = set(as_dict(as_dict(repodata).get("packages"))) | set(as_dict(as_dict(repodata).get("packages.conda")))
        return all((filename in listed) == present for filename, present in expected.items())

    def wait_indexed(self, timeout: float = INDEX_WAIT_SECONDS) -> bool:
        """Wait until Quetz's served repodata reflects this batch's writes; warn if it never does."""
        pending = dict(self._changed)

        def agrees() -> bool:
            for key, expected in list(pending.items()):
                if self._index_agrees(key[0], key[1], expected):
                    del pending[key]
            return not pending

        if poll_until(agrees, timeout=timeout, sleep=self._sleep):
            return True
        log.warning(
            "Quetz has not re-indexed %s after %.0fs; the files are stored, installers may not see them yet",
            ", ".join(f"{c}/{s}" for c, s in sorted(pending)),
            timeout,
        )
        return False


def open_target(target: Target, options: TargetOptions) -> QuetzChannel:
    token = read_token(
        options.token_env or TOKEN_ENV, token_file=options.token_file, required=False, what=f"Quetz {target.raw}"
    )
    return QuetzChannel(target.base, target.name, options, token, target.raw)
