"""B9: ``cipub plan --conda-forge`` on real v1 feedstocks vs py-rattler-build's own render.

Not part of the numbered report: point it at a directory of feedstock checkouts laid out by
``tests/tools/assemble_feedstocks.py``, or at the test corpus (its pinning is read from
``_pinning/<commit>``, the commit named in each feedstock's ``SOURCE``):

    python -m benchmarks.b9_feedstocks DIR [NAME ...] [--runs N]
    python -m benchmarks.b9_feedstocks tests/data/feedstocks

For each v1 feedstock and each platform of its ``.ci_support``: py-rattler-build renders the recipe
once per ``.ci_support`` file of that platform (the variant files conda-smithy wrote for it, what
the feedstock's CI hands rattler-build), all in one fresh process; cipub plans that platform with
``--conda-forge --pinning`` (it reads the pinning, the recipe's own file and the migrations itself),
one fresh process. Median of N interleaved runs each; the ratio is cipub / render (goal <= 1.2).

Where the time goes (profiled with py-spy and -X importtime on the corpus, CPU min of interleaved
runs, late 2026): the render itself is 1-4 ms of either side. py-rattler-build's side is Python and
``import rattler_build`` (~40 ms of its ~50). cipub's adds typer (~18 ms) and PyYAML (~8 ms, the
pinning is YAML): those three imports alone are ~73 ms, a ratio of ~1.45 before any cipub code
runs. On top: cipub's own modules (~12 ms, mostly dataclass creation and the options registry) and
the work (~14 ms cold: the pinning parse ~4.5 ms per platform, the render, settings). Measured
~100 ms for ~50 ms, a ratio of ~2 (it was ~2.7 before the start-up work of the planrender branch).
A recipe with a ``skip:`` (dbus, jq, libpng, ujson) used to add Jinja2 (~20 ms to import; the
expression is evaluated as rattler-build's command line does, which py-rattler-build's render does
not do for a single-output recipe): ~2.4-2.5; ``match()`` in a skip imported py-rattler too (~20 ms
more, ujson ~2.5). Both are gone: each condition is asked of rattler-build's own Jinja through
py-rattler-build (skipfix branch; <1 ms for ujson's 12 distinct questions, Jinja2 no longer imported).
Both sides read different inputs: the peer the .ci_support files conda-smithy merged; cipub the
whole pinning (read twice: by cipub, and by rattler-build for the value types, ~4 ms each), the
recipe's own file and the migrations, which is conda-smithy's work plus the render.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from benchmarks.common import CIPUB, base_env, median, run

RENDER = r"""
import sys, warnings, rattler_build
recipe, out, *files = sys.argv[1:]
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    for f in files:
        rattler_build.build_recipes([recipe], render_only=True, variant_config=[f], output_dir=out)
"""


def _platforms(feedstock: Path) -> dict[str, list[Path]]:
    found: dict[str, list[Path]] = {}
    for path in sorted((feedstock / ".ci_support").glob("*.yaml")):
        for prefix in ("linux_64", "linux_aarch64", "linux_ppc64le", "osx_64", "osx_arm64", "win_64", "win_arm64"):
            if path.name.startswith(prefix + "_"):
                found.setdefault(prefix.replace("_", "-", 1), []).append(path)
    return found


def _pinning(feedstock: Path) -> Path:
    """The pinning a checkout carries (``.pinning``), or the corpus's copy named in ``SOURCE``."""
    own = feedstock / ".pinning" / "recipe" / "conda_build_config.yaml"
    source = feedstock / "SOURCE"
    if own.is_file() or not source.is_file():
        return own
    for line in source.read_text(encoding="utf-8").splitlines():
        if line.startswith("pinning:") and "(" in line:
            commit = line.rsplit(" ", 1)[-1].rstrip(")")
            return feedstock.parent / "_pinning" / commit / "conda_build_config.yaml"
    return own


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("names", nargs="*")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} ({os.cpu_count()} cores)")
    worst = 0.0
    for feedstock in sorted(p for p in args.directory.iterdir() if (p / "recipe" / "recipe.yaml").is_file()):
        if args.names and feedstock.name not in args.names:
            continue
        pinning = _pinning(feedstock)
        for platform, files in sorted(_platforms(feedstock).items()):
            with tempfile.TemporaryDirectory() as work:
                env = base_env({"HOME": str(Path(work) / "home"), "CONDA_OVERRIDE_CUDA": "12.9"})
                plan = [CIPUB, "plan", str(feedstock / "recipe"), "--conda-forge", "--pinning", str(pinning)]
                plan += ["--platform", platform, "--no-build-numbers", "--format", "json"]
                render = [sys.executable, "-c", RENDER, str(feedstock / "recipe" / "recipe.yaml"), work]
                render += [str(f) for f in files]
                mine: list[float] = []
                peer: list[float] = []
                try:
                    for _ in range(args.runs):
                        mine.append(run(plan, env=env).seconds)
                        peer.append(run(render, env=env).seconds)
                except RuntimeError as exc:
                    print(f"{feedstock.name} {platform}: failed: {str(exc).splitlines()[0]}")
                    continue
            ratio = median(mine) / median(peer)
            worst = max(worst, ratio)
            print(
                f"{feedstock.name} {platform}: cipub plan {median(mine):.2f} s, py-rattler-build render "
                f"({len(files)} file(s)) {median(peer):.2f} s, ratio {ratio:.2f}",
                flush=True,
            )
    print(f"worst ratio {worst:.2f} (goal 1.2)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
