"""Each failure class owns its exit code, and the README's table says the same."""

from __future__ import annotations

import re

import pytest

from cipub.core import errors
from cipub.core.errors import EXIT_CODES, CipubError
from tests.conftest import REPO


@pytest.mark.parametrize(
    ("cls", "code"),
    [
        (errors.UsageError, 2),
        (errors.RecipeError, 3),
        (errors.BuildFailedError, 4),
        (errors.AuthError, 5),
        (errors.ConflictError, 6),
        (errors.NetworkError, 7),
        (errors.VerificationError, 8),
        (errors.InvalidPackageError, 9),
        (errors.StorageError, 10),
    ],
)
def test_class_maps_to_code(cls: type[CipubError], code: int) -> None:
    assert cls.exit_code == code
    assert EXIT_CODES[code][0] is cls


def test_codes_are_distinct() -> None:
    classes = [c for c, _ in EXIT_CODES.values() if c is not None]
    assert len({c.exit_code for c in classes}) == len(classes)


def test_readme_table_matches() -> None:
    text = (REPO / "README.md").read_text()
    rows = dict(re.findall(r"^\|\s*(\d+)\s*\|\s*`?(\w[\w-]*)`?\s*\|", text, re.M))
    for code, (cls, _meaning) in EXIT_CODES.items():
        assert str(code) in rows, f"exit code {code} missing from the README table"
        if cls is not None:
            assert rows[str(code)] == cls.kind


def test_cli_maps_error_to_code_without_traceback(cipub, tmp_path) -> None:
    result = cipub("promote", "--manifest", str(tmp_path / "missing.json"), cwd=tmp_path)
    assert result.code == 2
    assert "does not exist" in result.err
    assert "Traceback" not in result.err + result.out
