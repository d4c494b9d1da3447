"""Read and check a built conda package (``.conda`` or ``.tar.bz2``) before it goes anywhere.

One streaming pass (conda-package-streaming) reads ``info/index.json``, walks every member to prove
the archive is whole, and refuses members that would escape the install prefix. A second streaming
read computes sha256/md5. Memory stays flat whatever the package size.
"""

from __future__ import annotations

import hashlib
import io
import json
import posixpath
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cipub.core.errors import InvalidPackageError

if TYPE_CHECKING:
    import zipfile

PACKAGE_EXTENSIONS = (".conda", ".tar.bz2")
#: suffixes that mark compiled, platform-specific code (used for the noarch advice)
BINARY_SUFFIXES = (".so", ".dylib", ".dll", ".pyd", ".exe", ".a", ".lib")
#: refuse archives that expand to more than this (a tar/zip bomb guard)
MAX_UNPACKED_BYTES = 64 * 1024**3
#: ... and archives that expand more than this many times their size once past the floor: real
#: packages compress 2-50x; a few kilobytes that inflate to gigabytes are a bomb, refused before
#: the gigabytes are decompressed
MAX_EXPANSION_RATIO = 1000
EXPANSION_FLOOR_BYTES = 256 * 1024**2
_CHUNK = 1024 * 1024
#: files from this size are hashed in a second thread while their members are checked
_HASH_IN_THREAD_FROM = 4 * _CHUNK


@dataclass(frozen=True)
class Artifact:
    """A package file on disk, with the metadata cipub needs to publish it."""

    path: Path
    filename: str
    name: str
    version: str
    build: str
    build_number: int
    subdir: str
    noarch: str | None
    sha256: str
    md5: str
    size: int
    depends: tuple[str, ...] = ()
    #: compiled files found inside (first few), for the noarch advice
    binary_files: tuple[str, ...] = ()
    has_python_files: bool = False
    index: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    #: ``info/hash_input.json``: the variant values the builder used for this file (the keys it
    #: counted as used, as rattler-build and conda-build hash them); None when the package has none
    #: or only ``info/`` up to index.json was read again
    hash_input: dict[str, str] | None = field(default=None, compare=False, repr=False)

    @property
    def key(self) -> str:
        """``subdir/filename``: how every channel identifies a file."""
        return f"{self.subdir}/{self.filename}"


def package_extension(filename: str) -> str | None:
    for ext in PACKAGE_EXTENSIONS:
        if filename.endswith(ext):
            return ext
    return None


def split_filename(filename: str) -> tuple[str, str, str, str]:
    """``foo-bar-1.0-py_0.conda`` -> (name, version, build, ext). Raises InvalidPackageError."""
    ext = package_extension(filename)
    if ext is None:
        raise InvalidPackageError(f"{filename}: not a conda package (expected a .conda or .tar.bz2 file name)")
    parts = filename[: -len(ext)].rsplit("-", 2)
    if len(parts) != 3 or not all(parts):
        raise InvalidPackageError(f"{filename}: file name is not NAME-VERSION-BUILD{ext}")
    return parts[0], parts[1], parts[2], ext


def check_member_name(filename: str, member: str) -> None:
    """Refuse archive members with absolute paths or ``..`` that would escape the prefix.

    Backslashes count as separators too: installers on Windows treat them so.
    """
    parts = member.replace("\\", "/").split("/")
    if member.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
        raise InvalidPackageError(f"{filename}: member {member!r} would escape the install prefix")


#: how deep a chain of symlinks may go before it counts as a loop (Linux's own limit)
MAX_SYMLINK_HOPS = 40


