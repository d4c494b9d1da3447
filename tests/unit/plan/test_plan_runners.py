"""Where each plan job runs: one table of default runners (GitHub labels and GitLab tags) by the
platform the job runs on, which is conda-forge.yml's ``build_platform`` when it cross-compiles."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from cipub.ci import matrix
from cipub.policy.plan import HOSTED_RUNNERS, Plan
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


def _build_jobs(text: str) -> dict[str, dict[str, object]]:
    doc = yaml.safe_load(text)
    return {name: job for name, job in doc.items() if name.startswith("cipub-build")}


def test_a_cross_compiled_cell_runs_on_its_build_platforms_runner(cipub: Cli, feedstock: Path) -> None:
    planned = _plan(cipub, feedstock, "--format", "json")
    assert planned.code == 0, planned.err
    cells = {c["id"]: c for c in json.loads(planned.out)["cells"]}
    assert cells["osx-arm64"]["build_platform"] == "osx-64"
    assert cells["osx-arm64"]["runner"] == HOSTED_RUNNERS["osx-64"].github == "macos-15-intel"
    assert cells["linux-aarch64"]["build_platform"] == "linux-64"
    assert cells["linux-aarch64"]["runner"] == "ubuntu-latest"
    assert cells["osx-64"]["build_platform"] == "" and cells["osx-64"]["runner"] == "macos-15-intel"

    github = json.loads(_plan(cipub, feedstock, "--format", "github").out)["include"]
    assert {e["id"]: e["runner"] for e in github}["osx-arm64"] == "macos-15-intel"
    # an override names the machine the job runs on: osx-64's covers the cross-compiled osx-arm64 cell
    custom = json.loads(_plan(cipub, feedstock, "--format", "json", "--runner", "osx-64=big-intel-mac").out)["cells"]
    assert {c["id"]: c["runner"] for c in custom}["osx-arm64"] == "big-intel-mac"
    # GitLab: the cross-compiled cells are in their build platform's job, with its tags
    jobs = _build_jobs(_plan(cipub, feedstock, "--format", "gitlab").out)
    assert jobs["cipub-build-osx-64"]["parallel"] == {"matrix": [{"CIPUBCI_CELL": ["osx-64", "osx-arm64"]}]}
    assert jobs["cipub-build-linux-64"]["parallel"] == {"matrix": [{"CIPUBCI_CELL": ["linux-64", "linux-aarch64"]}]}
    text = _plan(cipub, feedstock).out
    assert "osx-arm64 on osx-64" in text

    # the job builds for the target platform, whatever machine runs it
    (feedstock / "plan.json").write_text(planned.out)
    flags = ("--plan", "plan.json", "--only", "osx-arm64", "--dry-run", "--no-upload")
    built = cipub("build", "recipe", *flags, cwd=feedstock)
    assert built.code == 0, built.err
    assert "(cell osx-arm64) for osx-arm64" in built.out


def test_gitlab_build_jobs_get_their_platforms_runner_tags(cipub: Cli, tmp_path: Path) -> None:
    (tmp_path / "recipe").mkdir()
    (tmp_path / "recipe" / "recipe.yaml").write_text(RECIPE)
    (tmp_path / "cbc.yaml").write_text(PINNING)
    platforms = ["linux-64", "linux-aarch64", "osx-64", "osx-arm64", "win-64"]
    args = [a for p in platforms for a in ("--platform", p)]
    result = cipub("plan", "recipe", "-m", "cbc.yaml", "--no-build-numbers", "--format", "gitlab", *args, cwd=tmp_path)
    assert result.code == 0, result.err
    jobs = _build_jobs(result.out)
    assert sorted(jobs) == [f"cipub-build-{p}" for p in sorted(platforms)]
    assert "tags" not in jobs["cipub-build-linux-64"]  # any runner, as before
    for platform in platforms[1:]:
        assert jobs[f"cipub-build-{platform}"]["tags"] == list(HOSTED_RUNNERS[platform].gitlab or ())
    assert jobs["cipub-build-osx-arm64"]["tags"] == ["saas-macos-medium-m1"]
    assert yaml.safe_load(result.out)["cipub-publish"]["needs"] == list(jobs)

    # the user's own tags: the config file (several for one platform, none for another), then the flag
    (tmp_path / "cipub.toml").write_text(
        'gitlab-tags = ["osx-arm64=mac", "osx-arm64=m2", "win-64=", "linux-64=docker"]\n'
    )
    mine = _build_jobs(
        cipub("plan", "recipe", "-m", "cbc.yaml", "--no-build-numbers", "--format", "gitlab", *args, cwd=tmp_path).out
    )
    assert mine["cipub-build-osx-arm64"]["tags"] == ["mac", "m2"]
    assert mine["cipub-build-linux-64"]["tags"] == ["docker"]
    assert "tags" not in mine["cipub-build-win-64"]
    assert mine["cipub-build-osx-64"]["tags"] == ["saas-macos-medium-m1"]  # the table's, not named
    flagged = cipub(
        "plan", "recipe", "-m", "cbc.yaml", "--no-build-numbers", "--format", "json",
        "--platform", "osx-arm64", "--gitlab-tag", "osx-arm64=big-mac", cwd=tmp_path,
    )  # fmt: skip
    assert json.loads(flagged.out)["cells"][0]["runner_tags"] == ["big-mac"]
    bad = cipub("plan", "recipe", "-m", "cbc.yaml", "--gitlab-tag", "osx-arm64", cwd=tmp_path)
    assert bad.code == 2 and "is not PLATFORM=TAG" in bad.err


def test_a_platform_gitlab_hosts_no_runner_for_needs_a_tag(cipub: Cli, tmp_path: Path) -> None:
    (tmp_path / "recipe").mkdir()
    (tmp_path / "recipe" / "recipe.yaml").write_text(RECIPE)
    (tmp_path / "cbc.yaml").write_text("c_compiler:\n  - vs2022\n")
    args = ["plan", "recipe", "-m", "cbc.yaml", "--no-build-numbers", "--platform", "win-arm64", "--format", "gitlab"]
    refused = cipub(*args, cwd=tmp_path)
    assert refused.code == 2 and "no GitLab runner is known for platform win-arm64" in refused.err
    assert "--gitlab-tag win-arm64=TAG" in refused.err
    tagged = cipub(*args, "--gitlab-tag", "win-arm64=arm-box", cwd=tmp_path)
    assert tagged.code == 0, tagged.err
    assert _build_jobs(tagged.out)["cipub-build"]["tags"] == ["arm-box"]


def test_the_include_runner_tags_override_the_plans_and_old_plans_get_the_defaults() -> None:
    cell = {"id": "m", "platform": "osx-arm64", "variant": {}, "noarch": None, "runner": "macos-latest"}
    old = {"schema": 1, "recipe": "r/recipe.yaml", "recipe_format": "v1", "platforms": ["osx-arm64"],
           "noarch_platform": "linux-64", "cells": [cell, {**cell, "id": "l", "platform": "linux-64"}]}  # fmt: skip
    plan = Plan.from_dict(old)  # written before runner tags were planned
    assert [c.runner_tags for c in plan.cells] == [("saas-macos-medium-m1",), ()]
    doc = matrix.gitlab_child_pipeline(plan, runner_tags=matrix.parse_runner_tags("osx-arm64=mac, osx-arm64=m1"))
    assert doc["cipub-build-osx-arm64"]["tags"] == ["mac", "m1"]
    assert "tags" not in doc["cipub-build-linux-64"]
    # one platform (or every platform alike): one build job, as before
    single = matrix.gitlab_child_pipeline(Plan.from_dict({**old, "cells": [cell]}))
    assert single["cipub-build"]["tags"] == ["saas-macos-medium-m1"] and single["cipub-publish"]["needs"] == [
        "cipub-build"
    ]


def test_a_job_of_the_plan_builds_whatever_platforms_the_shared_setting_names(cipub: Cli, tmp_path: Path) -> None:
    """The GitLab include hands its ``platforms`` input (CIPUB_PLATFORMS) to every child job: with
    ``--only`` the cell has its platform, so several platforms there are the plan's, not an error."""
    (tmp_path / "recipe").mkdir()
    (tmp_path / "recipe" / "recipe.yaml").write_text(RECIPE)
    (tmp_path / "cbc.yaml").write_text("c_compiler:\n  - clang\n")
    env = {"CIPUB_PLATFORMS": "linux-64,osx-arm64", "CIPUB_VARIANT_CONFIG": "cbc.yaml"}
    planned = cipub(
        "plan", "recipe", "--no-build-numbers", "--format", "json", "--output", "plan.json", cwd=tmp_path, env=env
    )
    assert planned.code == 0, planned.err
    built = cipub("build", "recipe", "--plan", "plan.json", "--only", "osx-arm64", "--dry-run", cwd=tmp_path, env=env)
    assert built.code == 0, built.err
    assert "(cell osx-arm64) for osx-arm64" in built.out
    # without --only a build still makes one platform at a time
    whole = cipub("build", "recipe", "--dry-run", cwd=tmp_path, env=env)
    assert whole.code == 2 and "one platform at a time" in whole.err
