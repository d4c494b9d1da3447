"""Edges of ``cipub status`` found by a cold review: an unknown package name is exit 2 and says so
(as ``conda search`` fails on an unknown package); a file replaced on the channel after cipub
staged it says that its sha256 is not the one the ledger staged. Real small packages, the local
channel, the real CLI in-process."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CliResult
from tests.support.packages import make_package

Cipub = Callable[..., CliResult]


@pytest.fixture
def project(cipub: Cipub, tmp_path: Path) -> Path:
    result = cipub("upload", str(make_package(tmp_path, "knownpkg", "1.0", 0)), cwd=tmp_path)
    assert result.code == 0, result.err
    return tmp_path


def test_an_unknown_package_name_is_exit_2_and_says_so(cipub: Cipub, project: Path) -> None:
    for args in (("nosuchpkg",), ("knownpkg", "nosuchpkg"), ("nosuchpkg", "--json")):
        result = cipub("status", *args, cwd=project)
        assert result.code == 2, (args, result.out, result.err)
        assert (
            "error: no package named nosuchpkg is on ./.cipub/channel (in any label) "
            "or in the ledger (output/cipub-ledger)" in result.err
        ), result.err
        assert "cipub: hint: " in result.err and "summary:" not in result.out
    known = cipub("status", "knownpkg", cwd=project)
    assert known.code == 0 and "summary: 1 staged" in known.out, known.err


def test_a_recipe_without_files_yet_is_exit_0_with_a_note(cipub: Cipub, project: Path) -> None:
    recipe = project / "recipe"
    recipe.mkdir()
    (recipe / "recipe.yaml").write_text(
        'package:\n  name: notbuilt\n  version: "2.0"\nbuild:\n  noarch: generic\n  script: echo hi\n'
    )
    result = cipub("status", "recipe", cwd=project)
    assert result.code == 0, result.err
    assert "summary: no files" in result.out
    assert "note: no file of notbuilt is on ./.cipub/channel or in the ledger (output/cipub-ledger) yet" in (
        result.out + result.err
    )