class _Layout:
    """What the archive would create, to resolve links as an installer's filesystem would.

    Lexical checks alone miss chains: ``share/up -> ..`` is harmless, ``share/a -> up/..`` looks
    like ``share`` but really is the parent of the prefix. So every link and every member path is
    resolved against the links seen so far (and every link once more at the end, when all are known).
    """

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.symlinks: dict[str, str] = {}
        self.files: set[str] = set()

    def resolve(self, path: str, what: str) -> str:
        """The real location of ``path`` inside the prefix; raise if it leaves it or loops."""
        pending = [p for p in path.replace("\\", "/").split("/") if p not in ("", ".")]
        done: list[str] = []
        hops = 0
        while pending:
            part = pending.pop(0)
            if part == "..":
                if not done:
                    raise InvalidPackageError(f"{self.filename}: {what} resolves outside the install prefix")
                done.pop()
                continue
            current = "/".join([*done, part])
            target = self.symlinks.get(current)
            if target is None:
                done.append(part)
                continue
            hops += 1
            if hops > MAX_SYMLINK_HOPS:
                raise InvalidPackageError(f"{self.filename}: {what} is a symlink loop")
            if target.startswith("/"):
                raise InvalidPackageError(f"{self.filename}: {what} goes through an absolute symlink")
            pending[:0] = [p for p in target.split("/") if p not in ("", ".")]
        return "/".join(done)

    def add(self, info: tarfile.TarInfo) -> None:
        name = info.name.replace("\\", "/").strip("/")
        # Whatever a member is, its parent directories must resolve inside the prefix; it lands
        # where they resolve to (``share -> .`` puts ``share/a`` at ``a``).
        parent = self.resolve(posixpath.dirname(name), f"member {info.name!r}")
        real = posixpath.join(parent, posixpath.basename(name)) if parent else posixpath.basename(name)
        if info.issym():
            target = info.linkname.replace("\\", "/")
            self.symlinks[real] = target
            self.resolve(real, f"link {info.name!r} -> {info.linkname!r}")
        elif info.isfile():
            self.files.add(name)

    def finish(self) -> None:
        for name, target in self.symlinks.items():
            self.resolve(name, f"link {name!r} -> {target!r}")


def _check_tar_member(filename: str, info: tarfile.TarInfo, layout: _Layout | None = None) -> None:
    check_member_name(filename, info.name)
    if info.issym() or info.islnk():
        target = info.linkname.replace("\\", "/")
        # a symlink is relative to its directory; a tar hard link names another member of the archive
        base = posixpath.dirname(info.name) if info.issym() else ""
        resolved = posixpath.normpath(posixpath.join(base, target))
        if target.startswith("/") or resolved.startswith("../") or resolved == ".." or ":" in target.split("/")[0]:
            raise InvalidPackageError(f"{filename}: link {info.name!r} -> {target!r} points outside the package")
        if info.islnk() and layout is not None and resolved not in layout.files:
            raise InvalidPackageError(
                f"{filename}: hard link {info.name!r} -> {target!r} does not name a regular file before it"
            )
    if info.isdev():
        raise InvalidPackageError(f"{filename}: member {info.name!r} is a device file")
    if not (info.isfile() or info.isdir() or info.issym() or info.islnk()):
        raise InvalidPackageError(f"{filename}: member {info.name!r} has an unsupported type {info.type!r}")
    if info.mode & 0o6000 and not info.isdir():  # setgid directories are common and harmless
        raise InvalidPackageError(f"{filename}: member {info.name!r} is setuid or setgid")
    if layout is not None:
        layout.add(info)


#: a .conda component (a .tar.zst inside the zip) up to this size is read and decompressed in one
#: call, not streamed: for the small packages of a big batch the streaming readers' set-up (a zip
#: directory parsed per component, zstd file objects) cost as much as the tar walk (issue 12)
IN_MEMORY_COMPONENT_BYTES = 8 * 1024 * 1024
#: ... as long as it decompresses to no more than this; a bigger one is streamed, as before
IN_MEMORY_TAR_BYTES = 64 * 1024 * 1024


def _iter_members(path: Path, *, whole: bool = True) -> Iterator[tuple[tarfile.TarFile, tarfile.TarInfo]]:
    import zipfile

    from conda_package_streaming import package_streaming  # lazy: start-up of commands that read no package

    with path.open("rb") as fileobj:
        if not path.name.endswith(".conda"):
            yield from package_streaming.stream_conda_component(path.name, fileobj)
            return
        zf = zipfile.ZipFile(fileobj)  # one parse of the zip directory for both components
        stem = path.name.rpartition(".")[0]
        for component in ("info", "pkg") if whole else ("info",):
            found = [info for info in zf.infolist() if info.filename.startswith(f"{component}-{stem}")]
            if not found and component == "info":
                _refuse_renamed(path, zf)
            tar = _small_component(zf, found[0], package_streaming.zstd) if len(found) == 1 else None
            if tar is not None:
                yield from package_streaming.tar_generator(io.BytesIO(tar))
            else:  # big, missing, doubled, several frames: the streaming reader, and its errors
                fileobj.seek(0)
                yield from package_streaming.stream_conda_component(path.name, fileobj, component)


