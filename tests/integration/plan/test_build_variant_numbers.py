"""Variants with build numbers of their own (conda-forge's mpi/nompi idiom: ``number: 5`` plus 100
for ``nompi``, so the solver prefers one variant), planned and built cell by cell with
py-rattler-build: each cell keeps its own number, and when the channel already holds builds they
all move up by one offset, so the gap between the variants survives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cipub.channels import TargetOptions, open_channel
from cipub.core import manifest as manifest_mod
from cipub.core.artifact import read_artifact
from tests.support.packages import make_package

pytestmark = pytest.mark.integration

RECIPE = """\
package:
  name: trivfeed
  version: "1.0.0"
build:
  number: ${{ 100 if flavor == "vanilla" else 0 }}
  string: ${{ flavor }}_h${{ hash }}_${{ build_number }}
  script:
    - mkdir -p $PREFIX/share/trivfeed
    - echo "${{ flavor }}" > $PREFIX/share/trivfeed/flavor
"""
CELLS = {"linux-64-flavorchoc": "choc", "linux-64-flavorvanilla": "vanilla"}


def _plan_and_build(cipub, tmp_path: Path, *target: str) -> tuple[dict, dict[str, tuple[int, str]]]:  # type: ignore[no-untyped-def]
    planned = cipub(
        "plan", "recipe", "-p", "linux-64", *target, "--format", "json", "--output", "plan.json", cwd=tmp_path
    )
    assert planned.code == 0, planned.err
    plan = json.loads((tmp_path / "plan.json").read_text())
    assert [c["id"] for c in plan["cells"]] == list(CELLS)
    built: dict[str, tuple[int, str]] = {}
    for ident in CELLS:
        result = cipub(
            "build", "recipe", "--plan", "plan.json", "--only", ident, "--no-upload",
            "--output-dir", f"dist/{ident}", "--manifest", f"dist/{ident}/cipub-manifest.json", *target,
            cwd=tmp_path,
        )  # fmt: skip
        assert result.code == 0, result.err + result.out
        (entry,) = manifest_mod.load(tmp_path / "dist" / ident / "cipub-manifest.json").artifacts
        assert entry.variant_id == ident
        (package,) = (tmp_path / "dist" / ident).rglob("*.conda")
        assert read_artifact(package).build_number == entry.build_number  # the file's own index.json
        built[ident] = (entry.build_number, result.err + result.out)
    return plan, built


def _recipe(tmp_path: Path) -> None:
    (tmp_path / "recipe").mkdir()
    (tmp_path / "recipe" / "recipe.yaml").write_text(RECIPE)
    (tmp_path / "recipe" / "variants.yaml").write_text("flavor: [choc, vanilla]\n")


def test_each_cell_keeps_its_own_number_when_the_channel_has_none(cipub, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _recipe(tmp_path)
    plan, built = _plan_and_build(cipub, tmp_path)
    assert {ident: number for ident, (number, _) in built.items()} == {
        "linux-64-flavorchoc": 0,
        "linux-64-flavorvanilla": 100,
    }
    # the build says the number it builds, per cell
    assert "build number from the plan: trivfeed 1.0.0 -> 0" in built["linux-64-flavorchoc"][1]
    assert "build number from the plan: trivfeed 1.0.0 -> 100" in built["linux-64-flavorvanilla"][1]
    assert {c["id"]: c["build_numbers"] for c in plan["cells"]} == {
        "linux-64-flavorchoc": {"trivfeed": 0},
        "linux-64-flavorvanilla": {"trivfeed": 100},
    }


def test_a_bump_moves_every_variant_by_one_offset(cipub, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _recipe(tmp_path)
    # the channel holds both variants' earlier builds, 0 and 100
    channel = open_channel(str(tmp_path / "channel"), TargetOptions())
    with channel:
        for number, flavor in ((0, "choc"), (100, "vanilla")):
            old = make_package(
                tmp_path / "old" / flavor, "trivfeed", "1.0.0", number, subdir="linux-64", noarch=None,
                build_string=f"{flavor}_hold_{number}",
            )  # fmt: skip
            channel.upload(read_artifact(old), "main")
    plan, built = _plan_and_build(cipub, tmp_path, "--target", "./channel")
    # every new number above the channel's highest (100), the gap of 100 kept: 101 and 201
    assert sorted((b["recipe_number"], b["chosen"]) for b in plan["build_numbers"]) == [(0, 101), (100, 201)]
    assert {c["id"]: c["build_numbers"] for c in plan["cells"]} == {
        "linux-64-flavorchoc": {"trivfeed": 101},
        "linux-64-flavorvanilla": {"trivfeed": 201},
    }
    numbers = {ident: number for ident, (number, _) in built.items()}
    assert numbers == {"linux-64-flavorchoc": 101, "linux-64-flavorvanilla": 201}
    assert numbers["linux-64-flavorvanilla"] - numbers["linux-64-flavorchoc"] == 100
    assert "-> 101" in built["linux-64-flavorchoc"][1]
    assert "-> 201" in built["linux-64-flavorvanilla"][1]
    table = cipub("plan", "recipe", "-p", "linux-64", "--target", "./channel", cwd=tmp_path)
    assert "flavor=choc  build trivfeed=101" in table.out
    assert "flavor=vanilla  build trivfeed=201" in table.out

    # a build of one cell without a plan decides alike (the other variants' numbers counted)
    alone = cipub(
        "build", "recipe", "--only", "linux-64-flavorchoc", "-p", "linux-64", "--no-upload",
        "--output-dir", "alone", "--manifest", "alone/cipub-manifest.json", "--target", "./channel",
        cwd=tmp_path,
    )  # fmt: skip
    assert alone.code == 0, alone.err + alone.out
    (entry,) = manifest_mod.load(tmp_path / "alone" / "cipub-manifest.json").artifacts
    assert entry.build_number == 101

    # one engine run for every variant cannot give them different numbers: refused, not collapsed
    whole = cipub(
        "build",
        "recipe",
        "-p",
        "linux-64",
        "--no-upload",
        "--output-dir",
        "whole",
        "--target",
        "./channel",
        cwd=tmp_path,
    )
    assert whole.code == 2, whole.err + whole.out
    assert "need build numbers 101, 201" in whole.err
    assert not list((tmp_path / "whole").rglob("*.conda"))


def test_a_variant_numbered_below_the_one_read_first_is_bumped_too(cipub, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # the recipe is read for its first variant (vanilla, 100, above the channel's 0), but choc's 0 is
    # on the channel: both move by 1, a build of one cell without a plan says so, and the whole recipe
    # (one engine run) is refused rather than built with a reused 0
    (tmp_path / "recipe").mkdir()
    (tmp_path / "recipe" / "recipe.yaml").write_text(RECIPE)
    (tmp_path / "recipe" / "variants.yaml").write_text("flavor: [vanilla, choc]\n")
    channel = open_channel(str(tmp_path / "channel"), TargetOptions())
    with channel:
        old = make_package(
            tmp_path / "old", "trivfeed", "1.0.0", 0, subdir="linux-64", noarch=None, build_string="choc_hold_0"
        )
        channel.upload(read_artifact(old), "main")
    for ident, number in (("linux-64-flavorchoc", 1), ("linux-64-flavorvanilla", 101)):
        built = cipub(
            "build", "recipe", "--only", ident, "-p", "linux-64", "--no-upload", "--output-dir", ident,
            "--manifest", f"{ident}/cipub-manifest.json", "--target", "./channel", cwd=tmp_path,
        )  # fmt: skip
        assert built.code == 0, built.err + built.out
        (entry,) = manifest_mod.load(tmp_path / ident / "cipub-manifest.json").artifacts
        assert entry.build_number == number
        assert f"build number for trivfeed 1.0.0: {number} (" in built.out + built.err
    whole = cipub(
        "build",
        "recipe",
        "-p",
        "linux-64",
        "--no-upload",
        "--output-dir",
        "whole",
        "--target",
        "./channel",
        cwd=tmp_path,
    )
    assert whole.code == 2, whole.err + whole.out
    assert "need build numbers 1, 101" in whole.err


JOB_RECIPE = """\
context:
  version: "1.0.0"
