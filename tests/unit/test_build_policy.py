"""The build job's rules, without the CLI: build numbers (cipub.policy.buildnumber) and which cell
of a plan a job builds (cipub.policy.cells); and the build workflow called as a library."""

from __future__ import annotations

from pathlib import Path

import pytest

from cipub.channels.local import LocalChannel
from cipub.core.artifact import read_artifact
from cipub.core.decisions import BuildNumberDecision
from cipub.core.errors import UsageError
from cipub.core.manifest import ArtifactEntry, Manifest
from cipub.core.settings import resolve
from cipub.policy import cells
from cipub.policy.buildnumber import check_request, decide_outputs, engine_number, from_plan, needs_channel
from cipub.policy.plan import Plan, PlanCell
from cipub.policy.publish import upload
from cipub.recipe import RecipeOutput
from cipub.workflows.build import BuildJob, build
from tests.support.packages import make_package

DEMO = RecipeOutput("demo", "1.0", 0, "generic")
OTHER = RecipeOutput("other", "1.0", 0, "generic")


def seeded(tmp_path: Path, *numbers: int) -> LocalChannel:
    chan = LocalChannel(tmp_path / "ch")
    pkgs = [make_package(tmp_path, "demo", "1.0", n) for n in numbers]
    upload(Manifest(artifacts=[ArtifactEntry.from_artifact(read_artifact(p)) for p in pkgs]), chan, "test")
    return chan


def decision(name: str, recipe: int, chosen: int) -> BuildNumberDecision:
    return BuildNumberDecision(name, "1.0", recipe, None, chosen, "test", None)


# -- build numbers ---------------------------------------------------------------------------------


def test_build_number_and_no_bump_contradict() -> None:
    check_request(3, False)
    check_request(None, True)
    with pytest.raises(UsageError, match="contradict"):
        check_request(3, True)


@pytest.mark.parametrize(
    ("explicit", "no_bump", "planned", "asks"),
    [(None, False, False, True), (2, False, False, False), (None, True, False, False), (None, False, True, False)],
)
def test_the_channel_is_asked_only_when_nothing_else_decides(
    explicit: int | None, no_bump: bool, planned: bool, asks: bool
) -> None:
    assert needs_channel(explicit=explicit, no_bump=no_bump, planned=planned) is asks


def test_each_output_is_decided_against_the_channel(tmp_path: Path) -> None:
    chan = seeded(tmp_path, 0, 2)
    with chan:
        found = decide_outputs(chan, [DEMO, OTHER])
    assert [(d.name, d.chosen) for d in found] == [("demo", 3), ("other", 0)]
    assert [d.chosen for d in decide_outputs(chan, [DEMO, OTHER], explicit=7)] == [7, 7]
    assert [d.chosen for d in decide_outputs(None, [DEMO], no_bump=True)] == [0]


def test_a_plan_s_decisions_are_filtered_to_this_recipe_s_outputs() -> None:
    planned = [decision("demo", 0, 4), decision("elsewhere", 0, 9)]
    assert [d.name for d in from_plan(planned, [DEMO])] == ["demo"]


def test_the_engine_gets_a_number_only_when_one_differs_from_the_recipe() -> None:
    same = [decision("demo", 0, 0), decision("other", 1, 1)]
    assert engine_number(same, None) is None  # build the recipe as written
    assert engine_number([decision("demo", 3, 3)], 3) == 3  # --build-number equal to the recipe's
    bumped = [decision("demo", 0, 4), decision("other", 1, 1)]
    assert engine_number(bumped, None) == 4  # one engine call: the highest any output needs


# -- cells -----------------------------------------------------------------------------------------


def a_plan() -> Plan:
    return Plan(
        recipe="recipe/meta.yaml",
        recipe_format="v0",
        platforms=["linux-64", "osx-arm64"],
        noarch_platform="linux-64",
        cells=[
            PlanCell("linux-64-python3.12", "linux-64", {"python": "3.12", "target_platform": "linux-64"}, None, "u"),
            PlanCell("osx-arm64-python3.12", "osx-arm64", {"python": "3.12"}, None, "m", outputs=("libdemo",)),
            PlanCell("noarch", "linux-64", {}, "python", "u"),
        ],
    )


