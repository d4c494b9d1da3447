"""Issue 13 item 1: the ledger. Real rattler-build builds of two small recipes, the zero-config
local channel, the real CLI in-process; the channel's own repodata is the truth."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from cipub.core.ledger import schema as record_schema
from cipub.core.manifest import validate as validate_manifest
from cipub.core.options import DEFAULT_OUTPUT_DIR
from tests.conftest import REPO, CliResult

pytestmark = pytest.mark.integration
TEMPLATE = REPO / "recipes-template" / "v1-noarch-generic" / "recipe.yaml"
Cipub = Callable[..., CliResult]


def recipe(project: Path, name: str, payload: str = "hello") -> Path:
    text = TEMPLATE.read_text().replace("name: hello-cipub-data", f"name: {name}")
    text = text.replace('echo "hello from', f'echo "{payload} from')
    (project / name).mkdir(parents=True, exist_ok=True)
    (project / name / "recipe.yaml").write_text(text)
    return project / name


def main_repodata(project: Path) -> dict[str, Any]:
    path = project / ".cipub" / "channel" / "noarch" / "repodata.json"
    if not path.is_file():
        return {}
    packages: dict[str, Any] = json.loads(path.read_text())["packages.conda"]
    return packages


def ok(result: CliResult) -> str:
    assert result.code == 0, f"exit {result.code}\n{result.out}\n{result.err}"
    return result.out + result.err


def as_json(result: CliResult) -> dict[str, Any]:
    ok(result)
    doc: dict[str, Any] = json.loads(result.out)
    return doc


def ledger_records(project: Path) -> list[dict[str, Any]]:
    """The records, read from where the output-dir setting's default puts the ledger."""
    from cipub.core.ledger import ledger_dir
    from cipub.core.options import DEFAULT_OUTPUT_DIR

    folder = project / ledger_dir(DEFAULT_OUTPUT_DIR)
    records = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
    for r in records:
        jsonschema.validate(r, record_schema())
        validate_manifest(r["manifest"])
    return records


def test_build_a_build_b_promote_promotes_both(cipub: Cipub, tmp_path: Path) -> None:
    a, b = recipe(tmp_path, "ledger-a"), recipe(tmp_path, "ledger-b")
    ok(cipub("build", str(a), cwd=tmp_path))
    ok(cipub("build", str(b), cwd=tmp_path))
    # the manifest file holds only B now; the ledger holds both
    only_b = json.loads((tmp_path / DEFAULT_OUTPUT_DIR / "cipub-manifest.json").read_text())
    assert [x["name"] for x in only_b["artifacts"]] == ["ledger-b"]

    dry = ok(cipub("promote", "--dry-run", cwd=tmp_path))
    assert "acting on 2 file(s) staged by 2 runs" in dry and "not only the last build's" in dry
    assert main_repodata(tmp_path) == {}, "--dry-run changed the channel"

    doc = as_json(cipub("promote", "--json", cwd=tmp_path))
    assert sorted(p["state"] for p in doc["promotions"]) == ["promoted", "promoted"]
    assert sorted(r["name"] for r in main_repodata(tmp_path).values()) == ["ledger-a", "ledger-b"]

    # again: the last promotion, re-verified, nothing changes
    again = cipub("promote", "--json", cwd=tmp_path)
    assert [p["state"] for p in json.loads(again.out)["promotions"]] == ["already-promoted"] * 2
    assert "acting on the last promotion's 2 file(s) again" in again.err
    commands = [r["command"] for r in ledger_records(tmp_path)]
    assert commands == ["build", "upload", "build", "upload", "promote", "promote"]


