"""B7: what ``cipub build`` adds over calling py-rattler-build directly on the same recipe.

The recipe is the starter ``recipes-template/v1-noarch-generic`` (builds offline). cipub runs
``cipub build RECIPE --no-upload --build-number 0`` (no channel is consulted, so the figure is the
build plus cipub's own work: start-up, reading the recipe, checking the package, writing the
manifest). The direct call is the same ``rattler_build.build_recipes`` call cipub's engine makes.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

from benchmarks.common import CIPUB, REPO, Series, base_env, run

DIRECT = r"""
import sys, warnings, rattler_build
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    rattler_build.build_recipes([sys.argv[1]], output_dir=sys.argv[2], build_num=0, channel=["conda-forge"],
                                test="skip", no_build_id=True)
"""


def measure(work: Path, *, runs: int) -> dict[str, Any]:
    recipe = work / "recipe"
    shutil.copytree(REPO / "recipes-template" / "v1-noarch-generic", recipe)
    env = base_env({"HOME": str(work / "home")})
    mine, peer = Series("noarch generic recipe", "cipub build"), Series("noarch generic recipe", "py-rattler-build")
    for i in range(runs + 1):  # the first round warms caches and is not counted
        out_a, out_b = work / f"a{i}", work / f"b{i}"
        a = run(
            [CIPUB, "build", str(recipe), "--no-upload", "--build-number", "0", "--output-dir", str(out_a)],
            env=env,
            cwd=work,
        )
        b = run([sys.executable, "-c", DIRECT, str(recipe / "recipe.yaml"), str(out_b)], env=env, cwd=work)
        if not list(out_a.rglob("*.conda")) or not list(out_b.rglob("*.conda")):
            raise RuntimeError("B7: a build produced no package")
        if i:
            mine.seconds.append(a.seconds)
            peer.seconds.append(b.seconds)
    value = mine.median_s / peer.median_s
    return {
        "id": "B7",
        "title": "cipub build overhead over py-rattler-build",
        "rows": [mine.as_dict(), peer.as_dict()],
        "ratios": [
            {
                "what": "cipub build / py-rattler-build build_recipes",
                "value": round(value, 3),
                "goal": "<= 1.05",
                "met": value <= 1.05,
            },
            {
                "what": "cipub build - py-rattler-build (seconds)",
                "value": round(mine.median_s - peer.median_s, 3),
                "goal": None,
                "met": None,
            },
        ],
        "setup": f"median of {runs} runs after one warm-up round, interleaved; each a fresh process.",
    }
