"""A yank or prune stopped midway (Ctrl-C, or an error on one file) records what it did: a failed
record holding the actions of the files already yanked / pruned (before, the stopped run recorded
nothing, and the ledger still counted those files as staged)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cipub.channels.local import LocalChannel
from tests.conftest import CliResult
from tests.support.packages import make_package

Cipub = Callable[..., CliResult]


@pytest.fixture
def project(cipub: Cipub, tmp_path: Path) -> Path:
    """Four builds of one variant staged in ``test``."""
    for build in range(4):
        package = make_package(tmp_path / "pkgs", "stopped", "1.0", build)
        assert cipub("upload", str(package), cwd=tmp_path).code == 0
    return tmp_path


def interrupt_on_the_second_removal(monkeypatch: pytest.MonkeyPatch) -> None:
    real = LocalChannel.remove_label
    calls = []

    def remove_label(self: LocalChannel, *args: Any, **kwargs: Any) -> None:
        calls.append(args)
        if len(calls) == 2:
            raise KeyboardInterrupt
        real(self, *args, **kwargs)

    monkeypatch.setattr(LocalChannel, "remove_label", remove_label)


def records(project: Path, command: str) -> list[dict[str, Any]]:
    ledger = project / "output" / "cipub-ledger"
    return [json.loads(p.read_text()) for p in sorted(ledger.glob(f"*-{command}-*.json"))]


@pytest.mark.parametrize(
    ("command", "state"),
    [(("prune", "--superseded", "--yes"), "pruned"), (("yank", "stopped=1.0", "--remove-from", "test"), "yanked")],
)
def test_a_stopped_label_run_records_the_files_it_did(
    cipub: Cipub, project: Path, monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...], state: str
) -> None:
    interrupt_on_the_second_removal(monkeypatch)
    result = cipub(*command, cwd=project)
    assert result.code == 130, result.out + result.err
    [record] = records(project, command[0])
    assert record["outcome"] == "failed" and record["error"].startswith("interrupted by SIGINT after 1 file(s)")
    assert [a["state"] for a in record["actions"]] == [state]
    gone = record["actions"][0]["filename"]
    assert not (project / ".cipub" / "channel" / "label" / "test" / "noarch" / gone).exists()


def test_a_refused_yank_records_nothing(cipub: Cipub, project: Path) -> None:
    result = cipub("yank", "stopped=1.0", "--remove-from", "test", "--broken-label", "test", cwd=project)
    assert result.code == 2, result.err
    assert records(project, "yank") == []
