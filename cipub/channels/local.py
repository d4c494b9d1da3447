"""A conda channel in a local directory, with labels laid out like anaconda.org's conda URLs.

    ROOT/<subdir>/...               label ``main``  (so ``conda install -c ROOT`` sees main)
    ROOT/label/<L>/<subdir>/...     label ``L``

Each label directory is a valid channel, indexed with py-rattler's ``index_fs``. A file carrying
several labels is hard-linked into each (copied where links are impossible); files are never
modified after creation, so the links are safe.

Safety: writes go to a temp file in the target directory and are published with ``os.link``,
which fails if the name exists (create-only, atomic). An exclusive lock on ``ROOT/.cipub.lock``
(``filelock``: ``flock`` on POSIX, ``msvcrt`` on Windows) is held for the whole batch, so concurrent
cipub processes serialise and the index stays whole.
Names are validated so nothing can be written outside ROOT.

Cost: a batch lists each label/subdir directory once (again once after taking the lock, since
another writer may have written meanwhile) and keeps that listing up to date with its own writes;
each copied file is flushed to disk (``fdatasync``) by a few background threads (handed over
``SYNC_BATCH`` files at a time) while the next ones are copied, and the batch waits for all of them
before any is published (linked to its name), so a file is never visible before its bytes are
durable. Only this batch's own files are flushed: an ``os.sync`` would also wait for every other
process's dirty data on the machine (a build's, another job's), which made its cost unbounded on a
busy runner (issue 12). A file's sha256 is computed while
it is copied and its build number is the checked artifact's, so reading the batch back re-reads
nothing it wrote; a file from an earlier batch takes its build number from the index record whose
sha256 is the file's (the same bytes), and is opened only when no record vouches for it.
A label/subdir's listing is saved in the user's cache (never in the channel) and reused while the
directory's ctime is unchanged, so a lookup in a big channel that nothing changed reads no
directory (``LocalChannel._names_of``).

Trust in saved listings: a saved listing is believed for reads when its key (the directory's
device, inode, mtime and ctime, to the nanosecond) matches, and for nothing else. Its contents are
not checked: a checksum or HMAC would only stop someone who cannot write the cache, and whoever can
(the same user) can write the channel itself. So no write depends on it: before a file is uploaded
its exact name (and its other format's) is looked up on disk in every label (``found_unlisted``:
one lstat per label), a name the listing left out lists that directory again and removes the saved
listing, and every write is create-only anyway (``os.link``). A lying listing (tampered, or
written under the right key by something else) can therefore make a *read* wrong: ``cipub status``
may miss a file, and a build-number lookup may miss a build and choose a number that exists. That
build is then refused at upload as a conflict (exit 6) before anything is written, with the saved
listing removed, so the re-run decides from the directory; an existing file is never overwritten
and no "uploaded" line is printed for it (a file is said uploaded only once it is linked:
``when_published``).

Crash safety: before the first write to a label/subdir, the pair is recorded in
``ROOT/.cipub-pending`` (replaced atomically); the record goes only after that batch's re-index.
A process killed between writing a file and indexing it leaves the record behind, so the next
batch (whatever it is, even a read-only build-number lookup) re-indexes those pairs and removes
the dead process's temporary ``.part`` files: the channel converges without anyone noticing.
"""

from __future__ import annotations

import bisect
import errno
import hashlib
import json
import logging
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cipub.channels import attestations
from cipub.channels.base import (
    MAIN_LABEL,
    NAMES,
    Batch,
    Capabilities,
    ChannelFile,
    Uploaded,
    indexed_records,
    is_subdir,
    junk_among,
    package_of,
    tree_path,
    valid_build_number,
    warn_skipped,
)
from cipub.channels.target import Target, TargetOptions
from cipub.core.artifact import PACKAGE_EXTENSIONS, Artifact, file_digests, read_artifact
from cipub.core.errors import (
    CONCURRENT_WRITE_HINT,
    AuthError,
    ConflictError,
    InvalidPackageError,
    NetworkError,
    StorageError,
    UsageError,
    VerificationError,
)

LOCK_NAME = ".cipub.lock"
PENDING_NAME = ".cipub-pending"
#: prefix of the scratch channel used to index a subdir that holds files which are not packages
SHADOW_PREFIX = ".cipub-index-"
#: threads flushing copied files to disk while the batch goes on (they wait on the disk, not the CPU)
SYNC_THREADS = 4
#: copies handed to a flush thread at a time: one task per file cost about 0.1 s of CPU (futures,
#: queue, thread wake-ups) in an upload of 1,000 small files (issue 12)
SYNC_BATCH = 16

if TYPE_CHECKING:
    from filelock import FileLock

log = logging.getLogger("cipub.local")


def _symlinked(display: str, path: Path, root: Path) -> UsageError:
    return UsageError(
        f"cannot use {display} as a channel: {path.relative_to(root)} is a symlink",
        hint="labels, subdirs and package files must be real directories and files (a linked label is "
        "the same directory under two names: --move would delete the only copy); replace the link",
    )


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
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG):
            raise StorageError(
                f"cannot write the channel at {root}: {exc.strerror} ({exc.filename})",
                hint="free space or make it writable, then re-run: finished files are skipped",
            ) from exc
        raise NetworkError(f"storage error on the channel at {root}: {exc.strerror} ({exc.filename})") from exc


#: how long a batch waits for another cipub process's lock on the channel, seconds
LOCK_WAIT = 3600.0
#: after this many seconds of waiting for that lock, one line says whose lock the batch waits for
LOCK_NOTICE_AFTER = 1.0
#: Linux filesystems that hold no files of their own (kernel views): a channel there can never be
#: written, and writes may block or fail in ways no real disk does
PSEUDO_FILESYSTEMS = frozenset(
    {
        "proc", "sysfs", "devtmpfs", "devpts", "cgroup", "cgroup2", "debugfs", "tracefs", "securityfs",
        "configfs", "pstore", "bpf", "efivarfs", "fusectl", "mqueue", "binfmt_misc", "hugetlbfs", "autofs",
        "rpc_pipefs", "nsfs", "selinuxfs",
    }
)  # fmt: skip


