"""Edges of status, prune and yank found by cold reviews: a status of a path that does not exist
is a usage error. The real CLI in-process."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import CliResult
from tests.integration.local.test_ledger import Cipub

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("missing", ["./no-such-recipe/", "no-such-manifest.json", "gone/recipe.yaml"])
def test_status_of_a_missing_path_is_a_usage_error(cipub: Cipub, tmp_path: Path, missing: str) -> None:
    result: CliResult = cipub("status", missing, cwd=tmp_path)
    assert result.code == 2, result.out + result.err
    assert f"{missing}: no such recipe or manifest" in result.err
