"""A static conda channel in an S3 bucket (AWS, MinIO, Ceph, moto...), labels laid out like the local one.

    s3://BUCKET/PREFIX/<subdir>/...            label ``main``
    s3://BUCKET/PREFIX/label/<L>/<subdir>/...  label ``L``

Each label root is a valid conda channel, indexed with py-rattler's ``index_s3`` when the batch ends.

Safety:
- uploads are create-only: ``PutObject`` with ``If-None-Match: *`` (S3 answers 412 when the key
  exists, atomically). A 412 is then checked: the same bytes (an earlier attempt that landed) are
  fine, anything else is a conflict;
- labels are added by a server-side ``CopyObject`` to a key that was checked absent, also sent with
  ``If-None-Match: *`` (enforced by AWS S3; servers that ignore it, such as moto, leave only the
  check before the copy);
- every object carries its sha256: the S3-verified ``x-amz-checksum-sha256`` (S3 rejects a body
  that does not match it) and the ``package-sha256`` metadata rattler's uploader also writes.

The client is boto3 (the optional extra ``cipub[s3]``): it signs requests (SigV4), reads the
standard AWS environment and configuration chain, and retries with botocore's "standard" mode --
exponential backoff with full jitter on connection errors, timeouts, 5xx and throttling, capped at
``TargetOptions.retries`` retries, never on other 4xx -- the same policy as ``cipub.core.transport``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import functools
import hashlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from cipub.channels import attestations
from cipub.channels.base import (
    MAIN_LABEL,
    NAMES,
    Batch,
    Capabilities,
    ChannelFile,
    Uploaded,
    is_subdir,
    junk_among,
    package_of,
    repodata_records,
    tree_path,
    warn_skipped,
)
from cipub.channels.target import Target, TargetOptions
from cipub.core.artifact import PACKAGE_EXTENSIONS, Artifact
from cipub.core.attest import KEY_ENVELOPE_SUFFIX, MUTABLE_SIDECAR_SUFFIX, SIDECAR_INFIX, sidecar_name
from cipub.core.errors import (
    RETRY_HINT,
    AuthError,
    CipubError,
    ConflictError,
    InvalidPackageError,
    NetworkError,
    UsageError,
    VerificationError,
)
from cipub.core.extras import import_extra
from cipub.core.secrets import Secret, process_environ, read_token, scrub

log = logging.getLogger("cipub.s3")

T = TypeVar("T")

#: single PutObject / CopyObject limit; larger packages would need a multipart upload
MAX_SINGLE_OBJECT = 5 * 1024**3
#: prefix of the scratch channel used to index a subdir that holds objects which are not packages
SHADOW_PREFIX = ".cipub-index-"
_AUTH_CODES = frozenset(
    {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken", "AllAccessDisabled"}
)
_PRECONDITION_CODES = frozenset({"PreconditionFailed", "ConditionalRequestConflict"})
_NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound"})


class S3Settings:
    """Where the bucket is and how to reach it, from the standard AWS environment."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.endpoint_url = (environ.get("AWS_ENDPOINT_URL_S3") or environ.get("AWS_ENDPOINT_URL") or "").rstrip(
            "/"
        ) or None
        self.region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        style = environ.get("S3_ADDRESSING_STYLE", "").strip().lower()
        if style and style not in ("path", "virtual-host", "virtual"):
            raise UsageError(f"S3_ADDRESSING_STYLE={style!r}: expected 'path' or 'virtual-host'")
        # Self-hosted S3 servers (MinIO, Ceph, moto) generally want path-style addressing.
        self.addressing_style = (
            ("virtual-host" if style.startswith("virtual") else "path")
            if style
            else ("path" if self.endpoint_url else "virtual-host")
        )

    def public_url(self, bucket: str, key_prefix: str) -> str:
        """The plain HTTPS(HTTP) URL of a key prefix: what conda / py-rattler install from."""
        tail = f"/{key_prefix}" if key_prefix else ""
        if self.endpoint_url:
            if self.addressing_style == "path":
                return f"{self.endpoint_url}/{bucket}{tail}"
            scheme, _, host = self.endpoint_url.partition("://")
            return f"{scheme}://{bucket}.{host}{tail}"
        return f"https://{bucket}.s3.{self.region}.amazonaws.com{tail}"


def _b64_to_hex(value: str | None) -> str | None:
    if not value or "-" in value:  # "-N" marks a composite (multipart) checksum, not the file's sha256
        return None
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.hex() if len(raw) == 32 else None


