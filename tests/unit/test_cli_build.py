from __future__ import annotations

import shutil
from pathlib import Path

from tests.conftest import REPO


def test_refuses_paths_that_rattler_build_would_run_as_shell(cipub, tmp_path: Path) -> None:
    hostile = tmp_path / "rec$(touch pwned)"
    shutil.copytree(REPO / "recipes-template" / "v1-noarch-generic", hostile)
    result = cipub("build", str(hostile), "--no-upload", cwd=tmp_path)
    assert result.code == 2
    assert "contains $" in result.err
    assert not (tmp_path / "pwned").exists()
    result = cipub("build", str(REPO / "recipes-template" / "v1-noarch-generic"), "-o", "out`x`", cwd=tmp_path)
    assert result.code == 2
    assert not (tmp_path / "out`x`").exists()


def test_contradicting_build_number_flags(cipub, tmp_path: Path) -> None:
    result = cipub("build", "recipe", "--build-number", "3", "--no-bump", cwd=tmp_path)
    assert result.code == 2
    assert "contradict" in result.err


def test_dry_run_builds_nothing_and_prints_a_valid_document(cipub, tmp_path: Path) -> None:
    import json

    import jsonschema

    from cipub.core.manifest import schema

    recipe = REPO / "recipes-template" / "v1-noarch-generic"
    result = cipub("build", str(recipe), "--dry-run", "--json", cwd=tmp_path)
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    jsonschema.validate(doc, schema())
    assert doc["artifacts"] == []
    assert doc["build_numbers"][0]["chosen"] == 0
    assert "would build" in result.err
    assert not (tmp_path / "output").exists()
    assert not (tmp_path / ".cipub").exists()


def test_dry_run_shows_no_query_or_fragment_of_a_dependency_channel(cipub, tmp_path: Path) -> None:
    recipe = REPO / "recipes-template" / "v1-noarch-generic"
    channels = ["-c", "https://conda.example.com/ch?auth=SEK6", "-c", "https://c.example/x#SEK7", "-c", "conda-forge"]
    result = cipub("build", str(recipe), "--dry-run", "--no-upload", *channels, cwd=tmp_path)
    assert result.code == 0, result.err
    shown = result.out + result.err
    assert "SEK6" not in shown and "SEK7" not in shown, shown
    assert "https://conda.example.com/ch?***, https://c.example/x#***, conda-forge" in shown, shown


def test_an_unknown_engine_is_refused_before_the_earlier_manifest_moves(cipub, tmp_path: Path) -> None:
    earlier = tmp_path / "output" / "cipub-manifest.json"
    earlier.parent.mkdir()
    earlier.write_text('{"earlier": true}\n')
    recipe = REPO / "recipes-template" / "v1-noarch-generic"
    result = cipub("build", "--engine", "nope", str(recipe), cwd=tmp_path)
    assert result.code == 2 and "unknown build engine" in result.err, result.err
    assert "moved" not in result.out + result.err
    assert earlier.read_text() == '{"earlier": true}\n'
    assert not (tmp_path / "output" / "cipub-manifest.previous.json").exists()


def test_a_usage_error_found_in_the_recipe_keeps_the_earlier_manifest(cipub, tmp_path: Path) -> None:
    earlier = tmp_path / "output" / "cipub-manifest.json"
    earlier.parent.mkdir()
    earlier.write_text('{"earlier": true}\n')
    recipe = REPO / "recipes-template" / "v1-noarch-generic"
    result = cipub("build", str(recipe), "--only", "no-such-cell", cwd=tmp_path)
    assert result.code == 2, result.err
    assert "moved" not in result.out + result.err and earlier.is_file()
    # a recipe that cannot be read is a failed build: the earlier manifest moves aside (README)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "recipe.yaml").write_text("package: [unclosed\n")
    failed = cipub("build", str(broken), cwd=tmp_path)
    assert failed.code == 3, failed.err
    assert not earlier.exists() and (tmp_path / "output" / "cipub-manifest.previous.json").is_file()


def test_a_dependency_channels_query_is_scrubbed_from_every_line(cipub, tmp_path: Path) -> None:
    """The engine's log and error messages go through scrub: a -c URL's ?auth=... or #... that
    rattler-build or py-rattler prints back must show as *** there too."""
    from cipub.core.secrets import scrub

    recipe = REPO / "recipes-template" / "v1-noarch-generic"
    url = "https://conda.example.com/ch?auth=SEKRET66#fragment-SEKRET77"
    result = cipub("build", str(recipe), "--dry-run", "--no-upload", "-c", url, cwd=tmp_path)
    assert result.code == 0, result.err
    line = scrub(f"Fetching repodata from {url}/noarch/repodata.json failed")
    assert "SEKRET66" not in line and "SEKRET77" not in line, line
    assert line.startswith("Fetching repodata from https://conda.example.com/ch?***#***"), line