def _refuse_renamed(path: Path, zf: zipfile.ZipFile) -> None:
    """A .conda without ``info-<its stem>.tar.zst`` but with one other info component: a package
    renamed after it was built (conda finds the components by the file's name, so it cannot be
    installed). Say what its info/index.json names it; anything else is left to the streaming
    reader's error (damaged)."""
    from conda_package_streaming import package_streaming

    components = [
        i.filename for i in zf.infolist() if i.filename.startswith("info-") and i.filename.endswith(".tar.zst")
    ]
    if len(components) != 1:
        return
    inner = components[0].removeprefix("info-").removesuffix(".tar.zst")
    index: Any = None
    with path.open("rb") as fileobj:
        try:
            for tar, member in package_streaming.stream_conda_component(f"{inner}.conda", fileobj, "info"):
                if member.name == "info/index.json" and (extracted := tar.extractfile(member)) is not None:
                    index = json.loads(extracted.read(4 * 1024 * 1024))
                    break
        except Exception:  # the inner component is damaged too: the caller's error says so
            return
    if not isinstance(index, dict):
        return
    name, version, build, ext = split_filename(path.name)
    mismatches = [
        f"{key} {index.get(key)!r} (file name says {said!r})"
        for key, said in (("name", name), ("version", version), ("build", build))
        if str(index.get(key)) != said
    ]
    said = f"its info/index.json says {', '.join(mismatches)}" if mismatches else f"its contents are named {inner}"
    raise InvalidPackageError(
        f"{path.name}: the file name does not match the package inside: {said}",
        hint="a .conda keeps the name it was built with (conda finds its contents by it): rename it back to "
        f"{inner}{ext}, or rebuild",
    )


def _small_component(zf: zipfile.ZipFile, info: zipfile.ZipInfo, zstd: Any) -> bytes | None:
    """The tar inside a small .conda component, decompressed in memory; None: stream it instead."""
    if zstd is None or max(info.file_size, info.compress_size) > IN_MEMORY_COMPONENT_BYTES:
        return None
    raw = zf.read(info)  # the whole member: its CRC is checked too
    decompressor = zstd.ZstdDecompressor()
    tar: bytes = decompressor.decompress(raw, IN_MEMORY_TAR_BYTES)
    if decompressor.eof and not decompressor.unused_data:
        return tar
    if not decompressor.eof and decompressor.needs_input:  # the frame stops short: a truncated package
        raise EOFError("Compressed file ended before the end-of-stream marker was reached")
    return None  # more than IN_MEMORY_TAR_BYTES, or bytes after the frame: the streaming reader decides


_Scanned = tuple[dict[str, Any], tuple[str, ...], bool, dict[str, str] | None]


def _hash_input(data: bytes) -> dict[str, str] | None:
    """``info/hash_input.json``'s single values as text (``true``, ``13``), or None when it is not
    a JSON object (it is informative only: a package is not refused for it). Lists and mappings
    are left out: they are not one variant value."""
    try:
        loaded = json.loads(data)
    except ValueError:
        return None
    if not isinstance(loaded, dict):
        return None
    return {
        str(k): v if isinstance(v, str) else json.dumps(v)
        for k, v in loaded.items()
        if isinstance(v, str | int | float | bool)
    }


def _scan(path: Path, *, whole: bool = True) -> _Scanned:
    """Walk the whole archive once: index.json, hash_input.json, binaries, integrity, hostile members.

    ``whole=False`` (for bytes checked in full before) stops at ``info/index.json``.
    """
    index: dict[str, Any] | None = None
    binaries: list[str] = []
    has_python = False
    total = 0
    limit = min(MAX_UNPACKED_BYTES, max(EXPANSION_FLOOR_BYTES, MAX_EXPANSION_RATIO * path.stat().st_size))
    layout = _Layout(path.name)
    paths_json: bytes | None = None
    hash_input: dict[str, str] | None = None
    for tar, member in _iter_members(path, whole=whole):
        _check_tar_member(path.name, member, layout)
        total += member.size
        if total > limit:
            raise InvalidPackageError(
                f"{path.name}: unpacks to more than {limit} bytes "
                f"({'a decompression bomb' if limit < MAX_UNPACKED_BYTES else 'over the size limit'})"
            )
        if member.name == "info/index.json":
            if index is not None:
                # Readers that take the first copy and readers that take the last would disagree.
                raise InvalidPackageError(f"{path.name}: has more than one info/index.json")
            extracted = tar.extractfile(member)
            if extracted is None:
                raise InvalidPackageError(f"{path.name}: info/index.json is not a regular file")
            index = json.loads(extracted.read(4 * 1024 * 1024))
            if not whole:
                break
            continue
        if member.name == "info/hash_input.json" and member.isfile():
            extracted = tar.extractfile(member)
            if extracted is not None:
                hash_input = _hash_input(extracted.read(1024 * 1024))
                while extracted.read(_CHUNK):  # the rest still proves the member whole
                    pass
            continue
        if member.name == "info/paths.json" and member.isfile():
            extracted = tar.extractfile(member)
            paths_json = extracted.read(64 * 1024 * 1024) if extracted is not None else None
            continue
        if not member.isfile():
            continue
        if member.name.endswith(BINARY_SUFFIXES) or ".so." in member.name:
            if len(binaries) < 5:
                binaries.append(member.name)
        elif member.name.endswith(".py"):
            has_python = True
        # Reading the member drives decompression to the end: a truncated archive fails here.
        extracted = tar.extractfile(member)
        if extracted is not None:
            while extracted.read(_CHUNK):
                pass
    if index is None:
        raise InvalidPackageError(f"{path.name}: has no info/index.json")
    if not isinstance(index, dict):
        raise InvalidPackageError(f"{path.name}: info/index.json is not a JSON object")
    if whole:  # links and paths.json were checked with every member, by the full check
        layout.finish()
        if paths_json is not None:
            _check_paths_json(path.name, paths_json, layout)
    return index, tuple(binaries), has_python, hash_input


