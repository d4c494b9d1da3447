"""The contract every channel target implements, the policy-free data it returns, and the small
pieces every target shares.

A channel target knows how to *read state* (which files exist, under which labels, with which
sha256), *create* a file under a label (never overwriting), and *add* or *remove* a label on a file
that is already there. It does I/O only: every decision (skip identical, conflict, build numbers,
which copy to promote from, never removing the last copy, verification) lives once in
``cipub.policy`` (``publish``, ``promote``, ``buildnumber``) and works the same on every target.
What differs between servers is declared, not implied: each target class says what it can do in
:class:`Capabilities`.

Servers without labels (Quetz, prefix.dev, Artifactory) map a label to a channel or repository
(see ``label_channel_name``) and "add a label" by copying the bytes there; directory and bucket
channels keep one directory per label. Such copies are checked by sha256 like everything else.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, ClassVar, Literal, Protocol, TypeVar, runtime_checkable

from cipub.core.artifact import PACKAGE_EXTENSIONS, Artifact, split_filename
from cipub.core.errors import InvalidPackageError, UsageError, VerificationError

MAIN_LABEL = "main"


@dataclass(frozen=True)
class Capabilities:
    """What a kind of target can do, declared by its class (``capabilities``); what is not
    declared, it cannot.

    The policy reads these instead of guessing from the target's options; the conformance suite
    runs the same scenarios on every kind, so a declaration that lies shows up there.
    """

    #: a file is stored once and carries a set of labels (anaconda.org); False: each label holds
    #: a copy of its own (a directory, a channel, a repository), possibly with other bytes
    native_labels: bool = False
    #: adding a label never moves the bytes through cipub (label change, server-side or hard-link
    #: copy); False: cipub downloads the source copy, checks its sha256 and uploads it again
    server_side_copy: bool = False
    #: the server writes repodata itself; False: cipub indexes the channel when a batch ends
    server_side_index: bool = False
    #: the server applies writes or re-indexes in the background: the target waits, bounded, until
    #: it shows them (before reading again, or when the batch ends)
    async_index: bool = False
    #: the server can list every label's channel; False: the target reads ``main``, ``test``, the
    #: labels in ``TargetOptions.labels`` (the command's --label/--from/--to) and those it wrote
    lists_labels: bool = False


@dataclass(frozen=True)
class NameRule:
    """A rule for names (labels, channels, repositories) and the words that explain it."""

    pattern: re.Pattern[str]
    explained: str
    max_length: int | None = None

    def check(self, value: str, what: str = "label") -> str:
        if not self.pattern.fullmatch(value) or (self.max_length is not None and len(value) > self.max_length):
            shown = value if len(value) <= 60 else f"{value[:40]}...({len(value)} characters)"
            raise UsageError(f"invalid {what} {shown!r}: {self.explained}")
        return value

    def matches(self, value: str) -> bool:
        return bool(self.pattern.fullmatch(value)) and (self.max_length is None or len(value) <= self.max_length)


#: The one rule for labels, and for channel and repository names, on every target. It keeps a name
#: valid as a URL path segment, as a directory name and inside a label channel's name
#: (``CHANNEL-LABEL``), and excludes ``.`` / ``..``. Servers whose documented naming is stricter
#: (anaconda.org, PSM) declare their own rule next to the reason.
NAMES = NameRule(
    re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*"),
    "use letters, digits, '.', '_' and '-', starting with a letter or digit, at most 128 characters",
    # a directory name holds 255 bytes; a longer label made a local channel's journal unreplayable
    max_length=128,
)
_SUBDIR = re.compile(r"[a-z0-9][a-z0-9_-]*")
_FILENAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")


def is_subdir(name: str) -> bool:
    """A platform subdir name (``noarch``, ``linux-64``...); ``label`` is the label tree's root."""
    return bool(_SUBDIR.fullmatch(name)) and name != "label"


