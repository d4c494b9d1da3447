"""A conda channel in a local directory, with labels laid out like anaconda.org's conda URLs.

    ROOT/<subdir>/...               label ``main``  (so ``conda install -c ROOT`` sees main)
    ROOT/label/<L>/<subdir>/...     label ``L``

Each label directory is a valid channel, indexed with py-rattler's ``index_fs``. A file carrying
several labels is hard-linked into each (copied where links are impossible); files are never
modified after creation, so the links are safe.

Safety: writes go to a temp file in the target directory and are published with ``os.link``,
which fails if the name exists (create-only, atomic). An exclusive ``flock`` on ``ROOT/.cipub.lock``
is held for the whole batch, so concurrent cipub processes serialise and the index stays whole.
Names are validated so nothing can be written outside ROOT.

Cost: a batch lists each label/subdir directory once (again once after taking the lock, since
another writer may have written meanwhile) and keeps that listing up to date with its own writes;
copied files are flushed to disk with one ``os.sync`` per batch, before any of them is published
(linked to its name), so a file is never visible before its bytes are durable (issue 12).

Crash safety: before the first write to a label/subdir, the pair is recorded in
``ROOT/.cipub-pending`` (replaced atomically); the record goes only after that batch's re-index.
A process killed between writing a file and indexing it leaves the record behind, so the next
batch (whatever it is, even a read-only build-number lookup) re-indexes those pairs and removes
the dead process's temporary ``.part`` files: the channel converges without anyone noticing.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from conda_package_streaming import package_streaming

from cipub.channels.base import MAIN_LABEL, NAMES, Batch, Capabilities, ChannelFile, is_subdir, package_of, tree_path
from cipub.channels.target import Target, TargetOptions
from cipub.core.artifact import PACKAGE_EXTENSIONS, Artifact, file_digests
from cipub.core.errors import AuthError, ConflictError, InvalidPackageError, NetworkError, UsageError

LOCK_NAME = ".cipub.lock"
PENDING_NAME = ".cipub-pending"


@contextmanager
def storage_errors(root: Path) -> Iterator[None]:
    """Turn the filesystem's failures into cipub's: a clear line and the right exit code."""
    try:
        yield
    except PermissionError as exc:
        raise AuthError(f"no permission to write the channel at {root}: {exc.strerror} ({exc.filename})") from exc
    except (NotADirectoryError, IsADirectoryError) as exc:
        raise UsageError(f"cannot use {root} as a channel: {exc.strerror} ({exc.filename})") from exc
    except FileExistsError:
        raise  # create-only writes rely on it; callers turn it into a conflict
    except OSError as exc:
        raise NetworkError(f"storage error on the channel at {root}: {exc.strerror} ({exc.filename})") from exc


def run_index(coro: object) -> None:
    """Run a py-rattler coroutine to completion from synchronous code."""
    asyncio.run(coro)  # type: ignore[arg-type]


class LocalChannel(Batch):
    """Implements ``cipub.channels.base.Channel`` on a directory."""

    capabilities = Capabilities(server_side_copy=True, lists_labels=True)
    max_parallel = 1  # a filesystem under one lock gains nothing from threads

    def __init__(self, root: Path, display: str | None = None) -> None:
        self.root = root.expanduser().absolute()
        self.display = display or str(root)
        self._lock_file: IO[str] | None = None
        self._dirty: set[tuple[str, str]] = set()  # (label, subdir) to re-index
        self._sha_cache: dict[tuple[int, int, int], str] = {}
        self._build_numbers: dict[tuple[int, int, int], int | None] = {}
        #: this batch's listing: label -> subdir -> package name -> {filename: path}
        self._listing: dict[str, dict[str, dict[str, dict[str, Path]]]] | None = None
        #: copies written but not yet published: (temporary file, name, label), linked after one sync
        self._unpublished: list[tuple[Path, Path, str]] = []
        self._unpublished_keys: set[tuple[str, str]] = set()  # their (subdir, filename)

    # -- layout -----------------------------------------------------------------------------
    def label_dir(self, label: str) -> Path:
        return self.root / tree_path(label)

    def labels(self) -> list[str]:
        if self._listing is not None:
            return list(self._listing)
        found = [MAIN_LABEL] if self.root.is_dir() else []
        label_root = self.root / "label"
        if label_root.is_dir():
            found.extend(sorted(p.name for p in label_root.iterdir() if p.is_dir() and NAMES.matches(p.name)))
        return found

    def _subdirs(self, label_dir: Path) -> list[str]:
        if not label_dir.is_dir():
            return []
        return sorted(p.name for p in label_dir.iterdir() if p.is_dir() and is_subdir(p.name))

    def _path(self, label: str, subdir: str, filename: str) -> Path:
        path = self.root / tree_path(label, subdir, filename)
        # Belt and braces: the resolved parent must stay inside ROOT.
        if not path.parent.resolve().is_relative_to(self.root.resolve()):
            raise InvalidPackageError(f"refusing to write outside the channel: {path}")
        return path

    # -- context / locking --------------------------------------------------------------------
    def _begin_batch(self) -> None:
        # Reading writes nothing (plans, build-number lookups, --dry-run): the directory and its
        # lock appear with the first write. Reads need no lock: writes are create-only (os.link
        # fails on an existing name), so state read before the lock can never cause an overwrite.
        # Exception: a crashed writer's journal means an index to repair, whatever this batch does.
        if (self.root / PENDING_NAME).exists():
            self._acquire()

    def _acquire(self) -> None:
        with storage_errors(self.root):
            self.root.mkdir(parents=True, exist_ok=True)
            self._lock_file = (self.root / LOCK_NAME).open("a+", encoding="utf-8")
            fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_EX)
            self._listing = None  # listed before the lock: another writer may have written since
            self._recover()

    def _recover(self) -> None:
        """Finish the work of a process that died between writing and indexing (we hold the lock)."""
        pending = self.root / PENDING_NAME
        if not pending.exists():
            return
        try:
            pairs = {(str(label), str(subdir)) for label, subdir in json.loads(pending.read_text(encoding="utf-8"))}
        except (OSError, ValueError, TypeError):
            pairs = {(label, s) for label in self.labels() for s in self._subdirs(self.label_dir(label))}
        for label, subdir in pairs:
            directory = self.root / tree_path(label, subdir)
            if directory.is_dir():
                for leftover in directory.glob(".*.part"):
                    leftover.unlink(missing_ok=True)
        self._dirty.update(pairs)

    def _mark_dirty(self, label: str, subdir: str) -> None:
        """Record the pair on disk *before* writing to it, so a crash cannot leave it unindexed."""
        if (label, subdir) in self._dirty:
            return
        self._dirty.add((label, subdir))
        tmp = self.root / f"{PENDING_NAME}.tmp"
        with storage_errors(self.root):
            tmp.write_text(json.dumps(sorted(self._dirty)), encoding="utf-8")
            tmp.replace(self.root / PENDING_NAME)

    def _end_batch(self, exc: BaseException | None) -> None:
        try:
            if self._lock_file is not None:  # nothing was written if the channel was never locked
                # Re-index even after a failure: what was written must be visible and consistent.
                with storage_errors(self.root):
                    self._publish()
                    self.reindex()
                    (self.root / PENDING_NAME).unlink(missing_ok=True)
        finally:
            self._listing = None
            for tmp, _dest, _label in self._unpublished:  # only left after a failure: never published
                tmp.unlink(missing_ok=True)
            self._unpublished.clear()
            self._unpublished_keys.clear()
            if self._lock_file is not None:
                fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_UN)
                self._lock_file.close()
                self._lock_file = None

    def reindex(self, everything: bool = False) -> None:
        """Index the label/subdir pairs touched in this batch (or all of them)."""
        from rattler import Subdir
        from rattler.index import index_fs

        pairs = set(self._dirty)
        if everything:
            for label in self.labels():
                pairs.update((label, s) for s in self._subdirs(self.label_dir(label)))
        for label, _subdir in list(pairs):
            # conda and rattler refuse a channel without noarch/repodata.json, even an empty one.
            if not (self.label_dir(label) / "noarch" / "repodata.json").exists():
                pairs.add((label, "noarch"))
        for label, subdir in sorted(pairs):
            label_dir = self.label_dir(label)
            (label_dir / subdir).mkdir(parents=True, exist_ok=True)
            run_index(index_fs(label_dir, target_platform=Subdir(subdir), write_zst=False, write_shards=False))
        self._dirty.clear()

    # -- reading ------------------------------------------------------------------------------
    def _sha256(self, path: Path) -> str:
        st = path.stat()
        key = (st.st_ino, st.st_size, st.st_mtime_ns)
        if key not in self._sha_cache:
            self._sha_cache[key] = file_digests(path)[0]
        return self._sha_cache[key]

    def _list(self) -> dict[str, dict[str, dict[str, dict[str, Path]]]]:
        """The channel's package files, read once per batch (outside a batch: every time)."""
        if self._listing is not None:
            return self._listing
        listing: dict[str, dict[str, dict[str, dict[str, Path]]]] = {}
        for label in self.labels():
            label_dir = self.label_dir(label)
            by_subdir = listing.setdefault(label, {})
            for subdir in self._subdirs(label_dir):
                by_name = by_subdir.setdefault(subdir, {})
                with os.scandir(label_dir / subdir) as entries:
                    for entry in entries:
                        if entry.name.endswith(PACKAGE_EXTENSIONS) and not entry.name.startswith("."):
                            by_name.setdefault(_name_part(entry.name), {})[entry.name] = Path(entry.path)
        if self.in_batch:
            self._listing = listing
        return listing

    def _listed(self, label: str, dest: Path, *, present: bool) -> None:
        """Keep this batch's listing in step with a write of our own (``dest`` is LABEL_DIR/SUBDIR/FILE)."""
        if self._listing is None:
            return
        by_subdir = self._listing.setdefault(label, {})
        by_name = by_subdir.setdefault(dest.parent.name, {}).setdefault(_name_part(dest.name), {})
        if present:
            by_name[dest.name] = dest
        else:
            by_name.pop(dest.name, None)

    def _exists(self, subdir: str, filename: str) -> bool:
        """Is ``subdir/filename`` in any label (or about to be, in this batch)?"""
        if (subdir, filename) in self._unpublished_keys:
            return True
        name = _name_part(filename)
        return any(filename in by_subdir.get(subdir, {}).get(name, {}) for by_subdir in self._list().values())

    def _build_number(self, path: Path) -> int | None:
        """``_build_number``, once per file and process (hard-linked copies share the inode)."""
        st = path.stat()
        key = (st.st_ino, st.st_size, st.st_mtime_ns)
        if key not in self._build_numbers:
            self._build_numbers[key] = _build_number(path)
        return self._build_numbers[key]

    def files(self, name: str, version: str | None = None) -> list[ChannelFile]:
        """Only the listed entries of package ``name``: never the whole index, never a re-scan."""
        self._publish()  # what this batch wrote is read back from its real names
        found: dict[tuple[str, str], dict[str, Path]] = {}
        for label, by_subdir in self._list().items():
            for subdir, by_name in sorted(by_subdir.items()):
                for fn, path in by_name.get(name, {}).items():
                    if package_of(fn, name, version):
                        found.setdefault((subdir, fn), {})[label] = path
        return [
            ChannelFile.from_copies(
                subdir,
                fn,
                {label: self._sha256(path) for label, path in by_label.items()},
                build_number=self._build_number(next(iter(by_label.values()))),
            )
            for (subdir, fn), by_label in sorted(found.items())
        ]

    # -- writing ------------------------------------------------------------------------------
    def _require_lock(self) -> None:
        if not self.in_batch:
            raise RuntimeError("LocalChannel must be used as a context manager to write")
        if self._lock_file is None:
            self._acquire()

    def _create(self, source: Path, dest: Path, label: str, *, link: bool) -> None:
        """Publish ``source`` at ``dest`` without ever replacing an existing ``dest``."""
        with storage_errors(self.root):
            self._create_unchecked(source, dest, label, link=link)

    def _create_unchecked(self, source: Path, dest: Path, label: str, *, link: bool) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        if link:
            try:
                os.link(source, dest)
                self._listed(label, dest, present=True)
                return
            except FileExistsError:
                raise
            except OSError:
                pass  # cross-device or no hard links here: fall back to a copy
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
        tmp = Path(tmp_name)
        try:
            os.fchmod(fd, 0o644)  # mkstemp makes 0600; a channel is served to others
            with os.fdopen(fd, "wb") as out, source.open("rb") as src:
                shutil.copyfileobj(src, out, 1024 * 1024)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        # Published by _publish, after one sync for the whole batch: never visible before durable.
        self._unpublished.append((tmp, dest, label))
        self._unpublished_keys.add((dest.parent.name, dest.name))

    def _publish(self) -> None:
        """Make this batch's copies durable (one ``os.sync``), then link each to its name."""
        if not self._unpublished:
            return
        with storage_errors(self.root):
            os.sync()
            self._unpublished.reverse()  # pop() from the end, in the order written
            while self._unpublished:
                tmp, dest, label = self._unpublished.pop()
                self._unpublished_keys.discard((dest.parent.name, dest.name))
                try:
                    os.link(tmp, dest)  # atomic, and fails if dest appeared meanwhile
                except FileExistsError as exc:
                    raise ConflictError(f"{dest.parent.name}/{dest.name} appeared meanwhile on {self.display}") from exc
                finally:
                    tmp.unlink(missing_ok=True)
                self._listed(label, dest, present=True)

    def upload(self, artifact: Artifact, label: str) -> None:
        self._require_lock()
        dest = self._path(label, artifact.subdir, artifact.filename)
        if self._exists(artifact.subdir, artifact.filename):
            raise ConflictError(
                f"{artifact.key} already exists on {self.display}",
                hint="cipub never overwrites; build with a new build number",
            )
        self._mark_dirty(label, artifact.subdir)
        try:
            self._create(artifact.path, dest, label, link=False)
        except FileExistsError as exc:
            raise ConflictError(f"{artifact.key} already exists in label {label!r} of {self.display}") from exc

    def add_label(self, file: ChannelFile, label: str, *, source_label: str | None) -> None:
        self._require_lock()
        source_label, _sha = file.source_copy(source_label)
        source = self._path(source_label, file.subdir, file.filename)
        dest = self._path(label, file.subdir, file.filename)
        self._mark_dirty(label, file.subdir)
        self._publish()  # the source may be a copy of this batch
        try:
            self._create(source, dest, label, link=True)
        except FileExistsError as exc:
            raise ConflictError(f"{file.key} already exists in label {label!r} of {self.display}") from exc

    def remove_label(self, file: ChannelFile, label: str) -> None:
        self._require_lock()
        self._mark_dirty(label, file.subdir)
        with storage_errors(self.root):
            path = self._path(label, file.subdir, file.filename)
            path.unlink(missing_ok=True)
        self._listed(label, path, present=False)

    def install_url(self, label: str) -> str:
        return self.label_dir(label).as_uri()


def _name_part(filename: str) -> str:
    """The package name of ``NAME-VERSION-BUILD.conda`` (version and build hold no ``-``)."""
    stem = filename.removesuffix(".conda").removesuffix(".tar.bz2")
    return stem.rsplit("-", 2)[0]


def _build_number(path: Path) -> int | None:
    """build_number from info/index.json (authoritative); None (the ``_N`` suffix) if unreadable."""
    try:
        with path.open("rb") as fh:
            for tar, member in package_streaming.stream_conda_info(path.name, fh):
                if member.name == "info/index.json":
                    extracted = tar.extractfile(member)
                    if extracted is not None:
                        return int(json.loads(extracted.read())["build_number"])
    except Exception:  # noqa: S110 - a damaged file on the channel must not break lookups
        pass
    return None


def open_target(target: Target, options: TargetOptions) -> LocalChannel:
    return LocalChannel(Path(target.base), display=target.raw)