def _filesystem_type(path: Path) -> str | None:
    """The type of the filesystem ``path`` (or its nearest existing ancestor) is on; None if unknown."""
    try:
        mounts = Path("/proc/self/mounts").read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    probe = path.absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    with suppress(OSError):
        probe = probe.resolve()
    best, kind = -1, None
    for line in mounts:
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        if (probe == Path(point) or Path(point) in probe.parents) and len(point) > best:
            best, kind = len(point), fields[2]
    return kind


def refuse_pseudo_filesystem(root: Path) -> str | None:
    """Exit 10 at once for a channel on /proc, /sys and the like (a write there hung or was exit 5).
    Returns the filesystem's type (None if unknown)."""
    kind = _filesystem_type(root)
    if kind in PSEUDO_FILESYSTEMS:
        raise StorageError(
            f"cannot write a channel at {root}: it is on a {kind} pseudo-filesystem (kernel state, not storage)",
            hint="point --target at a directory on a real disk",
        )
    return kind


#: local filesystems that move a directory's ctime, from this machine's clock, whenever an entry is
#: added, removed or renamed (and on any change of its times): a listing saved under the directory's
#: (device, inode, mtime, ctime) is current for as long as those are unchanged. Network and FUSE
#: filesystems are not trusted to (attribute caches, servers' clocks): they are listed every time.
LISTING_CACHE_FILESYSTEMS = frozenset({"ext2", "ext3", "ext4", "xfs", "btrfs", "tmpfs", "zfs", "f2fs"})
#: a directory changed less than this long before it was listed may change again within the same
#: timestamp tick (coarse clocks, 1 s granularity) without its ctime moving: its listing is not
#: saved, and it is listed again next time (nanoseconds)
LISTING_QUIET_NS = 2_000_000_000
#: the first line of a saved listing starts with this (a format change makes old ones misses)
LISTING_FORMAT = b"cipub-listing-1"


def _listing_cache_root() -> Path | None:
    """Where listings of big label/subdir directories are saved: the user's cache, never the channel
    (a lookup writes nothing to the channel). None when there is no home to put it in."""
    base = os.environ.get("XDG_CACHE_HOME")
    try:
        root = Path(base) if base else Path("~/.cache").expanduser()
    except RuntimeError:  # no home directory
        return None
    return root / "cipub" / "listings" if root.is_absolute() else None


def run_index(coro: Coroutine[Any, Any, Any]) -> None:
    """Run a py-rattler coroutine to completion from synchronous code.

    A signal (Ctrl-C: cipub's handler raises) can arrive before the event loop has started the
    coroutine: it is closed then, so the interruption is reported by its one line and not followed
    by Python's "coroutine 'index_fs' was never awaited" warning when it is collected.
    """
    try:
        import asyncio  # only where an index is written: a lookup or a refused command never pays it

        asyncio.run(coro)
    finally:
        coro.close()  # nothing for a coroutine that ran to its end


