"""The contract every channel target implements, and the policy-free data it returns.

A channel target knows how to *read state* (which files exist, under which labels, with which
sha256), *create* a file under a label (never overwriting), and *add* or *remove* a label on a file
that is already there. Everything about policy (skip identical, conflict, build numbers, promotion
by manifest, verification) lives once in ``cipub.policy`` (``publish``, ``promote``, ``buildnumber``)
and works the same on every target.

Servers without labels (Quetz, prefix.dev, Artifactory) map a label to a channel or repository
(see ``label_channel_name``) and "add a label" by copying the bytes there; such copies are checked
by sha256 in the target, like everything else.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Protocol, runtime_checkable

from cipub.core.artifact import Artifact
from cipub.core.errors import UsageError

MAIN_LABEL = "main"


@dataclass(frozen=True)
class ChannelFile:
    """One package file as a channel holds it: its identity, content hash and labels."""

    subdir: str
    filename: str
    name: str
    version: str
    build: str
    build_number: int
    sha256: str | None
    labels: frozenset[str] = field(default_factory=frozenset)
    #: per-label sha256 where a server keeps a separate copy per label (Quetz, prefix, S3...)
    label_sha256: tuple[tuple[str, str], ...] = ()

    @property
    def key(self) -> str:
        return f"{self.subdir}/{self.filename}"

    def sha256_in(self, label: str) -> str | None:
        """The sha256 of the copy under ``label`` (servers with one copy: the file's sha256)."""
        for lab, sha in self.label_sha256:
            if lab == label:
                return sha
        return self.sha256 if label in self.labels else None


@runtime_checkable
class Channel(Protocol):
    """A publishing target. Used as a context manager around a batch of operations.

    Implementations must:
    - never delete or replace an existing file's bytes (``upload`` raises ConflictError instead);
    - raise ``cipub.core.errors`` classes only (AuthError, NetworkError after retries, ConflictError...);
    - never include a secret in any message, log line or file.
    """

    #: the target as the user wrote it, minus any secret; shown in output and receipts
    display: str
    #: how many upload/add_label calls cipub may run at once on this object (threads); 1 = serial
    max_parallel: int

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

    def upload(self, artifact: Artifact, label: str) -> None:
        """Create ``artifact`` on the channel carrying ``label``. ConflictError if the name is taken."""
        ...

    def add_label(self, file: ChannelFile, label: str) -> None:
        """Make an existing file also carry ``label`` (label-less servers: copy the bytes)."""
        ...

    def remove_label(self, file: ChannelFile, label: str) -> None:
        """Take ``label`` off a file that also carries another label (used by ``promote --move``)."""
        ...

    def install_url(self, label: str) -> str:
        """A URL (or path) conda / py-rattler can install from, for that label."""
        ...


def label_channel_name(channel: str, label: str) -> str:
    """How label-less servers name a label's channel: ``main`` -> CHANNEL, else CHANNEL-LABEL."""
    return channel if label == MAIN_LABEL else f"{channel}-{label}"


def find_file(files: Iterable[ChannelFile], subdir: str, filename: str) -> ChannelFile | None:
    for f in files:
        if f.subdir == subdir and f.filename == filename:
            return f
    return None


def parse_local_path(target: str) -> Path | None:
    """``./channel``, ``/srv/conda`` or ``file:///srv/conda`` -> Path; None for other schemes."""
    if target.startswith("file://"):
        path = target[len("file://") :]
        if not path.startswith("/"):
            raise UsageError(f"{target!r}: a file:// target needs an absolute path (file:///srv/conda)")
        return Path(path)
    if "://" in target:
        return None
    return Path(target)
