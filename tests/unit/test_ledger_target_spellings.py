"""A local target has one identity in the ledger, whatever its spelling: ``./ch``, ``./ch/``,
``././ch``, ``$PWD/ch``, ``file://$PWD/ch``, ``../here/ch``. The receipts keep the spelling the
command was given; the ledger compares normalised forms (cipub.policy.ledger.TargetIdentity), and
takes the relative spellings of records written by older cipub (no ``target``) from the project
root. Server and S3 targets keep their rules (scheme and host case, trailing slash)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from cipub.channels.target import ledger_target
from cipub.core.ledger import Record
from cipub.core.manifest import ArtifactEntry, Manifest, UploadReceipt
from cipub.policy.ledger import facts
from tests.conftest import CliResult
from tests.support.packages import make_package

Cipub = Callable[..., CliResult]


def entry() -> ArtifactEntry:
    return ArtifactEntry("a-1.0-h0_0.conda", "noarch", "a", "1.0", "h0_0", 0, "generic", "a" * 64, 1, "x")


def upload_record(spelling: str, target: str | None) -> Record:
    e = entry()
    m = Manifest(artifacts=[e])
    m.uploads = [UploadReceipt(e.filename, e.subdir, e.sha256, spelling, "test", "uploaded")]
    return Record("upload", m, target=target)


def spellings(project: Path) -> list[str]:
    return [
        "./.cipub/channel",
        "./.cipub/channel/",
        "././.cipub/channel",
        "./.cipub/../.cipub/channel",
        str(project / ".cipub" / "channel"),
        f"{project / '.cipub' / 'channel'}/",
        f"file://{project / '.cipub' / 'channel'}",
        f"../{project.name}/.cipub/channel",
    ]


def test_a_relative_receipt_is_staged_for_every_spelling_of_its_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    record = upload_record("./.cipub/channel", ledger_target("./.cipub/channel"))
    for spelling in spellings(tmp_path):
        assert set(facts([record], spelling, "test", "main").staged) == {(entry().key, entry().sha256)}, spelling
    assert facts([record], "./elsewhere", "test", "main").staged == {}


def test_the_record_s_own_target_places_a_relative_receipt_from_any_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # written in tmp_path (its target resolved then), read from a subdirectory
    record = upload_record("./.cipub/channel", (tmp_path / ".cipub" / "channel").as_uri())
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    assert set(facts([record], "../.cipub/channel", "test", "main").staged) == {(entry().key, entry().sha256)}
    assert facts([record], "./.cipub/channel", "test", "main").staged == {}  # sub/.cipub/channel: another one


def test_an_older_record_s_relative_receipt_is_taken_from_the_project_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    legacy = upload_record("./.cipub/channel", None)  # older cipub: no target in the record
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    absolute = str(tmp_path / ".cipub" / "channel")  # the default target, taken from the project root
    assert set(facts([legacy], absolute, "test", "main", root=tmp_path).staged) == {(entry().key, entry().sha256)}
    # no project root: the working directory, as the spelling was typed
    assert facts([legacy], absolute, "test", "main").staged == {}


def test_server_and_s3_targets_keep_their_identity_rules() -> None:
    assert ledger_target("s3://bucket/prefix/") == ledger_target("s3://bucket/prefix") == "s3://bucket/prefix"
    assert ledger_target("s3://bucket/Prefix") != ledger_target("s3://bucket/prefix")  # S3 keys have case
    assert ledger_target("quetz://Quetz.Example/chan/") == ledger_target("quetz+https://quetz.example/chan")
    assert ledger_target("quetz+https://quetz.example/Chan") != ledger_target("quetz+https://quetz.example/chan")
    assert ledger_target("quetz+http://quetz.example/chan") != ledger_target("quetz+https://quetz.example/chan")
    record = upload_record("quetz://Quetz.Example/chan", ledger_target("quetz://Quetz.Example/chan"))
    assert facts([record], "quetz+https://quetz.example/chan/", "test", "main").staged
    assert not facts([record], "quetz+https://quetz.example/other", "test", "main").staged


@pytest.fixture
def project(cipub: Cipub, tmp_path: Path) -> Path:
    """A package uploaded to the default target (./.cipub/channel, label test) from ``project``."""
    root = tmp_path / "p5"
    root.mkdir()
    package = make_package(tmp_path / "pkgs", "spelled", "1.0", 0)
    result = cipub("upload", str(package), cwd=root)
    assert result.code == 0, result.err
    return root


def test_promote_finds_the_staged_file_through_any_spelling_of_the_target(cipub: Cipub, project: Path) -> None:
    for spelling in spellings(project):
        result = cipub("promote", "--dry-run", "--target", spelling, cwd=project)
        assert result.code == 0, (spelling, result.err)
        assert "would promote 1" in result.out, spelling


def test_status_keeps_the_history_once_a_cipub_toml_makes_the_default_target_absolute(
    cipub: Cipub, project: Path
) -> None:
    (project / "cipub.toml").write_text("concurrency = 2\n")
    (project / "sub").mkdir()
    for where in (project, project / "sub"):
        result = cipub("status", "spelled", "--json", cwd=where)
        assert result.code == 0, result.err
        rows = json.loads(result.out)["files"]
        assert [(r["status"], "staged" in r["ledger"]) for r in rows] == [("staged", True)], rows
    promoted = cipub("promote", "--dry-run", cwd=project / "sub")
    assert promoted.code == 0, promoted.err


def test_a_cross_target_promotion_into_the_same_directory_in_another_spelling_is_refused(
    cipub: Cipub, project: Path
) -> None:
    result = cipub("promote", "--to-target", f"{project / '.cipub' / 'channel'}/", cwd=project)
    assert result.code == 2, result.out + result.err
    assert "--to-target is --target" in result.err
