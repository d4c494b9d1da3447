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
- Promotion: the server's bulk copy from the source label's place (the policy names it),
  ``PUT .../artifacts/bulk {"action": "copy", ...}`` naming each file by ``ckey``; removal: the
  same with ``"delete"``.
- PSM answers 202 and applies bulk actions (and indexes uploads) in the background, so every write
  is remembered and the next read of the channel first waits, bounded by ``SETTLE_SECONDS``, until
  the server shows it; a write that never shows is a verification error (exit 8).
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from cipub.channels.base import (
    MAIN_LABEL,
    Capabilities,
    ChannelFile,
    NameRule,
    Uploaded,
    as_dict,
    as_list,
    group_copies,
    int_or_none,
    package_of,
    poll_until,
)
from cipub.channels.http import HttpChannel
from cipub.channels.target import Target, TargetOptions
from cipub.core.artifact import Artifact
from cipub.core.errors import AuthError, ConflictError, NetworkError, UsageError, VerificationError
from cipub.core.secrets import Secret
from cipub.core.transport import VerifiedReader, server_message

log = logging.getLogger("cipub.channels.psm")

TOKEN_ENV = ("PSM_TOKEN", "ANACONDA_SERVER_TOKEN")
FAMILY = "conda"
#: how long a read waits for the server to show this batch's writes, seconds
SETTLE_SECONDS = 60.0
_PAGE = 100
#: PSM documents a stricter rule than cipub's own for channel and subchannel (label) names
PSM_NAMES = NameRule(
    re.compile(r"[a-z][a-z0-9_-]*"),
    "PSM names channels and subchannels (labels) with lowercase letters, digits, '_' and '-', starting with a letter",
)


@dataclass(frozen=True)
class _Expected:
    """A write the server has accepted but may not show yet."""

    label: str
    name: str
    key: str  # subdir/filename (PSM's ckey)
    sha256: str | None  # None: the file must be gone


def _split_ckey(item: dict[str, Any]) -> tuple[str, str]:
    """(subdir, filename) of a listed file, from PSM's ``ckey`` (``subdir/filename``)."""
    subdir, _, filename = str(item.get("ckey")).partition("/")
    return subdir, filename


