"""Where each plan job runs: the default runner of the platform the job runs on, which is
conda-forge.yml's ``build_platform`` when it cross-compiles."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CliResult

Cli = Callable[..., CliResult]

RECIPE = """\
package:
  name: demo
  version: "1.0"
build:
  number: 0
requirements:
  build:
    - ${{ compiler('c') }}
"""
PINNING = "c_compiler:\n  - gcc  # [linux]\n  - clang  # [osx]\n  - vs2022  # [win]\n"


@pytest.fixture
def feedstock(tmp_path: Path) -> Path:
    root = tmp_path / "demo-feedstock"
    (root / "recipe").mkdir(parents=True)
    (root / "recipe" / "recipe.yaml").write_text(RECIPE)
    (root / "conda-forge.yml").write_text(
        "build_platform:\n  osx_arm64: osx_64\n  linux_aarch64: linux_64\nprovider:\n  linux_aarch64: default\n"
    )
    (tmp_path / "pinning.yaml").write_text(PINNING)
    return root


def _plan(cipub: Cli, root: Path, *args: str, env: dict[str, str] | None = None) -> CliResult:
    pinning = str(root.parent / "pinning.yaml")
    flags = ("--conda-forge", "--pinning", pinning, "--no-build-numbers")
    return cipub("plan", "recipe", *flags, *args, cwd=root, env=env)


def test_a_cross_compiled_cell_runs_on_its_build_platforms_runner(cipub: Cli, feedstock: Path) -> None:
    planned = _plan(cipub, feedstock, "--format", "json")
    assert planned.code == 0, planned.err
    cells = {c["id"]: c for c in json.loads(planned.out)["cells"]}
    assert cells["osx-arm64"]["build_platform"] == "osx-64"
    assert cells["osx-arm64"]["runner"] == "macos-15-intel"  # osx-64's, not macos-latest (arm64)
    assert cells["linux-aarch64"]["build_platform"] == "linux-64"
    assert cells["linux-aarch64"]["runner"] == "ubuntu-latest"
    assert cells["osx-64"]["build_platform"] == "" and cells["osx-64"]["runner"] == "macos-15-intel"

    github = json.loads(_plan(cipub, feedstock, "--format", "github").out)["include"]
    assert {e["id"]: e["runner"] for e in github}["osx-arm64"] == "macos-15-intel"
    # an override names the machine the job runs on: osx-64's covers the cross-compiled osx-arm64 cell
    custom = json.loads(_plan(cipub, feedstock, "--format", "json", "--runner", "osx-64=big-intel-mac").out)["cells"]
    assert {c["id"]: c["runner"] for c in custom}["osx-arm64"] == "big-intel-mac"
    text = _plan(cipub, feedstock).out
    assert "osx-arm64 on osx-64" in text

    # the job builds for the target platform, whatever machine runs it
    (feedstock / "plan.json").write_text(planned.out)
    flags = ("--plan", "plan.json", "--only", "osx-arm64", "--dry-run", "--no-upload")
    built = cipub("build", "recipe", *flags, cwd=feedstock)
    assert built.code == 0, built.err
    assert "(cell osx-arm64) for osx-arm64" in built.out
