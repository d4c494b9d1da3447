"""``skip:`` conditions of a v1 recipe: the plain ones are evaluated without Jinja, and must give
what Jinja gives (``cipub.recipe.v1._condition_holds``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2.sandbox
import pytest

from cipub.policy.plan import cells_for_platform, variant_config_for
from cipub.recipe import load_recipe, v1
from cipub.recipe.selectors import platform_namespace

CONTEXT: dict[str, Any] = {
    **platform_namespace("win-64"),
    "vc": 14,
    "python": "3.6.* *_cpython",
    "name": "demo",
    "cuda_compiler_version": "None",
    "flag": True,
    "match": v1._match,
}

#: plain conditions (evaluated without Jinja) and ones only Jinja evaluates, mixed
CONDITIONS = [
    "win",
    "not win",
    "linux",
    "win and vc<14",
    "win and vc<15",
    "win and vc<=14 and not osx",
    "osx or win",
    "(osx or linux) and vc > 10",
    'match(python, "<3.7")',
    'match(python, ">=3.7")',
    'not match(python, "<3.7")',
    'win and match(python, "<3.7")',
    'cuda_compiler_version != "None"',
    'cuda_compiler_version == "None"',
    "10 < vc < 15",
    '"py" in python',
    '"py" not in python',
    "flag",
    "flag == true",
    "flag == True",
    "none",
    "undefined_name",
    "undefined_name or win",
    "win or undefined_name",
    "undefined_name and win",
    "vc < name",
    'vc == "14"',
    "undefined_function(vc)",
    "match(python)",
    "win and",
    # Jinja only: filters, tests, concatenation, attributes, arithmetic
    'name | upper == "DEMO"',
    "vc is defined",
    "undefined_name is defined",
    'name ~ "x" == "demox"',
    "name.startswith('de')",
    "vc + 1 == 15",
    "-vc < 0",
    "win if vc else osx",
]


def _jinja(condition: str) -> bool:
    env = jinja2.sandbox.SandboxedEnvironment(undefined=jinja2.StrictUndefined)
    try:
        return bool(env.compile_expression(condition)(**CONTEXT))
    except (jinja2.TemplateError, TypeError):
        return False


@pytest.mark.parametrize("condition", CONDITIONS)
def test_skip_condition_evaluates_as_jinja_does(condition: str) -> None:
    assert v1._condition_holds(condition, CONTEXT) is _jinja(condition)


def test_plain_conditions_do_not_need_jinja() -> None:
    plain = [c for c in CONDITIONS if v1._plain_expression(c) is not None]
    assert {"win", "win and vc<14", 'match(python, "<3.7")', "undefined_name or win"} <= set(plain)
    for jinja_only in ('name | upper == "DEMO"', "vc is defined", 'name ~ "x" == "demox"', "name.startswith('de')"):
        assert v1._plain_expression(jinja_only) is None


def test_single_output_skip_drops_the_variants_it_names(tmp_path: Path) -> None:
    recipe_dir = tmp_path / "r"
    recipe_dir.mkdir()
    (recipe_dir / "recipe.yaml").write_text(
        "package: {name: skipdemo, version: '1.0'}\n"
        'build:\n  skip:\n    - match(python, "<3.11")\n    - win and vc < 14\n'
        "requirements:\n  host: [python]\n"
    )
    variants = tmp_path / "variants.yaml"
    variants.write_text("python: ['3.10', '3.11', '3.12']\nvc: ['9']\n")
    recipe = load_recipe(recipe_dir, target_platform="linux-64", variant_files=[variants])
    config = variant_config_for(recipe, "linux-64", [variants], {})
    cells = cells_for_platform(recipe, "linux-64", config)
    assert sorted(c.combo.used["python"] for c in cells) == ["3.11", "3.12"]


VERSIONS = ["3.6", "3.7", "3.7.0", "3.7.1", "3.10", "3.9", "3.12", "3.13.2", "3", "4.0", "10", "0.9", "1.0.0.0"]
SPECS = [
    "<3.7",
    "<=3.7",
    ">3.7",
    ">=3.7",
    "==3.7",
    "!=3.7",
    ">=3.8,<3.12",
    ">= 3.8, < 3.12",
    "<3",
    "==3.7.0",
    ">=3.10",
    "<10",
    # py-rattler decides these
    "3.7.*",
    "3.7",
    "<3.7|>=3.12",
    ">=3.7a1",
    "~=3.7",
    "",
]


@pytest.mark.parametrize("spec", SPECS)
def test_match_agrees_with_py_rattler(spec: str) -> None:
    from rattler import Version, VersionSpec

    for version in VERSIONS:
        try:
            expected = bool(VersionSpec(spec).matches(Version(version)))
        except Exception:
            expected = False
        assert v1._match(f"{version}.* *_cpython", spec) is expected, (version, spec)


def test_numeric_specs_need_no_py_rattler() -> None:
    assert v1._plain_match("3.6", "<3.7") is True
    assert v1._plain_match("3.10", ">=3.8,<3.12") is True
    assert v1._plain_match("3.7", "==3.7.0") is True
    for other in ("3.7.*", "<3.7|>=3.12", ">=3.7a1", "~=3.7"):
        assert v1._plain_match("3.6", other) is None
    assert v1._plain_match("3.6a1", "<3.7") is None