def test_one_cell_pins_its_variant_and_platform() -> None:
    choice = cells.choose(a_plan(), "linux-64-python3.12", overrides={}, platform=None)
    assert choice.id == "linux-64-python3.12"
    assert choice.overrides == {"python": ["3.12"]}  # target_platform is the engine's own setting
    assert choice.variant == {"python": "3.12", "target_platform": "linux-64"}
    assert choice.target_platform == "linux-64"
    assert choice.planned_builds == 3
    assert choice.owns("anything")  # no outputs listed: it publishes everything it builds


def test_a_variant_or_platform_that_contradicts_the_cell_is_refused() -> None:
    # The manifest records the cell: building another variant under its id would misdescribe it.
    with pytest.raises(UsageError, match="contradicts cell"):
        cells.choose(a_plan(), "osx-arm64-python3.12", overrides={"python": ["3.13"]}, platform=None)
    with pytest.raises(UsageError, match="contradicts cell"):
        cells.choose(a_plan(), "osx-arm64-python3.12", overrides={}, platform="osx-64")


def test_values_the_cell_agrees_with_are_accepted_and_the_cell_wins() -> None:
    choice = cells.choose(
        a_plan(), "osx-arm64-python3.12", overrides={"python": ["3.11", "3.12"]}, platform="osx-arm64"
    )
    assert choice.overrides == {"python": ["3.12"]}
    assert choice.target_platform == "osx-arm64"
    assert choice.owns("libdemo") and not choice.owns("demo")


def test_a_noarch_cell_leaves_the_platform_to_the_engine() -> None:
    assert cells.choose(a_plan(), "noarch", overrides={}, platform=None).target_platform is None


def test_no_cell_chosen_means_the_whole_plan_or_recipe() -> None:
    whole = cells.choose(a_plan(), None, overrides={"python": ["3.11"]}, platform="win-64")
    assert (whole.id, whole.planned_builds, whole.target_platform) == (None, 3, "win-64")
    recipe = cells.whole_recipe({"python": ["3.11"]}, None)
    assert (recipe.id, recipe.planned_builds, dict(recipe.overrides)) == (None, None, {"python": ["3.11"]})


def test_an_unknown_cell_lists_the_valid_ids() -> None:
    with pytest.raises(UsageError) as exc:
        cells.choose(a_plan(), "win-64", overrides={}, platform=None)
    assert exc.value.hint is not None and "linux-64-python3.12" in exc.value.hint


def test_a_cell_publishes_only_its_outputs(tmp_path: Path) -> None:
    built = [read_artifact(make_package(tmp_path, n, "1.0", 0)) for n in ("libdemo", "demo")]
    choice = cells.choose(a_plan(), "osx-arm64-python3.12", overrides={}, platform=None)
    mine, others = cells.split_owned(choice, built)
    assert [a.name for a in mine] == ["libdemo"]
    assert [a.name for a in others] == ["demo"]


# -- the workflow, called as a library -------------------------------------------------------------

RECIPE = """\
package:
  name: demo
  version: "1.0"
build:
  number: 0
  noarch: generic
  script:
    - mkdir -p $PREFIX/share/demo
"""


def test_build_workflow_dry_run_decides_from_the_channel(tmp_path: Path) -> None:
    seeded(tmp_path, 0, 3)
    (tmp_path / "recipe").mkdir()
    (tmp_path / "recipe" / "recipe.yaml").write_text(RECIPE)
    settings = resolve({"target": str(tmp_path / "ch"), "output_dir": str(tmp_path / "out")}, environ={}, cwd=tmp_path)
    said: list[str] = []

    class Collect:
        def say(self, message: str) -> None:
            said.append(message)

        def progress(self, total: int, what: str):  # type: ignore[no-untyped-def]
            raise AssertionError("a dry run uploads nothing")

    result = build(settings, BuildJob(recipe=tmp_path / "recipe", dry_run=True), report=Collect())
    assert result.manifest_path is None
    assert [(d.name, d.chosen) for d in result.manifest.build_numbers] == [("demo", 4)]
    assert any("would build" in line and "build number 4" in line for line in said), said
    assert not (tmp_path / "out").exists()
