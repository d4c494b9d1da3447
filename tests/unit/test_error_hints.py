"""Every error ends with a `cipub: hint:` line (README), and the hint fits the command: a read-only
command's network failure does not speak of finished files being skipped."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CliResult
from tests.support.packages import make_package

Cli = Callable[..., CliResult]


def _hint(result: CliResult) -> str:
    lines = [line for line in result.err.splitlines() if line.startswith("cipub: hint: ")]
    assert len(lines) == 1, result.err
    return lines[0]


@pytest.mark.parametrize(
    "args",
    [["prune"], ["yank"], ["yank", "--remove-from", "broken"]],
)
def test_usage_errors_of_release_commands_have_a_hint(cipub: Cli, tmp_path: Path, args: list[str]) -> None:
    result = cipub(*args, cwd=tmp_path)
    assert result.code == 2, result.err
    assert _hint(result)


def test_promote_to_the_label_it_comes_from_has_a_hint(cipub: Cli, tmp_path: Path) -> None:
    package = make_package(tmp_path / "pkgs", "demo")
    channel = str(tmp_path / "ch")
    assert cipub("upload", str(package), "--target", channel, cwd=tmp_path).code == 0
    result = cipub("promote", "--target", channel, "--from", "test", "--to", "test", cwd=tmp_path)
    assert result.code == 2 and "are both 'test'" in result.err, result.err
    assert "--to main" in _hint(result)


def test_a_file_that_appeared_meanwhile_has_a_hint(cipub: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = make_package(tmp_path / "pkgs", "demo")

    def raced(src: object, dst: object, *args: object, **kwargs: object) -> None:
        raise FileExistsError(17, "File exists", str(dst))

    monkeypatch.setattr(os, "link", raced)  # another run links the same name first
    result = cipub("upload", str(package), "--target", str(tmp_path / "ch"), cwd=tmp_path)
    assert result.code == 6 and "appeared meanwhile" in result.err, result.err
    assert "re-run the same command" in _hint(result)


@pytest.mark.parametrize("command", ["plan", "status"])
def test_a_read_only_commands_network_failure_does_not_speak_of_skipped_files(
    cipub: Cli, tmp_path: Path, command: str
) -> None:
    recipe = tmp_path / "recipe"
    recipe.mkdir()
    (recipe / "recipe.yaml").write_text(
        'package:\n  name: fast\n  version: "2.0"\nbuild:\n  noarch: generic\n  script: echo hi\n'
    )
    args = ["plan", "recipe"] if command == "plan" else ["status", "fast"]
    result = cipub(*args, "--target", "quetz+http://127.0.0.1:9/chan", cwd=tmp_path, env={"CIPUB_RETRIES": "0"})
    assert result.code == 7, result.err
    hint = _hint(result)
    assert "skipped" not in hint and "re-run later" in hint, hint


def test_an_error_raised_without_a_hint_still_ends_with_its_kinds_next_step(capsys: pytest.CaptureFixture[str]) -> None:
    """145 raise sites give no hint of their own; each kind's default is said for them, and a raise
    site's own hint wins over it."""
    from cipub.cli import report_error
    from cipub.core import errors

    kinds = [cls for _, (cls, _) in sorted(errors.EXIT_CODES.items()) if cls is not None]
    assert len(kinds) == 9
    for cls in kinds:
        report_error(cls("something failed"))
        err = capsys.readouterr().err.splitlines()
        assert err[0] == "cipub: error: something failed"
        assert err[1].startswith("cipub: hint: ") and len(err[1]) > len("cipub: hint: ") + 20, (cls, err)
    report_error(errors.ConflictError("x", hint="its own"))
    assert capsys.readouterr().err.splitlines()[1] == "cipub: hint: its own"
