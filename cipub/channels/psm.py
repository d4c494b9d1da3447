"""Package Security Manager / Anaconda Server (``psm+https://HOST/CHANNEL``): labels are subchannels.

Label ``main`` is the channel itself; any other label ``L`` is the subchannel ``CHANNEL/L``
(PSM's own equivalent of anaconda.org labels), created when first needed with the channel's
privacy, so staging is never more visible than releases. The channel itself must exist: creating
channels is an administrator's decision (owner, privacy, mirrors), so cipub stops and says so.

Wire (Anaconda Server API 6.5; ``--api-url`` overrides the ``https://HOST/api`` base):
- Token: ``PSM_TOKEN`` (or ``ANACONDA_SERVER_TOKEN``, the product's former name) or
  ``--token-file``, sent as ``X-Auth`` (PSM's user-token scheme). Reads of public channels work
  without one; every write needs it.
- Upload: ``POST .../artifacts`` multipart (``filetype=conda1``, ``content`` streamed from disk).
  PSM documents 204 for "subsequent" uploads of an existing file and no ``force`` switch, so an
  upload may replace bytes: cipub therefore checks that exact file right before each upload and
  uploads only when it is absent.
- State: ``GET .../artifacts/conda/{name}/files`` per label; a file's ``metadata.sha256`` is what
  the server computed (if a server leaves it out, cipub downloads the file and hashes it).
- Promotion: the server's bulk copy, ``PUT .../artifacts/bulk {"action": "copy", ...}`` naming each
  file by ``ckey``; removal: the same with ``"delete"`` (only while another label keeps the bytes).
- PSM answers 202 and applies bulk actions (and indexes uploads) in the background, so every write
  is remembered and the next read of the channel first waits, bounded by ``SETTLE_SECONDS``, until
  the server shows it; a write that never shows is a verification error (exit 8).
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from cipub.channels import Target, TargetOptions
from cipub.channels.base import MAIN_LABEL, ChannelFile, find_file
from cipub.core.artifact import Artifact
from cipub.core.errors import (
    AuthError,
    ConflictError,
    InvalidPackageError,
    NetworkError,
    UsageError,
    VerificationError,
)
from cipub.core.secrets import Secret, read_token
from cipub.core.transport import HttpClient, server_message

log = logging.getLogger("cipub.channels.psm")

TOKEN_ENV = ("PSM_TOKEN", "ANACONDA_SERVER_TOKEN")
FAMILY = "conda"
#: how long a read waits for the server to show this batch's writes, seconds
SETTLE_SECONDS = 60.0
_PAGE = 100
#: PSM's rule for channel and subchannel names
_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")


@dataclass(frozen=True)
class _Expected:
    """A write the server has accepted but may not show yet."""

    label: str
    name: str
    key: str  # subdir/filename (PSM's ckey)
    sha256: str | None  # None: the file must be gone


class PSMChannel:
    """Implements ``cipub.channels.base.Channel`` against the Anaconda Server REST API."""

    def __init__(
        self,
        api_base: str,
        channel: str,
        options: TargetOptions,
        token: Secret | None,
        display: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not _NAME.match(channel):
            raise UsageError(
                f"invalid PSM channel name {channel!r}",
                hint="PSM channel names are lowercase letters, digits, '_' and '-', starting with a letter",
            )
        self.display = display
        self.max_parallel = max(1, options.concurrency)
        self.api_base = api_base.rstrip("/")
        self.channel = channel
        self._options = options
        self._token = token
        self._sleep = sleep
        self._transport = transport
        self._http: HttpClient | None = None
        self._lock = threading.Lock()
        self._depth = 0
        self._subchannels: set[str] | None = None  # cached for one batch
        self._expected: dict[tuple[str, str], _Expected] = {}

    # -- plumbing -----------------------------------------------------------------------------
    @property
    def http(self) -> HttpClient:
        with self._lock:
            if self._http is None:
                headers = {"X-Auth": self._token.reveal()} if self._token else {}
                self._http = HttpClient.for_target(
                    self.api_base,
                    self._options,
                    headers=headers,
                    pool_size=self.max_parallel + 2,
                    what=f"PSM {urlsplit(self.api_base).netloc}",
                    sleep=self._sleep,
                    transport=self._transport,
                )
            return self._http

    def __enter__(self) -> PSMChannel:
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
                self.settle()
        finally:
            self._expected.clear()
            self._subchannels = None
            if self._http is not None:
                self._http.close()
                self._http = None

    def _require_token(self) -> None:
        if self._token is None:
            raise AuthError(
                f"no token for PSM {self.display}: set {' or '.join(TOKEN_ENV)}",
                hint="or pass --token-file PATH; tokens are never accepted as command-line values",
            )

    def _fail(self, response: httpx.Response, action: str) -> NetworkError:
        return NetworkError(f"PSM: {action} answered {response.status_code}: {server_message(response)}")

    def _get(self, path: str, **params: Any) -> httpx.Response:
        response = self.http.request("GET", path, params=params or None)
        assert response is not None
        return response

    # -- places (the channel and its subchannels) ---------------------------------------------
    def _place(self, label: str) -> str:
        base = f"/channels/{quote(self.channel, safe='')}"
        return base if label == MAIN_LABEL else f"{base}/subchannels/{quote(label, safe='')}"

    def _check_label(self, label: str) -> None:
        if label != MAIN_LABEL and not _NAME.match(label):
            raise UsageError(
                f"invalid label {label!r} for PSM: labels are subchannels, named with lowercase "
                "letters, digits, '_' and '-', starting with a letter"
            )

    def subchannels(self) -> set[str] | None:
        """The channel's subchannels (cached for the batch); None if the channel does not exist."""
        with self._lock:
            if self._subchannels is not None and self._depth:
                return set(self._subchannels)
        found: set[str] = set()
        offset = 0
        while True:
            response = self._get(f"{self._place(MAIN_LABEL)}/subchannels", offset=offset, limit=_PAGE)
            if response.status_code == 404:
                return None
            if response.status_code != 200:
                raise self._fail(response, f"listing subchannels of {self.channel!r}")
            page = response.json()
            items = page.get("items") or []
            found.update(str(item["name"]) for item in items if isinstance(item, dict) and "name" in item)
            offset += len(items)
            if not items or offset >= int(page.get("total_count") or 0):
                break
        with self._lock:
            self._subchannels = found
        return set(found)

    def _missing_channel(self) -> UsageError:
        return UsageError(
            f"PSM channel {self.channel!r} does not exist (or this token cannot see it)",
            hint="create the channel in PSM first; cipub creates only subchannels (labels)",
        )

    def _ensure_place(self, label: str) -> None:
        self._check_label(label)
        known = self.subchannels()
        if known is None:
            raise self._missing_channel()
        if label == MAIN_LABEL or label in known:
            return
        response = self._get(self._place(MAIN_LABEL))
        if response.status_code != 200:
            raise self._missing_channel() if response.status_code == 404 else self._fail(response, "reading channel")
        privacy = response.json().get("privacy")
        body: dict[str, Any] = {
            "name": label,
            "description": f"label {label!r} (created by cipub)",
        }
        if privacy:
            body["privacy"] = privacy
        created = self.http.request("POST", f"{self._place(MAIN_LABEL)}/subchannels", json=body)
        assert created is not None
        if created.status_code not in (200, 201, 409):  # 409: created meanwhile
            raise self._fail(created, f"creating subchannel {self.channel}/{label}")
        log.info("created PSM subchannel %s/%s", self.channel, label)
        with self._lock:
            if self._subchannels is not None:
                self._subchannels.add(label)

    # -- reading ------------------------------------------------------------------------------
    def _files_in(self, label: str, name: str, version: str | None) -> list[dict[str, Any]]:
        path = f"{self._place(label)}/artifacts/{FAMILY}/{quote(name, safe='')}/files"
        items: list[dict[str, Any]] = []
        offset = 0
        while True:
            params: dict[str, Any] = {"offset": offset, "limit": _PAGE}
            if version is not None:
                params["version"] = version
            response = self._get(path, **params)
            if response.status_code == 404:  # no such artifact (or place)
                return items
            if response.status_code != 200:
                raise self._fail(response, f"listing {name} in {label!r}")
            page = response.json()
            batch = [i for i in page.get("items") or [] if isinstance(i, dict)]
            items.extend(batch)
            offset += len(batch)
            if not batch or offset >= int(page.get("total_count") or 0):
                return items

    def _file_sha(self, label: str, name: str, key: str) -> str | None:
        """sha256 of one file in one label, or None if it is not there."""
        path = f"{self._place(label)}/artifacts/{FAMILY}/{quote(name, safe='')}/files/{quote(key, safe='/')}"
        response = self._get(path)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._fail(response, f"reading {key} in {label!r}")
        return self._sha_of(response.json())

    def _sha_of(self, item: dict[str, Any]) -> str:
        sha = (item.get("metadata") or {}).get("sha256")
        if isinstance(sha, str) and sha:
            return sha
        # The server did not say: hash the bytes it serves.
        url = str(httpx.URL(self.api_base + "/").join(str(item.get("url") or "")))
        response = self.http.request("GET", url)
        assert response is not None
        if response.status_code != 200:
            raise self._fail(response, f"downloading {item.get('ckey')} to check its sha256")
        return hashlib.sha256(response.content).hexdigest()

    def files(self, name: str, version: str | None = None) -> list[ChannelFile]:
        self.settle()
        subchannels = self.subchannels()
        if subchannels is None:
            return []
        copies: dict[str, dict[str, str]] = {}
        records: dict[str, dict[str, Any]] = {}
        for label in [MAIN_LABEL, *sorted(subchannels)]:
            for item in self._files_in(label, name, version):
                metadata = item.get("metadata") or {}
                if version is not None and str(metadata.get("version")) != version:
                    continue
                key = str(item.get("ckey"))
                copies.setdefault(key, {})[label] = self._sha_of(item)
                records.setdefault(key, metadata)
        result = []
        for key, by_label in sorted(copies.items()):
            metadata = records[key]
            subdir, _, filename = key.partition("/")
            shas = set(by_label.values())
            result.append(
                ChannelFile(
                    subdir=str(metadata.get("subdir") or subdir),
                    filename=filename,
                    name=str(metadata.get("name") or name),
                    version=str(metadata.get("version")),
                    build=str(metadata.get("build")),
                    build_number=int(metadata.get("build_number") or 0),
                    sha256=next(iter(shas)) if len(shas) == 1 else None,
                    labels=frozenset(by_label),
                    label_sha256=tuple(sorted(by_label.items())),
                )
            )
        return result

    # -- the server's background work -----------------------------------------------------------
    def _expect(self, label: str, name: str, key: str, sha256: str | None) -> None:
        with self._lock:
            self._expected[(label, key)] = _Expected(label, name, key, sha256)

    def settle(self, timeout: float = SETTLE_SECONDS) -> None:
        """Wait until the server shows every accepted write; VerificationError if one never does."""
        with self._lock:
            pending = dict(self._expected)
        deadline = time.monotonic() + timeout
        delay = 0.05
        while pending:
            for slot, want in list(pending.items()):
                got = self._file_sha(want.label, want.name, want.key)
                if got == want.sha256:
                    del pending[slot]
                    with self._lock:
                        self._expected.pop(slot, None)
                elif got is not None and want.sha256 is not None:
                    raise VerificationError(
                        f"{want.key} in label {want.label!r} of {self.display} has sha256 {got}, "
                        f"expected {want.sha256}",
                        hint="another upload replaced it; check the channel in PSM before re-running",
                    )
            if not pending:
                return
            if time.monotonic() >= deadline:
                what = ", ".join(f"{w.key} {'in' if w.sha256 else 'out of'} {w.label!r}" for w in pending.values())
                raise VerificationError(
                    f"PSM accepted the changes but did not show them within {timeout:.0f}s: {what}",
                    hint="re-run the same command later: finished files are skipped",
                )
            self._sleep(delay)
            delay = min(delay * 2, 2.0)

    # -- writing ------------------------------------------------------------------------------
    def upload(self, artifact: Artifact, label: str) -> None:
        self._require_token()
        self._ensure_place(label)
        # PSM may replace an existing file on upload: look at this exact file right before.
        there = self._file_sha(label, artifact.name, artifact.key)
        if there == artifact.sha256:
            return
        if there is not None:
            raise ConflictError(
                f"{artifact.key} already exists in label {label!r} of {self.display} with different content",
                hint="cipub never overwrites; build with a new build number",
            )
        with artifact.path.open("rb") as fh:  # httpx streams it, and rewinds it for each retry
            response = self.http.request(
                "POST",
                f"{self._place(label)}/artifacts",
                data={"filetype": "conda1"},
                files={"content": (artifact.filename, fh, "application/octet-stream")},
                landed=lambda: self._file_sha(label, artifact.name, artifact.key) == artifact.sha256,
            )
        if response is not None:
            if response.status_code == 204:
                log.warning("PSM says %s existed when cipub uploaded it; checking its sha256", artifact.key)
            elif response.status_code == 409:
                if self._file_sha(label, artifact.name, artifact.key) != artifact.sha256:
                    raise ConflictError(f"{artifact.key} already exists in label {label!r} with different content")
            elif response.status_code == 400:
                raise InvalidPackageError(f"PSM refused {artifact.filename}: {server_message(response)}")
            elif response.status_code == 404:
                raise self._missing_channel()
            elif response.status_code != 201:
                raise self._fail(response, f"uploading {artifact.filename}")
        self._expect(label, artifact.name, artifact.key, artifact.sha256)

    def _bulk(self, label: str, body: dict[str, Any], what: str, *, gone_is_done: bool = False) -> None:
        response = self.http.request("PUT", f"{self._place(label)}/artifacts/bulk", json=body)
        assert response is not None
        if response.status_code == 404:
            if gone_is_done:  # a retried delete whose first attempt was applied
                return
            raise VerificationError(f"PSM: {what}: {server_message(response)}")
        if response.status_code not in (200, 202, 204):
            raise self._fail(response, what)

    def add_label(self, file: ChannelFile, label: str) -> None:
        if label in file.labels:
            return
        shas = {sha for _label, sha in file.label_sha256} or ({file.sha256} if file.sha256 else set())
        if len(shas) != 1 or not file.labels:
            raise ConflictError(
                f"{file.key}: the copies in labels {', '.join(sorted(file.labels))} differ; "
                "cipub will not pick one to copy",
                hint="remove the wrong copy in PSM, or publish a new build number",
            )
        self._require_token()
        self._ensure_place(label)
        source = MAIN_LABEL if MAIN_LABEL in file.labels else sorted(file.labels)[0]
        body: dict[str, Any] = {
            "action": "copy",
            "target_channel": self.channel,
            "items": [{"name": file.name, "family": FAMILY, "ckey": file.key}],
        }
        if label != MAIN_LABEL:
            body["target_subchannel"] = label
        self._bulk(source, body, f"copying {file.key} from {source!r} to {label!r}")
        self._expect(label, file.name, file.key, next(iter(shas)))

    def remove_label(self, file: ChannelFile, label: str) -> None:
        self._require_token()
        fresh = find_file(self.files(file.name, file.version), file.subdir, file.filename)
        if fresh is None or label not in fresh.labels:
            return  # already gone: removing is idempotent
        sha = fresh.sha256_in(label)
        if not [lab for lab, other in fresh.label_sha256 if lab != label and other == sha]:
            raise VerificationError(
                f"refusing to remove {file.key} from label {label!r}: no other label holds the same "
                "bytes (that would delete the file)"
            )
        body = {"action": "delete", "items": [{"name": file.name, "family": FAMILY, "ckey": file.key}]}
        self._bulk(label, body, f"removing {file.key} from {label!r}", gone_is_done=True)
        self._expect(label, file.name, file.key, None)

    def install_url(self, label: str) -> str:
        tail = "" if label == MAIN_LABEL else f"/{label}"
        return f"{self.api_base}/repo/{self.channel}{tail}"


def open_target(target: Target, options: TargetOptions) -> PSMChannel:
    token = read_token(TOKEN_ENV, token_file=options.token_file, required=False, what=f"PSM {target.raw}")
    api_base = options.api_url or f"{target.base}/api"
    return PSMChannel(api_base, target.name, options, token, target.raw)