def check_subdir(subdir: str) -> str:
    if not is_subdir(subdir):
        raise InvalidPackageError(f"invalid subdir {subdir!r}")
    return subdir


def check_filename(filename: str) -> str:
    """A package file name that is safe as a path segment (no separators, no leading dot)."""
    if not _FILENAME.fullmatch(filename):
        raise InvalidPackageError(f"refusing file name {filename!r}: it could escape the channel")
    split_filename(filename)
    return filename


def same_version(a: str, b: str) -> bool:
    """Conda's version equality (py-rattler): ``1.0`` is ``1.0.0``; the text when either is no version."""
    if a == b:
        return True
    from rattler import Version

    try:
        return bool(Version(a) == Version(b))
    except Exception:  # py-rattler's InvalidVersionError: not a version, so only the text can match
        return False


def package_of(filename: str, name: str, version: str | None) -> tuple[str, str, str] | None:
    """(name, version, build) of a package file of ``name`` (and ``version``, compared as conda
    compares versions), else None."""
    try:
        f_name, f_version, build, _ext = split_filename(filename)
    except InvalidPackageError:
        return None
    if f_name != name or (version is not None and not same_version(f_version, version)):
        return None
    return f_name, f_version, build


def int_or_none(value: object) -> int | None:
    """A build number as a server's JSON gives it: an int, else unknown."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


#: the largest build number conda, rattler-build and cipub's --build-number accept (an int32)
MAX_BUILD_NUMBER = 2**31 - 1


def valid_build_number(value: object) -> int | None:
    """``value`` if it is a build number a package may carry (an int, not a bool, 0..2**31-1): a
    hand-placed file claiming 10**30 or ``true`` must not become the channel's highest build."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_BUILD_NUMBER:
        return value
    return None


def build_number_of(build: str) -> int:
    """The ``_N`` suffix of a build string: the fallback where no index says the build number."""
    tail = build.rsplit("_", 1)[-1]
    return (valid_build_number(int(tail)) or 0) if tail.isdigit() else 0


def as_dict(value: object) -> dict[str, Any]:
    """``value`` if a server sent a JSON object there, else ``{}`` (a wrongly shaped answer reads as empty)."""
    return value if isinstance(value, dict) else {}


def as_list(value: object) -> list[Any]:
    """``value`` if a server sent a JSON array there, else ``[]``."""
    return value if isinstance(value, list) else []


def repodata_records(repodata: object) -> dict[str, dict[str, object]]:
    """``{filename: record}`` of a repodata.json document (both package sections)."""
    records: dict[str, dict[str, object]] = {}
    if not isinstance(repodata, dict):
        return records
    for section in ("packages", "packages.conda"):
        table = repodata.get(section)
        for filename, record in (table if isinstance(table, dict) else {}).items():
            if isinstance(record, dict):
                records[str(filename)] = record
    return records


@dataclass(frozen=True)
class PackageIdentity:
    """Which package file: where it lives, its name, version and build, and its content hash
    (None where copies differ). The leading fields of every per-file record (:class:`ChannelFile`,
    ``cipub.policy.status.FileStatus``)."""

    subdir: str
    filename: str
    name: str
    version: str
    build: str
    build_number: int
    sha256: str | None


