"""cipub plan vs py-rattler-build's own render, for v1 recipes with variant files.

cipub reads the variant files itself (selectors, zip_keys, several files, overrides, the recipe's
own variants.yaml / conda_build_config.yaml) and asks py-rattler-build which keys each output
uses. The reference here is rattler-build's complete render path (``build_recipes(render_only=True)``,
which discovers, reads and merges the same files on its own): for each recipe, the cells cipub
plans for linux-64 must be exactly the variants rattler-build renders.
"""

from __future__ import annotations

import json
import textwrap
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from cipub.policy.plan import make_plan
from cipub.recipe import load_recipe

pytestmark = pytest.mark.integration


@dataclass
class Case:
    recipe: str
    files: dict[str, str] = field(default_factory=dict)  # name -> text; "recipe-dir/..." sit next to the recipe
    m_files: tuple[str, ...] = ()
    overrides: dict[str, list[str]] = field(default_factory=dict)
    expected_cells: int | None = None


SIMPLE_PY = """
package: {name: demo, version: "1.0"}
requirements:
  host: [python, numpy]
  run: [python]
"""

CASES: dict[str, Case] = {
    "zip-python-numpy": Case(
        SIMPLE_PY,
        {
            "variants.yaml": 'python: ["3.10", "3.11", "3.12"]\n'
            'numpy: ["1.26", "2.0", "2.1"]\nzip_keys: [[python, numpy]]\n'
        },
        expected_cells=3,
    ),
    "product-without-zip": Case(
        SIMPLE_PY,
        {"variants.yaml": 'python: ["3.11", "3.12"]\nnumpy: ["1.26", "2.0"]\n'},
        expected_cells=4,
    ),
    "cbc-selectors": Case(
        SIMPLE_PY,
        {
            "conda_build_config.yaml": textwrap.dedent(
                """\
                python:
                  - 3.10  # [osx]
                  - 3.11
                  - 3.12  # [linux]
                numpy:
                  - 2.0
                  - 9.9  # [win]
                """
            )
        },
        expected_cells=2,
    ),
    "several-m-files-later-wins": Case(
        SIMPLE_PY,
        {
            "m1.yaml": 'python: ["3.9", "3.10"]\nnumpy: ["1.22"]\n',
            "m2.yaml": 'python: ["3.12", "3.13"]\n',
        },
        m_files=("m1.yaml", "m2.yaml"),
        expected_cells=2,
    ),
    "recipe-file-below-m-files": Case(
        SIMPLE_PY,
        {
            "variants.yaml": 'python: ["3.9"]\nnumpy: ["1.22", "1.23"]\n',
            "m.yaml": 'python: ["3.11", "3.12"]\n',
        },
        m_files=("m.yaml",),
        expected_cells=4,
    ),
    "overrides": Case(
        SIMPLE_PY,
        {"variants.yaml": 'python: ["3.10", "3.11"]\nnumpy: ["1.26"]\n'},
        overrides={"numpy": ["2.0", "2.1"], "python": ["3.13"]},
        expected_cells=2,
    ),
    "overrides-whole-zip-group": Case(
        SIMPLE_PY,
        {"variants.yaml": 'python: ["3.10", "3.11"]\nnumpy: ["1.26", "2.0"]\nzip_keys: [[python, numpy]]\n'},
        overrides={"python": ["3.12", "3.13"], "numpy": ["2.1", "2.2"]},
        expected_cells=2,
    ),
    "noarch-python-collapses": Case(
        """
        package: {name: purepy, version: "1.0"}
        build: {noarch: python}
        requirements:
          host: [python, pip]
          run: [python]
        """,
        {"variants.yaml": 'python: ["3.10", "3.11", "3.12", "3.13"]\n'},
        expected_cells=1,
    ),
    "noarch-generic": Case(
        """
        package: {name: data, version: "1.0"}
        build: {noarch: generic}
        """,
        {"variants.yaml": 'python: ["3.10", "3.11"]\n'},
        expected_cells=1,
    ),
    "multi-output": Case(
        """
        recipe: {name: split, version: "2.0"}
        outputs:
          - package: {name: libsplit}
            requirements:
              build: ["${{ compiler('c') }}"]
          - package: {name: py-split}
            requirements:
              host: [python, libsplit]
              run: [python]
        """,
        {"variants.yaml": 'python: ["3.11", "3.12"]\nc_compiler: [gcc]\nc_compiler_version: ["13", "14"]\n'},
        # libsplit x2 and py-split x2: the fourth combination would only rebuild both
        expected_cells=3,
    ),
    "multi-output-with-noarch": Case(
        """
        recipe: {name: crypto-split, version: "1.0"}
        outputs:
          - package: {name: crypto-vectors}
            build: {noarch: python}
            requirements:
              host: [python]
              run: [python]
          - package: {name: crypto}
            requirements:
              build: ["${{ compiler('c') }}"]
              host: [python, openssl]
              run: [python]
        """,
        {"variants.yaml": 'python: ["3.11", "3.12", "3.13"]\nopenssl: ["3"]\nc_compiler: [gcc]\n'},
        expected_cells=3,
    ),
    "zip-with-unused-partner": Case(
        SIMPLE_PY,
        {
            "variants.yaml": textwrap.dedent(
                """\
                python: ["3.10", "3.11", "3.12"]
                numpy: ["2.0", "2.0", "2.1"]
                is_python_min: ["true", "false", "false"]
                zip_keys: [[python, numpy, is_python_min]]
                """
            )
        },
        expected_cells=3,
    ),
    "conditional-requirement-key": Case(
        """
        package: {name: blas-user, version: "1.0"}
        requirements:
          host:
            - if: linux
              then: [blas_impl]
            - python
        """,
        {"variants.yaml": 'blas_impl: [openblas, mkl]\npython: ["3.12"]\n'},
        expected_cells=2,
    ),
    "skip-by-variant": Case(
        """
        package: {name: skippy, version: "1.0"}
        build:
          skip:
            - match(python, "<3.11")
        requirements:
          host: [python]
        """,
        {"variants.yaml": 'python: ["3.9", "3.10", "3.11", "3.12"]\n'},
        expected_cells=2,
    ),
    "if-then-in-variants-yaml": Case(
        SIMPLE_PY,
        {
            "variants.yaml": textwrap.dedent(
                """\
                python:
                  - if: linux
                    then: ["3.11", "3.12"]
                    else: ["3.9"]
                numpy: ["2.0"]
                """
            )
        },
        expected_cells=2,
    ),
    "key-in-build-string": Case(
        """
        package: {name: flavoured, version: "1.0"}
        build:
          string: ${{ flavour }}_${{ hash }}_0
          noarch: generic
        """,
        {"variants.yaml": "flavour: [mint, lemon]\n"},
        expected_cells=2,
    ),
    "variants-yaml-beats-cbc": Case(
        SIMPLE_PY,
        {"variants.yaml": 'python: ["3.12"]\n', "conda_build_config.yaml": "python:\n  - 3.9\n  - 3.10\n"},
        expected_cells=1,
    ),
    "compiler-zip-from-cbc": Case(
        """
        package: {name: native, version: "1.0"}
        requirements:
          build: ["${{ compiler('c') }}", "${{ compiler('cxx') }}"]
        """,
        {
            "conda_build_config.yaml": textwrap.dedent(
                """\
                c_compiler:
                  - gcc  # [linux]
                  - clang  # [osx]
                c_compiler_version:
                  - 13
                  - 14
                cxx_compiler_version:
                  - 13
                  - 14
                zip_keys:
                  - - c_compiler_version
                    - cxx_compiler_version
                """
            )
        },
        expected_cells=2,
    ),
}


