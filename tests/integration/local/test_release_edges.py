"""Edges of status, prune and yank found by cold reviews: a status of a path that does not exist
is a usage error; ``prune --older-than 0`` keeps the newest build of each variant unless
``--include-newest`` asks. Real rattler-build builds, the zero-config local channel, the real CLI
in-process."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import CliResult
from tests.integration.local.test_ledger import Cipub, as_json, ok, recipe

pytestmark = pytest.mark.integration


def staged_files(project: Path) -> list[str]:
    return sorted(p.name for p in (project / ".cipub" / "channel" / "label" / "test" / "noarch").glob("*.conda"))


@pytest.mark.parametrize("missing", ["./no-such-recipe/", "no-such-manifest.json", "gone/recipe.yaml"])
def test_status_of_a_missing_path_is_a_usage_error(cipub: Cipub, tmp_path: Path, missing: str) -> None:
    result: CliResult = cipub("status", missing, cwd=tmp_path)
    assert result.code == 2, result.out + result.err
    assert f"{missing}: no such recipe or manifest" in result.err


def test_prune_older_than_zero_keeps_the_newest_build(cipub: Cipub, tmp_path: Path) -> None:
    path = recipe(tmp_path, "prune-edge")
    ok(cipub("build", str(path), cwd=tmp_path))
    ok(cipub("build", str(path), cwd=tmp_path))  # build 1: the channel has build 0
    assert staged_files(tmp_path) == ["prune-edge-0.1.0-h4616a5c_0.conda", "prune-edge-0.1.0-h4616a5c_1.conda"]

    doc = as_json(cipub("prune", "--older-than", "0", "--yes", "--json", cwd=tmp_path))
    assert [(a["filename"], a["state"]) for a in doc["actions"]] == [("prune-edge-0.1.0-h4616a5c_0.conda", "pruned")]
    assert "keep         noarch/prune-edge-0.1.0-h4616a5c_1.conda from test: newest build of its variant" in (
        cipub("prune", "--older-than", "0", cwd=tmp_path).out
    )
    assert staged_files(tmp_path) == ["prune-edge-0.1.0-h4616a5c_1.conda"]

    dry = as_json(cipub("prune", "--older-than", "0", "--include-newest", "--json", cwd=tmp_path))
    assert [(a["filename"], a["state"]) for a in dry["actions"]] == [("prune-edge-0.1.0-h4616a5c_1.conda", "planned")]
    assert staged_files(tmp_path) == ["prune-edge-0.1.0-h4616a5c_1.conda"], "the dry run removed a file"
    ok(cipub("prune", "--older-than", "0", "--include-newest", "--yes", cwd=tmp_path))
    assert staged_files(tmp_path) == []
