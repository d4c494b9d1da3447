"""A v1 ``skip:`` sees the variant and context values with rattler-build's types.

The reference is py-rattler-build's own whole-recipe build (``build_recipes``, run in a child
process; the recipe has no requirements, so nothing is solved or downloaded): its render does not
apply a single-output recipe's ``skip:``, its build does. rattler-build evaluates ``skip:`` with
minijinja, which does not turn text into numbers: a quoted ``vc: ['9']`` is the string "9", and a
string compared with a number is ordered by kind (every number before every string), so
``"9" < 14`` is false (the variant is built) and ``14 < 15`` compares numbers (``vc: [9, 15]``
unquoted: 9 is skipped). A context's ``q: "false"`` is a non-empty string: true. ``match()`` of an
empty variant value is an error in rattler-build (``malformed version string '': empty string``),
which its build does not report: the condition that called it does not hold; so does a spec its
parser refuses (``match(vc, '3.7')``, no operator: "Did you mean '==3.7' or '3.7.*'?").
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

_REFERENCE = """\
import pathlib, sys, warnings
import rattler_build
warnings.simplefilter("ignore")
rattler_build.build_recipes(
    [sys.argv[1]], output_dir=pathlib.Path(sys.argv[2]), target_platform="linux-64", test="skip", no_build_id=True
)
"""

RECIPE = """\
context:
  q: "false"
package: {name: skiptyped, version: "1.0"}
build:
  string: v${{ vc }}_h${{ hash }}_0
  skip:
    - SKIP
  script:
    - mkdir -p $PREFIX/share/skiptyped
    - echo "${{ vc }}" > $PREFIX/share/skiptyped/vc.txt
"""


def _built_values(recipe: Path, out: Path) -> list[str]:
    """The ``vc`` of each package py-rattler-build's own build makes (the others it skipped)."""
    done = subprocess.run(
        [sys.executable, "-c", _REFERENCE, str(recipe / "recipe.yaml"), str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # skiptyped-1.0-v9_h1234567_0.conda: the build string names the variant
    return sorted(p.name.split("-v", 1)[1].split("_h")[0] for p in out.glob("linux-64/*.conda"))


@pytest.mark.parametrize(
    ("variants", "skip", "kept"),
    [
        ("vc: ['9', '15']\n", "vc < 14", ["15", "9"]),  # text: "9" < 14 is false
        ("vc: [9, 15]\n", "vc < 14", ["15"]),  # numbers
        ("vc: ['9', '15']\n", "q and vc == '9'", ["15"]),  # the text "false" is true
        ("vc: ['9', '15']\n", "vc > 14 and vc != '15'", ["15"]),  # "9" > 14 is true (Jinja2: TypeError)
        ("vc: ['3.7', '3.8']\n", "match(vc, '3.7')", ["3.7", "3.8"]),  # a spec rattler-build refuses
        # match() of an empty value fails in rattler-build: the condition does not hold, whatever
        # surrounds it (not match(...) does not skip either); a true condition beside it still skips
        ("vc: ['', '1']\n", "match(vc, '<3')", [""]),
        ("vc: ['', '5']\n", "not match(vc, '<3')", [""]),
        ("vc: ['', '5']\n", "match(vc, '<3') or vc == ''", ["", "5"]),  # the whole condition fails
    ],
)
def test_plan_keeps_the_variants_rattler_builds_build_makes(
    cipub, tmp_path: Path, variants: str, skip: str, kept: list[str]
) -> None:  # type: ignore[no-untyped-def]
    recipe = tmp_path / "recipe"
    recipe.mkdir()
    (recipe / "recipe.yaml").write_text(RECIPE.replace("SKIP", skip))
    (recipe / "variants.yaml").write_text(variants)  # read next to the recipe by both
    built = _built_values(recipe, tmp_path / "reference")
    planned = cipub("plan", "recipe", "-p", "linux-64", "--no-build-numbers", "--format", "json", cwd=tmp_path)
    assert planned.code == 0, planned.err
    cells = sorted(c["variant"]["vc"] for c in json.loads(planned.out)["cells"])
    assert cells == kept
    assert built == kept
