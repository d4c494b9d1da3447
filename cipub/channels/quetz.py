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
- State: ``GET /api/channels/{ch}/packages`` once per label channel and batch names the packages
  each channel has; ``GET /api/channels/{ch}/packages/{name}/versions`` is asked only where the
  package exists, once per batch (later answers come from that reply plus this batch's own
  acknowledged writes). Each record's ``info.sha256`` is what Quetz computed from the bytes it stored.
- Verification: Quetz checks each upload's sha256 itself (406 otherwise). Leaving the batch reads
  each written (channel, subdir)'s served ``repodata.json``, the server's listing of the batch, and
  requires every written file in it with the sha256 sent; a file the index has not shown in time
  is read back by its own versions query instead. No read-back per package (issue 12).
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

from cipub.channels.base import (
    MAIN_LABEL,
    NAMES,
    Capabilities,
    ChannelFile,
    NameRule,
    Uploaded,
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
from cipub.core.secrets import Secret, scrub
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
    #: (channel, subdir) -> {filename: (package name, sha256 written, or None once removed)}
    _changed: dict[tuple[str, str], dict[str, tuple[str, str | None]]]
    #: channel -> names of the packages it has (None: the listing was not available), per batch
    _package_names: dict[str, set[str] | None]
    #: (channel, package) -> its version records, per batch, kept in step with our writes
    _records: dict[tuple[str, str], list[dict[str, Any]]]

    def auth_headers(self, token: Secret) -> dict[str, str]:
        return {"X-API-Key": token.reveal()}

    def _settle(self) -> None:
        self.wait_indexed()

    def _forget_batch(self) -> None:
        self._changed = {}
        self._labels = None
        self._package_names = {}
        self._records = {}

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
            if self.in_batch:
                with self._lock:
                    self._package_names[name] = set()  # created empty, just now: nothing to list
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

    def _names_in(self, channel_name: str) -> set[str] | None:
        """The packages of one channel, one request per batch; None when it cannot be listed."""
        with self._lock:
            if self.in_batch and channel_name in self._package_names:
                return self._package_names[channel_name]
        response = self.http.request("GET", f"/api/channels/{segment(channel_name)}/packages")
        names: set[str] | None = None
        if response.status_code == 404:
            names = set()
        elif response.status_code == 200:
            try:
                listed = response.json()
            except ValueError:
                listed = None
            if isinstance(listed, list):
                names = {str(item.get("name")) for item in listed if isinstance(item, dict)}
        if self.in_batch:
            with self._lock:
                self._package_names[channel_name] = names
        return names

    def _batch_versions(self, channel_name: str, name: str) -> list[dict[str, Any]]:
        """``_versions``, asked at most once per batch and only for packages the channel has."""
        key = (channel_name, name)
        if not self.in_batch:
            return self._versions(channel_name, name)
        with self._lock:
            if key in self._records:
                return list(self._records[key])
        names = self._names_in(channel_name)
        records = [] if names is not None and name not in names else self._versions(channel_name, name)
        with self._lock:
            self._records.setdefault(key, records)
            return list(self._records[key])

    def _wrote(
        self, channel_name: str, name: str, record: dict[str, Any] | None, subdir: str, filename: str, *, new: bool
    ) -> None:
        """Keep the batch's records in step with a write Quetz acknowledged (None: a removal).

        ``new``: the channel's listing said it had no such package before this write.
        """
        with self._lock:
            if (channel_name, name) not in self._records:
                if not new:
                    return  # never read in this batch: the next read asks the server
                self._records[(channel_name, name)] = []
            kept = [
                r
                for r in self._records[(channel_name, name)]
                if not (r.get("platform") == subdir and r.get("filename") == filename)
            ]
            self._records[(channel_name, name)] = [*kept, record] if record is not None else kept

    def _copy_sha(self, channel_name: str, name: str, subdir: str, filename: str) -> str | None:
        """sha256 Quetz recorded for one file of one channel, or None if absent (always asked afresh)."""
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
            for record in self._batch_versions(chan.name, name)
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
        file: Artifact | ChannelFile,
        *,
        sha256: str,
        size: int,
        body: Callable[[], Any],
    ) -> Uploaded:
        """Create one file (a new build, or a copy of a channel's file) in one channel; identical
        bytes already there count as done, and the answer says so."""
        name, subdir, filename, build_number = file.name, file.subdir, file.filename, file.build_number

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
        done: Uploaded = "uploaded"
        if response.status_code == 409:
            if self._copy_sha(channel_name, name, subdir, filename) != sha256:
                raise ConflictError(
                    f"{subdir}/{filename} already exists in Quetz channel {channel_name!r} with different content",
                    hint="cipub never overwrites; build with a new build number",
                )
            done = "skipped-identical"  # another run created it first
        elif response.status_code == 406:
            raise VerificationError(
                f"Quetz received {filename} with a different sha256 than was sent "
                "(changed on disk during the upload, or damaged in transit)",
                hint="re-run the command",
            )
        elif not response.is_success:
            raise self._refused(response, action)
        with self._lock:
            self._changed.setdefault((channel_name, subdir), {})[filename] = (name, sha256)
            names = self._package_names.get(channel_name)
            new = names is not None and name not in names
            if names is not None:
                names.add(name)
        record = {"platform": subdir, "filename": filename, "build_number": build_number, "info": {"sha256": sha256}}
        self._wrote(channel_name, name, record, subdir, filename, new=new)
        return done

    def upload(self, artifact: Artifact, label: str) -> Uploaded:
        self._require_token()
        channel_name = self._ensure_channel(label)
        return self._post_package(
            channel_name,
            artifact,
            sha256=artifact.sha256,
            size=artifact.size,
            body=lambda: file_chunks(artifact.path, sha256=artifact.sha256),
        )

    def _download(self, channel_name: str, subdir: str, filename: str, dest: Path) -> tuple[str, int]:
        """Stream one file to ``dest``; returns (sha256, size). Memory stays flat."""
        path = f"/get/{segment(channel_name)}/{segment(subdir)}/{segment(filename)}"
        got = self.download_from_store(path, dest)
        if got.status != 200 or got.sha256 is None:
            raise NetworkError(
                f"{self.display}: downloading {subdir}/{filename} from {channel_name!r} answered {got.status}: "
                f"{scrub(got.text[:200]) or 'no detail'}"
            )
        return got.sha256, got.size

    def fetch(self, file: ChannelFile, label: str, dest: Path) -> None:
        """Download ``label``'s copy of ``file`` to ``dest`` (cross-target promotion)."""
        self._download(self._channel_for(label), file.subdir, file.filename, dest)

    def add_label(self, file: ChannelFile, label: str, *, source_label: str | None) -> bool:
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
            return (
                self._post_package(target, file, sha256=expected, size=size, body=lambda: file_chunks(copy))
                == "uploaded"
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
            self._changed.setdefault((channel_name, file.subdir), {})[file.filename] = (file.name, None)
        self._wrote(channel_name, file.name, None, file.subdir, file.filename, new=False)

    def install_url(self, label: str) -> str:
        return f"{self.base_url}/get/{label_channel_name(self.name, label)}"

    # -- Quetz's background indexer -----------------------------------------------------------
    def _index_agrees(self, channel_name: str, subdir: str, expected: dict[str, tuple[str, str | None]]) -> bool:
        """Does the served repodata list exactly what was written (with its sha256) and not what was removed?

        A file listed with another sha256 than the one written is a VerificationError: the index is
        the server's record of the stored bytes.
        """
        response = self.http.request("GET", f"/get/{segment(channel_name)}/{segment(subdir)}/repodata.json")
        if response.status_code != 200:
            return False
        try:
            repodata = response.json()
        except ValueError:
            return False  # caught mid-write
        listed: dict[str, Any] = {
            **as_dict(as_dict(repodata).get("packages")),
            **as_dict(as_dict(repodata).get("packages.conda")),
        }
        for filename, (_name, sha256) in expected.items():
            if (filename in listed) != (sha256 is not None):
                return False
            served = as_dict(listed.get(filename)).get("sha256") if sha256 is not None else None
            if served is not None and served != sha256:
                raise VerificationError(
                    f"Quetz channel {channel_name!r} lists {subdir}/{filename} with sha256 {served}, expected {sha256}",
                    hint="the server stored other bytes than were sent; check the server, then re-run",
                )
        return True

    def _read_back(self, pending: dict[tuple[str, str], dict[str, tuple[str, str | None]]]) -> None:
        """Where the index did not show a write in time: read each file's record instead."""
        problems = []
        for (channel_name, subdir), expected in sorted(pending.items()):
            for filename, (name, sha256) in sorted(expected.items()):
                stored = self._copy_sha(channel_name, name, subdir, filename)
                if stored != sha256:
                    problems.append(f"{subdir}/{filename} in {channel_name!r}: sha256 {stored}, expected {sha256}")
        if problems:
            raise VerificationError(
                f"{self.display}: " + "; ".join(problems), hint="re-run the same command: finished files are skipped"
            )

    def wait_indexed(self, timeout: float = INDEX_WAIT_SECONDS) -> bool:
        """Wait until Quetz's served repodata reflects this batch's writes; warn if it never does.

        The files the index never showed are still checked, one by one (VerificationError if wrong).
        """
        pending = dict(self._changed)

        def agrees() -> bool:
            for key, expected in list(pending.items()):
                if self._index_agrees(key[0], key[1], expected):
                    del pending[key]
            return not pending

        if poll_until(agrees, timeout=timeout, sleep=self._sleep):
            return True
        self._read_back(pending)
        log.warning(
            "Quetz has not re-indexed %s after %.0fs; the files are stored, installers may not see them yet",
            ", ".join(f"{c}/{s}" for c, s in sorted(pending)),
            timeout,
        )
        return False


def open_target(target: Target, options: TargetOptions) -> QuetzChannel:
    token = options.read_token(TOKEN_ENV, what=f"Quetz {target.display}")
    return QuetzChannel(target.base, target.name, options, token, target.display)
