"""B6: ``cipub plan`` on a conda-forge-pinning-sized variant config vs py-rattler-build's render.

The config is conda-forge's own ``conda_build_config.yaml`` (the newest snapshot under
``<repo>/../shared/data/conda-forge/pinning/``, about 1,200 lines); the recipe is a compiled
extension using c/cxx compilers, the C stdlib, python, numpy and three pinned libraries. Both tools
expand the same file for linux-64, each as a fresh process; the benchmark checks that they find the
same number of variants.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from benchmarks.common import CIPUB, REPO, Series, base_env, run

RECIPE = """\
context:
  name: bench-ext
  version: "1.0"

package:
  name: ${{ name }}
  version: ${{ version }}

build:
  number: 0
  script: echo build

requirements:
  build:
    - ${{ compiler('c') }}
    - ${{ compiler('cxx') }}
    - ${{ stdlib('c') }}
  host:
    - python
    - numpy
    - zlib
    - openssl
    - libcurl
  run:
    - python
"""

RENDER = r"""
import sys, warnings, rattler_build
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    rattler_build.build_recipes([sys.argv[1]], render_only=True, target_platform="linux-64",
                                variant_config=[sys.argv[2]], output_dir=sys.argv[3])
"""


def pinning_file() -> Path:
    snapshots = sorted((REPO.parent / "shared" / "data" / "conda-forge" / "pinning").glob("*/conda_build_config.yaml"))
    if not snapshots:
        raise RuntimeError("no conda-forge pinning snapshot under <repo>/../shared/data/conda-forge/pinning/")
    return snapshots[-1]


def measure(work: Path, *, runs: int) -> dict[str, Any]:
    pinning = pinning_file()
    recipe = work / "recipe"
    recipe.mkdir()
    (recipe / "recipe.yaml").write_text(RECIPE)
    env = base_env({"HOME": str(work / "home")})
    cipub_cmd = [
        CIPUB,
        "plan",
        str(recipe),
        "-m",
        str(pinning),
        "--platform",
        "linux-64",
        "--no-build-numbers",
        "--format",
        "json",
    ]
    render_cmd = [sys.executable, "-c", RENDER, str(recipe / "recipe.yaml"), str(pinning), str(work / "out")]
    mine, peer = Series("linux-64", "cipub plan"), Series("linux-64", "py-rattler-build render")
    cells = variants = 0
    for _ in range(runs):
        a = run(cipub_cmd, env=env, cwd=work)
        b = run(render_cmd, env=env, cwd=work)
        mine.seconds.append(a.seconds)
        peer.seconds.append(b.seconds)
        cells, variants = len(json.loads(a.out)["cells"]), len(json.loads(b.out))
    if cells != variants:
        raise RuntimeError(f"B6: cipub planned {cells} cells, rattler-build rendered {variants} variants")
    mine.extra["variants"] = cells
    peer.extra["variants"] = variants
    lines = len(pinning.read_text().splitlines())
    return {
        "id": "B6",
        "title": "Plan on a conda-forge-pinning-sized variant config",
        "rows": [mine.as_dict(), peer.as_dict()],
        "ratios": [
            {
                "what": "cipub plan / py-rattler-build render",
                "value": round(mine.median_s / peer.median_s, 3),
                "goal": None,
                "met": None,
            }
        ],
        "setup": f"`{pinning.parent.name}/conda_build_config.yaml` ({lines} lines); median of {runs} runs, "
        "interleaved; each a fresh process.",
    }