@dataclass(frozen=True)
class ChannelFile(PackageIdentity):
    """One package file as a channel holds it: its identity, content hash and labels."""

    labels: frozenset[str] = field(default_factory=frozenset)
    #: per-label sha256 where a server keeps a separate copy per label (Quetz, prefix, S3...)
    label_sha256: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_copies(
        cls,
        subdir: str,
        filename: str,
        copies: Mapping[str, str],
        *,
        build_number: int | None,
        name: str | None = None,
        version: str | None = None,
        build: str | None = None,
    ) -> ChannelFile:
        """The record of a file kept as one copy per label (``{label: sha256}``). Name, version and
        build come from the file name unless the server's metadata gives them; a build number the
        server does not know (None) from the build string's ``_N``."""
        if name is None or version is None or build is None:
            f_name, f_version, f_build, _ext = split_filename(filename)
            name, version, build = name or f_name, version or f_version, build or f_build
        if build_number is None:
            build_number = build_number_of(build)
        distinct = set(copies.values())
        sha256 = distinct.pop() if len(distinct) == 1 else None
        return cls(
            subdir,
            filename,
            name,
            version,
            build,
            build_number,
            sha256,
            frozenset(copies),
            tuple(sorted(copies.items())),
        )

    @property
    def key(self) -> str:
        return f"{self.subdir}/{self.filename}"

    def sha256_in(self, label: str) -> str | None:
        """The sha256 of the copy under ``label`` (servers with one copy: the file's sha256)."""
        for lab, sha in self.label_sha256:
            if lab == label:
                return sha
        return self.sha256 if label in self.labels else None

    def source_copy(self, label: str | None) -> tuple[str, str]:
        """(label, sha256) of the copy to copy from ``label``, for targets that keep a copy per
        label; VerificationError if that label holds no copy with a known sha256."""
        sha = self.sha256_in(label) if label is not None else None
        if label is None or not sha:
            raise VerificationError(f"{self.key}: label {label!r} holds no copy with a known sha256")
        return label, sha


#: a file's key in a listing: ``subdir/filename`` or ``(subdir, filename)``
K = TypeVar("K", str, tuple[str, str])
R = TypeVar("R")


def group_copies(rows: Iterable[tuple[K, str, str, R]]) -> list[tuple[K, dict[str, str], R]]:
    """Listing rows ``(file key, label, sha256, record)`` -> one ``(key, {label: sha256}, record)``
    per file, sorted by key; the record kept is the first row's (servers repeat rows)."""
    copies: dict[K, dict[str, str]] = {}
    records: dict[K, R] = {}
    for key, label, sha, record in rows:
        copies.setdefault(key, {})[label] = sha
        records.setdefault(key, record)
    return [(key, copies[key], records[key]) for key in sorted(copies)]


