"""A cell (or job) built with ``--only`` gets the file name rattler-build gives the same variant.

rattler-build's build string hash is made from the variant values with their YAML types: an
unquoted ``13`` or ``true`` in a variants.yaml hashes differently from the text ``"13"``/``"true"``.
cipub shows variant values as text in the plan and the manifest; the engine must still be given
them as the variant files have them, or every ``--only`` build of a recipe whose variant file has
unquoted numbers or booleans gets a different hash (another file name) than rattler-build's own
whole-recipe build of the same files (``v13_true_hf477e27`` against ``v13_true_h904833e``).
The reference here is py-rattler-build's ``build_recipes`` itself, run in a child process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cipub.core import manifest as manifest_mod

pytestmark = pytest.mark.integration

# Offline packages (nothing to solve): one output per key, so conda-smithy's grouping (split only
# over keys every output uses: none) makes the cells one job, and both keys in one build string.
SINGLE = """\
package:
  name: typed
  version: "1.0"
build:
  number: 0
  string: v${{ vnum }}_${{ flag }}_h${{ hash }}_${{ build_number }}
  script:
    - mkdir -p $PREFIX/share/typed
    - echo "${{ vnum }} ${{ flag }}" > $PREFIX/share/typed/values.txt
"""
MULTI = """\
context:
  version: "1.0"
recipe:
  name: typedmulti
  version: ${{ version }}
build:
  number: 0
outputs:
  - package:
      name: typed-num
    build:
      string: v${{ vnum }}_h${{ hash }}_${{ build_number }}
      script:
        - mkdir -p $PREFIX/share/typed-num
        - echo "${{ vnum }}" > $PREFIX/share/typed-num/vnum.txt
  - package:
      name: typed-flag
    build:
      string: f${{ flag }}_h${{ hash }}_${{ build_number }}
      script:
        - mkdir -p $PREFIX/share/typed-flag
        - echo "${{ flag }}" > $PREFIX/share/typed-flag/flag.txt
"""
# unquoted: rattler-build reads an int and a bool; "label" stays text (quoted), as control
VARIANTS = "vnum:\n  - 13\n  - 14\nflag:\n  - true\n  - false\n"

_REFERENCE = """\
import pathlib, sys, warnings
import rattler_build
warnings.simplefilter("ignore")
rattler_build.build_recipes(
    [sys.argv[1]], output_dir=pathlib.Path(sys.argv[2]), target_platform="linux-64", test="skip", no_build_id=True
)
"""


def _recipe(root: Path, text: str) -> Path:
    recipe = root / "recipe"
    recipe.mkdir(parents=True)
    (recipe / "recipe.yaml").write_text(text)
    (recipe / "variants.yaml").write_text(VARIANTS)  # read next to the recipe by both builders
    return recipe


def _rattler_build_names(recipe: Path, out: Path) -> list[str]:
    """The package files py-rattler-build's own whole-recipe build makes of ``recipe``."""
    done = subprocess.run(
        [sys.executable, "-c", _REFERENCE, str(recipe / "recipe.yaml"), str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return sorted(p.name for p in out.glob("linux-64/*.conda"))


def _plan(cipub, root: Path, *extra: str) -> dict:  # type: ignore[no-untyped-def, type-arg]
    planned = cipub(
        "plan", "recipe", "-p", "linux-64", "--no-build-numbers", "--format", "json", "--output", "plan.json", *extra,
        cwd=root,
    )  # fmt: skip
    assert planned.code == 0, planned.err
    return json.loads((root / "plan.json").read_text())  # type: ignore[no-any-return]


def _build_only(cipub, root: Path, only: str, out: str) -> list[str]:  # type: ignore[no-untyped-def]
    built = cipub(
        "build", "recipe", "--plan", "plan.json", "--only", only, "--no-upload", "--no-test", "--output-dir", out,
        cwd=root,
    )  # fmt: skip
    assert built.code == 0, built.err + built.out
    manifest = manifest_mod.load(root / out / "cipub-manifest.json")
    for entry in manifest.artifacts:  # the manifest keeps showing the values as text
        assert all(isinstance(v, str) for v in entry.variant.values()), entry.variant
    return sorted(a.filename for a in manifest.artifacts)


def test_each_cell_built_alone_gets_rattler_builds_file_name(cipub, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    recipe = _recipe(tmp_path, SINGLE)
    expected = _rattler_build_names(recipe, tmp_path / "reference")
    assert [n.split("_h")[0] for n in expected] == [
        "typed-1.0-v13_false",
        "typed-1.0-v13_true",
        "typed-1.0-v14_false",
        "typed-1.0-v14_true",
    ]
    plan = _plan(cipub, tmp_path)
    built: list[str] = []
    for i, cell in enumerate(plan["cells"]):
        built += _build_only(cipub, tmp_path, cell["id"], f"out{i}")
    assert sorted(built) == expected
    # the plan shows text, and says which values are ints and booleans in the variant file
    first = plan["cells"][0]
    assert first["variant"] == {"vnum": "13", "flag": "true"}
    assert first.get("native") == {"vnum": 13, "flag": True}


def test_a_job_of_several_cells_gets_rattler_builds_file_names(cipub, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    recipe = _recipe(tmp_path, MULTI)
    expected = _rattler_build_names(recipe, tmp_path / "reference")
    assert [n.split("_h")[0] for n in expected] == [
        "typed-flag-1.0-ffalse",
        "typed-flag-1.0-ftrue",
        "typed-num-1.0-v13",
        "typed-num-1.0-v14",
    ]
    plan = _plan(cipub, tmp_path, "--grouping", "conda-smithy")
    jobs = {c["job"] for c in plan["cells"]}
    assert len(jobs) == 1 and "" not in jobs and len(plan["cells"]) > 1, plan["cells"]
    assert _build_only(cipub, tmp_path, jobs.pop(), "out") == expected