def _check_paths_json(filename: str, data: bytes, layout: _Layout) -> None:
    """conda links what ``info/paths.json`` lists: every path there must stay inside the prefix too."""
    try:
        entries = json.loads(data).get("paths", [])
        names = [str(e["_path"]) for e in entries]
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise InvalidPackageError(f"{filename}: info/paths.json is malformed ({type(exc).__name__})") from exc
    for name in names:
        check_member_name(filename, name)
        layout.resolve(posixpath.dirname(name), f"info/paths.json entry {name!r}")


def load_checks() -> None:
    """Import what :func:`check_index_json` needs (py-rattler: about 25 ms), e.g. in a thread while
    a build runs, so the first package's check does not wait for it."""
    from rattler import MatchSpec  # noqa: F401
    from rattler.package import IndexJson  # noqa: F401


def check_index_json(filename: str, index: dict[str, Any]) -> None:
    """Refuse an index.json that conda or rattler would choke on: wrong types, bad versions, names
    or match specs. One such file on a channel breaks indexing (``index_fs``) for every later
    command, so it must be caught here, before anything is written."""
    from rattler import MatchSpec
    from rattler.package import IndexJson

    try:
        IndexJson.from_str(json.dumps(index))
    except Exception as exc:  # rattler's own error types (serde messages)
        raise InvalidPackageError(
            f"{filename}: info/index.json is not what conda and rattler accept: {_one_line(exc)}"
        ) from exc
    name = str(index["name"])
    if name != name.lower():
        # Channels compare names without case (anaconda.org, case-insensitive disks): Foo and foo
        # would be one file to some readers and two to others.
        raise InvalidPackageError(f"{filename}: package name {name!r} is not lower case (conda names are)")
    for key in ("depends", "constrains"):
        for spec in index.get(key) or []:
            try:
                MatchSpec(str(spec))
            except Exception as exc:
                raise InvalidPackageError(
                    f"{filename}: info/index.json {key} has an invalid match spec {spec!r}: {_one_line(exc)}"
                ) from exc


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


def file_digests(path: Path) -> tuple[str, str, int]:
    """(sha256, md5, size) of a file, read in chunks."""
    sha256 = hashlib.sha256()
    md5 = hashlib.md5()  # noqa: S324 - conda repodata carries md5; not used for security
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            sha256.update(chunk)
            md5.update(chunk)
            size += len(chunk)
    return sha256.hexdigest(), md5.hexdigest(), size


def noarch_kind(index: dict[str, Any]) -> str | None:
    """``python``, ``generic`` or None, from index.json (also the legacy ``noarch_python``)."""
    value = index.get("noarch")
    if value in ("python", "generic"):
        return str(value)
    if value is True or index.get("noarch_python") is True:
        return "python"
    return None


def _scan_checked(path: Path, *, whole: bool = True) -> _Scanned:
    """``_scan``, with every way a damaged archive can fail turned into InvalidPackageError."""
    try:
        return _scan(path, whole=whole)
    except InvalidPackageError:
        raise
    except Exception as exc:  # zipfile/tarfile/EOF/OS errors, and zstd's own error types
        raise InvalidPackageError(
            f"{path.name}: damaged or truncated package ({type(exc).__name__}: {exc})",
            hint="rebuild the package; a truncated file is never uploaded",
        ) from exc