class LocalChannel(Batch):
    """Implements ``cipub.channels.base.Channel`` on a directory."""

    capabilities = Capabilities(server_side_copy=True, lists_labels=True)
    max_parallel = 1  # a filesystem under one lock gains nothing from threads

    def __init__(self, root: Path, display: str | None = None) -> None:
        self.root = root.expanduser().absolute()
        self.display = display or str(root)
        #: whether listings of this channel's directories may be saved and reused (see ``_names_of``)
        self._cache_listings = refuse_pseudo_filesystem(self.root) in LISTING_CACHE_FILESYSTEMS
        self._lock: FileLock | None = None
        self._dirty: set[tuple[str, str]] = set()  # (label, subdir) to re-index
        self._sha_cache: dict[tuple[int, int, int], str] = {}
        self._build_numbers: dict[tuple[int, int, int], int | None] = {}
        #: this batch's listing: label -> subdir -> the package file names (sorted once queried twice)
        self._listing: dict[str, dict[str, _Names]] | None = None
        #: copies written but not yet published: (temporary file, name, label), linked after one sync
        self._unpublished: list[tuple[Path, Path, str]] = []
        self._unpublished_keys: set[tuple[str, str]] = set()  # their (subdir, filename)
        #: the flushes to disk of those copies, running in ``_sync_pool`` (waited for by _publish)
        self._syncing: list[Future[None]] = []
        #: copies not handed to the flush threads yet (handed over ``SYNC_BATCH`` at a time)
        self._to_sync: list[Path] = []
        self._sync_pool: ThreadPoolExecutor | None = None
        #: files this batch copied from a checked artifact (sha256 verified while copied)
        self._vouched: set[Path] = set()
        #: (subdir, case-folded file name) -> the names listed or written, for the case-twin check;
        #: built by the first upload of a batch (a lookup never needs it)
        self._folded: dict[tuple[str, str], set[tuple[str, str]]] | None = None
        #: per label/subdir directory: the records of its repodata.json, read once per batch
        self._indexed: dict[Path, dict[str, dict[str, object]]] = {}
        #: per label/subdir directory: its other entries (attestations ...), sorted, listed once per batch
        self._beside: dict[Path, list[str]] = {}
        #: label/subdir directories found real (no link on the way) and inside ROOT, this batch
        self._checked_dirs: set[Path] = set()
        #: label/subdir directories this batch made (or found there) to write into
        self._made_dirs: set[Path] = set()
        #: package files found to be junk while listing (path -> why), and those found sound
        self._junk_paths: dict[Path, str] = {}
        self._sound: set[Path] = set()
        #: junk passed over by ``files`` (``label/subdir/filename`` -> why), for ``cipub status``
        self.junk_seen: dict[str, str] = {}
        #: (subdir, filename) of a copy not linked yet -> what to call once it is (``when_published``)
        self._when_linked: dict[tuple[str, str], list[Callable[[], None]]] = {}

    # -- layout -----------------------------------------------------------------------------
    def label_dir(self, label: str) -> Path:
        return self.root / tree_path(label)

    def labels(self) -> list[str]:
        if self._listing is not None:
            return list(self._listing)
        found = [MAIN_LABEL] if self.root.is_dir() else []
        label_root = self.root / "label"
        if label_root.is_symlink():
            raise _symlinked(self.display, label_root, self.root)
        if label_root.is_dir():
            for p in sorted(label_root.iterdir()):
                if NAMES.matches(p.name) and p.is_dir():
                    if p.is_symlink():
                        raise _symlinked(self.display, p, self.root)
                    found.append(p.name)
        return found

    def _subdirs(self, label_dir: Path) -> list[str]:
        if not label_dir.is_dir():
            return []
        found = []
        for p in sorted(label_dir.iterdir()):
            if is_subdir(p.name) and p.is_dir():
                if p.is_symlink():
                    raise _symlinked(self.display, p, self.root)
                found.append(p.name)
        return found

    def _path(self, label: str, subdir: str, filename: str) -> Path:
        directory = self.root / tree_path(label, subdir)
        path = directory / filename
        if path.is_symlink():
            raise _symlinked(self.display, path, self.root)
        if directory in self._checked_dirs:
            return path
        # No directory between ROOT and the file may be a link: two labels that are one directory
        # would make a promotion's check see the copy it is about to remove.
        current = self.root
        for part in directory.relative_to(self.root).parts:
            current = current / part
            if current.is_symlink():
                raise _symlinked(self.display, current, self.root)
        # Belt and braces: the resolved parent must stay inside ROOT.
        if not directory.resolve().is_relative_to(self.root.resolve()):
            raise InvalidPackageError(f"refusing to write outside the channel: {path}")
        if self.in_batch and directory.is_dir():  # checked once per batch (the lock is held for writes)
            self._checked_dirs.add(directory)
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
            # Create the lock file first: filelock retries a lock file it cannot open for ever (a
            # directory where nothing can be created hung here), so that failure must come now.
            os.close(os.open(self.root / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644))
            from filelock import FileLock, Timeout  # imported by the first write only (start-up, issue 12)

            lock = FileLock(self.root / LOCK_NAME)
            try:
                try:
                    lock.acquire(timeout=LOCK_NOTICE_AFTER)
                except Timeout:  # held by another cipub process's batch: say so, then wait, bounded
                    log.warning(
                        "waiting for another cipub process holding %s (at most %.0f s) ...",
                        self.root / LOCK_NAME,
                        LOCK_WAIT,
                    )
                    lock.acquire(timeout=max(LOCK_WAIT - LOCK_NOTICE_AFTER, 0))
            except Timeout:
                raise StorageError(
                    f"{self.display}: another process held the channel's lock ({LOCK_NAME}) for over "
                    f"{LOCK_WAIT:.0f} s; nothing was written",
                    hint="wait for the other cipub command to finish, then re-run",
                ) from None
            self._lock = lock
            self._listing = None  # listed before the lock: another writer may have written since
            self._beside.clear()
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
        # An entry no label or subdir can have (written by an older cipub) must not brick the channel.
        unusable = {(label, s) for label, s in pairs if not (NAMES.matches(label) and is_subdir(s))}
        for label, s in sorted(unusable):
            log.warning("%s: dropping an unusable entry %r/%r from %s", self.display, label[:40], s[:40], PENDING_NAME)
        pairs -= unusable
        self._remove_temporaries(pairs)
        self._dirty.update(pairs)
        for shadow in self.root.glob(f"{SHADOW_PREFIX}*"):
            shutil.rmtree(shadow, ignore_errors=True)

    def _remove_temporaries(self, pairs: set[tuple[str, str]]) -> None:
        """Remove cipub's temporary ``.*.part`` files from these label/subdir directories. Only with
        the lock held: then no other cipub process is writing one, so every such file is left over
        (a killed or interrupted writer's)."""
        for label, subdir in pairs:
            directory = self.root / tree_path(label, subdir)
            if directory.is_dir():
                for leftover in directory.glob(".*.part"):
                    leftover.unlink(missing_ok=True)

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
        touched = set(self._dirty)  # reindex() empties it
        try:
            if self._lock is not None:  # nothing was written if the channel was never locked
                # Re-index even after a failure: what was written must be visible and consistent.
                with storage_errors(self.root):
                    self._publish()
                    self.reindex()
                    (self.root / PENDING_NAME).unlink(missing_ok=True)
        finally:
            self._listing = None
            self._stop_syncing()
            for tmp, _dest, _label in self._unpublished:  # only left after a failure: never published
                tmp.unlink(missing_ok=True)
            if self._lock is not None:
                # a temporary file this batch made but never got to record (Ctrl-C arriving just
                # after it was created) is swept too, while no other writer can hold one
                with suppress(OSError):
                    self._remove_temporaries(touched)
            self._unpublished.clear()
            self._unpublished_keys.clear()
            self._when_linked.clear()  # never linked: never said to be
            self._vouched.clear()
            self._folded = None
            self._indexed.clear()
            self._beside.clear()
            self._checked_dirs.clear()
            self._made_dirs.clear()
            self._junk_paths.clear()
            self._sound.clear()
            if self._lock is not None:
                self._lock.release()
                self._lock = None

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
            junk = self._junk(label_dir / subdir)
            if not junk:
                run_index(index_fs(label_dir, target_platform=Subdir(subdir), write_zst=False, write_shards=False))
                attestations.annotate_repodata(label_dir / subdir)
                continue
            warn_skipped(log, self.display, label, subdir, junk)
            self._index_without(label_dir, subdir, set(junk))
            attestations.annotate_repodata(label_dir / subdir)
        for label in {label for label, _subdir in pairs}:
            # py-rattler's index leaves its empty scratch directory in the channel root: not ours to
            # keep, and a stray entry in every label (rmdir removes it only when it is empty)
            with suppress(OSError):
                (self.label_dir(label) / ".tmp").rmdir()
        self._dirty.clear()

    def _junk(self, subdir_dir: Path) -> dict[str, str]:
        """Files of ``subdir_dir`` named like packages that are not valid ones (file name -> why)."""
        repodata = None
        with suppress(OSError):
            repodata = (subdir_dir / "repodata.json").read_bytes()
        stored = []
        with os.scandir(subdir_dir) as entries:
            for entry in entries:
                if entry.name.endswith(PACKAGE_EXTENSIONS):
                    regular = entry.is_file(follow_symlinks=False)
                    stored.append((entry.name, entry.stat().st_size if regular else None, regular))

        def check(name: str) -> None:
            path = subdir_dir / name
            if path not in self._vouched:  # written by this batch from bytes checked before the write
                read_artifact(path)

        return junk_among(stored, repodata, check)

    def _index_without(self, label_dir: Path, subdir: str, junk: set[str]) -> None:
        """Index ``label_dir/subdir`` as if ``junk`` were absent: index a scratch channel of hard links
        to the good files, then move its repodata.json into place (atomically)."""
        from rattler import Subdir
        from rattler.index import index_fs

        shadow = Path(tempfile.mkdtemp(prefix=SHADOW_PREFIX, dir=self.root))
        try:
            (shadow / subdir).mkdir()
            for entry in (label_dir / subdir).iterdir():
                if entry.name in junk or entry.name.startswith(".") or not entry.name.endswith(PACKAGE_EXTENSIONS):
                    continue
                try:
                    os.link(entry, shadow / subdir / entry.name)
                except OSError:
                    shutil.copy2(entry, shadow / subdir / entry.name)
            run_index(index_fs(shadow, target_platform=Subdir(subdir), write_zst=False, write_shards=False))
            (shadow / subdir / "repodata.json").replace(label_dir / subdir / "repodata.json")
        finally:
            shutil.rmtree(shadow, ignore_errors=True)

    # -- reading ------------------------------------------------------------------------------
    def _sha256(self, path: Path, st: os.stat_result | None = None) -> str:
        st = st or path.stat()
        key = (st.st_ino, st.st_size, st.st_mtime_ns)
        if key not in self._sha_cache:
            self._sha_cache[key] = file_digests(path)[0]
        return self._sha_cache[key]

    def _list(self) -> dict[str, dict[str, _Names]]:
        """The channel's package file names, read once per batch (outside a batch: every time).

        Names only: a lookup of one package scans the raw listing once for its prefix; a batch that
        asks again (an upload of many files) sorts it once and bisects from then on (O(log n) plus
        its own files). Nothing per file is built for the other packages of a big channel (issue 12).
        """
        if self._listing is not None:
            return self._listing
        listing: dict[str, dict[str, _Names]] = {}
        for label in self.labels():
            label_dir = self.label_dir(label)
            by_subdir = listing.setdefault(label, {})
            for subdir in self._subdirs(label_dir):
                by_subdir[subdir] = self._names_of(label_dir / subdir)
        if self.in_batch:
            self._listing = listing
        return listing

    def _names_of(self, directory: Path) -> _Names:
        """The entries of a label/subdir ``directory``.

        Listing costs about 0.4 us per entry (40 ms for 100,000 files), so on the filesystems of
        ``LISTING_CACHE_FILESYSTEMS`` the entries are saved in the user's cache under the
        directory's (device, inode, mtime, ctime) and read back while those are unchanged (a lookup
        then searches the saved bytes for its prefix: about 2 ms at 100,000 files). Any entry
        another tool adds, removes or renames moves the directory's ctime, so the saved listing no
        longer matches and the directory is listed again. A listing is saved only when the directory
        had been unchanged for ``LISTING_QUIET_NS`` before it was listed: a change within the same
        timestamp tick as the last one could leave the ctime as it was.
        """
        cache = self._listing_cache(directory)
        if cache is None:
            return _Names(os.listdir(directory))  # noqa: PTH208 - names only, no Path per file
        started = time.time_ns()
        st = directory.stat()
        key = b"%s %d %d %d %d\n" % (LISTING_FORMAT, st.st_dev, st.st_ino, st.st_mtime_ns, st.st_ctime_ns)
        saved = _read_saved_listing(cache)
        if saved is not None and saved.startswith(key):
            return _Names.saved(saved, len(key) - 1)
        listed = os.listdir(directory)  # noqa: PTH208 - names only, no Path per file
        if max(st.st_mtime_ns, st.st_ctime_ns) < started - LISTING_QUIET_NS:
            _save_listing(cache, key, listed)
        return _Names(listed)

    def _listing_cache(self, directory: Path) -> Path | None:
        """The file a listing of ``directory`` is saved in, or None where listings are not saved."""
        if not self._cache_listings:
            return None
        root = _listing_cache_root()
        if root is None:
            return None
        return root / hashlib.sha256(os.fsencode(directory)).hexdigest()[:40]

    def _names_beside(self, directory: Path) -> list[str] | None:
        """The entries of a label/subdir ``directory`` that are not package files, sorted: listed
        once per batch, so carrying attestations along scans no directory per file (issue 12).
        None outside a batch (the caller scans)."""
        if not self.in_batch:
            return None
        if directory not in self._beside:
            try:
                names = os.listdir(directory)  # noqa: PTH208 - names only, no Path per file
            except FileNotFoundError:
                names = []
            self._beside[directory] = sorted(n for n in names if not n.endswith(PACKAGE_EXTENSIONS))
        return self._beside[directory]

    def _folded_names(self) -> dict[tuple[str, str], set[tuple[str, str]]]:
        """(subdir, case-folded name) -> {(label, name)} of every listed or written file."""
        if self._folded is not None:
            return self._folded
        folded: dict[tuple[str, str], set[tuple[str, str]]] = {}
        for label, by_subdir in self._list().items():
            for subdir, names in by_subdir.items():
                for fn in names.sorted():
                    folded.setdefault((subdir, fn.casefold()), set()).add((label, fn))
        for _tmp, dest, label in self._unpublished:
            folded.setdefault((dest.parent.name, dest.name.casefold()), set()).add((label, dest.name))
        if self.in_batch:
            self._folded = folded
        return folded

    def _listed(self, label: str, dest: Path, *, present: bool) -> None:
        """Keep this batch's listing in step with a write of our own (``dest`` is LABEL_DIR/SUBDIR/FILE)."""
        if self._listing is None:
            return
        names = self._listing.setdefault(label, {}).setdefault(dest.parent.name, _Names([])).sorted()
        i = bisect.bisect_left(names, dest.name)
        there = i < len(names) and names[i] == dest.name
        if present and not there:
            names.insert(i, dest.name)
        elif not present and there:
            del names[i]
        if self._folded is not None:
            folded = self._folded.setdefault((dest.parent.name, dest.name.casefold()), set())
            if present:
                folded.add((label, dest.name))
            else:
                folded.discard((label, dest.name))

    def _exists(self, subdir: str, filename: str) -> bool:
        """Is ``subdir/filename`` in any label (or about to be, in this batch)?"""
        if (subdir, filename) in self._unpublished_keys:
            return True
        return any(subdir in by_subdir and by_subdir[subdir].holds(filename) for by_subdir in self._list().values())

    def found_unlisted(self, subdir: str, filename: str) -> bool:
        """Is ``subdir/filename`` on disk in a label whose listing left it out? One lstat per label
        (:class:`~cipub.channels.base.ListsFromACache`); every such listing is read again."""
        return any([self._found_unlisted(label, subdir, filename) for label in self._list()])

    def _found_unlisted(self, label: str, subdir: str, filename: str) -> bool:
        """Is ``filename`` in ``label``/``subdir`` on disk though this batch's listing says it is not?
        Then the listing was wrong (a saved one that lies under the right key, or a tool that wrote
        without cipub's lock): the directory is listed again, and its saved listing removed."""
        names = self._list().get(label, {}).get(subdir)
        if names is None or names.holds(filename):
            return False  # no such directory when the labels were listed (that listing is the disk's)
        directory = self.label_dir(label) / subdir
        if not os.path.lexists(os.path.join(directory, filename)):  # noqa: PTH118 - no Path per file
            return False
        cache = self._listing_cache(directory)
        log.warning(
            "%s: %s is on disk, but the %s of %s left it out: listed the directory again%s",
            self.display,
            filename,
            "saved listing" if names.from_saved else "listing taken earlier",
            tree_path(label, subdir),
            f" and removed the saved listing {cache}" if names.from_saved and cache is not None else "",
        )
        if cache is not None:
            with suppress(OSError):
                cache.unlink(missing_ok=True)
        if self._listing is not None:
            with storage_errors(self.root):
                by_subdir = self._listing.setdefault(label, {})
                by_subdir[subdir] = _Names(os.listdir(directory))  # noqa: PTH208 - names only
        self._folded = None  # the case-twin check is built from the listing again
        return True

    def _build_number(self, path: Path, sha256: str, st: os.stat_result | None = None) -> int | None:
        """``_build_number``, once per file and process (hard-linked copies share the inode). The
        index record of the file answers when it describes these very bytes (its sha256 is the
        file's): the indexer read that build number from this content's info/index.json."""
        st = st or path.stat()
        key = (st.st_ino, st.st_size, st.st_mtime_ns)
        if key not in self._build_numbers:
            record = self._index_records(path.parent).get(path.name)
            indexed = valid_build_number(record.get("build_number")) if record is not None else None
            if indexed is not None and record is not None and record.get("sha256") == sha256:
                self._build_numbers[key] = indexed
            else:
                self._build_numbers[key] = _build_number(path)
        return self._build_numbers[key]

    def _index_records(self, directory: Path) -> dict[str, dict[str, object]]:
        """The records of ``directory``'s repodata.json, read once per batch (every time outside one)."""
        if directory in self._indexed:
            return self._indexed[directory]
        repodata = None
        with suppress(OSError):
            repodata = (directory / "repodata.json").read_bytes()
        records = indexed_records(repodata)
        if self.in_batch:
            self._indexed[directory] = records
        return records

    def _junk_reason(self, label: str, subdir: str, path: Path, st: os.stat_result | None = None) -> str | None:
        """Why the listed package file ``path`` is junk (indexing skips it), or None if it is sound:
        what the index lists at the same size, or this batch wrote from checked bytes, is sound.
        ``st``: the file's lstat, taken by the caller (None: it could not be)."""
        if path in self._sound or path in self._vouched:
            return None
        if path in self._junk_paths:
            return self._junk_paths[path]
        records = self._index_records(path.parent)
        size = st.st_size if st is not None and stat.S_ISREG(st.st_mode) else None

        def check(_name: str) -> None:
            read_artifact(path)

        reason = junk_among([(path.name, size, size is not None)], records, check).get(path.name)
        if self.in_batch:
            if reason is None:
                self._sound.add(path)
            else:
                self._junk_paths[path] = reason
        if reason is not None:
            where = f"{tree_path(label, subdir)}/{path.name}"
            if where not in self.junk_seen:
                log.warning(
                    "%s: skipping %s: %s (not a package; not deleted, remove it by hand)", self.display, where, reason
                )
            self.junk_seen[where] = reason
        return reason

    def files(self, name: str, version: str | None = None) -> list[ChannelFile]:
        """Only the listed entries of package ``name``: never the whole index, never a re-scan.
        Files indexing would skip as junk (``junk_among``) are skipped here too, and reported."""
        self._publish()  # what this batch wrote is read back from its real names
        found: dict[tuple[str, str], dict[str, tuple[Path, os.stat_result]]] = {}
        for label, by_subdir in self._list().items():
            for subdir, names in sorted(by_subdir.items()):
                for fn in names.of_name(name):
                    if package_of(fn, name, version):
                        path = self.root / tree_path(label, subdir, fn)
                        try:  # one lstat per file answers all that follows (issue 12)
                            st: os.stat_result | None = path.lstat()
                        except OSError:
                            st = None  # gone meanwhile, or unreadable: junk, as indexing would find it
                        if st is not None and stat.S_ISLNK(st.st_mode):
                            raise _symlinked(self.display, path, self.root)
                        if self._junk_reason(label, subdir, path, st) is not None or st is None:
                            continue
                        found.setdefault((subdir, fn), {})[label] = (path, st)
        result = []
        for (subdir, fn), by_label in sorted(found.items()):
            copies = {label: self._sha256(path, st) for label, (path, st) in by_label.items()}
            first = next(iter(by_label))
            build_number = self._build_number(by_label[first][0], copies[first], by_label[first][1])
            result.append(ChannelFile.from_copies(subdir, fn, copies, build_number=build_number))
        return result

    # -- writing ------------------------------------------------------------------------------
    def _require_lock(self) -> None:
        if not self.in_batch:
            raise RuntimeError("LocalChannel must be used as a context manager to write")
        if self._lock is None:
            self._acquire()

    def _create(
        self,
        source: Path,
        dest: Path,
        label: str,
        *,
        link: bool,
        sha256: str | None = None,
        build_number: int | None = None,
    ) -> None:
        """Publish ``source`` at ``dest`` without ever replacing an existing ``dest``."""
        with storage_errors(self.root):
            self._create_unchecked(source, dest, label, link=link, sha256=sha256, build_number=build_number)

    def _create_unchecked(
        self,
        source: Path,
        dest: Path,
        label: str,
        *,
        link: bool,
        sha256: str | None = None,
        build_number: int | None = None,
    ) -> None:
        if dest.parent not in self._made_dirs:  # once per label/subdir and batch, not per file
            dest.parent.mkdir(parents=True, exist_ok=True)
            self._made_dirs.add(dest.parent)
        if link:
            try:
                os.link(source, dest)
                self._listed(label, dest, present=True)
                self._vouched.add(dest)  # the same inode as a checked artifact or a sound channel file
                return
            except FileExistsError:
                raise
            except OSError:
                pass  # cross-device or no hard links here: fall back to a copy
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
        tmp = Path(tmp_name)
        try:
            os.fchmod(fd, 0o644)  # mkstemp makes 0600; a channel is served to others
            digest = hashlib.sha256()
            with os.fdopen(fd, "wb") as out, source.open("rb") as src:
                while chunk := src.read(1024 * 1024):
                    digest.update(chunk)  # hash what is written while it is written
                    out.write(chunk)
            if sha256 is not None and digest.hexdigest() != sha256:
                raise VerificationError(
                    f"{source.name} changed while it was being copied (sha256 {digest.hexdigest()}, "
                    f"checked file had {sha256}); nothing was published",
                    hint="something rewrote the file after cipub checked it: rebuild, then upload again",
                )
            # The bytes just hashed are the file's: reading this batch back needs no second pass
            # (the name links to this very inode, so the key still holds once it is published).
            st = tmp.stat()
            key = (st.st_ino, st.st_size, st.st_mtime_ns)
            self._sha_cache[key] = digest.hexdigest()
            if build_number is not None:
                self._build_numbers[key] = valid_build_number(build_number)
            self._start_sync(tmp)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        # Published by _publish once its flush is done: never visible before durable.
        self._unpublished.append((tmp, dest, label))
        self._unpublished_keys.add((dest.parent.name, dest.name))
        if self._folded is not None:
            self._folded.setdefault((dest.parent.name, dest.name.casefold()), set()).add((label, dest.name))
        if sha256 is not None:  # the bytes of a checked artifact, verified while copied
            self._vouched.add(dest)

    def _start_sync(self, tmp: Path) -> None:
        """Flush ``tmp`` to disk in the background (``_publish`` waits for it before linking it)."""
        self._to_sync.append(tmp)
        if len(self._to_sync) >= SYNC_BATCH:
            self._hand_over_syncs()

    def _hand_over_syncs(self) -> None:
        """Give the copies written since the last call to a flush thread, as one task."""
        if not self._to_sync:
            return
        if self._sync_pool is None:
            self._sync_pool = ThreadPoolExecutor(max_workers=SYNC_THREADS, thread_name_prefix="cipub-sync")
        batch, self._to_sync = self._to_sync, []
        self._syncing.append(self._sync_pool.submit(_flush_files, batch))

    def _wait_for_syncs(self) -> None:
        """Every copy of this batch is on disk. If a flush failed, none of the copies waiting to be
        published will be (they are removed, and the first failure is raised): a re-run writes them."""
        self._hand_over_syncs()
        syncing, self._syncing = self._syncing, []
        failure: BaseException | None = None
        for future in syncing:
            try:
                future.result()
            except BaseException as exc:  # wait for the others all the same, then report the first
                failure = failure or exc
        if failure is not None:
            for tmp, _dest, _label in self._unpublished:
                tmp.unlink(missing_ok=True)
            self._unpublished.clear()
            self._unpublished_keys.clear()
            raise failure

    def _stop_syncing(self) -> None:
        """End of batch: wait for flushes still running (their files are about to be removed)."""
        self._to_sync.clear()  # never handed over: not published either, and removed with the others
        try:
            with suppress(Exception):  # the batch failed already: that failure is the one to report
                self._wait_for_syncs()
        finally:
            if self._sync_pool is not None:
                self._sync_pool.shutdown(wait=True)
                self._sync_pool = None

    def _publish(self) -> None:
        """Wait until this batch's copies are durable (flushed while the batch went on), then link
        each to its name."""
        if not self._unpublished:
            return
        linked: list[tuple[str, str]] = []
        try:
            with storage_errors(self.root):
                self._wait_for_syncs()
                self._unpublished.reverse()  # pop() from the end, in the order written
                while self._unpublished:
                    tmp, dest, label = self._unpublished.pop()
                    key = (dest.parent.name, dest.name)
                    self._unpublished_keys.discard(key)
                    try:
                        os.link(tmp, dest)  # atomic, and fails if dest appeared meanwhile
                    except FileExistsError as exc:
                        self._when_linked.pop(key, None)
                        raise ConflictError(
                            f"{dest.parent.name}/{dest.name} appeared meanwhile on {self.display}",
                            hint=CONCURRENT_WRITE_HINT,
                        ) from exc
                    finally:
                        tmp.unlink(missing_ok=True)
                    self._listed(label, dest, present=True)
                    linked.append(key)
        finally:  # what was linked is said to be, even when a later file failed
            self._say_linked(linked)

    def _say_linked(self, linked: list[tuple[str, str]]) -> None:
        """Call every ``when_published`` callback of the files ``linked``; one that raises (Ctrl-C
        arriving while an "uploaded" line is printed) does not stop the others (a file linked but
        never said would get no receipt: :func:`cipub.policy.publish.receipts_kept`). The first
        exception is raised once all were called."""
        first: BaseException | None = None
        for key in linked:
            for then in self._when_linked.pop(key, []):
                try:
                    then()
                except BaseException as exc:  # re-raised below, after the others
                    first = first or exc
        if first is not None:
            raise first

    def when_published(self, subdir: str, filename: str, then: Callable[[], None]) -> None:
        """``then`` once ``subdir/filename`` is linked to its name (:class:`~cipub.channels.base.PublishesLater`):
        an upload returns when its copy is written, and the copy is linked once it is on disk."""
        key = (subdir, filename)
        if key in self._unpublished_keys:
            self._when_linked.setdefault(key, []).append(then)
        else:
            then()

    def upload(self, artifact: Artifact, label: str) -> Uploaded:
        self._require_lock()
        dest = self._path(label, artifact.subdir, artifact.filename)
        # The listing answers "not there" for most files; only a file that is there is read. A
        # listing is never trusted for a write: the exact name is looked up in every label first.
        exists = self._exists(artifact.subdir, artifact.filename)
        exists = exists or self.found_unlisted(artifact.subdir, artifact.filename)
        existing = [f for f in self.files(artifact.name, artifact.version) if f.key == artifact.key] if exists else []
        if existing:
            copies = dict(existing[0].label_sha256)
            if copies and set(copies.values()) == {artifact.sha256}:
                # Written meanwhile (an identical upload running at once, which held the lock
                # first): the same bytes are no conflict, and this call did not write them.
                if label not in copies:
                    self.add_label(existing[0], label, source_label=sorted(copies)[0])
                    return "label-added"
                return "skipped-identical"
            raise ConflictError(
                f"{artifact.key} already exists on {self.display}",
                hint="cipub never overwrites; build with a new build number",
            )
        twin = self._case_twin(artifact.subdir, artifact.filename)
        if twin is not None:
            raise ConflictError(
                f"{artifact.key} differs only in case from {twin} on {self.display}",
                hint="on case-insensitive disks and servers they are one file; use one spelling",
            )
        self._mark_dirty(label, artifact.subdir)
        try:
            self._create(
                artifact.path, dest, label, link=False, sha256=artifact.sha256, build_number=artifact.build_number
            )
        except FileExistsError as exc:
            raise ConflictError(
                f"{artifact.key} already exists in label {label!r} of {self.display}", hint=CONCURRENT_WRITE_HINT
            ) from exc
        return "uploaded"

    def _case_twin(self, subdir: str, filename: str) -> str | None:
        """A file in any label whose name equals ``filename`` but for case (``X-1.0RC`` vs ``x-1.0rc``)."""
        folded = self._folded_names()
        for label, other in sorted(folded.get((subdir, filename.casefold()), set())):
            if other != filename:
                return f"{tree_path(label, subdir)}/{other}"
        return None

    def add_label(self, file: ChannelFile, label: str, *, source_label: str | None) -> bool:
        self._require_lock()
        source_label, _sha = file.source_copy(source_label)
        source = self._path(source_label, file.subdir, file.filename)
        dest = self._path(label, file.subdir, file.filename)
        self._mark_dirty(label, file.subdir)
        self._publish()  # the source may be a copy of this batch
        try:
            self._create(source, dest, label, link=True)
        except FileExistsError as exc:
            self._found_unlisted(label, file.subdir, file.filename)  # what the policy reads next is the disk's
            raise ConflictError(
                f"{file.key} already exists in label {label!r} of {self.display}", hint=CONCURRENT_WRITE_HINT
            ) from exc
        with storage_errors(self.root):  # the file's attestations go with it (same channel, same statement)
            for signed in attestations.attestation_files(
                source.parent, file.filename, self._names_beside(source.parent)
            ):
                self._beside.pop(dest.parent, None)
                (dest.parent / signed.name).unlink(missing_ok=True)
                os.link(signed, dest.parent / signed.name)
        return True  # a name already there is a ConflictError above (the policy reads the disk then)

    def put_attestation(self, subdir: str, filename: str, label: str, kind: str, data: bytes) -> None:
        """Store a signed attestation beside the file in ``label`` (:mod:`cipub.channels.attestations`)."""
        self._require_lock()
        dest = self._path(label, subdir, filename)
        self._mark_dirty(label, subdir)
        with storage_errors(self.root):
            self._beside.pop(dest.parent, None)
            attestations.put(dest.parent, filename, kind, data)

    def get_attestation(self, subdir: str, filename: str, label: str, kind: str) -> bytes | None:
        """The stored attestation of ``kind`` for the file in ``label``, or None."""
        with storage_errors(self.root):
            return attestations.get(self._path(label, subdir, filename).parent, filename, kind)

    def remove_label(self, file: ChannelFile, label: str) -> None:
        self._require_lock()
        path = self._path(label, file.subdir, file.filename)
        # The policy only removes a label when another label holds the same bytes; make sure that
        # other copy is another directory entry, not this very file seen through a second name.
        others = [self._path(other, file.subdir, file.filename) for other in file.labels if other != label]
        real = os.path.realpath(path)
        if others and all(os.path.realpath(o) == real or not o.is_file() for o in others):
            raise VerificationError(
                f"{file.key} in label {label!r} is the only copy on {self.display} (the other labels "
                "reach it through a link) — nothing was removed",
                hint="replace linked label directories with real ones",
            )
        self._mark_dirty(label, file.subdir)
        with storage_errors(self.root):
            path.unlink(missing_ok=True)
            for signed in attestations.attestation_files(path.parent, file.filename, self._names_beside(path.parent)):
                self._beside.pop(path.parent, None)
                signed.unlink(missing_ok=True)  # an attestation without its file would only mislead
        self._listed(label, path, present=False)

    def fetch(self, file: ChannelFile, label: str, dest: Path) -> None:
        """Copy ``label``'s copy of ``file`` to ``dest`` (cross-target promotion reads bytes here)."""
        shutil.copyfile(self._path(label, file.subdir, file.filename), dest)

    def install_url(self, label: str) -> str:
        return self.label_dir(label).as_uri()


