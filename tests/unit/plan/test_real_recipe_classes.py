"""The classes of issue 17: ways real conda-forge recipes broke ``cipub plan``, one recipe each.

The recipes are cipub's own (``tests/data/real-classes``), each the smallest one that shows a class.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cipub.core.errors import RecipeError
from cipub.policy import plan as plan_mod
from cipub.policy.plan import make_plan
from cipub.recipe import load_recipe
from cipub.recipe.variants import VariantConfig

DATA = Path(__file__).resolve().parents[2] / "data" / "real-classes"


def _plan(name: str, platforms: list[str], **kwargs: object) -> plan_mod.Plan:
    recipe = load_recipe(DATA / name, target_platform=platforms[0])
    arguments: dict[str, object] = {"variant_configs": [], "overrides": {}, "platforms": platforms, "channel": None}
    arguments.update(kwargs)
    return make_plan(recipe, **arguments)  # type: ignore[arg-type]


def test_class1_derived_keys_lose_no_output() -> None:
    # py-demo's variant carries libdemo (its pin_subpackage'd sibling), demo-tools' carries
    # build_platform: neither is a variant-file key, and neither may cost a cell or an output
    plan = _plan("derived-keys", ["linux-64"])
    by_python = {c.variant.get("python"): c for c in plan.cells}
    assert set(by_python) == {"3.11", "3.12"}
    published = [o for c in plan.cells for o in c.outputs]
    assert sorted(published) == ["demo-tools", "libdemo", "py-demo", "py-demo"]
    assert all("libdemo" not in c.variant and "build_platform" not in c.variant for c in plan.cells)


def test_class1_an_output_matching_no_combination_is_an_error_naming_it() -> None:
    recipe = load_recipe(DATA / "derived-keys", target_platform="linux-64")
    config = VariantConfig({"python": ["3.11", "3.12"], "c_compiler": ["gcc"]})
    outputs = [
        plan_mod._Output("libdemo", {"c_compiler": "gcc"}, None),
        plan_mod._Output("py-demo", {"python": "3.13", "libdemo": "1.2.3 h0_0"}, None),
    ]
    with pytest.raises(RecipeError, match=r"output py-demo \(python=3\.13\) for linux-64 matches no combination"):
        plan_mod._cells_from_outputs(recipe, "linux-64", config, outputs)


def test_class3_selectors_see_integer_variant_values() -> None:
    plan = _plan("int-selectors", ["linux-64"])
    assert sorted(c.variant["microarch_level"] for c in plan.cells) == ["1", "3"]
