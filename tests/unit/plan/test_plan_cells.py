"""make_plan: cells per platform, noarch collapse, selectors, stable ids, plan files, build numbers."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import yaml

from cipub.ci.matrix import render_github_matrix, render_gitlab_child_pipeline
from cipub.core.errors import RecipeError, UsageError
from cipub.policy.plan import MAX_ID_LENGTH, Plan, make_plan, select_cell
from cipub.recipe import load_recipe

PLATFORMS = ["linux-64", "osx-arm64", "win-64"]
PYTHONS = "python:\n  - 3.10\n  - 3.11\n  - 3.12\n  - 3.13\n"


def recipe_dir(tmp_path: Path, filename: str, text: str, **files: str) -> Path:
    d = tmp_path / "recipe"
    d.mkdir(exist_ok=True)
    (d / filename).write_text(textwrap.dedent(text))
    for name, content in files.items():
        (d / name).write_text(textwrap.dedent(content))
    return d


def plan_of(path: Path, platforms: list[str] = PLATFORMS, **kwargs):  # type: ignore[no-untyped-def]
    kwargs.setdefault("variant_configs", [])
    kwargs.setdefault("overrides", {})
    return make_plan(load_recipe(path, target_platform=platforms[0]), platforms=platforms, channel=None, **kwargs)


V1_NOARCH = """
package: {name: purepy, version: "1.0"}
build: {noarch: python}
requirements:
  host: [python, pip]
  run: [python]
"""
V0_NOARCH = """
package:
  name: purepy
  version: "1.0"
build:
  noarch: python
requirements:
  host:
    - python
    - pip
  run:
    - python
    - colorama  # [win]
"""


@pytest.mark.parametrize(("filename", "text"), [("recipe.yaml", V1_NOARCH), ("meta.yaml", V0_NOARCH)])
def test_noarch_recipe_is_one_cell_for_3_platforms_and_4_pythons(tmp_path: Path, filename: str, text: str) -> None:
    d = recipe_dir(tmp_path, filename, text, **{"conda_build_config.yaml": PYTHONS})
    plan = plan_of(d)
    assert [(c.id, c.platform, c.noarch, c.variant) for c in plan.cells] == [("noarch", "linux-64", "python", {})]
    # configurable noarch platform
    plan = plan_of(d, noarch_platform="osx-arm64")
    assert [(c.id, c.platform) for c in plan.cells] == [("noarch", "osx-arm64")]


V0_COMPILED = """
package:
  name: fast
  version: "2.0"
build:
  number: 3
  skip: true  # [win and py<312]
requirements:
  build:
    - {{ compiler('c') }}
  host:
    - python
    - numpy
  run:
    - python
"""
CBC = """
python:
  - 3.10
  - 3.11
  - 3.12
  - 3.13
numpy:
  - 2.0
c_compiler:
  - gcc    # [linux]
  - clang  # [osx]
  - vs2022 # [win]
unused_key:
  - a
  - b
"""


def test_compiled_recipe_is_the_full_product_minus_selector_skips(tmp_path: Path) -> None:
    d = recipe_dir(tmp_path, "meta.yaml", V0_COMPILED, **{"conda_build_config.yaml": CBC})
    plan = plan_of(d)
    assert len(plan.cells) == 3 * 4 - 2
    assert {c.platform for c in plan.cells} == set(PLATFORMS)
    win = [c.variant["python"] for c in plan.cells if c.platform == "win-64"]
    assert win == ["3.12", "3.13"]
    assert plan.ids[:4] == [
        "linux-64-python3.10",
        "linux-64-python3.11",
        "linux-64-python3.12",
        "linux-64-python3.13",
    ]
    assert plan.cells[0].variant == {"c_compiler": "gcc", "numpy": "2.0", "python": "3.10"}
    assert plan.cells[0].runner == "ubuntu-latest"
    assert plan.build_numbers[0].name == "fast" and plan.build_numbers[0].chosen == 3


V1_COMPILED = """
package: {name: fastv1, version: "1.0"}
build:
  skip:
    - win and match(python, "<3.12")
requirements:
  build: ["${{ compiler('c') }}"]
  host: [python, numpy]
  run: [python]
