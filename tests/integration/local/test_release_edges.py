"""Edges of status, prune and yank found by cold reviews: a status of a path that does not exist
is a usage error; ``prune --older-than 0`` keeps the newest build of each variant unless
``--include-newest`` asks. Real rattler-build builds, the zero-config local channel, the real CLI
in-process. ``prune --json`` / ``yank --json`` print a versioned document with the plan (kept
files and why) that validates against its shipped schema."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.conftest import CliResult
from tests.integration.local.test_ledger import Cipub, as_json, ok, recipe

pytestmark = pytest.mark.integration


def label_run_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(
        resources.files("cipub").joinpath("schemas/label-run-1.schema.json").read_text(encoding="utf-8")
    )
    return schema


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
    jsonschema.validate(doc, label_run_schema())
    assert (doc["kind"], doc["dry_run"], doc["labels"]) == ("cipub-prune", False, {"staging": "test"})
    plan = {p["filename"]: (p["action"], p["reason"]) for p in doc["plan"]}
    assert plan["prune-edge-0.1.0-h4616a5c_0.conda"][0] == "remove"
    assert plan["prune-edge-0.1.0-h4616a5c_1.conda"][0] == "keep"
    assert [(a["filename"], a["state"]) for a in doc["actions"]] == [("prune-edge-0.1.0-h4616a5c_0.conda", "pruned")]
    assert "keep         noarch/prune-edge-0.1.0-h4616a5c_1.conda from test: newest build of its variant" in (
        cipub("prune", "--older-than", "0", cwd=tmp_path).out
    )
    assert staged_files(tmp_path) == ["prune-edge-0.1.0-h4616a5c_1.conda"]

    dry = as_json(cipub("prune", "--older-than", "0", "--include-newest", "--json", cwd=tmp_path))
    jsonschema.validate(dry, label_run_schema())
    assert dry["dry_run"] is True
    assert [(a["filename"], a["state"]) for a in dry["actions"]] == [("prune-edge-0.1.0-h4616a5c_1.conda", "planned")]
    assert staged_files(tmp_path) == ["prune-edge-0.1.0-h4616a5c_1.conda"], "the dry run removed a file"
    ok(cipub("prune", "--older-than", "0", "--include-newest", "--yes", cwd=tmp_path))
    assert staged_files(tmp_path) == []


def test_yank_json_has_the_plan_and_validates(cipub: Cipub, tmp_path: Path) -> None:
    ok(cipub("build", str(recipe(tmp_path, "yank-edge")), cwd=tmp_path))
    ok(cipub("promote", cwd=tmp_path))
    dry = as_json(cipub("yank", "yank-edge=0.1.0", "--dry-run", "--json", cwd=tmp_path))
    jsonschema.validate(dry, label_run_schema())
    assert (dry["kind"], dry["dry_run"]) == ("cipub-yank", True)
    assert dry["labels"] == {"remove_from": "main", "broken": "broken"}
    assert [(p["filename"], p["action"]) for p in dry["plan"]] == [("yank-edge-0.1.0-h4616a5c_0.conda", "yank")]
    done = as_json(cipub("yank", "yank-edge=0.1.0", "--json", cwd=tmp_path))
    jsonschema.validate(done, label_run_schema())
    assert done["summary"] == {"yanked": 1}
    again = as_json(cipub("yank", "yank-edge=0.1.0", "--json", cwd=tmp_path))
    assert [p["action"] for p in again["plan"]] == ["already-yanked"]
    assert again["summary"] == {"already-yanked": 1}