def test_failed_rebuild_leaves_a_promotable(cipub: Cipub, tmp_path: Path) -> None:
    a = recipe(tmp_path, "ledger-a")
    first = as_json(cipub("build", str(a), "--json", cwd=tmp_path))
    [built] = first["artifacts"]
    recipe(tmp_path, "ledger-a", payload="changed")  # other bytes, same build number with --no-bump
    failed = cipub("build", str(a), "--no-bump", cwd=tmp_path)
    assert failed.code == 6, failed.err
    assert "drop --no-bump" in failed.err and "cipub promote" in failed.err

    dry = ok(cipub("promote", "--dry-run", cwd=tmp_path))
    assert "its upload failed" in dry
    result = cipub("promote", "--json", cwd=tmp_path)
    doc = json.loads(result.out)
    assert [(p["filename"], p["sha256"], p["state"]) for p in doc["promotions"]] == [
        (built["filename"], built["sha256"], "promoted")
    ]
    assert main_repodata(tmp_path)[built["filename"]]["sha256"] == built["sha256"]
    assert [r["outcome"] for r in ledger_records(tmp_path)] == ["ok", "ok", "ok", "failed", "ok"]


def test_newest_build_of_a_variant_and_named_recipes(cipub: Cipub, tmp_path: Path) -> None:
    a, b = recipe(tmp_path, "ledger-a"), recipe(tmp_path, "ledger-b")
    ok(cipub("build", str(a), cwd=tmp_path))
    ok(cipub("build", str(a), cwd=tmp_path))  # build number 1, both staged
    ok(cipub("build", str(b), cwd=tmp_path))
    result = cipub("promote", str(a), "--json", cwd=tmp_path)
    doc = json.loads(result.out)
    assert [p["filename"].rsplit("_", 1)[1] for p in doc["promotions"]] == ["1.conda"]
    assert "superseded by build 1" in result.err
    assert "1 staged file(s) not named" in result.err
    assert sorted(main_repodata(tmp_path)) == [doc["promotions"][0]["filename"]]


def test_nothing_staged_refuses_with_exit_2(cipub: Cipub, tmp_path: Path) -> None:
    result = cipub("promote", cwd=tmp_path)
    assert result.code == 2
    assert "records nothing staged" in result.err and "cipub build" in result.err


def test_status_json_validates_and_tells_staged_promoted_only_in_ledger(cipub: Cipub, tmp_path: Path) -> None:
    from importlib import resources

    status_schema = json.loads(resources.files("cipub").joinpath("schemas/status-1.schema.json").read_text())
    a, b = recipe(tmp_path, "ledger-a"), recipe(tmp_path, "ledger-b")
    ok(cipub("build", str(a), cwd=tmp_path))
    ok(cipub("promote", cwd=tmp_path))
    ok(cipub("build", str(a), cwd=tmp_path))  # build 1: staged, not promoted
    ok(cipub("build", str(b), "--no-upload", cwd=tmp_path))  # only in the ledger
    doc = as_json(cipub("status", "--json", cwd=tmp_path))
    jsonschema.validate(doc, status_schema)
    by_file = {f["filename"]: (f["status"], sorted(f["labels"]), f["ledger"]) for f in doc["files"]}
    assert by_file == {
        "ledger-a-0.1.0-h4616a5c_0.conda": ("promoted", ["main", "test"], ["built", "staged", "promoted"]),
        "ledger-a-0.1.0-h4616a5c_1.conda": ("staged", ["test"], ["built", "staged"]),
        "ledger-b-0.1.0-h4616a5c_0.conda": ("only-in-ledger", [], ["built"]),
    }
    assert doc["summary"] == {"promoted": 1, "staged": 1, "only-in-ledger": 1}
    # by recipe, by manifest, by name: the same rows for that package
    for selector in (str(a), "ledger-a"):
        named = as_json(cipub("status", selector, "--json", cwd=tmp_path))
        assert [f["name"] for f in named["files"]] == ["ledger-a", "ledger-a"]
    by_manifest = as_json(cipub("status", f"{DEFAULT_OUTPUT_DIR}/cipub-manifest.json", "--json", cwd=tmp_path))
    assert [f["name"] for f in by_manifest["files"]] == ["ledger-b"]
