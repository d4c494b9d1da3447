"""load_recipe: names, versions, build numbers and noarch from v1 and v0 recipes, for a platform."""

from __future__ import annotations

from pathlib import Path

import pytest

from cipub.core.errors import RecipeError, UsageError
from cipub.recipe import find_recipe_file, load_recipe

REPO = Path(__file__).resolve().parents[3]
TEMPLATES = REPO / "recipes-template"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


V1_MULTI = """\
context:
  version: "2.0"
recipe:
  name: multi
  version: ${{ version }}
build:
  number: 1
outputs:
  - package:
      name: libmulti
    build:
      noarch: ${{ "generic" if unix }}
  - package:
      name: multi-py
    requirements:
      host: [python]
    build:
      noarch: python
      number: 5
  - package:
      name: onlywin
    build:
      skip: not win
"""

META = """\
{% set name = "Demo-Pkg" %}
{% set version = "1.10" %}
package:
  name: {{ name|lower }}
  version: {{ version }}
build:
  number: 2
  noarch: python  # [not win]
  script: {{ PYTHON }} -m pip install . -vv
requirements:
  build:
    - {{ compiler('c') }}  # [win]
  host:
    - python
    - setuptools  # [py<312]
  run:
    - {{ pin_compatible('numpy') }}
    - {{ environ.get('MISSING_VAR', 'fallback') }}
"""


def test_templates_are_read_with_their_noarch_kind() -> None:
    generic = load_recipe(TEMPLATES / "v1-noarch-generic", target_platform="linux-64")
    assert (generic.format, generic.name, generic.version, generic.build_number, generic.noarch) == (
        "v1",
        "hello-cipub-data",
        "0.1.0",
        0,
        "generic",
    )
    assert generic.path == (TEMPLATES / "v1-noarch-generic" / "recipe.yaml").resolve()
    assert generic.directory == generic.path.parent
    python = load_recipe(TEMPLATES / "v1-noarch-python" / "recipe.yaml", target_platform="osx-arm64")
    assert (python.name, python.noarch) == ("hello-cipub", "python")
    v0 = load_recipe(TEMPLATES / "v0-noarch-python", target_platform="win-64")
    assert (v0.format, v0.name, v0.version, v0.noarch) == ("v0", "hello-cipub-v0", "0.1.0", "python")


def test_v1_multi_output_per_platform(tmp_path: Path) -> None:
    write(tmp_path / "recipe.yaml", V1_MULTI)
    linux = load_recipe(tmp_path, target_platform="linux-64")
    assert [(o.name, o.version, o.build_number, o.noarch) for o in linux.outputs] == [
        ("libmulti", "2.0", 1, "generic"),
        ("multi-py", "2.0", 5, "python"),
    ]
    assert linux.name == "libmulti" and linux.is_noarch
    win = load_recipe(tmp_path, target_platform="win-64")
    # the conditional noarch is false on win, and the win-only output appears
    assert [(o.name, o.noarch) for o in win.outputs] == [
        ("libmulti", None),
        ("multi-py", "python"),
        ("onlywin", None),
    ]
    assert not win.is_noarch
    assert win.names_versions == [("libmulti", "2.0"), ("multi-py", "2.0"), ("onlywin", "2.0")]


def test_v1_is_rendered_with_the_variant_files_a_build_reads(tmp_path: Path) -> None:
    # No second reader of v1 (issue 17 class 2): what py-rattler-build cannot render without a
    # variant value is an error saying which files to give, and renders once they are given.
    write(
        tmp_path / "recipe.yaml",
        "context:\n  v: '3.1'\npackage:\n  name: needs-variant\n  version: ${{ v }}\n"
        "build:\n  number: 4\n  string: ${{ undefined_variant_key }}\n",
    )
    with pytest.raises(RecipeError, match="cannot render for linux-64"):
        load_recipe(tmp_path, target_platform="linux-64")
    write(tmp_path / "extra.yaml", "undefined_variant_key: [abc]\n")
    recipe = load_recipe(tmp_path, target_platform="linux-64", variant_files=[tmp_path / "extra.yaml"])
    assert (recipe.name, recipe.version, recipe.build_number, recipe.noarch) == ("needs-variant", "3.1", 4, None)


