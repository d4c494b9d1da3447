"""B10: ``cipub plan`` at many cells, and on a large multi-output v1 recipe, vs py-rattler-build's render.

Scaling: a generated single-output v1 recipe whose host requirements name ``k`` variant keys (``lib0``
... with 10 values each, one key with 3 at 3,000), so the variant file (outside the recipe directory,
given to both with ``-m`` / ``variant_config``) expands to N = 10, 100, 1,000 (3,000 in full mode)
cells. Each N: ``cipub plan --format json --no-build-numbers`` and py-rattler-build's
``build_recipes(render_only=True)`` of the same recipe and file for linux-64, each a fresh process,
interleaved; both must find N. Reported: cipub / render per N (goal <= 1.2), milliseconds per cell,
and the seconds each adds from the smallest to the largest N, cipub's over the render's (start-up
taken out; the render is linear in cells, so ~1 means cipub is too; goal <= 1.2).

Multi-output: the shape of a large real feedstock (issue 12: ~400 s there): 20 outputs (a core
library, its dev/static splits, python bindings, plugins), 8 variant keys (python zipped with
numpy, cuda_compiler_version, blas_impl, compilers, stdlib), ``if:`` selectors in requirements and
``pin_subpackage`` between outputs: 6 cells. Goal: <= 10 s, and the same output variants as the
render (the outputs the cells publish, summed: checked, as the cell counts are). The same recipe
again with conda-forge's whole pinning as its variant file (B6's snapshot, hundreds of keys): issue
17's class 7 (a render handed every key of the pinning, 960 variants for 320) is what made a real
feedstock take minutes.
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Any

from benchmarks.b6_plan import pinning_file
from benchmarks.common import CIPUB, Series, base_env, run

RENDER = r"""
import sys, warnings, rattler_build
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    rattler_build.build_recipes([sys.argv[1]], render_only=True, target_platform="linux-64",
                                variant_config=[sys.argv[2]], output_dir=sys.argv[3])
"""

SCALE_HEAD = """\
context:
  name: bench-scale
  version: "1.0"

package:
  name: ${{ name }}
  version: ${{ version }}

build:
  number: 0
  script: echo build

requirements:
  host:
