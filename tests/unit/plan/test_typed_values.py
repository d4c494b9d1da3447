"""Variant values rattler-build reads as ints or booleans reach it typed (its build string hash
depends on the type), while the plan and the manifest keep showing them as text."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from cipub.engines.base import BuildRequest, effective_variant_files
from cipub.engines.rattler_build import _worker_request
from cipub.policy import cells
from cipub.policy.plan import Plan, make_plan, native_values
from cipub.recipe import load_recipe

RECIPE = """\
package:
  name: typed
  version: "1.0"
build:
  number: 0
  string: v${{ vnum }}_${{ flag }}_${{ label }}_h${{ hash }}_${{ build_number }}
"""


def _recipe(root: Path, variants: str, name: str = "variants.yaml"):  # type: ignore[no-untyped-def]
    root.mkdir(parents=True, exist_ok=True)
    (root / "recipe.yaml").write_text(RECIPE)
    (root / name).write_text(variants)
    return load_recipe(root, target_platform="linux-64")


def test_variants_yaml_unquoted_ints_and_booleans_are_typed_quoted_and_other_text_is_not(tmp_path: Path) -> None:
    recipe = _recipe(tmp_path / "r", 'vnum: [13, "14"]\nflag: [true]\nlabel: ["13", 3.10]\n')
    natives = native_values(recipe, "linux-64", [], {})
    # rattler-build's variants.yaml reader: 13 an int, true a bool; "14", "13" and 3.10 text
    assert natives == {"vnum": {"13": 13}, "flag": {"true": True}}


def test_conda_build_config_block_numbers_stay_text_booleans_do_not(tmp_path: Path) -> None:
    # rattler-build reads a conda_build_config.yaml's block-list numbers as text, its flow lists as YAML
    recipe = _recipe(tmp_path / "r", "vnum:\n  - 13\nflag:\n  - true\nlabel: [7]\n", "conda_build_config.yaml")
    assert native_values(recipe, "linux-64", [], {}) == {"flag": {"true": True}, "label": {"7": 7}}


def test_a_later_file_or_a_variant_override_decides_the_type(tmp_path: Path) -> None:
    recipe = _recipe(tmp_path / "r", "vnum: [13]\nflag: [true]\nlabel: [x]\n")
    later = tmp_path / "later.yaml"
    later.write_text('vnum: ["13"]\n')
    assert native_values(recipe, "linux-64", [later], {}) == {"flag": {"true": True}}
    assert native_values(recipe, "linux-64", [], {"flag": ["true"]}) == {"vnum": {"13": 13}}


def test_the_plan_carries_native_values_beside_the_text_and_reads_them_back(tmp_path: Path) -> None:
    recipe = _recipe(tmp_path / "r", "vnum: [13, 14]\nflag: [true]\nlabel: [x]\n")
    plan = make_plan(recipe, variant_configs=[], overrides={}, platforms=["linux-64"], channel=None)
    assert [(c.variant, c.native) for c in plan.cells] == [
        ({"flag": "true", "label": "x", "vnum": "13"}, {"flag": True, "vnum": 13}),
        ({"flag": "true", "label": "x", "vnum": "14"}, {"flag": True, "vnum": 14}),
    ]
    again = Plan.from_json(plan.to_json())
    assert [c.native for c in again.cells] == [c.native for c in plan.cells]
    # a plan written before cells had native values reads as text, as before
    old = plan.to_dict()
    for cell in old["cells"]:
        del cell["native"]
    assert [c.native for c in Plan.from_json(json.dumps(old)).cells] == [{}, {}]


def test_the_engine_gets_a_cells_typed_values_in_a_variant_file_not_as_text_overrides(tmp_path: Path) -> None:
    recipe = _recipe(tmp_path / "r", "vnum: [13, 14]\nflag: [true]\nlabel: [x]\n")
    plan = make_plan(recipe, variant_configs=[], overrides={}, platforms=["linux-64"], channel=None)
    choice = cells.choose(plan, plan.cells[0].id, overrides={"other": ["a"]}, platform=None)
    request = BuildRequest(
        recipe=recipe,
        output_dir=tmp_path / "out",
        variant_overrides={k: list(v) for k, v in choice.overrides.items()},
        variant_natives=choice.natives,
    )
    files = effective_variant_files(request, tmp_path)
    assert files[-1].name == "cipub_job_variants.yaml"
    assert yaml.safe_load(files[-1].read_text()) == {"flag": [True], "label": ["x"], "vnum": [13], "other": ["a"]}
    assert _worker_request(request, tmp_path / "out", files)["variant_overrides"] == {}
    # without typed values (a meta.yaml cell, a plan without them) the overrides go as before
    plain = BuildRequest(recipe=recipe, output_dir=tmp_path / "out", variant_overrides={"label": ["x"]})
    assert effective_variant_files(plain, tmp_path) == []
    assert _worker_request(plain, tmp_path / "out", [])["variant_overrides"] == {"label": ["x"]}


def test_the_merged_variant_file_keeps_the_files_ints_and_booleans(tmp_path: Path) -> None:
    """A build with a pinning gets the files merged into one: typed as rattler-build reads each."""
    pinning = tmp_path / "pinning" / "conda_build_config.yaml"
    pinning.parent.mkdir()
    pinning.write_text("flag:\n  - true\nother:\n  - 5\nvnum:\n  - 12\n")
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "recipe.yaml").write_text(RECIPE)
    (tmp_path / "r" / "variants.yaml").write_text("vnum: [13]\nlabel: [x]\n")
    recipe = load_recipe(tmp_path / "r", target_platform="linux-64", pinning=pinning)
    request = BuildRequest(recipe=recipe, output_dir=tmp_path / "out", pinning=pinning, target_platform="linux-64")
    (merged,) = effective_variant_files(request, tmp_path)
    values = yaml.safe_load(merged.read_text())
    # the recipe's own file above the pinning; the pinning's block-list number text, as rattler-build reads it
    assert values == {"flag": [True], "label": ["x"], "other": ["5"], "vnum": [13]}


def test_the_plan_renders_with_the_typed_values_so_a_false_flag_does_not_skip(tmp_path: Path) -> None:
    """rattler-build's build sees ``flag: [false]`` as false; rendered as the text "false" (truthy),
    ``skip: flag`` held and the output vanished from the plan, though every build makes it."""
    root = tmp_path / "r"
    root.mkdir()
    (root / "recipe.yaml").write_text(
        'recipe:\n  name: sk\n  version: "1.0"\noutputs:\n'
        "  - package:\n      name: sk-a\n    build:\n      skip: flag\n"
        "  - package:\n      name: sk-b\n    build:\n      string: f${{ flag }}\n"
    )
    (root / "variants.yaml").write_text("flag: [true, false]\n")
    recipe = load_recipe(root, target_platform="linux-64")
    plan = make_plan(recipe, variant_configs=[], overrides={}, platforms=["linux-64"], channel=None)
    assert sorted((c.variant["flag"], c.outputs) for c in plan.cells) == [
        ("false", ("sk-a", "sk-b")),
        ("true", ("sk-b",)),
    ]
