"""A saved listing (the user's cache, keyed by the directory's device, inode, mtime and ctime) is
trusted to say which names a directory holds, but never to allow a write: before a file is written
its exact name is looked up on disk. One that leaves out a file that is there (tampered, or a
cache written by something else under the right key) makes the upload a conflict before anything
is written, never an "uploaded" line for a file that was not linked; the saved listing is removed
so the next lookup (a build number) lists the directory again. The channel is never overwritten."""

from __future__ import annotations

import hashlib
import shutil
import time
from pathlib import Path

import pytest

from cipub.channels import local
from cipub.channels.local import LocalChannel
from cipub.core.artifact import read_artifact
from cipub.core.errors import ConflictError
from cipub.core.manifest import ArtifactEntry, Manifest
from cipub.policy.buildnumber import decide
from cipub.policy.publish import upload
from tests.support.packages import make_package

NAME = "liar"


def _manifest(*paths: Path) -> Manifest:
    return Manifest(artifacts=[ArtifactEntry.from_artifact(read_artifact(p)) for p in paths])


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def channel_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """label test/noarch holds build 0 and build 1 of the package; listings are saved."""
    root = tmp_path / "chan"
    staged = root / "label" / "test" / "noarch"
    staged.mkdir(parents=True)
    for number in (0, 1):
        package = make_package(tmp_path / "made", NAME, "1.0", number, payload=f"on the channel {number}")
        shutil.copy(package, staged / package.name)
    kind = local.refuse_pseudo_filesystem(root)
    monkeypatch.setattr(local, "LISTING_CACHE_FILESYSTEMS", local.LISTING_CACHE_FILESYSTEMS | {kind})
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(local, "LISTING_QUIET_NS", 200_000_000)
    time.sleep(0.3)
    with LocalChannel(root) as channel:
        assert sorted(f.build_number for f in channel.files(NAME, "1.0")) == [0, 1]
    return root


def _tamper(tmp_path: Path, left_out: str) -> Path:
    """The saved listing keeps its (right) key and leaves out one name."""
    [saved] = sorted((tmp_path / "cache" / "cipub" / "listings").glob("[0-9a-f]*"))
    key, *names = saved.read_bytes().split(b"\n")
    assert left_out.encode() in names
    saved.write_bytes(b"\n".join([key, *(n for n in names if n != left_out.encode())]))
    return saved


def test_a_lying_saved_listing_is_a_conflict_before_any_write(
    tmp_path: Path, channel_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    hidden = f"{NAME}-1.0-h0000000_1.conda"
    on_disk = channel_root / "label" / "test" / "noarch" / hidden
    before = _sha(on_disk)
    saved = _tamper(tmp_path, hidden)
    with LocalChannel(channel_root) as channel:  # the lie is believed by a lookup ...
        assert sorted(f.build_number for f in channel.files(NAME, "1.0")) == [0]
        # ... so the bump picks a number that exists (a rebuild of build 1): see the module docstring
        assert decide(channel, NAME, "1.0", 0).chosen == 1

    rebuilt = make_package(tmp_path / "rebuilt", NAME, "1.0", 1, payload="other bytes, same name")
    fresh = make_package(tmp_path / "fresh", NAME, "2.0", 0)
    said: list[str] = []
    with pytest.raises(ConflictError, match="different content .* nothing was uploaded"):
        upload(_manifest(rebuilt, fresh), LocalChannel(channel_root), "test", progress=said.append)
    assert said == []  # found before anything was written: never "uploaded" for what was not linked
    assert _sha(on_disk) == before  # never overwritten
    assert not saved.exists()  # the lie is gone: the next lookup lists the directory
    assert f"{hidden} is on disk, but the saved listing of label/test/noarch left it out" in caplog.text
    with LocalChannel(channel_root) as channel:
        assert decide(channel, NAME, "1.0", 0).chosen == 2


def test_a_lying_saved_listing_and_the_same_bytes_is_no_conflict(tmp_path: Path, channel_root: Path) -> None:
    hidden = f"{NAME}-1.0-h0000000_0.conda"
    _tamper(tmp_path, hidden)
    same = channel_root / "label" / "test" / "noarch" / hidden
    copy = tmp_path / "same" / hidden
    copy.parent.mkdir()
    shutil.copy(same, copy)
    said: list[str] = []
    receipts = upload(_manifest(copy), LocalChannel(channel_root), "test", progress=said.append)
    assert [r.state for r in receipts] == ["skipped-identical"]  # what it is, not "uploaded"
    assert said == [f"skipped   noarch/{hidden} (identical, already in test)"]
    with LocalChannel(channel_root) as channel:
        assert sorted(f.build_number for f in channel.files(NAME, "1.0")) == [0, 1]


def test_uploaded_is_said_only_once_the_file_is_linked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch whose publication fails (here: the second file's name is taken at the last moment)
    says "uploaded" for the files that were linked, and for no other."""
    root = tmp_path / "chan"
    first = make_package(tmp_path / "a", "linked", "1.0", 0)
    second = make_package(tmp_path / "b", "raced", "1.0", 0)
    other = make_package(tmp_path / "c", "raced", "1.0", 0, payload="another writer's bytes")
    real_link = local.os.link
    said: list[str] = []

    def racing_link(src: object, dst: object, *args: object, **kwargs: object) -> None:
        if Path(str(dst)).name == second.name and ".part" in Path(str(src)).name:
            shutil.copy(other, str(dst))  # what a tool outside cipub's lock might do
        real_link(src, dst, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(local.os, "link", racing_link)
    with pytest.raises(ConflictError):
        upload(_manifest(first, second), LocalChannel(root), "test", progress=said.append)
    assert [line.split()[0] for line in said] == ["uploaded"]
    assert first.name in said[0]
    assert (root / "label" / "test" / "noarch" / first.name).is_file()


def test_a_lying_saved_listing_cannot_hide_the_other_format(tmp_path: Path, channel_root: Path) -> None:
    """The other format of a package (.tar.bz2 beside .conda) is looked up exactly too."""
    hidden = f"{NAME}-1.0-h0000000_1.conda"
    _tamper(tmp_path, hidden)
    other_format = make_package(tmp_path / "bz2", NAME, "1.0", 1, tar_bz2=True)
    with pytest.raises(ConflictError, match="two formats"):
        upload(_manifest(other_format), LocalChannel(channel_root), "test")
    assert not (channel_root / "label" / "test" / "noarch" / other_format.name).exists()
