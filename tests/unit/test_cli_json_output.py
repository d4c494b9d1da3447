"""``--json``: stdout is the document alone, and the outcome lines the document holds (status rows,
summaries) are not printed on stderr as well; notes, warnings and errors still are."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CliResult
from tests.support.packages import make_package

Cipub = Callable[..., CliResult]


@pytest.fixture
def staged(cipub: Cipub, tmp_path: Path) -> Path:
    package = make_package(tmp_path, "jsondemo", "1.0", 0)
    result = cipub("upload", str(package), cwd=tmp_path)
    assert result.code == 0, result.err
    return package


def test_status_json_prints_no_table(cipub: Cipub, tmp_path: Path, staged: Path) -> None:
    result = cipub("status", "jsondemo", "--json", cwd=tmp_path)
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert [f["status"] for f in doc["files"]] == ["staged"]
    assert result.err == ""  # no rows, no summary: they are the document's

    human = cipub("status", "jsondemo", cwd=tmp_path)  # without --json the table is there, on stdout
    assert "staged" in human.out and "summary: 1 staged" in human.out


@pytest.mark.parametrize(
    "args",
    [
        ("upload", "{package}", "--json"),
        ("prune", "jsondemo", "--superseded", "--json"),
        ("yank", "jsondemo=1.0", "--remove-from", "test", "--dry-run", "--json"),
        ("promote", "--manifest", "{manifest}", "--dry-run", "--json"),
    ],
)
def test_json_commands_print_no_summary(cipub: Cipub, tmp_path: Path, staged: Path, args: tuple[str, ...]) -> None:
    manifest = tmp_path / "m.json"
    first = cipub("upload", str(staged), "--json", cwd=tmp_path)
    manifest.write_text(first.out)
    result = cipub(*(a.format(package=staged, manifest=manifest) for a in args), cwd=tmp_path)
    assert result.code == 0, result.err
    json.loads(result.out)  # stdout: the document alone
    assert "done:" not in result.err and "dry run: would" not in result.err, result.err