def write_case(tmp_path: Path, case: Case) -> Path:
    recipe_dir = tmp_path / "recipe"
    recipe_dir.mkdir()
    (recipe_dir / "recipe.yaml").write_text(textwrap.dedent(case.recipe))
    for name, text in case.files.items():
        target = (tmp_path if name in case.m_files else recipe_dir) / name
        target.write_text(text)
    return recipe_dir


def rattler_build_variants(
    recipe_dir: Path, m_files: list[Path], overrides: dict[str, list[str]], out: Path, capfd: pytest.CaptureFixture[str]
) -> list[tuple[str, dict[str, str]]]:
    """rattler-build's own answer: render-only prints every rendered output as JSON."""
    import rattler_build

    capfd.readouterr()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        rattler_build.build_recipes(
            [recipe_dir / "recipe.yaml"],
            render_only=True,
            target_platform="linux-64",
            variant_config=[str(p) for p in m_files] or None,
            variant_overrides=overrides or None,
            output_dir=out,
        )
    rendered = json.loads(capfd.readouterr().out)
    return [
        (
            o["recipe"]["package"]["name"],
            {k: str(v) for k, v in o["build_configuration"]["variant"].items() if k != "target_platform"},
        )
        for o in rendered
    ]


@pytest.mark.parametrize("name", sorted(CASES))
def test_cells_equal_rattler_build_render(name: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    case = CASES[name]
    recipe_dir = write_case(tmp_path, case)
    m_files = [tmp_path / m for m in case.m_files]
    reference = rattler_build_variants(recipe_dir, m_files, case.overrides, tmp_path / "out", capfd)
    assert reference, "rattler-build rendered nothing"
    plan = make_plan(
        load_recipe(recipe_dir, target_platform="linux-64"),
        variant_configs=m_files,
        overrides=case.overrides,
        platforms=["linux-64"],
        channel=None,
    )
    names = {n for n, _ in reference}
    keys = {k for _, v in reference for k in v}
    if len(names) == 1:
        # one output: the cells are exactly the rendered variants
        mine = {frozenset((k, v) for k, v in cell.variant.items() if k in keys) for cell in plan.cells}
        assert mine == {frozenset(v.items()) for _, v in reference}
        assert len(plan.cells) == len(mine)
    else:
        # several outputs: every rendered (output, variant) is published by exactly one cell
        published: list[tuple[str, frozenset[tuple[str, str]]]] = []
        for cell in plan.cells:
            for output in cell.outputs:
                output_keys = next(set(v) for n, v in reference if n == output)
                published.append((output, frozenset((k, v) for k, v in cell.variant.items() if k in output_keys)))
        assert len(published) == len(set(published)), "an output variant is published twice"
        assert set(published) == {(n, frozenset(v.items())) for n, v in reference}
    if case.expected_cells is not None:
        assert len(plan.cells) == case.expected_cells


def test_at_least_twelve_cases() -> None:
    assert len(CASES) >= 12