def poll_until(
    done: Callable[[], bool],
    *,
    timeout: float,
    sleep: Callable[[float], None] = time.sleep,
    delay: float = 0.1,
    max_delay: float = 2.0,
) -> bool:
    """Ask ``done`` until it says yes or ``timeout`` seconds have passed, sleeping between asks
    (doubling from ``delay`` up to ``max_delay``). Returns the last answer; always asks once."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() >= deadline:
            return False
        sleep(delay)
        delay = min(delay * 2, max_delay)
    return True


B = TypeVar("B", bound="Batch")


class Batch:
    """``with channel:`` around a batch of operations; batches nest (policy helpers open the
    channel again), and only the outermost exit ends the batch: targets wait for their server,
    index, release locks and forget what they cached there (``_end_batch``)."""

    _depth: int = 0

    def __enter__(self: B) -> B:
        if self._depth == 0:
            self._begin_batch()
        self._depth += 1
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._depth -= 1
        if self._depth == 0:
            self._end_batch(exc)

    @property
    def in_batch(self) -> bool:
        return self._depth > 0

    def _begin_batch(self) -> None:
        """Called when the outermost batch starts."""

    def _end_batch(self, exc: BaseException | None) -> None:
        """Called when the outermost batch ends; ``exc`` is the failure that ended it, if any."""


#: what ``Channel.upload`` did, so that what the upload reports is what happened: ``"uploaded"``
#: (this call wrote the bytes), ``"skipped-identical"`` (the same bytes were already there in the
#: label: another run wrote them meanwhile), ``"label-added"`` (the same bytes were there under
#: another label only, and this call made them carry the label too)
Uploaded = Literal["uploaded", "skipped-identical", "label-added"]


@runtime_checkable
class Channel(Protocol):
    """A publishing target. Used as a context manager around a batch of operations.

    Implementations must:
    - never delete or replace an existing file's bytes (``upload`` raises ConflictError instead);
    - raise ``cipub.core.errors`` classes only (AuthError, NetworkError after retries, ConflictError...);
    - never include a secret in any message, log line or file;
    - decide nothing the policy decides: they are told which copy to copy and which label to remove.
    """

    #: the target as the user wrote it, minus any secret; shown in output and receipts
    display: str
    #: how many upload/add_label calls cipub may run at once on this object (threads); 1 = serial
    max_parallel: int
    #: what this kind of target can do
    capabilities: ClassVar[Capabilities]

    def __enter__(self) -> Channel: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def files(self, name: str, version: str | None = None) -> list[ChannelFile]:
        """Every file of package ``name`` (optionally one version), across all labels and subdirs."""
        ...

    def upload(self, artifact: Artifact, label: str) -> Uploaded:
        """Create ``artifact`` on the channel carrying ``label``. ConflictError if the name is taken
        by other bytes; identical bytes already there count as done, and the answer says so
        (``"skipped-identical"``, or ``"label-added"`` when they carried only other labels)."""
        ...

    def add_label(self, file: ChannelFile, label: str, *, source_label: str | None) -> bool:
        """Make ``file`` also carry ``label``, from its copy under ``source_label`` (chosen and
        checked by the policy; None only for a file that carries no label, which only native-label
        servers have). Label-less servers copy those bytes and check them by sha256; a different
        file already under ``label`` is a ConflictError.

        False when the target found the same bytes under ``label`` already (another run added the
        label first), so that this run does not claim it; True when this call added it, or when the
        target cannot tell (a native-label server's label change is idempotent and says nothing)."""
        ...

    def remove_label(self, file: ChannelFile, label: str) -> None:
        """Take ``label`` off ``file`` (label-less servers: delete that label's copy). Only the policy
        calls it, after checking that another label keeps the same bytes (``promote --move``)."""
        ...

    def install_url(self, label: str) -> str:
        """A URL (or path) conda / py-rattler can install from, for that label."""
        ...


@runtime_checkable
class PublishesLater(Protocol):
    """A channel whose ``upload``/``add_label`` may return before the file is visible under its name
    (the local channel links a copy only once it is on disk, batched for speed)."""

    def when_published(self, subdir: str, filename: str, then: Callable[[], None]) -> None:
        """Call ``then`` once ``subdir/filename`` is published: at once if it is, later if it is
        waiting, never if it never gets published (the batch failed first)."""
        ...


@runtime_checkable
class ListsFromACache(Protocol):
    """A channel whose listing may come from a cache that could be wrong (the local channel's saved
    listings): the exact name of a file about to be written is looked up on the target itself."""

    def found_unlisted(self, subdir: str, filename: str) -> bool:
        """True when ``subdir/filename`` is on the target though the listing left it out (the
        listing is then read again, so ``files`` tells the truth from here on)."""
        ...


def listing_left_out(channel: object, subdir: str, filename: str) -> bool:
    """Did ``channel``'s listing leave out ``subdir/filename``, which is there (see :class:`ListsFromACache`)?"""
    return isinstance(channel, ListsFromACache) and channel.found_unlisted(subdir, filename)


def when_published(channel: object, subdir: str, filename: str, then: Callable[[], None]) -> None:
    """``then`` once the file just written is published (at once on a channel that writes it whole):
    an "uploaded" line is said only for a file that is there."""
    if isinstance(channel, PublishesLater):
        channel.when_published(subdir, filename, then)
    else:
        then()


def tree_path(label: str, subdir: str | None = None, filename: str | None = None) -> str:
    """Where directory and bucket channels keep a label's files, as anaconda.org's conda URLs do:
    label ``main`` at the root (""), label ``L`` under ``label/L``; then ``<subdir>/<filename>``.
    Every part is checked, so nothing can land outside the tree."""
    parts = [] if NAMES.check(label) == MAIN_LABEL else ["label", label]
    if subdir is not None:
        parts.append(check_subdir(subdir))
    if filename is not None:
        parts.append(check_filename(filename))
    return "/".join(parts)


def junk_among(
    stored: Iterable[tuple[str, int | None, bool]],
    repodata: bytes | Mapping[str, Mapping[str, object]] | None,
    check: Callable[[str], None],
) -> dict[str, str]:
    """The files of one label/subdir of a directory or bucket channel that are named like packages
    but are not valid ones (file name -> why): indexing one would fail (or panic inside py-rattler)
    and take every later command on the channel with it.

    ``stored`` holds (name, size, is a regular file) for each entry; ``repodata`` is the subdir's
    current repodata.json, if any (or its records, ``indexed_records``). A file the index already
    lists at the same size parses (files are never modified in place), so only the others are
    handed to ``check``, which raises InvalidPackageError for a bad one.
    """
    indexed = indexed_records(repodata) if isinstance(repodata, bytes) or repodata is None else repodata
    junk: dict[str, str] = {}
    for name, size, regular in stored:
        if not name.endswith(PACKAGE_EXTENSIONS):
            continue  # temporary files (.NAME.conda.XXXX.part), sidecars, repodata: not packages
        if name.startswith("."):
            # no package name starts with a dot, but the indexer takes any name ending in .conda
            # (and panicked on a hidden junk one, bricking the channel)
            junk[name] = "a hidden file (its name starts with '.'), not a package"
            continue
        if not regular:
            junk[name] = "not a regular file"
            continue
        record = indexed.get(name)
        if isinstance(record, dict) and record.get("size") == size:
            continue
        try:
            check(name)
        except InvalidPackageError as exc:
            junk[name] = exc.message.removeprefix(f"{name}: ")
    return junk


def indexed_records(repodata: bytes | None) -> dict[str, dict[str, object]]:
    """``{filename: record}`` of a subdir's repodata.json bytes; ``{}`` if absent or unreadable."""
    if repodata is None:
        return {}
    with suppress(ValueError):
        return repodata_records(json.loads(repodata))
    return {}


def junk_reported(channel: object) -> dict[str, str]:
    """The junk a directory or bucket channel passed over while listing files in this batch
    (``label/subdir/filename`` -> why); ``{}`` for targets that index on the server."""
    seen = getattr(channel, "junk_seen", None)
    return dict(seen) if isinstance(seen, dict) else {}


def warn_skipped(log: logging.Logger, display: str, label: str, subdir: str, junk: Mapping[str, str]) -> None:
    """Say which files of a directory or bucket channel's ``label/subdir`` the index skipped (file
    name -> why); they are left where they are."""
    for name, reason in sorted(junk.items()):
        log.warning(
            "%s: skipping %s/%s when indexing: %s (not deleted; remove it by hand)",
            display,
            tree_path(label, subdir),
            name,
            reason,
        )


def label_channel_name(channel: str, label: str) -> str:
    """How label-less servers name a label's channel: ``main`` -> CHANNEL, else CHANNEL-LABEL."""
    return channel if label == MAIN_LABEL else f"{channel}-{label}"


def label_of_channel(channel: str, candidate: str, *, ignore_case: bool = False) -> str | None:
    """The label whose channel (``label_channel_name``) is ``candidate``, or None if it is not one
    of ``channel``'s label channels (or its label breaks the naming rule)."""
    mine, theirs = (channel.lower(), candidate.lower()) if ignore_case else (channel, candidate)
    if theirs == mine:
        return MAIN_LABEL
    if theirs.startswith(f"{mine}-"):
        label = candidate[len(channel) + 1 :]
        return label if NAMES.matches(label) else None
    return None


def find_file(files: Iterable[ChannelFile], subdir: str, filename: str) -> ChannelFile | None:
    for f in files:
        if f.subdir == subdir and f.filename == filename:
            return f
    return None
