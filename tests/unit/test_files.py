"""write_atomically: a reader sees the old file or the new one, and an error names the path given."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from cipub.core.files import write_atomically


def test_a_directory_in_the_way_is_named_not_the_scratch_file(tmp_path: Path) -> None:
    target = tmp_path / "plan.json"
    target.mkdir()
    with pytest.raises(IsADirectoryError) as caught:
        write_atomically(target, "{}")
    assert caught.value.errno == errno.EISDIR and caught.value.filename == str(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.json"]  # no scratch file left beside it


def test_the_file_is_replaced_whole(tmp_path: Path) -> None:
    target = tmp_path / "plan.json"
    target.write_text("old")
    write_atomically(target, "new")
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.json"]