class PSMChannel(HttpChannel):
    """Implements ``cipub.channels.base.Channel`` against the Anaconda Server REST API."""

    capabilities = Capabilities(server_side_copy=True, server_side_index=True, async_index=True, lists_labels=True)
    server = "PSM"
    token_env = TOKEN_ENV
    label_names = name_rule = PSM_NAMES
    name_what = "PSM channel name"

    _subchannels: set[str] | None  # cached for one batch
    _expected: dict[tuple[str, str], _Expected]

    @property
    def api_base(self) -> str:
        return self.base_url

    def auth_headers(self, token: Secret) -> dict[str, str]:
        return {"X-Auth": token.reveal()}  # PSM's user-token scheme

    def _settle(self) -> None:
        self.settle()

    def _forget_batch(self) -> None:
        self._expected = {}
        self._subchannels = None

    def _get(self, path: str, **params: Any) -> httpx.Response:
        return self.http.request("GET", path, params=params or None)

    # -- places (the channel and its subchannels) ---------------------------------------------
    def _place(self, label: str) -> str:
        base = f"/channels/{quote(self.name, safe='')}"
        return base if label == MAIN_LABEL else f"{base}/subchannels/{quote(label, safe='')}"

    def check_label(self, label: str) -> str:
        return label if label == MAIN_LABEL else super().check_label(label)

    def _pages(self, path: str, action: str, **params: Any) -> list[dict[str, Any]] | None:
        """Every item of a paged listing; None if the listing's place does not exist (404)."""
        items: list[dict[str, Any]] = []
        while True:
            response = self._get(path, offset=len(items), limit=_PAGE, **params)
            if self._not_found(response, action):
                return None
            if response.status_code != 200:
                raise self._fail(response, action)
            page = self.http.parse(response, dict, action)
            batch = [i for i in as_list(page.get("items")) if isinstance(i, dict)]
            items.extend(batch)
            total = page.get("total_count")
            if not batch or not isinstance(total, int) or len(items) >= total:
                return items

    def subchannels(self) -> set[str] | None:
        """The channel's subchannels (cached for the batch); None if the channel does not exist."""
        with self._lock:
            if self._subchannels is not None and self.in_batch:
                return set(self._subchannels)
        items = self._pages(f"{self._place(MAIN_LABEL)}/subchannels", f"listing subchannels of {self.name!r}")
        if items is None:
            return None
        found = {str(item["name"]) for item in items if "name" in item}
        with self._lock:
            self._subchannels = found
        return set(found)

    def _missing_channel(self) -> UsageError:
        return UsageError(
            f"PSM channel {self.name!r} does not exist (or this token cannot see it)",
            hint="create the channel in PSM first; cipub creates only subchannels (labels)",
        )

    def _ensure_place(self, label: str) -> None:
        self.check_label(label)
        known = self.subchannels()
        if known is None:
            raise self._missing_channel()
        if label == MAIN_LABEL or label in known:
            return
        response = self._get(self._place(MAIN_LABEL))
        if response.status_code != 200:
            raise self._missing_channel() if response.status_code == 404 else self._fail(response, "reading channel")
        privacy = self.http.parse(response, dict, f"reading channel {self.name!r}").get("privacy")
        body: dict[str, Any] = {
            "name": label,
            "description": f"label {label!r} (created by cipub)",
        }
        if privacy:
            body["privacy"] = privacy
        try:
            created = self.http.request("POST", f"{self._place(MAIN_LABEL)}/subchannels", json=body)
        except AuthError as exc:
            # An upload token often may write artifacts but not manage the channel: a permission
            # error (exit 5), which says what to create instead of "bad token".
            raise AuthError(
                f"label {label!r} maps to PSM subchannel {self.name}/{label}, which does not exist, and this "
                f"token may not create it ({exc.message.split(': ', 1)[-1]})",
                hint=f"create subchannel {label!r} of channel {self.name!r} in PSM (or use a token with manage "
                "rights on the channel), then re-run",
            ) from None
        if created.status_code not in (200, 201, 409):  # 409: created meanwhile
            raise self._fail(created, f"creating subchannel {self.name}/{label}")
        log.info("created PSM subchannel %s/%s", self.name, label)
        with self._lock:
            if self._subchannels is not None:
                self._subchannels.add(label)

    # -- reading ------------------------------------------------------------------------------
    def _file_path(self, label: str, name: str) -> str:
        return f"{self._place(label)}/artifacts/{FAMILY}/{quote(name, safe='')}/files"

    def _file_sha(self, label: str, name: str, key: str) -> str | None:
        """sha256 of one file in one label, or None if it is not there."""
        response = self._get(f"{self._file_path(label, name)}/{quote(key, safe='/')}")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._fail(response, f"reading {key} in {label!r}")
        return self._sha_of(self.http.parse(response, dict, f"reading {key} in {label!r}"))

    def _sha_of(self, item: dict[str, Any]) -> str:
        sha = as_dict(item.get("metadata")).get("sha256")
        if isinstance(sha, str) and sha:
            return sha
        # The server did not say: hash the bytes it serves.
        url = str(httpx.URL(self.base_url + "/").join(str(item.get("url") or "")))
        response = self.http.request("GET", url, max_bytes=self._options.max_download_bytes)
        if response.status_code != 200:
            raise self._fail(response, f"downloading {item.get('ckey')} to check its sha256")
        return hashlib.sha256(response.content).hexdigest()

    def files(self, name: str, version: str | None = None) -> list[ChannelFile]:
        self.settle()
        subchannels = self.subchannels()
        if subchannels is None:
            return []
        params = {} if version is None else {"version": version}
        rows = (
            (_split_ckey(item), label, self._sha_of(item), item.get("metadata") or {})
            for label in [MAIN_LABEL, *sorted(subchannels)]
            for item in self._pages(self._file_path(label, name), f"listing {name} in {label!r}", **params) or []
            if package_of(_split_ckey(item)[1], name, version)
        )
        return [
            ChannelFile.from_copies(subdir, filename, copies, build_number=int_or_none(metadata.get("build_number")))
            for (subdir, filename), copies, metadata in group_copies(rows)
        ]

    # -- the server's background work -----------------------------------------------------------
    def _expect(self, label: str, name: str, key: str, sha256: str | None) -> None:
        with self._lock:
            self._expected[(label, key)] = _Expected(label, name, key, sha256)

    def settle(self, timeout: float = SETTLE_SECONDS) -> None:
        """Wait until the server shows every accepted write; VerificationError if one never does."""
        with self._lock:
            pending = dict(self._expected)

        def shown() -> bool:
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
            return not pending

        if not poll_until(shown, timeout=timeout, sleep=self._sleep, delay=0.05):
            what = ", ".join(f"{w.key} {'in' if w.sha256 else 'out of'} {w.label!r}" for w in pending.values())
            raise VerificationError(
                f"PSM accepted the changes but did not show them within {timeout:.0f}s: {what}",
                hint="re-run the same command later: finished files are skipped",
            )

    # -- writing ------------------------------------------------------------------------------
    def upload(self, artifact: Artifact, label: str) -> Uploaded:
        self._require_token()
        self._ensure_place(label)
        # PSM may replace an existing file on upload: look at this exact file right before.
        there = self._file_sha(label, artifact.name, artifact.key)
        if there == artifact.sha256:
            return "skipped-identical"
        if there is not None:
            raise ConflictError(
                f"{artifact.key} already exists in label {label!r} of {self.display} with different content",
                hint="cipub never overwrites; build with a new build number",
            )
        done: Uploaded = "uploaded"
        with artifact.path.open("rb") as fh:  # httpx streams it, and rewinds it for each retry
            response = self.http.request(
                "POST",
                f"{self._place(label)}/artifacts",
                data={"filetype": "conda1"},
                # hashed while sent: a file swapped after its check is never sent whole
                files={"content": (artifact.filename, VerifiedReader(fh, artifact.sha256), "application/octet-stream")},
                landed=lambda: self._file_sha(label, artifact.name, artifact.key) == artifact.sha256,
            )
        if response.status_code == 204:
            log.warning("PSM says %s existed when cipub uploaded it; checking its sha256", artifact.key)
        elif response.status_code == 409:
            if self._file_sha(label, artifact.name, artifact.key) != artifact.sha256:
                raise ConflictError(
                    f"{artifact.key} already exists in label {label!r} with different content",
                    hint="cipub never overwrites; build with a new build number",
                )
            done = "skipped-identical"  # another run created it between the look and the upload
        elif response.status_code == 404:
            raise self._missing_channel()
        elif not response.is_success:  # 200 and 201 both mean created (anaconda-client accepts both)
            raise self._refused(response, f"uploading {artifact.filename}")
        self._expect(label, artifact.name, artifact.key, artifact.sha256)
        return done

    def _bulk(self, label: str, body: dict[str, Any], what: str, *, gone_is_done: bool = False) -> None:
        response = self.http.request("PUT", f"{self._place(label)}/artifacts/bulk", json=body)
        if response.status_code == 404:
            if gone_is_done:  # a retried delete whose first attempt was applied
                return
            raise VerificationError(f"{self.display}: {what}: {server_message(response)}")
        if response.status_code not in (200, 202, 204):
            raise self._fail(response, what)

    def _items(self, file: ChannelFile) -> list[dict[str, str]]:
        return [{"name": file.name, "family": FAMILY, "ckey": file.key}]

    def add_label(self, file: ChannelFile, label: str, *, source_label: str | None) -> bool:
        source_label, sha = file.source_copy(source_label)
        self._require_token()
        self._ensure_place(label)
        body: dict[str, Any] = {"action": "copy", "target_channel": self.name, "items": self._items(file)}
        if label != MAIN_LABEL:
            body["target_subchannel"] = label
        self._bulk(source_label, body, f"copying {file.key} from {source_label!r} to {label!r}")
        self._expect(label, file.name, file.key, sha)
        return True  # the bulk copy answers alike whether the copy was there

    def remove_label(self, file: ChannelFile, label: str) -> None:
        self._require_token()
        body = {"action": "delete", "items": self._items(file)}
        self._bulk(label, body, f"removing {file.key} from {label!r}", gone_is_done=True)
        self._expect(label, file.name, file.key, None)

    def fetch(self, file: ChannelFile, label: str, dest: Path) -> None:
        """Download ``label``'s copy of ``file`` to ``dest`` (cross-target promotion), from the
        URL the server's file record gives."""
        response = self._get(f"{self._file_path(label, file.name)}/{quote(file.key, safe='/')}")
        if response.status_code != 200:
            raise self._fail(response, f"reading {file.key} in {label!r}")
        url = str(httpx.URL(self.base_url + "/").join(str(response.json().get("url") or "")))
        got = self.http.download(url, dest)
        if got.status != 200 or got.sha256 is None:
            raise NetworkError(f"{self.display}: downloading {file.key} from {label!r} answered {got.status}")

    def install_url(self, label: str) -> str:
        tail = "" if label == MAIN_LABEL else f"/{label}"
        return f"{self.base_url}/repo/{self.name}{tail}"


def open_target(target: Target, options: TargetOptions) -> PSMChannel:
    token = options.read_token(TOKEN_ENV, what=f"PSM {target.display}")
    api_base = options.api_url or f"{target.base}/api"
    return PSMChannel(api_base, target.name, options, token, target.display)