recipe:
  name: trivjob
  version: ${{ version }}
outputs:
  - package:
      name: trivjob-lib
    build:
      number: ${{ 100 if flavor == "vanilla" else 0 }}
      string: ${{ flavor }}_h${{ hash }}_${{ build_number }}
      script:
        - mkdir -p $PREFIX/share/trivjob
        - echo "${{ flavor }}" > $PREFIX/share/trivjob/flavor
  - package:
      name: trivjob-data
    build:
      number: 3
      script:
        - mkdir -p $PREFIX/share/trivjob-data
        - echo data > $PREFIX/share/trivjob-data/data
"""


def test_a_recipe_with_several_outputs_is_not_bumped_variant_by_variant(cipub, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """One engine run gives every output of a variant one number: moving per-variant numbers up by
    an offset gave trivjob-data (no number of its own) another variant's number, and a sibling's
    pin_subpackage named a build that was never published (a cold reviewer's find). Refused with
    exit 2, before anything is built, with the ways past it; --build-number N still builds."""
    (tmp_path / "recipe").mkdir()
    (tmp_path / "recipe" / "recipe.yaml").write_text(JOB_RECIPE)
    (tmp_path / "recipe" / "variants.yaml").write_text("flavor: [choc, vanilla]\n")
    channel = open_channel(str(tmp_path / "channel"), TargetOptions())
    with channel:
        for number, flavor in ((0, "choc"), (100, "vanilla")):
            old = make_package(
                tmp_path / "old" / flavor, "trivjob-lib", "1.0.0", number, subdir="linux-64", noarch=None,
                build_string=f"{flavor}_hold_{number}",
            )  # fmt: skip
            channel.upload(read_artifact(old), "main")
    planned = cipub(
        "plan", "recipe", "-p", "linux-64", "--grouping", "conda-smithy", "--target", "./channel",
        "--format", "json", "--output", "plan.json", cwd=tmp_path,
    )  # fmt: skip
    assert planned.code == 2, planned.err
    assert "cannot move them up without breaking the pins between its outputs" in planned.err
    assert "--build-number N" in planned.err
    assert not (tmp_path / "plan.json").exists()
    alone = cipub(
        "build", "recipe", "--only", "linux-64-flavorchoc", "-p", "linux-64", "--no-upload",
        "--output-dir", "alone", "--target", "./channel", cwd=tmp_path,
    )  # fmt: skip
    assert alone.code == 2, alone.err
    assert "cannot move them up without breaking the pins" in alone.err
    assert not list((tmp_path / "alone").rglob("*.conda"))
    explicit = cipub(
        "build", "recipe", "--build-number", "300", "-p", "linux-64", "--no-upload", "--output-dir", "dist",
        "--target", "./channel", cwd=tmp_path,
    )  # fmt: skip
    assert explicit.code == 0, explicit.err + explicit.out
    m = manifest_mod.load(tmp_path / "dist" / "cipub-manifest.json")
    assert {a.build_number for a in m.artifacts} == {300}
