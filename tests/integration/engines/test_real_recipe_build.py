"""A recipe shaped like a real one (host python, a run dependency) builds against a local mirror
channel, its tests run, and its package installs with its dependency (issue 17 item 4).

The mirror is made here with py-rattler from packages the test makes: ``python`` (a wrapper around
the interpreter running the tests, so the recipe's test can run it) and ``cipub-dep-lib``.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.install import install_from
from tests.support.packages import make_package

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parents[2] / "data" / "real-classes" / "python-with-dependency"


def _index(root: Path) -> None:
    from rattler import Subdir
    from rattler.index import index_fs

    for subdir in ("noarch", "linux-64"):
        (root / subdir).mkdir(parents=True, exist_ok=True)
        asyncio.run(index_fs(root, target_platform=Subdir(subdir), write_zst=False, write_shards=False))


@pytest.fixture
def mirror(tmp_path: Path) -> Path:
    """A local channel standing in for a conda-forge mirror: python 3.12 and the dependency."""
    root = tmp_path / "mirror"
    wrapper = f'#!/bin/sh\nexec "{sys.executable}" "$@"\n'
    python = make_package(
        tmp_path / "made",
        "python",
        "3.12.0",
        0,
        subdir="linux-64",
        build_string="h0000000_0_cpython",
        files={"bin/python": wrapper, "lib/python3.12/site-packages/.keep": ""},
    )
    dependency = make_package(tmp_path / "made", "cipub-dep-lib", "2.1", 0)
    (root / "linux-64").mkdir(parents=True)
    (root / "noarch").mkdir(parents=True)
    shutil.copy(python, root / "linux-64" / python.name)
    shutil.copy(dependency, root / "noarch" / dependency.name)
    (root / "linux-64" / python.name).chmod(0o644)
    _index(root)
    return root


@pytest.mark.skipif(sys.platform != "linux", reason="the mirror's python is a linux-64 package")
def test_host_python_and_run_dependency_build_test_and_install(cipub: Any, tmp_path: Path, mirror: Path) -> None:
    shutil.copytree(DATA, tmp_path / "recipe")
    args = ("build", "recipe", "-c", mirror.as_uri(), "--no-upload", "--json")
    result = cipub(*args, cwd=tmp_path)
    assert result.code == 0, result.err
    [artifact] = json.loads(result.out)["artifacts"]
    built = tmp_path / "output" / artifact["subdir"] / artifact["filename"]
    assert artifact["subdir"] == "noarch" and built.is_file()
    from cipub.core.artifact import read_artifact

    depends = read_artifact(built).index["depends"]
    assert any(d.startswith("cipub-dep-lib") for d in depends) and any(d.startswith("python") for d in depends)
    # the package installs, with its dependency, from the mirror plus the built package
    shutil.copy(built, mirror / "noarch" / built.name)
    _index(mirror)
    prefix = tmp_path / "env"
    installed = install_from(mirror.as_uri(), "pydemo-real", prefix)
    names = {i.rsplit("-", 2)[0] for i in installed}
    assert {"pydemo-real", "cipub-dep-lib", "python"} <= names
    assert (prefix / "lib" / "python3.12" / "site-packages" / "pydemo_real" / "__init__.py").is_file()
    assert (prefix / "share" / "cipub-dep-lib" / "payload.txt").is_file()


@pytest.mark.skipif(sys.platform != "linux", reason="the mirror's python is a linux-64 package")
def test_a_failing_recipe_test_fails_the_build(cipub: Any, tmp_path: Path, mirror: Path) -> None:
    shutil.copytree(DATA, tmp_path / "recipe")
    recipe = tmp_path / "recipe" / "recipe.yaml"
    recipe.write_text(recipe.read_text().replace("print('the host python runs')", "raise SystemExit(7)"))
    args = ("build", "recipe", "-c", mirror.as_uri(), "--no-upload")
    result = cipub(*args, cwd=tmp_path)
    assert result.code == 4, result.err
    assert "recipe test 1 of 1 failed" in result.err
