"""-c/--channel is where a real rattler-build build solves its dependencies from (offline: a local
channel holding a package that exists nowhere else), and never a place cipub publishes to."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.support.packages import make_package

pytestmark = pytest.mark.integration

NEEDS_DEP = """\
package: {name: needs-dep, version: "1.0"}
build:
  number: 0
  noarch: generic
  script:
    - test -f $PREFIX/share/cipub-dep-only-here/payload.txt
    - mkdir -p $PREFIX/share/needs-dep && echo ok > $PREFIX/share/needs-dep/ok.txt
requirements:
  host:
    - cipub-dep-only-here
  run:
    - cipub-dep-only-here
"""


@pytest.fixture
def dependency_channel(tmp_path: Path) -> Path:
    """A conda channel with one package no public channel has."""
    from rattler import Subdir
    from rattler.index import index_fs

    root = tmp_path / "deps"
    (root / "noarch").mkdir(parents=True)
    package = make_package(tmp_path / "made", "cipub-dep-only-here", "2.5", 0)
    shutil.copy(package, root / "noarch" / package.name)
    asyncio.run(index_fs(root, target_platform=Subdir("noarch"), write_zst=False, write_shards=False))
    return root


def test_the_build_solves_from_the_named_channel(cipub: Any, tmp_path: Path, dependency_channel: Path) -> None:
    (tmp_path / "recipe").mkdir()
    (tmp_path / "recipe" / "recipe.yaml").write_text(NEEDS_DEP)
    result = cipub("build", "recipe", "-c", dependency_channel.as_uri(), "--no-upload", "--json", cwd=tmp_path)
    assert result.code == 0, result.err
    [artifact] = json.loads(result.out)["artifacts"]
    from cipub.core.artifact import read_artifact

    built = read_artifact(tmp_path / "output" / artifact["subdir"] / artifact["filename"])
    assert any(d.startswith("cipub-dep-only-here") for d in built.index["depends"])


def test_without_the_channel_the_dependency_is_not_found(cipub: Any, tmp_path: Path, dependency_channel: Path) -> None:
    (tmp_path / "recipe").mkdir()
    (tmp_path / "recipe" / "recipe.yaml").write_text(NEEDS_DEP)
    result = cipub("build", "recipe", "-c", (tmp_path / "empty").as_uri(), "--no-upload", cwd=tmp_path)
    assert result.code == 4, result.err
    assert not list((tmp_path / "output").glob("*/needs-dep-*"))


@pytest.mark.parametrize("upload", [False, True], ids=["no-upload", "upload"])
def test_dash_c_conda_forge_creates_no_conda_forge_directory(cipub: Any, tmp_path: Path, upload: bool) -> None:
    shutil.copytree(REPO / "recipes-template" / "v1-noarch-generic", tmp_path / "recipe")
    args = ["build", "recipe", "-c", "conda-forge", *([] if upload else ["--no-upload"])]
    result = cipub(*args, cwd=tmp_path)
    assert result.code == 0, result.err
    assert not (tmp_path / "conda-forge").exists()
    published = list((tmp_path / ".cipub" / "channel").glob("label/test/noarch/hello-cipub-data-*.conda"))
    assert len(published) == (1 if upload else 0)
