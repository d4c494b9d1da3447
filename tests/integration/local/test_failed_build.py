"""A failed ``cipub build`` must not leave the earlier build's manifest where ``cipub upload`` and
``cipub promote --manifest`` look: they would publish the earlier build as this one's."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.integration.local.test_local_loop import TEMPLATE, run

pytestmark = pytest.mark.integration


def test_upload_after_a_failed_build_refuses_and_keeps_the_earlier_build(tmp_path: Path) -> None:
    recipe = tmp_path / "recipe"
    shutil.copytree(TEMPLATE, recipe)
    run("build", "recipe", "--no-upload", cwd=tmp_path)
    earlier = json.loads((tmp_path / "output" / "cipub-manifest.json").read_text())
    text = (recipe / "recipe.yaml").read_text()
    (recipe / "recipe.yaml").write_text(
        text.replace('version: "0.1.0"', 'version: "0.2.0"').replace("  script:\n", "  script:\n    - exit 1\n")
    )

    failed = run("build", "recipe", "--no-upload", cwd=tmp_path, check=False)
    assert failed.returncode == 4, failed.stderr

    for command in (("upload",), ("promote", "--manifest", "output/cipub-manifest.json")):
        refused = run(*command, cwd=tmp_path, check=False)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert "did not finish" in refused.stderr
        assert "Traceback" not in refused.stderr
    assert not (tmp_path / ".cipub" / "channel").exists()  # nothing was published

    # nothing built is lost: the earlier manifest is kept, and publishes when asked for by name
    kept = tmp_path / "output" / "cipub-manifest.previous.json"
    assert json.loads(kept.read_text())["artifacts"] == earlier["artifacts"]
    uploaded = json.loads(run("upload", "--manifest", str(kept), "--json", cwd=tmp_path).stdout)
    assert [(u["filename"], u["state"]) for u in uploaded["uploads"]] == [
        ("hello-cipub-data-0.1.0-h4616a5c_0.conda", "uploaded")
    ]


def test_a_missing_plan_is_refused_before_the_earlier_manifest_moves(tmp_path: Path) -> None:
    shutil.copytree(TEMPLATE, tmp_path / "recipe")
    run("build", "recipe", "--no-upload", cwd=tmp_path)
    refused = run("build", "recipe", "--plan", "nope.json", cwd=tmp_path, check=False)
    assert refused.returncode == 2 and "plan nope.json does not exist" in refused.stderr
    assert "moved" not in refused.stderr + refused.stdout
    assert (tmp_path / "output" / "cipub-manifest.json").is_file()
    assert not (tmp_path / "output" / "cipub-manifest.previous.json").exists()