def read_artifact(path: str | Path, *, checked_sha256: str | None = None, checked_size: int | None = None) -> Artifact:
    """Check a package file and return its metadata; raise InvalidPackageError if anything is off.

    ``checked_sha256``/``checked_size``: what a full check of this file found before (a manifest's
    entry). When the file still has that size and sha256, it holds exactly the bytes that passed, so
    only ``info/`` is read again (about 1 ms instead of decompressing every member, issue 12); the
    result then says nothing of binaries or Python files (``binary_files`` empty,
    ``has_python_files`` False), which only the build's noarch advice reads.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidPackageError(f"{path}: no such package file")
    split_filename(path.name)  # a bad name fails before anything is read
    if checked_sha256 is not None and (checked_size is None or path.stat().st_size == checked_size):
        sha256, md5, size = file_digests(path)
        if sha256 == checked_sha256 and checked_size in (None, size):
            return _artifact(path, _scan_checked(path, whole=False), (sha256, md5, size))
    if path.stat().st_size < _HASH_IN_THREAD_FROM:
        # Small: a thread costs more than it saves (a batch of 1,000 small packages started one each)
        return _artifact(path, _scan_checked(path), file_digests(path))
    # Hash in a second thread while the scan decompresses: both release the GIL on big buffers, so
    # a 100 MB package is checked in about the time of the slower of the two (benchmark B7).
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="cipub-digest") as pool:
        digests = pool.submit(file_digests, path)
        scanned = _scan_checked(path)
        return _artifact(path, scanned, digests.result())


def _artifact(path: Path, scanned: _Scanned, digests: tuple[str, str, int]) -> Artifact:
    """The metadata of a scanned package, after the checks that need its index."""
    name, version, build, ext = split_filename(path.name)
    index, binaries, has_python, hash_input = scanned
    sha256, md5, size = digests

    for key in ("name", "version", "build", "build_number"):
        if key not in index:
            raise InvalidPackageError(f"{path.name}: info/index.json has no {key!r}")
    mismatches = [
        f"{key} {index[key]!r} (file name says {expected!r})"
        for key, expected in (("name", name), ("version", version), ("build", build))
        if str(index[key]) != expected
    ]
    if mismatches:
        raise InvalidPackageError(
            f"{path.name}: info/index.json disagrees with the file name: " + ", ".join(mismatches),
            hint=f"rename it back to {index['name']}-{index['version']}-{index['build']}{ext} (the name it was "
            "built with), or rebuild",
        )
    check_index_json(path.name, index)
    noarch = noarch_kind(index)
    subdir = index.get("subdir") or ("noarch" if noarch else None)
    if not isinstance(subdir, str) or not subdir or "/" in subdir or subdir in (".", ".."):
        raise InvalidPackageError(f"{path.name}: info/index.json has no valid 'subdir'")
    if noarch and subdir != "noarch":
        raise InvalidPackageError(f"{path.name}: noarch: {noarch} package claims subdir {subdir!r}")
    try:
        build_number = int(index["build_number"])
    except (TypeError, ValueError) as exc:
        raise InvalidPackageError(f"{path.name}: build_number {index['build_number']!r} is not a number") from exc
    depends = index.get("depends") or []
    return Artifact(
        path=path,
        filename=path.name,
        name=name,
        version=version,
        build=build,
        build_number=build_number,
        subdir=subdir,
        noarch=noarch,
        sha256=sha256,
        md5=md5,
        size=size,
        depends=tuple(str(d) for d in depends),
        binary_files=binaries,
        has_python_files=has_python,
        index=index,
        hash_input=hash_input,
    )


def carries_recipe_tests(path: Path) -> bool:
    """Whether the package carries recipe tests; True unless its ``info/`` says for certain that it
    has none. py-rattler-build's ``test_count``/``run_tests`` extract the whole archive even to find
    no tests (1.5-2.8 s for a 100 MB package, issue 12); ``info/`` of a ``.conda`` is a small
    separate member. rattler-build writes ``info/tests/tests.yaml`` (``[]`` for none); conda-build's
    tests live in ``info/test/``."""
    if path.suffix != ".conda":
        return True
    from conda_package_streaming.package_streaming import stream_conda_info

    listed: bytes | None = None
    try:
        with path.open("rb") as raw:
            for tar, member in stream_conda_info(str(path), raw):
                if member.name.startswith("info/test/"):
                    return True
                if member.name == "info/tests/tests.yaml":
                    extracted = tar.extractfile(member)
                    listed = extracted.read(64) if extracted is not None else None
    except Exception:  # unreadable here: let py-rattler-build decide (and report)
        return True
    return listed is None or listed.strip() not in (b"[]", b"")
