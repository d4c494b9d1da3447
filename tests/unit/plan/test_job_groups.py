"""CI runs the plan's jobs, not its cells: under conda-smithy's grouping one CI job builds every
cell of its job in one engine run (``cipub build --only JOB``), so a library with Python bindings
is built once per job, as conda-smithy builds it (issue 17, class 4)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cipub.ci.matrix import gitlab_child_pipeline, render_github_matrix
from cipub.core.errors import UsageError
from cipub.policy import cells
from cipub.policy.plan import Plan, PlanCell, job_variant, make_plan
from cipub.recipe import load_recipe

DATA = Path(__file__).resolve().parents[2] / "data" / "real-classes"


def _grouped(platforms: list[str]) -> Plan:
    recipe = load_recipe(DATA / "derived-keys", target_platform=platforms[0])
    return make_plan(
        recipe, variant_configs=[], overrides={}, platforms=platforms, channel=None, grouping="conda-smithy"
    )


def _cell(ident: str, job: str, outputs: tuple[str, ...] = (), **variant: str) -> PlanCell:
    return PlanCell(ident, "linux-64", dict(variant), None, "ubuntu-latest", outputs, job)


def test_the_github_matrix_has_one_entry_per_job() -> None:
    plan = _grouped(["linux-64", "osx-64"])
    include = json.loads(render_github_matrix(plan))["include"]
    assert [e["id"] for e in include] == ["linux-64-job", "osx-64-job"]
    linux = include[0]
    assert linux["cells"] == "linux-64-python3.11,linux-64-python3.12"
    assert linux["runner"] == "ubuntu-latest" and linux["platform"] == "linux-64"
    # the job's variant is what its cells share; python differs between them
    assert linux["variant"] == "c_compiler=gcc"


def test_without_grouping_the_matrix_is_a_job_per_cell_as_before() -> None:
    recipe = load_recipe(DATA / "derived-keys", target_platform="linux-64")
    plan = make_plan(recipe, variant_configs=[], overrides={}, platforms=["linux-64"], channel=None)
    include = json.loads(render_github_matrix(plan))["include"]
    assert [e["id"] for e in include] == plan.ids
    assert {e["cells"] for e in include} == set(plan.ids)
    assert plan.job_variants == {}


def test_the_gitlab_matrix_and_manifests_are_per_job() -> None:
    plan = _grouped(["linux-64", "osx-64"])
    document = gitlab_child_pipeline(plan, runner_tags={"linux-64": "docker", "osx-64": "mac"})
    assert document["cipub-build"]["parallel"]["matrix"] == [
        {"CIPUBCI_CELL": ["linux-64-job"], "CIPUBCI_RUNNER_TAG": "docker"},
        {"CIPUBCI_CELL": ["osx-64-job"], "CIPUBCI_RUNNER_TAG": "mac"},
    ]
    upload = document["cipub-publish"]["script"][0]
    assert "output/linux-64-job/cipub-manifest.json" in upload and "python3.11" not in upload


def test_building_a_job_pins_every_value_of_its_cells_and_publishes_all_their_outputs() -> None:
    plan = Plan.from_json(_grouped(["linux-64"]).to_json())  # what a CI job reads back
    choice = cells.choose(plan, "linux-64-job", overrides={}, platform=None)
    assert choice.id == "linux-64-job" and choice.target_platform == "linux-64"
    assert dict(choice.overrides) == {"c_compiler": ["gcc"], "python": ["3.11", "3.12"]}
    assert choice.variant == {"c_compiler": "gcc"}
    assert sorted(choice.outputs) == ["demo-tools", "libdemo", "py-demo"]
    # a cell of the job can still be built on its own
    one = cells.choose(plan, "linux-64-python3.12", overrides={}, platform=None)
    assert dict(one.overrides)["python"] == ["3.12"]


def test_a_job_refuses_a_variant_that_contradicts_one_of_its_cells() -> None:
    plan = _grouped(["linux-64"])
    with pytest.raises(UsageError, match="contradicts cell 'linux-64-python3.11'"):
        cells.choose(plan, "linux-64-job", overrides={"python": ["3.12"]}, platform=None)


def test_an_unknown_id_lists_cells_and_jobs() -> None:
    plan = _grouped(["linux-64"])
    with pytest.raises(UsageError) as caught:
        cells.choose(plan, "nope", overrides={}, platform=None)
    assert "jobs: linux-64-job" in (caught.value.hint or "")


def test_a_plan_without_job_variants_says_to_plan_again() -> None:
    plan = _grouped(["linux-64"])
    plan.job_variants = {}
    with pytest.raises(UsageError, match="not the values that build them together"):
        cells.choose(plan, "linux-64-job", overrides={}, platform=None)


def test_job_variant_keeps_zip_partners_aligned() -> None:
    # python and numpy are zipped: each is given the distinct rows of the pair, never a value list
    # of its own (two pythons, one numpy would be a zip of unequal lengths the engine refuses)
    members = [
        _cell("a", "j", python="3.11", numpy="2", cuda="None"),
        _cell("b", "j", python="3.12", numpy="2", cuda="None"),
        _cell("c", "j", python="3.11", numpy="2", cuda="12"),
        _cell("d", "j", python="3.12", numpy="2", cuda="12"),
    ]
    assert job_variant(members, [["python", "numpy"]]) == {
        "python": ["3.11", "3.12"],
        "numpy": ["2", "2"],
        "cuda": ["None", "12"],
    }
    # without the zip, each key is its own list of distinct values
    assert job_variant(members, [])["numpy"] == ["2"]
