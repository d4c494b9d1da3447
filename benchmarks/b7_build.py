"""B7: what ``cipub build`` adds over calling py-rattler-build directly on the same recipe.

Two recipes, both building offline: the starter ``recipes-template/v1-noarch-generic`` (a build of
about 0.1 s, so start-up dominates) and a mid-size data package (2,000 files and 100 MB of random
bytes, so compression and cipub's package check show). cipub runs
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
from benchmarks.profiling import py_spy_top

DIRECT = r"""
import sys, warnings, rattler_build
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    rattler_build.build_recipes([sys.argv[1]], output_dir=sys.argv[2], build_num=0, channel=["conda-forge"],
                                test="skip", no_build_id=True)
"""

MID_SIZE = """\
context:
  name: bench-data
  version: "1.0"

package:
  name: ${{ name }}
  version: ${{ version }}

build:
  number: 0
  noarch: generic
  script:
    - mkdir -p $PREFIX/share/bench-data
    - head -c 100000000 /dev/urandom > $PREFIX/share/bench-data/blob.bin
    - for i in $(seq 1 2000); do echo "file $i" > $PREFIX/share/bench-data/f$i.txt; done

about:
  summary: a mid-size benchmark package
  license: MIT
"""


def measure(work: Path, *, runs: int, mid_size: bool = True) -> dict[str, Any]:
    tiny = work / "tiny"
    shutil.copytree(REPO / "recipes-template" / "v1-noarch-generic", tiny)
    mid = work / "mid"
    mid.mkdir()
    (mid / "recipe.yaml").write_text(MID_SIZE)
    env = base_env({"HOME": str(work / "home")})
    rows: list[Series] = []
    ratios: list[dict[str, Any]] = []
    # issue 12's goals: the tiny build within 1.3x (or at most 0.12 s added), the mid-size one 1.05x
    recipes = [("starter recipe (tiny build)", tiny, 1.3, 0.12)]
    if mid_size:
        recipes.append(("mid-size data package (100 MB)", mid, 1.05, None))
    for label, recipe, ratio_goal, added_goal in recipes:
        mine, peer = Series(label, "cipub build"), Series(label, "py-rattler-build")
        for i in range(runs + 1):  # the first round warms caches and is not counted
            out_a, out_b = work / f"{recipe.name}-a{i}", work / f"{recipe.name}-b{i}"
            a = run(
                [CIPUB, "build", str(recipe), "--no-upload", "--build-number", "0", "--output-dir", str(out_a)],
                env=env,
                cwd=work,
            )
            b = run([sys.executable, "-c", DIRECT, str(recipe / "recipe.yaml"), str(out_b)], env=env, cwd=work)
            if not list(out_a.rglob("*.conda")) or not list(out_b.rglob("*.conda")):
                raise RuntimeError("B7: a build produced no package")
            shutil.rmtree(out_a)
            shutil.rmtree(out_b)
            if i:
                mine.seconds.append(a.seconds)
                peer.seconds.append(b.seconds)
        rows += [mine, peer]
        value = mine.median_s / peer.median_s
        added = mine.median_s - peer.median_s
        ratios.append(
            {
                "what": f"cipub build / py-rattler-build, {label}",
                "value": round(value, 3),
                "goal": f"<= {ratio_goal}",
                "met": value <= ratio_goal,
            }
        )
        ratios.append(
            {
                "what": f"cipub build - py-rattler-build (seconds), {label}",
                "value": round(added, 3),
                "goal": f"<= {added_goal:.3f} s" if added_goal is not None else None,
                "met": added <= added_goal if added_goal is not None else None,
            }
        )
    profiled = mid if mid_size else tiny
    profile = py_spy_top(
        [
            sys.executable,
            "-m",
            "cipub",
            "build",
            str(profiled),
            "--no-upload",
            "--build-number",
            "0",
            "--output-dir",
            str(work / "profiled"),
        ],
        env,
        work,
        match=r"cipub|typer|pydantic|rattler|read_artifact|file_digests|_scan|import",
    )
    return {
        "id": "B7",
        "title": "cipub build overhead over py-rattler-build",
        "rows": [s.as_dict() for s in rows],
        "ratios": ratios,
        "profile": [f"cipub build of the {profiled.name} recipe under py-spy:", *profile],
        "setup": f"median of {runs} runs after one warm-up round, interleaved; each a fresh process.",
    }
