"""A plan file is checked when it is read: every build job of a pipeline reads it, and a value of
the wrong kind (a hand edit, a truncated file) must stop the job with a usage error naming the
field (exit 2, a hint to write the plan again), never reach a package name or the engine."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cipub.core.decisions import BuildNumberDecision
from cipub.core.errors import UsageError
from cipub.policy.plan import Plan, PlanCell, select_cell, select_cells
from cipub.recipe import load_recipe
from cipub.workflows.plan import check_plan_recipe
from tests.conftest import CliResult

Cli = Callable[..., CliResult]

RECIPE = """\
package:
  name: vanilla
  version: "1.0"
build:
  number: 0
  string: ${{ flavour }}_h${{ hash }}_${{ build_number }}
"""


def _plan() -> Plan:
    return Plan(
        recipe="recipe/recipe.yaml",
        recipe_format="v1",
        platforms=["linux-64"],
        noarch_platform="linux-64",
        cells=[
            PlanCell("linux-64-flavourmint", "linux-64", {"flavour": "mint"}, None, "ubuntu-latest", ("vanilla",)),
            PlanCell("linux-64-flavourlemon", "linux-64", {"flavour": "lemon"}, None, "ubuntu-latest", ("vanilla",)),
        ],
        build_numbers=[BuildNumberDecision("vanilla", "1.0", 0, None, 0, "no channel to compare with")],
    )


def _set(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """``data`` with the field at ``cells.0.variant.flavour`` (say) set to ``value``."""
    changed = copy.deepcopy(data)
    *parents, last = path.split(".")
    node: Any = changed
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return changed


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("cells.0.variant.flavour", None, "cells[0].variant.flavour must be text, not null"),
        ("cells.0.variant.flavour", ["1", "2"], "cells[0].variant.flavour must be text, not"),
        ("cells.0.variant.flavour", 3, "cells[0].variant.flavour must be text, not 3 (int)"),
        ("cells.0.variant", "x", "cells[0].variant must be an object"),
        ("cells.0.id", "linux-64-flavourlemon", "id 'linux-64-flavourlemon' is given to several cells"),
        ("cells.0.id", "../../etc", "cells[0].id '../../etc' is not an id cipub writes"),
        ("cells.0.id", 5, "cells[0].id must be text"),
        ("cells.0.platform", "linux-bogus", "cells[0].platform 'linux-bogus' is not a conda platform"),
        ("cells.0.noarch", "yes", "cells[0].noarch must be null, python or generic"),
        ("cells.0.outputs", "vanilla", "cells[0].outputs must be a list"),
        ("cells.0.job", "a job", "cells[0].job 'a job' is not an id cipub writes"),
        ("cells", [], "cells is empty"),
        ("cells", {}, "cells must be a list"),
        ("build_numbers.0.chosen", -5, "build_numbers[0].chosen must be a build number (an integer, 0 or more)"),
        ("build_numbers.0.chosen", "abc", "build_numbers[0].chosen must be a build number"),
        ("build_numbers.0.chosen", True, "build_numbers[0].chosen must be a build number"),
        ("build_numbers.0.chosen", 1.5, "build_numbers[0].chosen must be a build number"),
        ("build_numbers.0.recipe_number", None, "build_numbers[0].recipe_number must be a build number"),
        ("build_numbers.0.channel_highest", -1, "build_numbers[0].channel_highest must be a build number"),
        ("build_numbers.0.name", None, "build_numbers[0].name must be text"),
        ("build_numbers.0.extra", 1, "build_numbers[0].extra is no field of a build number decision"),
        ("build_numbers", {"a": 1}, "build_numbers must be a list"),
        ("cells.0.build_numbers", {"vanilla": 150}, "cells[0].build_numbers.vanilla 150 is no number the plan decided"),
        ("cells.0.build_numbers", {"vanilla": -1}, "cells[0].build_numbers.vanilla must be a build number"),
        ("grouping", "bogus", "grouping 'bogus' is none of cells, conda-smithy"),
        ("recipe_format", "v9", "recipe_format 'v9' is neither v0 nor v1"),
        ("recipe", None, "recipe must be text"),
        ("channels", ["conda-forge", 5], "channels[1] must be text"),
        ("job_variants", {"j": {"flavour": "mint"}}, "job_variants.j.flavour must be a list"),
        ("job_variants", {"j": {"flavour": [None]}}, "job_variants.j.flavour[0] must be text"),
    ],
)
def test_a_malformed_plan_names_the_field(path: str, value: Any, expected: str) -> None:
    document = _set(_plan().to_dict(), path, value)
    with pytest.raises(UsageError) as caught:
        Plan.from_json(json.dumps(document), source="p.json")
    assert caught.value.message.startswith("p.json: malformed plan: ")
    assert expected in caught.value.message, caught.value.message
    assert "cipub plan" in (caught.value.hint or "") and "--format json" in (caught.value.hint or "")


def test_a_missing_field_is_named() -> None:
    document = _plan().to_dict()
    del document["cells"][1]["variant"]
    with pytest.raises(UsageError, match=r"cells\[1\].variant is missing"):
        Plan.from_json(json.dumps(document))


def test_a_plan_cipub_wrote_reads_back_the_same() -> None:
    plan = _plan()
    assert Plan.from_json(plan.to_json()) == plan
    # a plan written before cells had jobs, outputs or native values still reads
    old = plan.to_dict()
    for cell in old["cells"]:
        for key in ("job", "outputs", "native", "runner"):
            del cell[key]
    assert Plan.from_json(json.dumps(old)).ids == plan.ids


def test_only_suggests_the_cipub_id_of_a_ci_support_file_name() -> None:
    plan = _plan()
    for given in ("linux_64_flavourmint", "linux_64_flavourmint.yaml", "linux-64-flavormint"):
        with pytest.raises(UsageError) as caught:
            select_cells(plan, given)
        assert (caught.value.hint or "").startswith("did you mean linux-64-flavourmint? valid ids: "), given
    with pytest.raises(UsageError) as caught:
        select_cell(plan, "osx-64-nothing-alike-at-all")
    assert (caught.value.hint or "").startswith("valid ids: linux-64-flavourmint, linux-64-flavourlemon")


def test_only_in_a_plan_without_cells_says_so() -> None:
    plan = _plan()
    plan.cells = []
    with pytest.raises(UsageError) as caught:
        select_cells(plan, "linux-64")
    assert "no cells" in (caught.value.hint or "") and "valid ids" not in (caught.value.hint or "")


def test_a_plan_for_another_recipe_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "recipe.yaml").write_text(RECIPE.replace("vanilla", "chocolate"))
    (other / "variants.yaml").write_text("flavour: [mint]\n")
    recipe = load_recipe(other, target_platform="linux-64")
    with pytest.raises(UsageError) as caught:
        check_plan_recipe(_plan(), recipe, Path("p.json"))
    message = caught.value.message
    assert "p.json was written for recipe/recipe.yaml (vanilla 1.0)" in message and "(chocolate 1.0)" in message
    # another version of the same recipe: the plan's cells and numbers are not this one's either
    (other / "recipe.yaml").write_text(RECIPE.replace('"1.0"', '"1.1"'))
    with pytest.raises(UsageError, match=r"\(vanilla 1.1\)"):
        check_plan_recipe(_plan(), load_recipe(other, target_platform="linux-64"), Path("p.json"))
    # the same recipe, wherever it is checked out
    (other / "recipe.yaml").write_text(RECIPE)
    check_plan_recipe(_plan(), load_recipe(other, target_platform="linux-64"), Path("p.json"))


# -- the CLI ------------------------------------------------------------------------------------------


def _project(tmp_path: Path) -> Path:
    recipe = tmp_path / "recipe"
    recipe.mkdir()
    (recipe / "recipe.yaml").write_text(RECIPE)
    (recipe / "variants.yaml").write_text("flavour: [mint, lemon]\n")
    return tmp_path


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("cells.0.variant.flavour", None),
        ("cells.0.variant.flavour", ["1", "2"]),
        ("cells.0.variant", "x"),
        ("build_numbers.0.chosen", -5),
        ("build_numbers.0.chosen", "abc"),
    ],
)
def test_cli_build_refuses_a_hand_edited_plan(cipub: Cli, tmp_path: Path, path: str, value: Any) -> None:
    root = _project(tmp_path)
    planned = cipub("plan", "recipe", "-p", "linux-64", "--no-build-numbers", "-f", "json", "-o", "p.json", cwd=root)
    assert planned.code == 0, planned.err
    document = json.loads((root / "p.json").read_text())
    (root / "p.json").write_text(json.dumps(_set(document, path, value)))
    result = cipub("build", "recipe", "--plan", "p.json", "--only", "linux-64-flavourmint", "--no-upload", cwd=root)
    assert result.code == 2, result.err
    assert "p.json: malformed plan: " in result.err and "internal error" not in result.err
    assert "cipub: hint: write the plan again with `cipub plan" in result.err
    assert not (root / "output").exists()  # refused before anything was built


def test_cli_build_refuses_a_plan_of_another_recipe(cipub: Cli, tmp_path: Path) -> None:
    root = _project(tmp_path)
    assert (
        cipub("plan", "recipe", "-p", "linux-64", "--no-build-numbers", "-f", "json", "-o", "p.json", cwd=root).code
        == 0
    )
    other = root / "other"
    other.mkdir()
    (other / "recipe.yaml").write_text(RECIPE.replace("vanilla", "chocolate"))
    (other / "variants.yaml").write_text("flavour: [mint, lemon]\n")
    result = cipub("build", "other", "--plan", "p.json", "--only", "linux-64-flavourmint", "--no-upload", cwd=root)
    assert result.code == 2, result.err
    assert "was written for recipe/recipe.yaml (vanilla 1.0)" in result.err and "(chocolate 1.0)" in result.err


def test_cli_plan_output_to_a_directory_names_it(cipub: Cli, tmp_path: Path) -> None:
    root = _project(tmp_path)
    (root / "out").mkdir()
    result = cipub("plan", "recipe", "-p", "linux-64", "--no-build-numbers", "-f", "json", "-o", "out", cwd=root)
    assert result.code == 2, result.err
    assert "--output out: is a directory" in result.err and ".tmp" not in result.err
    assert f"cipub: hint: give the file to write, such as {Path('out') / 'plan.json'}" in result.err


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["plan", "nothing-here"], 3),
        (["plan", "recipe", "--grouping", "bogus"], 2),
        (["plan", "recipe", "-m", "bad.yaml"], 3),
        (["plan", "recipe", "--format", "yaml"], 2),
    ],
)
def test_cli_plan_errors_have_a_hint(cipub: Cli, tmp_path: Path, args: list[str], code: int) -> None:
    root = _project(tmp_path)
    (root / "bad.yaml").write_text("flavour: [mint\n")
    result = cipub(*args, "--no-build-numbers", cwd=root)
    assert result.code == code, result.err
    hints = [line for line in result.err.splitlines() if line.startswith("cipub: hint: ")]
    assert len(hints) == 1, result.err


def test_cli_build_from_a_plan_refuses_a_pinning_that_is_no_file(cipub: Cli, tmp_path: Path) -> None:
    # a build from a plan needs no pinning, but one given that does not exist is a mistake all the same
    root = _project(tmp_path)
    planned = cipub("plan", "recipe", "-p", "linux-64", "--no-build-numbers", "-f", "json", "-o", "p.json", cwd=root)
    assert planned.code == 0, planned.err
    only = ["--only", "linux-64-flavourmint"]
    result = cipub("build", "recipe", "--plan", "p.json", *only, "--pinning", "gone.yaml", "--no-upload", cwd=root)
    assert result.code == 2, result.err
    assert "--pinning gone.yaml: does not exist" in result.err


@pytest.mark.parametrize("kind", ["directory", "binary"])
def test_a_plan_path_that_is_no_plan_text_is_a_usage_error_with_a_hint(tmp_path: Path, kind: str) -> None:
    from cipub.workflows.plan import load_plan

    path = tmp_path / "p.json"
    if kind == "directory":
        path.mkdir()
    else:
        path.write_bytes(b"\xff\xfe{}")
    with pytest.raises(UsageError) as caught:
        load_plan(path)
    assert ("is a directory" if kind == "directory" else "is not UTF-8 text") in caught.value.message
    assert "cipub plan RECIPE --format json" in (caught.value.hint or "")