"""


def test_v1_compiled_recipe_product_minus_skips(tmp_path: Path) -> None:
    d = recipe_dir(
        tmp_path,
        "recipe.yaml",
        V1_COMPILED,
        **{"variants.yaml": 'python: ["3.10", "3.11", "3.12", "3.13"]\nnumpy: ["1.26", "2.0"]\n'},
    )
    plan = plan_of(d)
    assert len(plan.cells) == 3 * 8 - 4
    assert "linux-64-numpy1.26-python3.10" in plan.ids


def test_conditional_noarch_collapses_only_where_noarch(tmp_path: Path) -> None:
    text = V0_NOARCH.replace("  noarch: python", "  noarch: python  # [not win]")
    d = recipe_dir(tmp_path, "meta.yaml", text, **{"conda_build_config.yaml": PYTHONS})
    plan = plan_of(d)
    assert plan.ids == ["noarch", "win-64-python3.10", "win-64-python3.11", "win-64-python3.12", "win-64-python3.13"]
    assert plan.cells[0].noarch == "python" and all(c.noarch is None for c in plan.cells[1:])


def test_v1_conditional_noarch_expression(tmp_path: Path) -> None:
    text = V1_NOARCH.replace("build: {noarch: python}", 'build:\n  noarch: ${{ "python" if not win }}')
    d = recipe_dir(tmp_path, "recipe.yaml", text, **{"variants.yaml": 'python: ["3.11", "3.12"]\n'})
    assert plan_of(d).ids == ["noarch", "win-64-python3.11", "win-64-python3.12"]


def test_ids_are_stable_and_readable(tmp_path: Path) -> None:
    d = recipe_dir(tmp_path, "meta.yaml", V0_COMPILED, **{"conda_build_config.yaml": CBC})
    first = plan_of(d, ["linux-64"], overrides={"numpy": ["2.0", "2.1"]})
    second = plan_of(d, ["linux-64"], overrides={"numpy": ["2.0", "2.1"]})
    assert first.ids == second.ids
    assert first.ids[0] == "linux-64-numpy2.0-python3.10"
    assert len(set(first.ids)) == len(first.ids) == 8


def test_long_ids_get_a_hash_suffix(tmp_path: Path) -> None:
    d = recipe_dir(
        tmp_path,
        "meta.yaml",
        "package: {name: x, version: '1'}\n"
        "requirements:\n  host:\n    - a_very_long_dependency_key\n    - another_long_key\n",
        **{
            "conda_build_config.yaml": "a_very_long_dependency_key: [1.2.3.4.5.6.7.8.9, 9.8.7.6.5.4.3.2.1]\n"
            "another_long_key: [some-long-value-number-one, some-long-value-number-two]\n"
        },
    )
    plan = plan_of(d, ["linux-64"])
    assert len(plan.cells) == 4
    assert all(len(i) <= MAX_ID_LENGTH for i in plan.ids)
    assert all(i.startswith("linux-64-a_very_long") and "-h" in i for i in plan.ids)
    assert len(set(plan.ids)) == 4


def test_select_cell_and_json_round_trip(tmp_path: Path) -> None:
    d = recipe_dir(tmp_path, "meta.yaml", V0_COMPILED, **{"conda_build_config.yaml": CBC})
    plan = plan_of(d, ["linux-64", "osx-arm64"])
    again = Plan.from_json(plan.to_json())
    assert again == plan
    assert select_cell(again, "osx-arm64-python3.12").variant["c_compiler"] == "clang"
    with pytest.raises(UsageError, match="no such cell") as info:
        select_cell(plan, "linux-64-python2.7")
    assert "linux-64-python3.10" in (info.value.hint or "")
    for bad in ("{", "[]", '{"schema": 7}', '{"schema": 1}'):
        with pytest.raises(UsageError):
            Plan.from_json(bad)


def test_renderings(tmp_path: Path) -> None:
    d = recipe_dir(tmp_path, "meta.yaml", V0_COMPILED, **{"conda_build_config.yaml": CBC})
    plan = plan_of(d, ["linux-64", "win-64"])
    matrix = json.loads(render_github_matrix(plan))
    assert [e["id"] for e in matrix["include"]] == plan.ids
    assert matrix["include"][-1]["runner"] == "windows-latest"
    gitlab = yaml.safe_load(render_gitlab_child_pipeline(plan))
    # each platform's jobs on its own runners: win-64's on GitLab.com's Windows runner, not on Linux
    linux = [i for i in plan.ids if i.startswith("linux-64")]
    assert gitlab["cipub-build-linux-64"]["parallel"]["matrix"] == [{"CIPUBCI_CELL": linux}]
    assert "tags" not in gitlab["cipub-build-linux-64"]
    assert gitlab["cipub-build-win-64"]["tags"] == ["saas-windows-medium-amd64"]
    assert gitlab["variables"]["CIPUBCI_RECIPE"] == plan.recipe
    assert set(gitlab) >= {"cipub-build-win-64", "cipub-publish", "cipub-verify", "cipub-promote"}


def test_nothing_to_build_is_a_recipe_error(tmp_path: Path) -> None:
    d = recipe_dir(tmp_path, "meta.yaml", "package: {name: x, version: '1'}\nbuild:\n  skip: true  # [osx]\n")
    recipe = load_recipe(d, target_platform="linux-64")
    with pytest.raises(RecipeError, match="nothing to build for osx-arm64"):
        make_plan(recipe, variant_configs=[], overrides={}, platforms=["osx-arm64"], channel=None)


def test_bad_variant_file_through_the_plan(tmp_path: Path) -> None:
    d = recipe_dir(tmp_path, "meta.yaml", V0_COMPILED, **{"conda_build_config.yaml": "python:\n  - 3.10  # [linx]\n"})
    with pytest.raises(RecipeError, match=r"conda_build_config\.yaml:2: selector \[linx\]"):
        plan_of(d, ["linux-64"])


def test_build_numbers_come_from_the_channel_once(tmp_path: Path) -> None:
    from cipub.channels import TargetOptions, open_channel
    from cipub.core.artifact import read_artifact
    from tests.support.packages import make_package

    d = recipe_dir(tmp_path, "meta.yaml", V0_COMPILED, **{"conda_build_config.yaml": CBC})
    channel = open_channel(str(tmp_path / "channel"), TargetOptions())
    with channel:
        for number in (3, 5):
            pkg = make_package(tmp_path / "pkgs", "fast", "2.0", number, subdir="linux-64")
            channel.upload(read_artifact(pkg), "test")
    with channel:
        plan = make_plan(
            load_recipe(d, target_platform="linux-64"),
            variant_configs=[],
            overrides={},
            platforms=["linux-64", "osx-arm64"],
            channel=channel,
        )
    assert [(b.name, b.version, b.channel_highest, b.chosen) for b in plan.build_numbers] == [("fast", "2.0", 5, 6)]
    assert plan.channel == channel.display
    assert plan.build_number_for("fast", "2.0") == 6