"""


def _scale_case(work: Path, cells: int) -> tuple[Path, Path]:
    """A recipe and variant file that expand to ``cells`` cells (10 values per key, then the rest)."""
    sizes: list[int] = []
    left = cells
    while left >= 10 and left % 10 == 0:
        sizes.append(10)
        left //= 10
    if left > 1:
        sizes.append(left)
    recipe = work / f"scale-{cells}" / "recipe"
    recipe.mkdir(parents=True)
    keys = [f"lib{i}" for i in range(len(sizes))]
    (recipe / "recipe.yaml").write_text(SCALE_HEAD + "".join(f"    - {k}\n" for k in keys))
    variants = work / f"scale-{cells}" / "variants.yaml"
    variants.write_text("".join(f"{k}:\n" + "".join(f'  - "{j}.0"\n' for j in range(n)) for k, n in zip(keys, sizes)))
    return recipe, variants


def _multi_output_case(work: Path) -> tuple[Path, Path]:
    recipe = work / "multi" / "recipe"
    recipe.mkdir(parents=True)
    outputs: list[str] = []
    compilers = "      - ${{ compiler('c') }}\n      - ${{ compiler('cxx') }}\n      - ${{ stdlib('c') }}\n"
    cuda = "      - if: cuda_compiler_version != \"None\"\n        then:\n          - ${{ compiler('cuda') }}\n"
    core = (
        "  - package:\n      name: libbench\n    requirements:\n      build:\n"
        + compilers
        + cuda
        + '      host:\n        - zlib\n        - if: blas_impl == "mkl"\n          then: [mkl]\n'
        "          else: [openblas]\n"
        '        - if: cuda_compiler_version != "None"\n          then: [cuda-cudart-dev]\n'
        "      run_exports:\n        - ${{ pin_subpackage('libbench', upper_bound='x.x') }}\n"
    )
    outputs.append(core)
    for split in ("dev", "static", "headers"):
        outputs.append(
            f"  - package:\n      name: libbench-{split}\n    requirements:\n      host:\n"
            "        - ${{ pin_subpackage('libbench', exact=True) }}\n"
            "      run:\n        - ${{ pin_subpackage('libbench', exact=True) }}\n"
        )
    for i in range(8):  # plugins: C++ on the core, some on CUDA, some on the BLAS
        selector = (
            '        - if: cuda_compiler_version != "None"\n          then: [libcublas-dev]\n'
            if i % 2
            else '        - if: blas_impl == "openblas"\n          then: [openblas]\n          else: [mkl]\n'
        )
        outputs.append(
            f"  - package:\n      name: libbench-plugin{i}\n    requirements:\n      build:\n"
            + compilers
            + cuda
            + "      host:\n        - ${{ pin_subpackage('libbench', exact=True) }}\n"
            + selector
            + "      run:\n        - ${{ pin_subpackage('libbench', exact=True) }}\n"
        )
    for i in range(7):  # python bindings and their extras
        outputs.append(
            f"  - package:\n      name: py-bench{i}\n    requirements:\n      build:\n"
            + compilers
            + "      host:\n        - python\n        - numpy\n"
            "        - ${{ pin_subpackage('libbench', exact=True) }}\n"
            + (f"        - ${{{{ pin_subpackage('libbench-plugin{i}', exact=True) }}}}\n" if i else "")
            + '        - if: cuda_compiler_version != "None"\n          then: [cuda-version]\n'
            "      run:\n        - python\n        - ${{ pin_subpackage('libbench', exact=True) }}\n"
        )
    outputs.append(  # a metapackage over everything
        "  - package:\n      name: bench-all\n    requirements:\n      run:\n"
        + "".join(f"        - ${{{{ pin_subpackage('py-bench{i}', exact=True) }}}}\n" for i in range(7))
        + "".join(f"        - ${{{{ pin_subpackage('libbench-plugin{i}', exact=True) }}}}\n" for i in range(8))
    )
    text = (
        'context:\n  version: "2.3.1"\n\nrecipe:\n  name: bench-all-split\n  version: ${{ version }}\n\n'
        "build:\n  number: 0\n  script: echo build\n\noutputs:\n" + "".join(outputs)
    )
    (recipe / "recipe.yaml").write_text(text)
    variants = work / "multi" / "variants.yaml"
    variants.write_text(
        'python:\n  - "3.10.* *_cpython"\n  - "3.11.* *_cpython"\n  - "3.12.* *_cpython"\n'
        'numpy:\n  - "2.0"\n  - "2.0"\n  - "2.0"\n'
        'cuda_compiler_version:\n  - "None"\n  - "12.6"\n'
        "cuda_compiler:\n  - cuda-nvcc\n"
        "blas_impl:\n  - openblas\n"
        "c_compiler:\n  - gcc\nc_compiler_version:\n  - '14'\n"
        "cxx_compiler:\n  - gxx\ncxx_compiler_version:\n  - '14'\n"
        "c_stdlib:\n  - sysroot\nc_stdlib_version:\n  - '2.17'\n"
        "zip_keys:\n  - [python, numpy]\n"
    )
    return recipe, variants


def _rendered_cells(rendered: list[dict[str, Any]]) -> int:
    """The cells the render implies: the most variants any one output is rendered in (each its own
    package). In these recipes one output (py-bench*) takes every key, its own or through the
    siblings it pins, so this is the whole product; a recipe whose outputs split the keys between
    them would need more cells than this."""
    counts: dict[str, int] = {}
    for item in rendered:
        name = item["recipe"]["package"]["name"]
        counts[name] = counts.get(name, 0) + 1
    return max(counts.values(), default=0)


def _pair(
    case: str, recipe: Path, variants: Path, work: Path, env: dict[str, str], runs: int
) -> tuple[Series, Series, dict[str, Any], list[dict[str, Any]]]:
    plan = [CIPUB, "plan", str(recipe), "-m", str(variants), "--platform", "linux-64"]
    plan += ["--no-build-numbers", "--format", "json"]
    render = [sys.executable, "-c", RENDER, str(recipe / "recipe.yaml"), str(variants), str(work / "out")]
    mine, peer = Series(case, "cipub plan"), Series(case, "py-rattler-build render")
    planned: dict[str, Any] = {}
    rendered: list[dict[str, Any]] = []
    for _ in range(runs):
        a = run(plan, env=env, cwd=work)
        b = run(render, env=env, cwd=work)
        mine.seconds.append(a.seconds)
        peer.seconds.append(b.seconds)
        planned, rendered = json.loads(a.out), json.loads(b.out)
    return mine, peer, planned, rendered


def measure(work: Path, *, sizes: tuple[int, ...] = (10, 100, 1_000), runs: int = 1) -> dict[str, Any]:
    env = base_env({"HOME": str(work / "home")})
    rows: list[dict[str, Any]] = []
    ratios: list[dict[str, Any]] = []
    medians: dict[int, float] = {}
    peer_medians: dict[int, float] = {}
    for n in sizes:
        recipe, variants = _scale_case(work, n)
        mine, peer, planned, rendered = _pair(f"{n} cells", recipe, variants, work, env, runs)
        if len(planned["cells"]) != n or len(rendered) != n:
            raise RuntimeError(
                f"B10: {n} cells expected; cipub planned {len(planned['cells'])}, "
                f"rattler-build rendered {len(rendered)} variants"
            )
        medians[n], peer_medians[n] = mine.median_s, peer.median_s
        for s in (mine, peer):
            s.extra["cells"] = n
            s.extra["ms_per_cell"] = round(1000 * s.median_s / n, 3)
        rows += [mine.as_dict(), peer.as_dict()]
        value = mine.median_s / peer.median_s
        ratios.append(
            {"what": f"cipub plan / render, {n} cells", "value": round(value, 3), "goal": "<= 1.2", "met": value <= 1.2}
        )
    if len(sizes) >= 2:
        # what each further cell costs, start-up taken out: linear in cells when it stays near the
        # render's own (which is), quadratic when it grows with N (3.1 s at 1,000 cells before)
        low, high = sizes[0], sizes[-1]
        growth = (medians[high] - medians[low]) / (peer_medians[high] - peer_medians[low])
        ratios.append(
            {
                "what": f"cipub plan / render, added seconds from {low} to {high} cells",
                "value": round(growth, 3),
                "goal": "<= 1.2",
                "met": growth <= 1.2,
            }
        )
    recipe, variants = _multi_output_case(work)
    cases = [("20 outputs x 8 keys", "multi-output recipe", variants)]
    with contextlib.suppress(RuntimeError):  # the same recipe under conda-forge's whole pinning, B6's file
        cases.append(("20 outputs, conda-forge pinning", "multi-output recipe, conda-forge pinning", pinning_file()))
    for case, what, config in cases:
        mine, peer, planned, rendered = _pair(case, recipe, config, work, env, runs)
        cells = len(planned["cells"])
        if cells != _rendered_cells(rendered):
            raise RuntimeError(f"B10 {case}: cipub planned {cells} cells, rattler-build {_rendered_cells(rendered)}")
        # every output variant the render makes is published by exactly one cell
        published = sum(len(c.get("outputs", ())) for c in planned["cells"])
        if published != len(rendered):
            raise RuntimeError(
                f"B10 {case}: cipub's cells publish {published} output variants, rattler-build renders {len(rendered)}"
            )
        mine.extra.update(cells=cells, output_variants=published)
        peer.extra.update(cells=cells, output_variants=len(rendered))
        rows += [mine.as_dict(), peer.as_dict()]
        value = mine.median_s / peer.median_s
        ratios.append(
            {
                "what": f"cipub plan, {what} (s)",
                "value": round(mine.median_s, 3),
                "goal": "<= 10 s",
                "met": mine.median_s <= 10,
            }
        )
        ratios.append(
            {"what": f"cipub plan / render, {what}", "value": round(value, 3), "goal": "<= 1.2", "met": value <= 1.2}
        )
    return {
        "id": "B10",
        "title": "Plan at many cells, and on a large multi-output recipe",
        "rows": rows,
        "ratios": ratios,
        "setup": f"generated v1 recipes for linux-64, N = {', '.join(str(n) for n in sizes)} cells, and 20 "
        f"outputs x 8 keys (6 cells) with `if:` selectors and pin_subpackage, with its own variant file and "
        f"with conda-forge's pinning (B6's file); median of {runs} run(s), "
        "interleaved; each a fresh process.",
    }
