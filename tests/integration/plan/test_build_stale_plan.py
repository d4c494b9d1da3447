"""A plan whose build numbers the target moved past is refused before anything is built.

The plan decides each (name, version)'s number once, from what the target held then. When another
build publishes that number (or a higher one) before a job of the plan runs, building the plan's
number again would collide at upload (exit 6 after the whole build) or publish a build that sorts
below what is there: the job refuses at start, exit 6, naming the plan file and what is on the
channel now. Builds of the plan's other cells made here (the ledger knows them) are no news.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cipub.channels import TargetOptions, open_channel
from cipub.core.artifact import read_artifact
from tests.support.packages import make_package

pytestmark = pytest.mark.integration

RECIPE = """\
package:
  name: stalepkg
  version: "1.0"
build:
  number: 0
  noarch: generic
  script:
    - mkdir -p $PREFIX/share/stalepkg && echo "${{ flavor }}" > $PREFIX/share/stalepkg/flavor
"""


def _publish(tmp_path: Path, number: int, tag: str) -> None:
    channel = open_channel(str(tmp_path / "channel"), TargetOptions())
    with channel:
        made = make_package(tmp_path / "made" / tag, "stalepkg", "1.0", number, payload=tag)
        channel.upload(read_artifact(made), "test")


def _project(cipub: Any, tmp_path: Path) -> dict[str, Any]:
    (tmp_path / "recipe").mkdir()
    (tmp_path / "recipe" / "recipe.yaml").write_text(RECIPE)
    (tmp_path / "recipe" / "variants.yaml").write_text("flavor: [choc]\n")
    _publish(tmp_path, 0, "first")
    planned = cipub(
        "plan", "recipe", "--target", "./channel", "--format", "json", "--output", "plan.json", cwd=tmp_path
    )
    assert planned.code == 0, planned.err
    plan: dict[str, Any] = json.loads((tmp_path / "plan.json").read_text())
    assert [(d["channel_highest"], d["chosen"]) for d in plan["build_numbers"]] == [(0, 1)]
    return plan


BUILD = ("build", "recipe", "--plan", "plan.json", "--only", "noarch", "--target", "./channel")


@pytest.mark.parametrize("upload", [(), ("--no-upload",)], ids=["uploading", "no-upload"])
def test_a_number_published_since_the_plan_stops_the_job_before_it_builds(
    cipub: Any, tmp_path: Path, upload: tuple[str, ...]
) -> None:
    _project(cipub, tmp_path)
    _publish(tmp_path, 1, "another-build")  # another build took the plan's number
    refused = cipub(*BUILD, *upload, cwd=tmp_path)
    assert refused.code == 6, refused.err + refused.out
    assert "plan plan.json is out of date: it chose build 1 for stalepkg 1.0" in refused.err
    assert "now has build 1 (noarch/stalepkg-1.0-" in refused.err
    assert not list((tmp_path / "output").rglob("*.conda"))  # refused before the build


def test_a_higher_number_published_since_is_refused_too_and_a_current_plan_builds(cipub: Any, tmp_path: Path) -> None:
    _project(cipub, tmp_path)
    _publish(tmp_path, 7, "manual")
    refused = cipub(*BUILD, "--no-upload", cwd=tmp_path)
    assert refused.code == 6 and "now has build 7" in refused.err
    # written again, the plan is current: its job builds and publishes the next number
    again = cipub("plan", "recipe", "--target", "./channel", "--format", "json", "--output", "plan.json", cwd=tmp_path)
    assert again.code == 0, again.err
    built = cipub(*BUILD, cwd=tmp_path)
    assert built.code == 0, built.err + built.out
    assert "build number from the plan: stalepkg 1.0 -> 8" in built.out
    # the plan's own file, built and published here (the ledger knows it), is no reason to refuse
    dry = cipub(*BUILD, "--dry-run", cwd=tmp_path)
    assert dry.code == 0, dry.err