def _hex_to_b64(hexdigest: str) -> str:
    return base64.b64encode(bytes.fromhex(hexdigest)).decode("ascii")


class S3Channel(Batch):
    """Implements ``cipub.channels.base.Channel`` on ``s3://BUCKET/PREFIX``."""

    capabilities = Capabilities(server_side_copy=True, lists_labels=True)

    def __init__(
        self,
        bucket: str,
        prefix: str,
        client: Any,
        settings: S3Settings,
        *,
        display: str,
        max_parallel: int = 4,
        indexer: Callable[[str, str], None] | None = None,
        index_retries: int = 3,
        index_backoff: float = 0.5,
        credentials: Callable[[], tuple[str, Secret, Secret | None] | None] | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = client
        self.settings = settings
        self.display = display
        self.max_parallel = max(1, max_parallel)
        self._indexer = indexer
        self.index_retries = index_retries
        self.index_backoff = index_backoff
        self._credentials = credentials
        self._lock = threading.Lock()
        #: (label, subdir) pairs whose index must be rebuilt: written to, or found newer than the index
        self._dirty: set[tuple[str, str]] = set()
        self._layout: dict[str, set[str]] | None = None  # label -> subdirs, read once per batch
        self._repodata: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        #: package objects found to be junk while listing (key -> why), found sound, or written by
        #: this batch from checked bytes (never fetched to be checked again)
        self._junk_keys: dict[str, str] = {}
        self._sound_keys: set[str] = set()
        #: junk passed over by ``files`` (``label/subdir/filename`` -> why), for ``cipub status``
        self.junk_seen: dict[str, str] = {}

    # -- layout ---------------------------------------------------------------------------------
    def label_root(self, label: str) -> str:
        parts = [p for p in (self.prefix, tree_path(label)) if p]
        return "/".join(parts)

    def key(self, label: str, subdir: str, filename: str) -> str:
        tail = tree_path(label, subdir, filename)
        return f"{self.prefix}/{tail}" if self.prefix else tail

    def _dir(self, key_prefix: str) -> str:
        return f"{key_prefix}/" if key_prefix else ""

    def _common_prefixes(self, key_prefix: str) -> list[str]:
        names = []
        for page in self._pages(Prefix=key_prefix, Delimiter="/"):
            for cp in page.get("CommonPrefixes", []):
                names.append(cp["Prefix"][len(key_prefix) :].rstrip("/"))
        return names

    def _pages(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        args = dict(kwargs, Bucket=self.bucket)
        while True:
            page: dict[str, Any] = self._call("list", functools.partial(self.client.list_objects_v2, **args))
            yield page
            if not page.get("IsTruncated"):
                return
            args = dict(args, ContinuationToken=page.get("NextContinuationToken"))

    def layout(self) -> dict[str, set[str]]:
        """label -> subdirs present on the bucket (read once per batch, then kept up to date)."""
        with self._lock:
            if self._layout is not None:
                return self._layout
        layout: dict[str, set[str]] = {}
        root_entries = self._common_prefixes(self._dir(self.prefix))
        main_subdirs = set(filter(is_subdir, root_entries))
        if main_subdirs:
            layout[MAIN_LABEL] = main_subdirs
        if "label" in root_entries:
            for label in self._common_prefixes(self._dir(self.label_root_raw("label"))):
                if not NAMES.matches(label):
                    continue
                subdirs = set(filter(is_subdir, self._common_prefixes(self._dir(self.label_root(label)))))
                if subdirs:
                    layout[label] = subdirs
        with self._lock:
            self._layout = layout
        return layout

    def label_root_raw(self, tail: str) -> str:
        return f"{self.prefix}/{tail}" if self.prefix else tail

    # -- context ----------------------------------------------------------------------------------
    def _end_batch(self, exc: BaseException | None) -> None:
        try:
            # Re-index even after a failure, so whatever was written is visible and consistent.
            self.reindex()
        except Exception as index_error:
            if exc is None:
                raise
            # One line, not a traceback: the first failure is the one reported and exited on.
            log.warning("re-indexing after the failure above also failed: %s", scrub(str(index_error)))
            log.debug("re-indexing failure", exc_info=True)
        finally:
            with self._lock:
                self._layout = None
                self._repodata.clear()
                self._junk_keys.clear()
                self._sound_keys.clear()

    def reindex(self) -> None:
        with self._lock:
            pairs = sorted(self._dirty)
            self._dirty.clear()
        for label, subdir in pairs:
            channel_url = f"s3://{self.bucket}/{self.label_root(label)}".rstrip("/")
            log.info("re-indexing %s (%s)", channel_url, subdir)
            try:
                self._index_pair(label, subdir, channel_url)
            except Exception as exc:
                with self._lock:
                    self._dirty.add((label, subdir))
                detail = scrub(str(exc)) or type(exc).__name__
                raise NetworkError(
                    f"{self.display}: re-indexing {channel_url} ({subdir}) failed: {detail}",
                    hint="the files are uploaded; re-run the same command to re-index",
                ) from exc

    def _index_pair(self, label: str, subdir: str, channel_url: str) -> None:
        """Index one label/subdir; when that fails because the subdir holds objects that are not
        valid packages (put there by hand or by an older cipub), index it without them, report
        them, and leave them where they are: one junk object must not break every later command."""
        if self._indexer is None:
            return
        try:
            self._indexer(channel_url, subdir)
        except Exception:
            junk = self._junk(label, subdir)
            if not junk:
                self._index_with_retries(channel_url, subdir)  # a passing failure: retry as before
            else:
                warn_skipped(log, self.display, label, subdir, junk)
                self._index_without(label, subdir, set(junk))
        self._finish_index(label, subdir)

    def _finish_index(self, label: str, subdir: str) -> None:
        """What the local channel does after indexing, on the bucket: delete the repodata.json.zst and
        shards an earlier indexer left (clients prefer them, so they would hide new files and carry
        no ``attestations_sha256``), then annotate repodata.json from the CEP 50 sidecars with the
        code the local channel uses (:func:`cipub.channels.attestations.annotate_records`)."""
        base = f"{self._dir(self.label_root(label))}{subdir}/"
        stale = [base + name for name in attestations.STALE_INDEX_FILES]
        stale += [
            obj["Key"]
            for page in self._pages(Prefix=f"{base}{attestations.STALE_SHARDS_DIR}/")
            for obj in page.get("Contents", [])
        ]
        for key in stale:
            with contextlib.suppress(_NotFound):
                self._call("delete", functools.partial(self.client.delete_object, Bucket=self.bucket, Key=key))
        digests: dict[str, str] = {}
        for obj in self._subdir_objects(label, subdir):
            name = obj["Key"].rsplit("/", 1)[-1]
            if SIDECAR_INFIX not in name:
                continue
            filename = name.rsplit(SIDECAR_INFIX, 1)[0]
            digest = attestations.sidecar_digest(name, filename)
            if digest is None or filename in digests:
                continue
            data = self.get_attestation(subdir, filename, label, "keyless")  # name checked against content
            if data is not None:
                digests[filename] = hashlib.sha256(data).hexdigest()
        if not digests:
            return
        key = f"{base}repodata.json"
        try:
            repodata = json.loads(self._read_object("get", key))
        except (_NotFound, ValueError):
            return
        if isinstance(repodata, dict) and attestations.annotate_records(repodata, digests):
            body = attestations.encode_repodata(repodata)
            self._call(
                "upload",
                functools.partial(
                    self.client.put_object, Bucket=self.bucket, Key=key, Body=body, ContentType="application/json"
                ),
            )
            with self._lock:
                self._repodata.pop((label, subdir), None)

    def _subdir_objects(self, label: str, subdir: str) -> list[dict[str, Any]]:
        key_prefix = f"{self._dir(self.label_root(label))}{subdir}/"
        return [obj for page in self._pages(Prefix=key_prefix, Delimiter="/") for obj in page.get("Contents", [])]

    def _junk(self, label: str, subdir: str) -> dict[str, str]:
        """Objects named like packages in ``label/subdir`` that are not valid packages (name -> why)."""
        import tempfile

        base = f"{self._dir(self.label_root(label))}{subdir}/"
        try:
            repodata: bytes | None = self._read_object("get", f"{base}repodata.json")
        except _NotFound:
            repodata = None
        keys = {obj["Key"].rsplit("/", 1)[-1]: obj for obj in self._subdir_objects(label, subdir)}
        with tempfile.TemporaryDirectory(prefix="cipub-s3-check-") as scratch:

            def check(name: str) -> None:
                self._check_object(keys[name]["Key"], Path(scratch) / name)

            return junk_among(((name, obj.get("Size"), True) for name, obj in keys.items()), repodata, check)

    def _check_object(self, key: str, local: Path) -> None:
        """Fetch ``key`` to the scratch file ``local`` and read it as a package (InvalidPackageError
        if it is not one); the file is removed afterwards."""
        from cipub.core.artifact import read_artifact

        data = self._call("get", functools.partial(self.client.get_object, Bucket=self.bucket, Key=key))
        try:
            with local.open("wb") as out:

                def copy() -> None:  # inside the error mapping, like every other read
                    for chunk in data["Body"].iter_chunks(1024 * 1024):
                        out.write(chunk)

                self._call("get", copy)
            read_artifact(local)
        finally:
            local.unlink(missing_ok=True)

    def _junk_reason(self, label: str, subdir: str, obj: dict[str, Any]) -> str | None:
        """Why the listed package object ``obj`` is junk (indexing skips it), or None if it is sound,
        as the local target decides: what the index lists at the same size, or this batch wrote from
        checked bytes, is sound; anything else is fetched once and read as a package."""
        import tempfile

        key = obj["Key"]
        filename = key.rsplit("/", 1)[-1]
        with self._lock:
            if key in self._sound_keys:
                return None
            if key in self._junk_keys:
                return self._junk_keys[key]
        records = self._records(label, subdir)

        def check(name: str) -> None:
            with tempfile.TemporaryDirectory(prefix="cipub-s3-check-") as scratch:
                self._check_object(key, Path(scratch) / name)

        reason = junk_among([(filename, obj.get("Size"), True)], records, check).get(filename)
        where = tree_path(label, subdir, filename)
        with self._lock:
            if self.in_batch:
                if reason is None:
                    self._sound_keys.add(key)
                else:
                    self._junk_keys[key] = reason
            if reason is None:
                return None
            first = where not in self.junk_seen
            self.junk_seen[where] = reason
        if first:
            log.warning(
                "%s: skipping %s: %s (not a package; not deleted, remove it by hand)", self.display, where, reason
            )
        return reason

    def _index_without(self, label: str, subdir: str, junk: set[str]) -> None:
        """Index a scratch copy of ``label/subdir`` without ``junk`` (server-side copies), then copy
        the index it made (repodata.json and whatever else index_s3 writes) into place."""
        assert self._indexer is not None
        root = self.label_root(label)
        scratch = f"{self._dir(root)}{SHADOW_PREFIX}{uuid.uuid4().hex[:12]}"
        source = f"{self._dir(root)}{subdir}/"
        made: list[str] = []
        try:
            for obj in self._subdir_objects(label, subdir):
                name = obj["Key"].rsplit("/", 1)[-1]
                if name in junk or not name.endswith(PACKAGE_EXTENSIONS):
                    continue
                dest = f"{scratch}/{subdir}/{name}"
                copy = functools.partial(
                    self.client.copy_object,
                    Bucket=self.bucket,
                    Key=dest,
                    CopySource={"Bucket": self.bucket, "Key": obj["Key"]},
                )
                self._call("copy", copy)
                made.append(dest)
            self._index_with_retries(f"s3://{self.bucket}/{scratch}", subdir)
            for page in self._pages(Prefix=f"{scratch}/"):
                for obj in page.get("Contents", []):
                    key = obj["Key"]
                    made.append(key)
                    tail = key[len(f"{scratch}/{subdir}/") :]
                    if not key.startswith(f"{scratch}/{subdir}/") or tail.endswith(PACKAGE_EXTENSIONS):
                        continue
                    back = functools.partial(
                        self.client.copy_object,
                        Bucket=self.bucket,
                        Key=f"{source}{tail}",
                        CopySource={"Bucket": self.bucket, "Key": key},
                    )
                    self._call("copy", back)
        finally:
            for key in dict.fromkeys(made):
                with contextlib.suppress(CipubError, _NotFound):
                    self._call("delete", functools.partial(self.client.delete_object, Bucket=self.bucket, Key=key))

    def _index_with_retries(self, channel_url: str, subdir: str) -> None:
        """index_s3 is idempotent (it rebuilds from the objects), so a failed run is simply repeated."""
        if self._indexer is None:
            return
        for attempt in range(self.index_retries + 1):
            try:
                self._indexer(channel_url, subdir)
                return
            except Exception as exc:
                if attempt == self.index_retries:
                    raise
                delay = self.index_backoff * (2**attempt)
                log.warning("re-indexing %s failed (%s); retry in %.1fs", channel_url, scrub(str(exc)), delay)
                time.sleep(delay)

    # -- reading ----------------------------------------------------------------------------------
    def files(self, name: str, version: str | None = None) -> list[ChannelFile]:
        found: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        for label, subdirs in sorted(self.layout().items()):
            for subdir in sorted(subdirs):
                key_prefix = f"{self._dir(self.label_root(label))}{subdir}/{name}-"
                index_time: datetime | bool | None = False  # False: not looked up yet
                for page in self._pages(Prefix=key_prefix):
                    for obj in page.get("Contents", []):
                        filename = obj["Key"].rsplit("/", 1)[-1]
                        if not package_of(filename, name, version):
                            continue
                        if self._junk_reason(label, subdir, obj) is not None:
                            continue
                        if index_time is False:
                            index_time = self._index_time(label, subdir)
                        if index_time is None or obj["LastModified"] >= index_time:
                            # Written after the last index (e.g. a run that crashed): index it again.
                            with self._lock:
                                self._dirty.add((label, subdir))
                        found.setdefault((subdir, filename), {})[label] = obj
        result = []
        for (subdir, filename), by_label in sorted(found.items()):
            heads = {label: self._head(obj["Key"]) or {} for label, obj in by_label.items()}
            first_label = min(heads)
            result.append(
                ChannelFile.from_copies(
                    subdir,
                    filename,
                    {label: self._sha256_of(by_label[label]["Key"], head) for label, head in heads.items()},
                    build_number=self._build_number(first_label, subdir, filename, heads[first_label]),
                )
            )
        return result

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            head: dict[str, Any] = self._call(
                "head", lambda: self.client.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
            )
            return head
        except _NotFound:
            return None

    def _sha256_of(self, key: str, head: dict[str, Any]) -> str:
        """The object's sha256: S3's own checksum, else our metadata, else read the bytes."""
        sha = _b64_to_hex(head.get("ChecksumSHA256"))
        if sha:
            return sha
        meta = head.get("Metadata") or {}
        sha = str(meta.get("package-sha256", "")).lower()
        if len(sha) == 64:
            return sha
        digest = hashlib.sha256()
        body = self._call("get", lambda: self.client.get_object(Bucket=self.bucket, Key=key))["Body"]

        def read_all() -> None:  # inside the error mapping: a body cut short is a NetworkError, not a traceback
            for chunk in body.iter_chunks(1024 * 1024):
                digest.update(chunk)

        self._call("get", read_all)
        return digest.hexdigest()

    def _index_time(self, label: str, subdir: str) -> datetime | None:
        head = self._head(f"{self._dir(self.label_root(label))}{subdir}/repodata.json")
        return head.get("LastModified") if head else None

    def _build_number(self, label: str, subdir: str, filename: str, head: dict[str, Any]) -> int | None:
        """From our metadata, else the label's repodata.json; None: the build string's ``_N``."""
        value = str((head.get("Metadata") or {}).get("package-build-number", ""))
        if value.isdigit():
            return int(value)
        number = (self._records(label, subdir).get(filename) or {}).get("build_number")
        return number if isinstance(number, int) else None

    def _records(self, label: str, subdir: str) -> dict[str, dict[str, Any]]:
        """``{filename: record}`` of the label/subdir's repodata.json (read once per batch); {} if none."""
        with self._lock:
            records = self._repodata.get((label, subdir))
        if records is None:
            key = f"{self._dir(self.label_root(label))}{subdir}/repodata.json"
            try:
                records = repodata_records(json.loads(self._read_object("get", key)))
            except (_NotFound, ValueError):
                records = {}
            with self._lock:
                self._repodata[(label, subdir)] = records
        return records

    # -- writing ----------------------------------------------------------------------------------
    def upload(self, artifact: Artifact, label: str) -> Uploaded:
        key = self.key(label, artifact.subdir, artifact.filename)
        if artifact.size > MAX_SINGLE_OBJECT:
            raise InvalidPackageError(
                f"{artifact.filename} is larger than 5 GiB, the S3 single-upload limit",
                hint="cipub does not do multipart S3 uploads yet",
            )

        def put() -> Any:
            with artifact.path.open("rb") as body:
                return self.client.put_object(
                    Bucket=self.bucket,
                    Key=key,
                    Body=body,
                    IfNoneMatch="*",
                    ChecksumAlgorithm="SHA256",
                    ChecksumSHA256=_hex_to_b64(artifact.sha256),
                    ContentType="application/octet-stream",
                    ContentDisposition=f"attachment; filename={artifact.filename}",
                    Metadata={
                        "package-sha256": artifact.sha256,
                        "package-md5": artifact.md5,
                        "package-build-number": str(artifact.build_number),
                    },
                )

        done: Uploaded = "uploaded"
        try:
            self._call("upload", put)
        except _PreconditionFailed:
            self._check_same(key, artifact.sha256, label)
            done = "skipped-identical"  # another run created it first (If-None-Match refused ours)
        self._wrote(label, artifact.subdir, sound_key=key)  # the checked artifact's bytes (sha256 sent)
        return done

    def fetch(self, file: ChannelFile, label: str, dest: Path) -> None:
        """Download ``label``'s copy of ``file`` to ``dest`` (cross-target promotion)."""
        key = self.key(label, file.subdir, file.filename)
        self._call("download", lambda: self.client.download_file(self.bucket, key, str(dest)))

    def add_label(self, file: ChannelFile, label: str, *, source_label: str | None) -> bool:
        source_label, sha = file.source_copy(source_label)
        source = self.key(source_label, file.subdir, file.filename)
        dest = self.key(label, file.subdir, file.filename)
        existing = self._head(dest)
        if existing is not None:
            self._check_same(dest, sha, label, existing)
            self._wrote(label, file.subdir)
            return False
        conditional = {"IfNoneMatch": "*"} if self._copy_can_be_conditional() else {}
        # A 412 means someone (or an earlier attempt) created it: checked below like any copy.
        copied = False
        with contextlib.suppress(_PreconditionFailed):
            self._call(
                "copy",
                lambda: self.client.copy_object(
                    Bucket=self.bucket,
                    Key=dest,
                    CopySource={"Bucket": self.bucket, "Key": source},
                    MetadataDirective="COPY",
                    ChecksumAlgorithm="SHA256",
                    **conditional,
                ),
            )
            copied = True
        self._check_same(dest, sha, label)
        self._copy_attestations(file, source_label, label)
        self._wrote(label, file.subdir, sound_key=dest)  # the same bytes as a sound file
        return copied

    # -- attestations (issue 16): the local channel's layout, see cipub.channels.attestations ------
    def _attestation_objects(self, label: str, subdir: str, filename: str) -> list[tuple[str, str]]:
        """(key, kind) of the stored attestations of ``filename`` in ``label``; sidecars only when
        their name is their content's sha256 (checked by :meth:`get_attestation`)."""
        base = self.key(label, subdir, filename)
        found = [
            (o["Key"], "keyless") for page in self._pages(Prefix=base + SIDECAR_INFIX) for o in page.get("Contents", [])
        ]
        if self._head(base + KEY_ENVELOPE_SUFFIX) is not None:
            found.append((base + KEY_ENVELOPE_SUFFIX, "key"))
        return found

    def put_attestation(self, subdir: str, filename: str, label: str, kind: str, data: bytes) -> None:
        """Store a signed attestation beside the file in ``label`` (a CEP 50 sidecar, or the DSSE envelope)."""
        base = self.key(label, subdir, filename)
        key = base + KEY_ENVELOPE_SUFFIX if kind == "key" else base[: -len(filename)] + sidecar_name(filename, data)
        self._call(
            "upload",
            lambda: self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType="application/json"),
        )
        if kind != "key":
            # CEP 50's mutable URL, the same bytes: one PUT replaces an S3 object whole (never half-written)
            mutable = base + MUTABLE_SIDECAR_SUFFIX
            self._call(
                "upload",
                lambda: self.client.put_object(
                    Bucket=self.bucket, Key=mutable, Body=data, ContentType="application/json"
                ),
            )
            for old, old_kind in self._attestation_objects(label, subdir, filename):
                if old_kind == "keyless" and old != key:
                    self._call("delete", functools.partial(self.client.delete_object, Bucket=self.bucket, Key=old))

    def get_attestation(self, subdir: str, filename: str, label: str, kind: str) -> bytes | None:
        """The stored attestation of ``kind`` for the file in ``label``, or None (read from the
        content-addressed sidecar, never from the mutable ``F.sigs``)."""
        found = None
        for key, found_kind in self._attestation_objects(label, subdir, filename):
            if found_kind != kind:
                continue
            try:
                body = self._read_object("download", key)
            except _NotFound:
                continue
            if kind == "key" or hashlib.sha256(body).hexdigest() == key.rsplit(SIDECAR_INFIX, 1)[1]:
                found = body
        return found

    def _copy_attestations(self, file: ChannelFile, source_label: str, label: str) -> None:
        """A file's attestations go with it into the label it is promoted to (same channel)."""
        found = self._attestation_objects(source_label, file.subdir, file.filename)
        mutable = self.key(source_label, file.subdir, file.filename) + MUTABLE_SIDECAR_SUFFIX
        if any(kind == "keyless" for _key, kind in found) and self._head(mutable) is not None:
            found.append((mutable, "keyless"))
        for key, _kind in found:
            dest = (
                self.key(label, file.subdir, file.filename)
                + key[len(self.key(source_label, file.subdir, file.filename)) :]
            )
            copy = functools.partial(
                self.client.copy_object, Bucket=self.bucket, Key=dest, CopySource={"Bucket": self.bucket, "Key": key}
            )
            self._call("copy", copy)

    def _copy_can_be_conditional(self) -> bool:
        """Older botocore releases do not know CopyObject's If-None-Match (newer than PutObject's)."""
        try:
            members = self.client.meta.service_model.operation_model("CopyObject").input_shape.members
        except Exception:
            return False
        return "IfNoneMatch" in members

    def remove_label(self, file: ChannelFile, label: str) -> None:
        key = self.key(label, file.subdir, file.filename)
        self._call("delete", lambda: self.client.delete_object(Bucket=self.bucket, Key=key))
        # an attestation without its file would only mislead (as on the local channel)
        signed = [k for k, _kind in self._attestation_objects(label, file.subdir, file.filename)]
        if signed:
            mutable = key + MUTABLE_SIDECAR_SUFFIX
            for stale in [*signed, mutable]:
                self._call("delete", functools.partial(self.client.delete_object, Bucket=self.bucket, Key=stale))
        self._wrote(label, file.subdir)

    def install_url(self, label: str) -> str:
        return self.settings.public_url(self.bucket, self.label_root(label))

    def _check_same(self, key: str, sha256: str, label: str, head: dict[str, Any] | None = None) -> None:
        """After a 412 or before a copy: the object at ``key`` must hold exactly ``sha256``."""
        head = head if head is not None else self._head(key)
        if head is None:
            raise VerificationError(f"{self.display}: {key} is missing right after it was written")
        found = self._sha256_of(key, head)
        if found != sha256:
            raise ConflictError(
                f"{key} already exists in label {label!r} of {self.display} with different content",
                hint="cipub never overwrites; build with a new build number",
            )

    def _wrote(self, label: str, subdir: str, *, sound_key: str | None = None) -> None:
        with self._lock:
            if sound_key is not None and self.in_batch:
                self._sound_keys.add(sound_key)
            self._dirty.add((label, subdir))
            if self._layout is not None:
                self._layout.setdefault(label, set()).add(subdir)
            self._repodata.pop((label, subdir), None)

    # -- errors -----------------------------------------------------------------------------------
    def _read_object(self, what: str, key: str) -> bytes:
        """GET the whole object with the body read inside the error mapping. botocore retries the
        request, not a body cut short mid-read: that is fetched again, a bounded number of times."""
        for attempt in range(self.index_retries + 1):
            got = self._call(what, functools.partial(self.client.get_object, Bucket=self.bucket, Key=key))
            try:
                body: bytes = self._call(what, got["Body"].read)
                return body
            except NetworkError:
                if attempt == self.index_retries:
                    raise
        raise AssertionError("unreachable")

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """Run one boto3 call (botocore retries inside) and turn its failures into cipub errors."""
        from botocore import exceptions as bce  # type: ignore[import-untyped]

        try:
            return fn()
        except bce.ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            message = scrub(str(error.get("Message") or code or status))
            if code in _PRECONDITION_CODES or status == 412:
                raise _PreconditionFailed(message) from exc
            if code in _NOT_FOUND_CODES or (status == 404 and code != "NoSuchBucket"):
                raise _NotFound(message) from exc
            if code == "NoSuchBucket":
                raise UsageError(
                    f"{self.display}: bucket {self.bucket!r} does not exist",
                    hint="create it first (cipub never creates buckets)",
                ) from exc
            if code in _AUTH_CODES or status in (401, 403):
                raise AuthError(
                    f"{self.display}: S3 refused the credentials ({status} {code}): {message}",
                    hint="check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY and the bucket policy",
                ) from exc
            if status >= 500 or status == 429:
                raise NetworkError(
                    f"{self.display}: S3 {what} kept failing after retries ({status} {code}: {message})",
                    hint=RETRY_HINT,
                ) from exc
            raise NetworkError(f"{self.display}: S3 {what} failed ({status} {code}: {message})") from exc
        except bce.NoCredentialsError as exc:
            raise self._no_credentials() from exc
        except (bce.EndpointConnectionError, bce.ConnectionError, bce.HTTPClientError) as exc:
            raise NetworkError(
                f"{self.display}: S3 {what} kept failing after retries ({type(exc).__name__}: {scrub(str(exc))})",
                hint="check AWS_ENDPOINT_URL and the network; re-running is safe",
            ) from exc
        except bce.BotoCoreError as exc:
            raise NetworkError(f"{self.display}: S3 {what} failed: {scrub(str(exc))}") from exc

    def require_credentials(self) -> None:
        """Fail (exit 5, no network) when the AWS chain (environment, profile, role) yields no
        credentials: called before building or uploading, as the token targets check their token."""
        if self._credentials is None:
            return
        from botocore import exceptions as bce

        try:
            found = self._credentials()
        except bce.PartialCredentialsError as exc:
            raise self._no_credentials(f" (incomplete: {scrub(str(exc))})") from None
        except bce.BotoCoreError as exc:
            raise self._no_credentials(f" (unreadable: {scrub(str(exc))})") from None
        if found is None or not found[0] or not found[1].reveal():
            half = "" if found is None or not (found[0] or found[1].reveal()) else " (only half of the key pair)"
            raise self._no_credentials(half)

    def _no_credentials(self, detail: str = "") -> AuthError:
        return AuthError(
            f"no AWS credentials for {self.display}{detail}",
            hint="set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or use an AWS profile / role)",
        )


class _PreconditionFailed(Exception):
    pass


class _NotFound(Exception):
    pass


def _rattler_indexer(
    settings: S3Settings, credentials: Callable[[], tuple[str, Secret, Secret | None] | None]
) -> Callable[[str, str], None]:
    """Re-index one subdir of a label root with py-rattler's ``index_s3`` (same credentials as boto3)."""

    def run(channel_url: str, subdir: str) -> None:
        from rattler import Subdir
        from rattler.index import S3Credentials, index_s3

        creds = credentials()
        s3_credentials = S3Credentials(
            endpoint_url=settings.endpoint_url or f"https://s3.{settings.region}.amazonaws.com",
            region=settings.region,
            access_key_id=creds[0] if creds else None,
            secret_access_key=creds[1].reveal() if creds else None,
            session_token=creds[2].reveal() if creds and creds[2] else None,
            addressing_style="path" if settings.addressing_style == "path" else "virtual-host",
        )
        # Like the local channel: no .zst, no shards (see S3Channel._finish_index).
        asyncio.run(
            index_s3(
                channel_url,
                credentials=s3_credentials,
                target_platform=Subdir(subdir),
                write_zst=False,
                write_shards=False,
            )
        )

    return run


def open_target(target: Target, options: TargetOptions, environ: Mapping[str, str] | None = None) -> S3Channel:
    env = process_environ() if environ is None else environ
    if options.token_file is not None:
        raise UsageError(
            f"the S3 target takes its credentials from the AWS environment, not {options.file_flag}",
            hint="set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or use an AWS profile or role)",
        )
    if not target.base:
        raise UsageError(f"{target.display!r} names no bucket", hint="use s3://BUCKET/PREFIX")
    boto3 = import_extra("boto3", extra="s3", needed_for="the S3 target")
    from botocore.config import Config  # type: ignore[import-untyped]

    settings = S3Settings(env)
    # Read through cipub.core.secrets so the values are registered for scrubbing and CI masking.
    secret_key = read_token(["AWS_SECRET_ACCESS_KEY"], environ=env, required=False)
    session_token = read_token(["AWS_SESSION_TOKEN"], environ=env, required=False)
    session = boto3.session.Session(
        aws_access_key_id=env.get("AWS_ACCESS_KEY_ID") or None,
        aws_secret_access_key=secret_key.reveal() if secret_key else None,
        aws_session_token=session_token.reveal() if session_token else None,
        region_name=settings.region,
    )
    config = Config(
        region_name=settings.region,
        retries={"max_attempts": options.retries + 1, "mode": "standard"},
        connect_timeout=options.connect_timeout,
        read_timeout=options.read_timeout,
        max_pool_connections=max(10, 2 * options.concurrency),
        s3={"addressing_style": "path" if settings.addressing_style == "path" else "virtual"},
        user_agent_extra="cipub",
    )
    client = session.client("s3", endpoint_url=settings.endpoint_url, config=config)

    def credentials() -> tuple[str, Secret, Secret | None] | None:
        found = session.get_credentials()
        if found is None:
            return None
        frozen = found.get_frozen_credentials()
        token = Secret(frozen.token, "AWS session token") if frozen.token else None
        return frozen.access_key, Secret(frozen.secret_key, "AWS secret key"), token

    return S3Channel(
        target.base,
        target.name,
        client,
        settings,
        display=target.display,
        max_parallel=options.concurrency,
        indexer=_rattler_indexer(settings, credentials),
        index_retries=options.retries,
        index_backoff=options.backoff,
        credentials=credentials,
    )
