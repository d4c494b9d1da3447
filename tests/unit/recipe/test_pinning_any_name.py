"""The pinning is conda-forge-pinning's conda_build_config.yaml whatever it is called here: its
``# [selector]`` lines hold for a recipe.yaml too, and rattler-build types its values as it types a
conda_build_config.yaml's. A ``-m`` file is read as its recipe's builder reads it: conda-build
applies selectors to every file, rattler-build only to a file named conda_build_config.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest

from cipub.engines.base import BuildRequest, effective_variant_files
from cipub.policy.plan import make_plan, native_values, variant_config_for
from cipub.recipe import load_recipe

RECIPE = """\
package:
  name: pinned
  version: "1.0"
build:
  number: 0
  string: py${{ python }}_v${{ vnum }}_h${{ hash }}_${{ build_number }}
requirements:
  host:
    - python
"""
META = """\
package:
  name: pinned
  version: "1.0"
requirements:
  host:
    - python
"""
PINNING = """\
python:
  - 3.12  # [linux]
  - 3.13  # [win]
vnum:
  - 13
"""


def _recipe(tmp_path: Path, v1: bool = True):  # type: ignore[no-untyped-def]
    root = tmp_path / "recipe"
    root.mkdir()
    (root / ("recipe.yaml" if v1 else "meta.yaml")).write_text(RECIPE if v1 else META)
    (tmp_path / "read.yaml").write_text("python: ['3.12']\nvnum: ['13']\n")
    return load_recipe(root, target_platform="linux-64", variant_files=[tmp_path / "read.yaml"])


def _pinnings(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    named = tmp_path / "a" / "conda_build_config.yaml"
    other = tmp_path / "b" / "pinning-2026.01.yaml"
    named.write_text(PINNING)
    other.write_text(PINNING)
    return named, other


def test_a_pinning_under_another_name_keeps_its_selectors(tmp_path: Path) -> None:
    recipe = _recipe(tmp_path)
    named, other = _pinnings(tmp_path)
    for pinning in (named, other):
        config = variant_config_for(recipe, "linux-64", [], {}, pinning=pinning)
        assert config.values["python"] == ["3.12"], pinning
    plans = [
        make_plan(recipe, variant_configs=[], overrides={}, platforms=["linux-64"], channel=None, pinning=p)
        for p in (named, other)
    ]
    assert [c.variant for c in plans[0].cells] == [c.variant for c in plans[1].cells]
    assert [c.native for c in plans[0].cells] == [c.native for c in plans[1].cells]


def test_a_pinning_under_another_name_is_typed_as_a_conda_build_config(tmp_path: Path) -> None:
    recipe = _recipe(tmp_path)
    named, other = _pinnings(tmp_path)
    # rattler-build's conda_build_config.yaml reader keeps block-list numbers text: no native values
    assert native_values(recipe, "linux-64", [], {}, pinning=other) == native_values(
        recipe, "linux-64", [], {}, pinning=named
    )
    # and the file the engine is given (the pinning merged) is the same
    documents = []
    for pinning in (named, other):
        scratch = tmp_path / f"scratch-{pinning.parent.name}"
        scratch.mkdir()
        request = BuildRequest(recipe=recipe, output_dir=tmp_path / "out", target_platform="linux-64", pinning=pinning)
        [merged] = effective_variant_files(request, scratch)
        documents.append(merged.read_text().splitlines()[1:])  # the first line names the platform only
    assert documents[0] == documents[1]


@pytest.mark.parametrize(("v1", "selected"), [(True, ["3.12", "3.13"]), (False, ["3.12"])])
def test_a_variant_file_is_read_as_the_recipes_builder_reads_it(tmp_path: Path, v1: bool, selected: list[str]) -> None:
    recipe = _recipe(tmp_path, v1=v1)
    extra = tmp_path / "extra.yaml"
    extra.write_text(PINNING)
    # rattler-build reads a -m file not named conda_build_config.yaml as a variants.yaml (the
    # selectors are comments); conda-build applies them to every file
    assert variant_config_for(recipe, "linux-64", [extra], {}).values["python"] == selected
