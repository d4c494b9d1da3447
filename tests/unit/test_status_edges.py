"""Edges of ``cipub status`` found by a cold review: an unknown package name is exit 2 and says so
(as ``conda search`` fails on an unknown package); a file replaced on the channel after cipub
staged it says that its sha256 is not the one the ledger staged. Real small packages, the local
channel, the real CLI in-process."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import jsonschema
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


def test_a_replaced_staged_file_says_its_sha256_is_not_the_staged_one(cipub: Cipub, project: Path) -> None:
    staged = project / ".cipub" / "channel" / "label" / "test" / "noarch" / "knownpkg-1.0-h0000000_0.conda"
    other = make_package(project / "other", "knownpkg", "1.0", 0, payload="replaced")
    ledger_sha = hashlib.sha256(staged.read_bytes()).hexdigest()
    shutil.copyfile(other, staged)  # someone replaced the staged file on the channel
    result = cipub("status", "knownpkg", cwd=project)
    assert result.code == 0, result.err
    row = next(line for line in result.out.splitlines() if "knownpkg-1.0" in line)
    assert row.startswith("staged "), row
    assert "not in the ledger" not in row, row
    assert "ledger: built, staged for other bytes (sha256" in row, row
    assert f"(sha256 {ledger_sha[:12]}; the target's is {hashlib.sha256(other.read_bytes()).hexdigest()[:12]}" in row

    doc = json.loads(cipub("status", "knownpkg", "--json", cwd=project).out)
    jsonschema.validate(doc, json.loads(resources.files("cipub").joinpath("schemas/status-1.schema.json").read_text()))
    assert doc["files"][0]["ledger_sha256"] == ledger_sha and doc["files"][0]["ledger"] == []

    promote = cipub("promote", cwd=project)
    assert promote.code == 8, promote.err
    assert "without --manifest" not in promote.err, promote.err
    assert "cipub status knownpkg" in promote.err and "rebuild" in promote.err, promote.err
