"""CI runs the plan's jobs, not its cells: under conda-smithy's grouping one CI job builds every
cell of its job in one engine run (``cipub build --only JOB``), so a library with Python bindings
is built once per job, as conda-smithy builds it (issue 17, class 4)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cipub.ci.matrix import gitlab_child_pipeline, render_github_matrix
from cipub.core.artifact import Artifact
from cipub.core.errors import BuildFailedError, UsageError
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
    document = gitlab_child_pipeline(plan, runner_tags={"linux-64": ("docker",), "osx-64": ("mac",)})
    assert document["cipub-build-linux-64"]["parallel"]["matrix"] == [{"CIPUBCI_CELL": ["linux-64-job"]}]
    assert document["cipub-build-osx-64"]["parallel"]["matrix"] == [{"CIPUBCI_CELL": ["osx-64-job"]}]
    upload = document["cipub-publish"]["script"][0]
    assert "output/linux-64-job/cipub-manifest.json" in upload and "python3.11" not in upload


def test_building_a_job_pins_every_value_of_its_cells_and_publishes_all_their_outputs() -> None:
    plan = Plan.from_json(_grouped(["linux-64"]).to_json())  # what a CI job reads back
    choice = cells.choose(plan, "linux-64-job", overrides={}, platform=None)
    assert choice.id == "linux-64-job" and choice.target_platform == "linux-64"
    # one value per cell, the keys zipped: the engine builds the job's two cells, no other combination
    assert dict(choice.overrides) == {"c_compiler": ["gcc", "gcc"], "python": ["3.11", "3.12"]}
    assert [sorted(group) for group in choice.zip_keys] == [["c_compiler", "python"]]
    assert [c.id for c in choice.cells] == ["linux-64-python3.11", "linux-64-python3.12"]
    assert choice.variant == {"c_compiler": "gcc"}
    assert sorted(choice.outputs) == ["demo-tools", "libdemo", "py-demo"]
    # a cell of the job can still be built on its own
    one = cells.choose(plan, "linux-64-python3.12", overrides={}, platform=None)
    assert dict(one.overrides)["python"] == ["3.12"] and one.zip_keys == ()


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


def test_a_jobs_cells_are_rows_of_one_zip_never_the_product_of_their_values() -> None:
    # the pinning zips flavour with size: (mint, s) and (lemon, l) are the cells. The values alone
    # (flavour [mint, lemon], size [s, l]) would make an engine without that zip build four.
    members = [
        _cell("a", "j", libfoo="2", flavour="mint", size="s"),
        _cell("b", "j", libfoo="2", flavour="lemon", size="l"),
    ]
    values, zips = cells.job_rows(members, {})
    assert values == {"libfoo": ["2", "2"], "flavour": ["mint", "lemon"], "size": ["s", "l"]}
    assert zips == (("libfoo", "flavour", "size"),)
    # a key only some cells have keeps the job's values, outside the zip
    members.append(_cell("c", "j", libfoo="2", flavour="mint"))
    values, zips = cells.job_rows(members, {"size": ["s", "l"]})
    assert zips == (("libfoo", "flavour"),) and values["size"] == ["s", "l"]


def _built(name: str, hash_input: dict[str, str] | None) -> Artifact:
    return Artifact(
        Path(f"{name}.conda"),
        f"{name}-1-h0_0.conda",
        name,
        "1",
        "h0_0",
        0,
        "linux-64",
        None,
        "0" * 64,
        "",
        0,
        hash_input=hash_input,
    )


def _job_choice() -> cells.CellChoice:
    mint = _cell("linux-64-mint", "linux-64-job", ("lib", "flavoured"), libfoo="2", flavour="mint")
    lemon = _cell("linux-64-lemon", "linux-64-job", ("flavoured",), libfoo="2", flavour="lemon")
    return cells.CellChoice(id="linux-64-job", variant={"libfoo": "2"}, cells=(mint, lemon))


def test_each_file_of_a_job_is_given_its_own_cell_from_the_values_it_was_built_with() -> None:
    choice = _job_choice()
    lemon = cells.attribute(choice, _built("flavoured", {"flavour": "lemon", "libfoo": "2", "target_platform": "x"}))
    assert lemon is not None and lemon.id == "linux-64-lemon"
    # an output using fewer keys is built once for the job: it is the cell's that publishes it
    lib = cells.attribute(choice, _built("lib", {"libfoo": "2", "target_platform": "linux-64"}))
    assert lib is not None and lib.id == "linux-64-mint"
    # without info/hash_input.json: the one owner, else unknown (the job's shared values stand)
    assert cells.attribute(choice, _built("lib", None)).id == "linux-64-mint"  # type: ignore[union-attr]
    assert cells.attribute(choice, _built("flavoured", None)) is None


def test_a_file_built_with_values_no_cell_of_the_job_has_is_refused() -> None:
    with pytest.raises(BuildFailedError, match=r"built with flavour=mint libfoo=1, which is no cell of 'linux-64-job'"):
        cells.attribute(_job_choice(), _built("flavoured", {"flavour": "mint", "libfoo": "1"}))
    # a one-cell build is checked too: the built file must carry the cell's values
    one = cells.CellChoice(id="linux-64-mint", cells=(_job_choice().cells[0],))
    with pytest.raises(BuildFailedError, match="the build did not use the plan's variant"):
        cells.attribute(one, _built("lib", {"libfoo": "1"}))
    assert cells.attribute(one, _built("lib", {"libfoo": "2"})) is not None


def test_the_table_names_the_job_ids_that_only_takes() -> None:
    """`cipub plan`'s default (table) output lists each grouped job and its cells: the id
    `cipub build --only` needs was only in the JSON and CI formats (a cold reviewer's finding)."""
    from cipub.workflows.plan import render

    table = render(_grouped(["linux-64"]), "text")
    assert "1 job(s) (`cipub build --only JOB` builds one), grouped:" in table
    assert "  linux-64-job: linux-64-python3.11, linux-64-python3.12" in table
    recipe = load_recipe(DATA / "derived-keys", target_platform="linux-64")
    ungrouped = make_plan(recipe, variant_configs=[], overrides={}, platforms=["linux-64"], channel=None)
    assert "job(s)" not in render(ungrouped, "text")