def _flush_file(path: Path) -> None:
    """Make the bytes of ``path`` durable (its data and what is needed to read it back)."""
    fd = os.open(path, os.O_RDWR | getattr(os, "O_BINARY", 0))  # Windows flushes only a writable handle
    try:
        getattr(os, "fdatasync", os.fsync)(fd)  # fdatasync: Linux and most Unixes; fsync elsewhere
    finally:
        os.close(fd)


def _flush_files(paths: list[Path]) -> None:
    """``_flush_file`` each of ``paths``, in order; the first failure stops it (and the batch)."""
    for path in paths:
        _flush_file(path)


def _is_package_name(filename: str) -> bool:
    return filename.endswith(PACKAGE_EXTENSIONS) and filename[:1] != "."  # not a temporary .*.part


#: a saved listing larger than this is not read (about 35 bytes per entry: 2 million entries)
LISTING_MAX_BYTES = 64 * 1024 * 1024


def _read_saved_listing(cache: Path) -> bytes | None:
    """The saved listing's bytes, or None: only a regular file (never a link, a FIFO that would
    block, or a device such as /dev/zero that never ends) of at most ``LISTING_MAX_BYTES``."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(cache, flags)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > LISTING_MAX_BYTES:
            return None
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(LISTING_MAX_BYTES + 1)
        return data if len(data) <= LISTING_MAX_BYTES else None
    except OSError:
        return None
    finally:
        os.close(fd)


def _save_listing(cache: Path, key: bytes, names: list[str]) -> None:
    """Save ``names`` (a directory's entries, as listed) under ``key``, atomically; quietly not at all
    if the cache cannot be written (it only saves time)."""
    try:
        blob = "\n".join(names).encode("utf-8", "surrogateescape")
    except UnicodeError:
        return
    if any("\n" in n for n in names):
        return  # one name per line: a name with a newline cannot be saved
    with suppress(OSError):
        cache.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".listing-", dir=cache.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(key)  # ends with a newline: every name has one before it and one after
                out.write(blob + b"\n" if names else b"")
            Path(tmp).replace(cache)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


class _Names:
    """The package file names of one label/subdir directory, from one listing (or a saved one:
    searched where it lies, in the bytes read).

    The first query is answered by one scan of the listing as it came (a build-number lookup asks
    once, and filtering and sorting 100,000 names cost as much again as listing them, issue 12);
    the second sorts it, once, and every later one bisects, so a batch of N files stays O(N log n).
    """

    __slots__ = ("_asked", "_raw", "_saved", "_sorted", "_start", "from_saved")

    def __init__(self, raw: list[str]) -> None:
        self.from_saved = False  # read from the user's cache, not from the directory
        self._raw = raw  # the directory's entries as listed: unfiltered, unsorted
        self._saved: bytes | None = None  # or: a saved listing, from _start on: a newline, then each name
        self._start = 0  # and a newline after it
        self._sorted: list[str] | None = None
        self._asked = False

    @classmethod
    def saved(cls, data: bytes, start: int) -> _Names:
        """The names saved in ``data`` from ``start`` on (``_save_listing``); searched where they are."""
        names = cls([])
        names._saved, names._start, names.from_saved = data, start, True
        return names

    def sorted(self) -> list[str]:
        """The names, sorted (``_listed`` keeps this list in step with the batch's own writes)."""
        if self._sorted is None:
            if self._saved is not None:
                raw = self._saved[self._start :].decode("utf-8", "surrogateescape").split("\n")
                self._saved = None
            else:
                raw = self._raw
            names = [n for n in raw if _is_package_name(n)]
            names.sort()
            self._sorted, self._raw = names, []
        return self._sorted

    def _first_query(self) -> bool:
        """True for the first query of a listing not sorted yet: one scan answers it."""
        if self._sorted is None and not self._asked:
            self._asked = True
            return True
        return False

    def holds(self, filename: str) -> bool:
        """Is ``filename`` among the names?"""
        if self._first_query() and _is_package_name(filename):
            if self._saved is not None:
                return self._saved.find(b"\n%s\n" % filename.encode("utf-8", "surrogateescape"), self._start) != -1
            return filename in self._raw
        names = self.sorted()
        i = bisect.bisect_left(names, filename)
        return i < len(names) and names[i] == filename

    def of_name(self, name: str) -> list[str]:
        """The file names of package ``name``, sorted."""
        if not self._first_query():
            return list(_of_name(self.sorted(), name))
        prefix = f"{name}-"
        if self._saved is None:
            found = [n for n in self._raw if n.startswith(prefix) and _is_package_name(n) and _name_part(n) == name]
            return sorted(found)
        blob, needle, found = self._saved, b"\n" + prefix.encode("utf-8", "surrogateescape"), []
        i = blob.find(needle, self._start)
        while i != -1:
            end = blob.index(b"\n", i + 1)
            fn = blob[i + 1 : end].decode("utf-8", "surrogateescape")
            if _is_package_name(fn) and _name_part(fn) == name:
                found.append(fn)
            i = blob.find(needle, end)
        return sorted(found)


def _of_name(names: list[str], name: str) -> Iterator[str]:
    """The file names of package ``name`` among the sorted ``names`` (they all start ``name-``)."""
    prefix = f"{name}-"
    for i in range(bisect.bisect_left(names, prefix), len(names)):
        fn = names[i]
        if not fn.startswith(prefix):
            return
        if _name_part(fn) == name:
            yield fn


def _name_part(filename: str) -> str:
    """The package name of ``NAME-VERSION-BUILD.conda`` (version and build hold no ``-``)."""
    stem = filename.removesuffix(".conda").removesuffix(".tar.bz2")
    return stem.rsplit("-", 2)[0]


def _build_number(path: Path) -> int | None:
    """build_number from info/index.json (authoritative); None (the ``_N`` suffix) if unreadable."""
    from conda_package_streaming import package_streaming

    try:
        with path.open("rb") as fh:
            for tar, member in package_streaming.stream_conda_info(path.name, fh):
                if member.name == "info/index.json":
                    extracted = tar.extractfile(member)
                    if extracted is not None:
                        return valid_build_number(json.loads(extracted.read())["build_number"])
    except Exception:  # noqa: S110 - a damaged file on the channel must not break lookups
        pass
    return None


def open_target(target: Target, options: TargetOptions) -> LocalChannel:
    return LocalChannel(Path(target.base), display=target.display)
