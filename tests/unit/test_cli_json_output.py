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


@pytest.mark.parametrize(
    ("args", "row"),
    [
        (("upload", "{package}"), "uploaded  noarch/"),
        (("promote", "--manifest", "{manifest}"), "promoted  noarch/"),
        (("yank", "rowdemo=1.0", "--remove-from", "test"), "yanked    noarch/"),
        (("prune", "rowdemo", "--superseded"), "keep"),
    ],
    ids=["upload", "promote", "yank", "prune"],
)
def test_json_leaves_out_the_per_file_rows_the_document_holds(
    cipub: Cipub, tmp_path: Path, args: tuple[str, ...], row: str
) -> None:
    """Each file's outcome row is in the document (receipts, actions, plan): with --json it is not
    printed on stderr too; without --json it is printed."""
    for as_json in (True, False):
        work = tmp_path / ("json" if as_json else "human")
        work.mkdir()
        package = make_package(work / "pkgs", "rowdemo", "1.0", 0)
        manifest = work / "m.json"
        if args[0] != "upload":
            staged = cipub("upload", str(package), "--json", cwd=work)
            assert staged.code == 0, staged.err
            manifest.write_text(staged.out)
        result = cipub(
            *(a.format(package=package, manifest=manifest) for a in args), *(["--json"] if as_json else []), cwd=work
        )
        assert result.code == 0, result.err
        if as_json:
            json.loads(result.out)
            assert "noarch/rowdemo" not in result.err, result.err  # no row on stderr
        else:
            assert row in result.out + result.err


@pytest.mark.parametrize("command", ["upload", "promote"])
def test_a_dry_runs_json_holds_the_plan(cipub: Cipub, tmp_path: Path, command: str) -> None:
    """``upload --dry-run --json`` and ``promote --dry-run --json``: what would be done is in the
    document (``dry_run`` and ``plan``, as yank's and prune's), not only on stderr."""
    from cipub.core import manifest as manifest_mod

    package = make_package(tmp_path / "pkgs", "plandemo", "1.0", 0)
    manifest = tmp_path / "m.json"
    if command == "promote":
        staged = cipub("upload", str(package), "--json", cwd=tmp_path)
        assert staged.code == 0, staged.err
        manifest.write_text(staged.out)
    args = [str(package)] if command == "upload" else ["--manifest", str(manifest)]
    result = cipub(command, *args, "--dry-run", "--json", cwd=tmp_path)
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    manifest_mod.validate(doc, source="the dry run's document")  # still a manifest-1 document
    assert doc["dry_run"] is True
    assert [(p["filename"], p["state"]) for p in doc["plan"]] == [(package.name, "planned")]
    assert doc["uploads" if command == "upload" else "promotions"] == []  # a dry run records no receipt
    real = cipub(command, *args, "--json", cwd=tmp_path)
    assert real.code == 0 and "dry_run" not in json.loads(real.out) and "plan" not in json.loads(real.out)
