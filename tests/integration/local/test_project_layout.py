"""Issue 11 items 6 and 7, end to end with real rattler-build builds and real cipub processes:
the project is found from any subdirectory, and builds never write into Python's ``dist/``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.integration.local.test_local_loop import run

pytestmark = pytest.mark.integration
TEMPLATE = REPO / "recipes-template" / "v1-noarch-generic"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / ".git").mkdir(parents=True)  # the repository root ends the search for a config
    shutil.copytree(TEMPLATE, root / "conda" / "recipe")
    (root / "pyproject.toml").write_text(
        '[project]\nname = "proj"\nversion = "0.1"\n\n'
        '[tool.cipub]\nrecipe = "conda/recipe"\ntarget = "./channels/proj"\nlabel = "staging"\n'
    )
    (root / "src" / "proj").mkdir(parents=True)
    return root


def test_build_and_promote_from_a_subdirectory_use_the_project_config(project: Path) -> None:
    sub = project / "src" / "proj"
    built = json.loads(run("build", "--json", cwd=sub).stdout)
    assert [(u["state"], u["label"]) for u in built["uploads"]] == [("uploaded", "staging")]
    channel = project / "channels" / "proj"
    filename = built["artifacts"][0]["filename"]
    assert (channel / "label" / "staging" / "noarch" / filename).is_file()
    assert (project / "output" / "cipub-manifest.json").is_file()

    promoted = json.loads(run("promote", "--from", "staging", "--json", cwd=sub).stdout)
    assert [p["state"] for p in promoted["promotions"]] == ["promoted"]
    assert (channel / "noarch" / filename).is_file()
    # nothing landed in the subdirectory: no local channel, no output, no manifest there
    assert sorted(p.name for p in sub.iterdir()) == []


def test_a_default_build_leaves_python_s_dist_alone(project: Path) -> None:
    (project / "dist").mkdir()
    wheel = project / "dist" / "proj-0.1-py3-none-any.whl"
    wheel.write_bytes(b"a wheel twine would upload")
    run("build", "--no-upload", cwd=project)
    assert sorted(p.name for p in (project / "dist").iterdir()) == [wheel.name]  # twine upload dist/* still works
    assert (project / "output" / "cipub-manifest.json").is_file()
    assert list((project / "output" / "noarch").glob("hello-cipub-data-*.conda"))


def test_a_default_build_creates_no_dist(tmp_path: Path) -> None:
    shutil.copytree(TEMPLATE, tmp_path / "recipe")
    run("build", "recipe", cwd=tmp_path)
    assert not (tmp_path / "dist").exists()
    assert (tmp_path / "output" / "cipub-manifest.json").is_file()


def test_both_config_files_is_a_conflict_reported_with_exit_2(project: Path) -> None:
    (project / "cipub.toml").write_text('label = "other"\n')
    result = run("build", "--no-upload", cwd=project / "src", check=False)
    assert result.returncode == 2, result.stderr
    assert "cipub.toml and [tool.cipub] in pyproject.toml" in result.stderr
    assert "Traceback" not in result.stderr
