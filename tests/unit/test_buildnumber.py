from __future__ import annotations

from pathlib import Path

import pytest

from cipub.channels.local import LocalChannel
from cipub.core.artifact import read_artifact
from cipub.core.decisions import BuildNumberDecision
from cipub.core.errors import UsageError
from cipub.core.manifest import ArtifactEntry, Manifest
from cipub.policy.buildnumber import decide, decide_variants, engine_number, from_plan, unify
from cipub.policy.publish import upload
from cipub.recipe import RecipeOutput
from tests.support.packages import make_package


def seeded(tmp_path: Path, *numbers: int) -> LocalChannel:
    chan = LocalChannel(tmp_path / "ch")
    pkgs = [make_package(tmp_path, "demo", "1.0", n, subdir="linux-64" if n % 2 else "noarch") for n in numbers]
    upload(Manifest(artifacts=[ArtifactEntry.from_artifact(read_artifact(p)) for p in pkgs]), chan, "test")
    return chan


def test_absent_keeps_recipe_number(tmp_path: Path) -> None:
    d = decide(LocalChannel(tmp_path / "empty"), "demo", "1.0", 2)
    assert (d.chosen, d.channel_highest) == (2, None)


def test_bumps_past_highest_across_subdirs_and_labels(tmp_path: Path) -> None:
    chan = seeded(tmp_path, 0, 3)
    d = decide(chan, "demo", "1.0", 0)
    assert (d.channel_highest, d.chosen) == (3, 4)
    assert "bumped to 4" in d.reason


def test_recipe_number_above_channel_wins(tmp_path: Path) -> None:
    assert decide(seeded(tmp_path, 1), "demo", "1.0", 9).chosen == 9


def test_explicit_and_no_bump(tmp_path: Path) -> None:
    chan = seeded(tmp_path, 5)
    assert decide(chan, "demo", "1.0", 0, explicit=2).chosen == 2
    assert decide(chan, "demo", "1.0", 0, no_bump=True).chosen == 0


def test_other_versions_do_not_count(tmp_path: Path) -> None:
    assert decide(seeded(tmp_path, 5), "demo", "2.0", 0).chosen == 0


def test_unify_takes_the_highest(tmp_path: Path) -> None:
    chan = seeded(tmp_path, 1)
    assert unify([decide(chan, "demo", "1.0", 0), decide(chan, "other", "1.0", 0)]) == 2


# -- variants with numbers of their own (conda-forge's mpi/nompi: number 5, plus 100 for nompi) --


def _chosen(decisions: list[BuildNumberDecision]) -> dict[int, int]:
    return {d.recipe_number: d.chosen for d in decisions}


def test_variant_numbers_kept_when_the_channel_has_none_of_them(tmp_path: Path) -> None:
    assert _chosen(decide_variants(LocalChannel(tmp_path / "empty"), "demo", "1.0", [105, 5, 105])) == {5: 5, 105: 105}
    assert _chosen(decide_variants(None, "demo", "1.0", [5, 105])) == {5: 5, 105: 105}
    # the channel's highest is below the lowest number: nothing is reused, nothing moves
    assert _chosen(decide_variants(seeded(tmp_path, 3), "demo", "1.0", [5, 105])) == {5: 5, 105: 105}


def test_variant_numbers_move_up_together_above_the_channel(tmp_path: Path) -> None:
    # the channel holds both variants' builds 5 and 105: both move by one offset, the gap kept
    decisions = decide_variants(seeded(tmp_path, 5, 105), "demo", "1.0", [105, 5])
    assert _chosen(decisions) == {5: 106, 105: 206}
    assert all(d.channel_highest == 105 for d in decisions)
    assert "bumped by 101" in decisions[0].reason
    # a highest between the two numbers: every new number above it, the gap still 100
    assert _chosen(decide_variants(seeded(tmp_path / "mid", 50), "demo", "1.0", [0, 100])) == {0: 51, 100: 151}


def test_one_variant_number_decides_exactly_as_before(tmp_path: Path) -> None:
    chan = seeded(tmp_path, 0, 3)
    for number in (0, 3, 9):
        assert decide_variants(chan, "demo", "1.0", [number, number]) == [decide(chan, "demo", "1.0", number)]


def test_explicit_and_no_bump_with_variant_numbers(tmp_path: Path) -> None:
    chan = seeded(tmp_path, 5, 105)
    assert _chosen(decide_variants(chan, "demo", "1.0", [5, 105], explicit=7)) == {5: 7, 105: 7}
    assert _chosen(decide_variants(chan, "demo", "1.0", [5, 105], no_bump=True)) == {5: 5, 105: 105}


def _decision(recipe: int, chosen: int, name: str = "demo") -> BuildNumberDecision:
    return BuildNumberDecision(name, "1.0", recipe, None, chosen, "")


def test_from_plan_keeps_the_cells_own_numbers() -> None:
    planned = [_decision(5, 106), _decision(105, 206), _decision(0, 1, "other")]
    outputs = [RecipeOutput("demo", "1.0", 5, None), RecipeOutput("other", "1.0", 0, None)]
    assert from_plan(planned, outputs, {"demo": {206}}) == [_decision(105, 206), _decision(0, 1, "other")]
    # a plan that records no number per cell (written before them): every decision of the output
    assert from_plan(planned, outputs) == planned


def test_one_engine_run_never_gives_bumped_variants_one_number() -> None:
    assert engine_number([_decision(5, 5), _decision(105, 105)], None) is None  # built as the recipe says
    assert engine_number([_decision(105, 206)], None) == 206
    with pytest.raises(UsageError, match="106, 206"):
        engine_number([_decision(5, 106), _decision(105, 206)], None)


def test_a_plan_from_before_per_cell_numbers_still_reads_and_builds_with_its_one_number() -> None:
    import json

    from cipub.ci.reports import plan_outputs
    from cipub.policy.plan import Plan

    old = {
        "schema": 1,
        "recipe": "recipe",
        "recipe_format": "v1",
        "platforms": ["linux-64"],
        "noarch_platform": "linux-64",
        "cells": [{"id": "linux-64", "platform": "linux-64", "variant": {}, "noarch": None, "runner": "ubuntu-latest"}],
        "build_numbers": [
            {"name": "demo", "version": "1.0", "recipe_number": 0, "channel_highest": 4, "chosen": 5, "reason": "r"}
        ],
    }
    plan = Plan.from_json(json.dumps(old))
    assert plan.cells[0].build_numbers == {}
    assert plan.build_number_for("demo", "1.0", "linux-64") == 5
    outputs = [RecipeOutput("demo", "1.0", 0, None)]
    assert [d.chosen for d in from_plan(plan.build_numbers, outputs, {})] == [5]
    assert plan_outputs(plan)["build-number"] == "5"
    # variants with numbers of their own: no single number to report, the highest per package
    plan.build_numbers = [_decision(5, 106), _decision(105, 206)]
    assert plan_outputs(plan)["build-number"] == ""
    assert plan_outputs(plan)["build-numbers"] == {"demo-1.0": 206}
