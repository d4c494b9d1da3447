"""A cell conda-forge.yml cross-compiles (``build_platform: {linux_aarch64: linux_64}``) is built on
its build platform for its own: the package is linux-aarch64's, and its recipe tests, which only the
target can run, are skipped with a line saying why (as conda-smithy and rattler-build's ``--test
native`` skip them), instead of failing the job on a machine that cannot run them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cipub.core import manifest as manifest_mod
from cipub.recipe.selectors import current_platform

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(current_platform() != "linux-64", reason="cross-compiles linux-aarch64 on linux-64"),
]

RECIPE = """\
package:
  name: crossdemo
  version: "1.0"
build:
  number: 0
  script:
    - mkdir -p $PREFIX/share/crossdemo && echo "${{ target_platform }}" > $PREFIX/share/crossdemo/target
tests:
  - script:
      # passes only where linux-aarch64 programs run
      - test "$(uname -m)" = aarch64
"""


def test_a_cross_compiled_cell_builds_for_its_target_and_skips_the_tests_it_cannot_run(
    cipub: Any, tmp_path: Path
) -> None:
    root = tmp_path / "crossdemo-feedstock"
    (root / "recipe").mkdir(parents=True)
    (root / "recipe" / "recipe.yaml").write_text(RECIPE)
    (root / "conda-forge.yml").write_text("build_platform:\n  linux_aarch64: linux_64\n")
    (tmp_path / "pinning.yaml").write_text("zlib:\n  - 1\n")
    planned = cipub(
        "plan", "recipe", "--conda-forge", "--pinning", str(tmp_path / "pinning.yaml"), "--platform", "linux-aarch64",
        "--no-build-numbers", "--format", "json", "--output", "plan.json", cwd=root,
    )  # fmt: skip
    assert planned.code == 0, planned.err
    [cell] = json.loads((root / "plan.json").read_text())["cells"]
    assert (cell["platform"], cell["build_platform"], cell["runner"]) == ("linux-aarch64", "linux-64", "ubuntu-latest")
    built = cipub("build", "recipe", "--plan", "plan.json", "--only", cell["id"], "--no-upload", cwd=root)
    assert built.code == 0, built.err + built.out
    assert "recipe tests: skipped (built for linux-aarch64 on linux-64, cross-compiling" in built.out
    [entry] = manifest_mod.load(root / "output" / "cipub-manifest.json").artifacts
    assert entry.subdir == "linux-aarch64"
