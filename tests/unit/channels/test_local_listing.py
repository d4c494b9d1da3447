"""A local channel's listing answers the first query of a batch by one scan of the directory's
entries and later ones from a sorted copy (issue 12): whichever answers, the files are the same,
and names that only look alike (``foo`` vs ``foo-bar``, temporaries, other files) never count."""

from __future__ import annotations

import shutil
from pathlib import Path

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