def test_v0_jinja_and_selectors(tmp_path: Path) -> None:
    write(tmp_path / "meta.yaml", META)
    linux = load_recipe(tmp_path, target_platform="linux-64")
    # numbers stay strings: 1.10 is not 1.1
    assert (linux.format, linux.name, linux.version, linux.build_number, linux.noarch) == (
        "v0",
        "demo-pkg",
        "1.10",
        2,
        "python",
    )
    win = load_recipe(tmp_path, target_platform="win-64")
    assert win.noarch is None


def test_v0_multi_output_inherits_version_and_number(tmp_path: Path) -> None:
    write(
        tmp_path / "meta.yaml",
        "package: {name: split, version: '3.0'}\nbuild: {number: 7}\noutputs:\n"
        "  - name: libsplit\n  - name: py-split\n    build: {noarch: python, number: 9}\n"
        "  - name: win-only\n    build:\n      skip: true  # [not win]\n",
    )
    recipe = load_recipe(tmp_path / "meta.yaml", target_platform="linux-64")
    assert [(o.name, o.version, o.build_number, o.noarch) for o in recipe.outputs] == [
        ("libsplit", "3.0", 7, None),
        ("py-split", "3.0", 9, "python"),
    ]


def test_v0_top_level_skip_means_nothing_to_build(tmp_path: Path) -> None:
    write(tmp_path / "meta.yaml", "package: {name: a, version: '1'}\nbuild:\n  skip: true  # [win]\n")
    assert load_recipe(tmp_path, target_platform="linux-64").name == "a"
    with pytest.raises(RecipeError, match="no package to build for win-64"):
        load_recipe(tmp_path, target_platform="win-64")


@pytest.mark.parametrize(
    ("filename", "text", "expected"),
    [
        ("recipe.yaml", "package:\n  name: x\n  version: [1\nbuild: {number: 0}\n", r"recipe\.yaml:4: cannot parse"),
        ("meta.yaml", "package:\n  name: x\n  version: 1\n   bad: indent\n", r"meta\.yaml:4: invalid YAML"),
        ("meta.yaml", "package:\n  name: {{ x \n", r"meta\.yaml:2: Jinja2 syntax error"),
        ("meta.yaml", "package:\n  name: x\n  version: 1\nbuild:\n  number: one\n", "build/number 'one'"),
        ("meta.yaml", "package:\n  name: x\n", "package/version is missing"),
        ("meta.yaml", "package:\n  name: x  # [linux and (]\n", r"meta\.yaml:2: selector \[linux and \(\]"),
        ("meta.yaml", "- just\n- a list\n", "must be a YAML mapping"),
    ],
)
def test_bad_recipes_are_recipe_errors_with_file_and_line(
    tmp_path: Path, filename: str, text: str, expected: str
) -> None:
    write(tmp_path / filename, text)
    with pytest.raises(RecipeError, match=expected) as info:
        load_recipe(tmp_path, target_platform="linux-64")
    assert info.value.exit_code == 3


def test_missing_recipe(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match="no recipe.yaml or meta.yaml"):
        load_recipe(tmp_path)
    with pytest.raises(RecipeError, match="no such recipe"):
        load_recipe(tmp_path / "nope")


def test_recipe_yaml_wins_over_meta_yaml(tmp_path: Path) -> None:
    write(tmp_path / "meta.yaml", "package: {name: old, version: '1'}\n")
    write(tmp_path / "recipe.yaml", "package: {name: new, version: '1'}\n")
    assert find_recipe_file(tmp_path) == (tmp_path / "recipe.yaml", "v1")


def test_bad_platform_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not a conda platform"):
        load_recipe(TEMPLATES / "v1-noarch-generic", target_platform="Linux 64")


def test_default_platform_is_this_machine() -> None:
    from rattler import Subdir

    assert load_recipe(TEMPLATES / "v1-noarch-generic").target_platform == str(Subdir.current())


def test_v0_first_variant_skipped_still_reads(tmp_path: Path) -> None:
    write(tmp_path / "conda_build_config.yaml", "python:\n  - 3.10\n  - 3.12\n")
    write(
        tmp_path / "meta.yaml",
        "package: {name: a, version: '1.0'}\n"
        "build:\n  number: {{ 7 if python == '3.10' else 8 }}\n  skip: true  # [win and py<312]\n",
    )
    # the neighbouring conda_build_config.yaml feeds the first values
    assert load_recipe(tmp_path, target_platform="linux-64").build_number == 7
    # on win the first value is skipped: the recipe is still read (python unknown there)
    assert load_recipe(tmp_path, target_platform="win-64").build_number == 8
