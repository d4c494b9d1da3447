"""A local channel's listing answers the first query of a batch by one scan of the directory's
entries and later ones from a sorted copy, and a listing saved in the user's cache answers while
the directory is unchanged (issue 12): whichever answers, the files are the same, names that only
look alike (``foo`` vs ``foo-bar``, temporaries, other files) never count, and a file another tool
adds or removes is seen at once."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from cipub.channels import local
from cipub.channels.local import LocalChannel
from tests.support.packages import make_package


def _channel(tmp_path: Path) -> Path:
    root = tmp_path / "chan"
    noarch = root / "noarch"
    noarch.mkdir(parents=True)
    made = tmp_path / "made"
    for name, number in (("foo", 0), ("foo", 1), ("foo-bar", 0), ("foobar", 0), ("zed", 3)):
        package = make_package(made, name, "1.0", number, build_string=f"h0_{number}", payload=name)
        shutil.copy(package, noarch / package.name)
    (noarch / ".foo-1.0-h0_9.conda.abc.part").write_bytes(b"half")  # a writer's temporary
    (noarch / "foo-1.0-h0_1.conda.sig").write_bytes(b"x")  # not a package file
    return root


def _numbers(channel: LocalChannel, name: str) -> list[int | None]:
    return sorted(f.build_number for f in channel.files(name, "1.0"))


def test_first_and_later_queries_of_a_batch_agree(tmp_path: Path) -> None:
    root = _channel(tmp_path)
    with LocalChannel(root) as channel:
        first = {name: _numbers(channel, name) for name in ("foo", "foo-bar", "foobar", "zed", "absent")}
    with LocalChannel(root) as channel:
        _numbers(channel, "absent")  # the first query goes to a package that has no file
        later = {name: _numbers(channel, name) for name in ("foo", "foo-bar", "foobar", "zed", "absent")}
    assert first == later == {"foo": [0, 1], "foo-bar": [0], "foobar": [0], "zed": [3], "absent": []}


def test_existence_check_first_or_after_a_lookup(tmp_path: Path) -> None:
    root = _channel(tmp_path)
    with LocalChannel(root) as channel:
        assert channel._exists("noarch", "foo-1.0-h0_1.conda")  # first query: the scan
        assert channel._exists("noarch", "zed-1.0-h0_3.conda")  # later: the sorted copy
        assert not channel._exists("noarch", ".foo-1.0-h0_9.conda.abc.part")
        assert not channel._exists("noarch", "foo-1.0-h0_9.conda")
    with LocalChannel(root) as channel:
        assert not channel._exists("noarch", ".foo-1.0-h0_9.conda.abc.part")  # a temporary is no file
        assert not channel._exists("linux-64", "foo-1.0-h0_1.conda")


def _quiet(root: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Listings of directories unchanged for 0.2 s are saved (in a cache of this test's own)."""
    # the logic under test, whatever filesystem the test machine's tmp is on (overlay in a container)
    kind = local.refuse_pseudo_filesystem(root)
    monkeypatch.setattr(local, "LISTING_CACHE_FILESYSTEMS", local.LISTING_CACHE_FILESYSTEMS | {kind})
    assert LocalChannel(root)._cache_listings
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(local, "LISTING_QUIET_NS", 200_000_000)
    time.sleep(0.3)


def _saved(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "cache" / "cipub" / "listings").glob("[0-9a-f]*"))


def test_a_saved_listing_answers_until_another_tool_changes_the_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _channel(tmp_path)
    _quiet(root, monkeypatch, tmp_path)
    with LocalChannel(root) as channel:
        listed = {name: _numbers(channel, name) for name in ("foo", "foo-bar", "zed")}
    assert len(_saved(tmp_path)) == 1  # noarch of label main, saved in the user's cache

    listdir = local.os.listdir

    def no_listing(path: Path) -> list[str]:
        if Path(path).name == "noarch":
            raise AssertionError(f"listed {path} again")
        return listdir(path)  # the channel root, to find its subdirs (a few entries)

    with monkeypatch.context() as patched:
        patched.setattr(local.os, "listdir", no_listing)
        for first in ("foo", "foo-bar", "zed"):  # the saved listing answers first and later queries alike
            with LocalChannel(root) as channel:
                assert _numbers(channel, first) == listed[first]
                assert {name: _numbers(channel, name) for name in listed} == listed
                assert channel._exists("noarch", "zed-1.0-h0_3.conda")
                assert not channel._exists("noarch", ".foo-1.0-h0_9.conda.abc.part")
            with LocalChannel(root) as channel:
                assert channel._exists("noarch", "foo-1.0-h0_1.conda")  # first query, from the saved bytes
                assert not channel._exists("noarch", "foo-1.0-h0_9.conda")

    # another tool adds a build: the directory's ctime moves, so the saved listing no longer answers
    added = make_package(tmp_path / "other", "foo", "1.0", 7, build_string="h0_7", payload="new")
    shutil.copy(added, root / "noarch" / added.name)
    with LocalChannel(root) as channel:
        assert _numbers(channel, "foo") == [0, 1, 7]
    (root / "noarch" / added.name).unlink()  # ... and removes it again
    with LocalChannel(root) as channel:
        assert _numbers(channel, "foo") == [0, 1]


def test_a_directory_changed_just_before_it_is_listed_is_not_saved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _channel(tmp_path)
    _quiet(root, monkeypatch, tmp_path)
    monkeypatch.setattr(local, "LISTING_QUIET_NS", 60_000_000_000)  # changed within the last minute
    with LocalChannel(root) as channel:
        assert _numbers(channel, "foo") == [0, 1]
    assert _saved(tmp_path) == []


@pytest.mark.parametrize("kind", ["fifo", "device", "huge", "link"])
def test_a_saved_listing_that_is_no_regular_file_is_listed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """A FIFO in its place hung the lookup, a link to /dev/zero read without end (OOM): such a
    cache entry is ignored, the directory listed again (a cold reviewer's finding)."""
    import os

    root = _channel(tmp_path)
    _quiet(root, monkeypatch, tmp_path)
    with LocalChannel(root) as channel:
        expected = _numbers(channel, "foo")
    [saved] = _saved(tmp_path)
    saved.unlink()
    if kind == "fifo":
        os.mkfifo(saved)
    elif kind == "device":
        saved.symlink_to("/dev/zero")
    elif kind == "link":
        other = tmp_path / "other"
        other.write_bytes(b"cipub-listing-1 0 0 0 0\n")
        saved.symlink_to(other)
    else:
        monkeypatch.setattr(local, "LISTING_MAX_BYTES", 8)
        saved.write_bytes(b"x" * 64)
    with LocalChannel(root) as channel:
        assert _numbers(channel, "foo") == expected == [0, 1]
