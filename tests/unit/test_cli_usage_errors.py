"""Issue 18: a bad option or argument that click catches is said like every other usage error, in
cipub's own two lines (``cipub: error:`` then ``cipub: hint:``) with exit 2, naming the command whose
help lists the options; click's ``Usage:``/``Try``/``Error:`` block is gone."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CliResult

Cli = Callable[..., CliResult]


@pytest.mark.parametrize(
    ("args", "error", "hint"),
    [
        (["upload", "--bogus"], "No such option: --bogus", "'cipub upload -h' shows its options"),
        (["promote", "--from"], "Option '--from' requires an argument.", "'cipub promote -h' shows its options"),
        (["status", "--json=3"], "Option '--json' does not take a value.", "'cipub status -h' shows its options"),
        (["prune", "--older-than", "abc"], "Invalid value for '--older-than'", "'cipub prune -h' shows its options"),
        (["ci", "init", "bogus"], "'bogus' is not one of 'github', 'gitlab'", "'cipub ci init -h' shows its options"),
        (["no-such-command"], "No such command 'no-such-command'", "'cipub -h' lists the commands"),
        (["--bogus"], "No such option: --bogus", "'cipub -h' shows its options"),
        (["upload", "--dry"], "No such option: --dry (Possible options: --dry-run)", "'cipub upload -h'"),
        (["--colr", "never", "status"], "No such option: --colr (Possible options: --color)", "'cipub status -h'"),
        (["--color", "blue", "status"], "--color 'blue': expected one of auto, always, never", "--color auto, always"),
        (["status", "--color", "blue"], "--color 'blue': expected one of auto, always, never", "--color auto, always"),
    ],
)
def test_click_usage_errors_speak_cipubs_format(
    cipub: Cli, tmp_path: Path, args: list[str], error: str, hint: str
) -> None:
    result = cipub(*args, cwd=tmp_path)
    assert result.code == 2, result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 2, result.err
    assert lines[0].startswith("cipub: error: ") and error in lines[0], result.err
    assert lines[1].startswith("cipub: hint: ") and hint in lines[1], result.err
    assert "Usage:" not in result.err and "Try '" not in result.err and "Traceback" not in result.err


@pytest.mark.parametrize("args", [["--bogus"], ["upload", "--bogus"], ["status", "--x"]])
def test_an_unknown_option_gets_no_suggestion_that_only_shares_the_dashes(
    cipub: Cli, tmp_path: Path, args: list[str]
) -> None:
    """click compared whole flags, so ``--bogus`` was 'close' to ``--verbose``: no suggestion now."""
    result = cipub(*args, cwd=tmp_path)
    assert result.code == 2, result.err
    assert "Possible option" not in result.err, result.err


@pytest.mark.parametrize(("args", "command"), [(("ci",), "cipub ci"), ((), "cipub"), (("--debug", "ci"), "cipub ci")])
def test_a_group_without_a_command_shows_its_help_and_says_what_is_missing(
    cipub: Cli, tmp_path: Path, args: tuple[str, ...], command: str
) -> None:
    result = cipub(*args, cwd=tmp_path)
    assert result.code == 2, result.err
    assert f"Usage: {command} " in result.err and "Commands:" in result.err
    # then cipub's own two lines, last, as for a missing argument (`cipub ci init`)
    error, hint = result.err.rstrip("\n").splitlines()[-2:]
    assert error.startswith("cipub: error: Missing command (one of "), error
    if command == "cipub ci":
        assert "init, report-plan, gitlab-pipeline, verify" in error
    assert hint == f"cipub: hint: '{command} COMMAND -h' shows a command's options"
    assert "Traceback" not in result.err


def test_uploading_a_file_that_does_not_exist_is_a_usage_error(cipub: Cli, tmp_path: Path) -> None:
    """A mistyped path is exit 2 (usage), not 9: there is no package to call damaged."""
    result = cipub("upload", str(tmp_path / "nope-1.0-0.conda"), "--target", str(tmp_path / "chan"))
    assert result.code == 2, result.err
    assert "no such package file" in result.err and "hint:" in result.err
    assert not (tmp_path / "chan").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["upload", "x.conda", "--api-url", "https://anaconda.org:SEKport/owner", "--target", "https://anaconda.org/o"],
        ["upload", "x.conda", "--target", "https://anaconda.org:SEKport/owner"],  # was silently dropped
        ["upload", "x.conda", "--target", "https://user@anaconda.org:SEKport/owner"],
        ["upload", "x.conda", "--target", "quetz+https://q.example:99999/chan"],
        ["plan", "recipe", "-c", "https://conda.example.com:SEKport/ch"],
        ["promote", "--target", "./ch", "--to-target", "quetz+https://q.example:SEKport/chan"],
        ["upload", "x.conda", "--attest-channel-url", "https://c.example:SEKport/x"],
    ],
)
def test_an_invalid_port_in_a_url_option_is_a_usage_error_that_hides_it(
    cipub: Cli, tmp_path: Path, args: list[str]
) -> None:
    result = cipub(*args, cwd=tmp_path)
    assert result.code == 2, result.err
    assert "has an invalid port" in result.err and "cipub: hint:" in result.err, result.err
    assert "SEKport" not in result.err + result.out and "99999" not in result.err, result.err
    assert "internal error" not in result.err


def test_a_missing_choice_argument_is_cipubs_two_lines() -> None:
    """click lists a choice argument's values on lines of their own, and cipub printed click's raw
    usage block for it (`cipub ci init` without github|gitlab): one error line and a hint now."""
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "cipub", "ci", "init", "--target", "x"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "cipub: error: Missing argument 'github|gitlab'. Choose from: github, gitlab",
        "cipub: hint: 'cipub ci init -h' shows its options and arguments",
    ], proc.stderr
