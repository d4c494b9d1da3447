"""Every command that changes a channel checks the ledger first: a ledger that cannot take the
record refuses the command (exit 10, "nothing was changed") before the channel changes. ``yank``
and ``prune --yes`` used to move / delete the files first and fail to record them afterwards."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CliResult
from tests.support.packages import make_package

Cipub = Callable[..., CliResult]


def channel_files(project: Path) -> list[str]:
    channel = project / ".cipub" / "channel"
    return sorted(str(p.relative_to(channel)) for p in channel.rglob("*.conda"))


@pytest.fixture
def project(cipub: Cipub, tmp_path: Path) -> Path:
    """Two builds of one variant staged in ``test``, recorded in ``cell/cipub-ledger``."""
    for build in (0, 1):
        package = make_package(tmp_path / "pkgs", "ledgerro", "1.0", build)
        result = cipub("upload", str(package), "--output-dir", "cell", cwd=tmp_path)
        assert result.code == 0, result.err
    return tmp_path


def refused(result: CliResult) -> None:
    assert result.code == 10, result.out + result.err
    assert "ledger directory" in result.err and "nothing was changed" in result.err, result.err


def test_yank_into_an_unusable_ledger_changes_nothing(cipub: Cipub, project: Path) -> None:
    before = channel_files(project)
    (project / "afile").write_text("not a directory")
    result = cipub("yank", "ledgerro=1.0", "--remove-from", "test", "--output-dir", "afile", cwd=project)
    refused(result)
    assert "yanked" not in result.out
    assert channel_files(project) == before


def read_only(monkeypatch: pytest.MonkeyPatch, ledger: Path) -> None:
    """``ledger`` cannot be written: its mode, and os.access saying so (root ignores the mode)."""
    ledger.chmod(0o555)
    real = os.access

    def access(path: object, mode: int, *args: object, **kwargs: object) -> bool:
        if Path(str(path)).resolve() == ledger.resolve() and mode & os.W_OK:
            return False
        return real(path, mode, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "access", access)


def test_prune_into_a_read_only_ledger_removes_nothing(
    cipub: Cipub, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = channel_files(project)
    assert len(before) == 2
    ledger = project / "cell" / "cipub-ledger"
    records = sorted(ledger.iterdir())
    read_only(monkeypatch, ledger)
    try:
        result = cipub("prune", "--superseded", "--yes", "--output-dir", "cell", cwd=project)
    finally:
        ledger.chmod(0o755)
    refused(result)
    assert channel_files(project) == before
    assert sorted(ledger.iterdir()) == records
    # a dry run writes nothing, so it still runs with the ledger read-only
    read_only(monkeypatch, ledger)
    try:
        planned = cipub("prune", "--superseded", "--output-dir", "cell", cwd=project)
    finally:
        ledger.chmod(0o755)
    assert planned.code == 0, planned.err
    assert "would remove 1" in planned.out


def test_yank_into_a_read_only_ledger_changes_nothing(
    cipub: Cipub, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = channel_files(project)
    ledger = project / "cell" / "cipub-ledger"
    read_only(monkeypatch, ledger)
    try:
        result = cipub("yank", "ledgerro=1.0", "--remove-from", "test", "--output-dir", "cell", cwd=project)
    finally:
        ledger.chmod(0o755)
    refused(result)
    assert channel_files(project) == before
