"""Dev-time check: does ``cipub plan`` give the cells conda-smithy rendered for real feedstocks?

Not part of the test suite (third-party recipes are not committed here). Point it at a directory of
feedstock checkouts, each ``NAME/`` holding ``recipe/``, ``.ci_support/`` (the files conda-smithy
rendered), ``conda-forge.yml`` and, optionally, ``.pinning/recipe/conda_build_config.yaml`` plus
``.pinning/recipe/migrations/`` (conda-forge-pinning as of the re-render):

    python tests/tools/check_feedstocks.py /path/to/feedstocks [--mode smithy|files] [NAME ...]

``--mode smithy`` plans with ``cipub plan --conda-forge`` (cipub reads the feedstock as conda-smithy
does); ``--mode files`` passes the pinning and the feedstock's migrations as ``-m`` files, for
versions of cipub without that flag. For each platform of ``.ci_support`` it compares the cells
(each index of a file's lists is one cell) on the keys conda-smithy wrote, and prints a diff for
every platform matrix that differs; the last line is ``matched M/N platform matrices (G/N with
conda-smithy's job grouping too)``: a matrix counts for G only when cipub's jobs are conda-smithy's.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

#: what conda-smithy writes in every .ci_support file that is not a key the recipe uses
NOT_USED = {
    "zip_keys",
    "pin_run_as_build",
    "target_platform",
    "docker_image",
    "channel_targets",
    "channel_sources",
    "extend_keys",
    "ignore_build_only_deps",
    "upload_on_branch",
    "build_number_decrement",
    # conda-smithy keeps these in every osx file, used or not
    "MACOSX_DEPLOYMENT_TARGET",
    "MACOSX_SDK_VERSION",
    "macos_machine",
    "macos_min_version",
}

Cell = tuple[tuple[str, str | None], ...]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _load(path: Path) -> dict[str, Any]:
    # numbers as written: conda-smithy quotes most, but not all
    loaded = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.BaseLoader)  # noqa: S506 - BaseLoader is safe
    return loaded if isinstance(loaded, dict) else {}


def expected_matrices(feedstock: Path) -> dict[str, tuple[list[dict[str, str]], int]]:
    """platform -> (cells, jobs) as conda-smithy rendered them (each index of a file's lists is a cell)."""
    result: dict[str, tuple[list[dict[str, str]], int]] = {}
    for path in sorted((feedstock / ".ci_support").glob("*.yaml")):
        data = _load(path)
        platforms = data.get("target_platform") or []
        if platforms:
            platform = str(platforms[0])
        else:
            # a noarch feedstock's one file has no target_platform: its name says where it builds
            found = re.match(r"(linux|osx|win)_([a-z0-9]+)_", path.name)
            if not found:
                continue
            platform = f"{found.group(1)}-{found.group(2)}"
        lists = {k: [_text(v) for v in vs] for k, vs in data.items() if k not in NOT_USED and isinstance(vs, list)}
        width = max((len(v) for v in lists.values()), default=1)
        cells, jobs = result.get(platform, ([], 0))
        for i in range(width):
            cells.append({k: (vs[i] if len(vs) == width else vs[0]) for k, vs in lists.items()})
        result[platform] = (cells, jobs + 1)
    return result


def project_cells(cells: list[dict[str, str]], keys: list[str]) -> Counter[Cell]:
    return Counter(tuple((k, c.get(k)) for k in keys) for c in cells)


def plan_feedstock(feedstock: Path, platforms: list[str], mode: str) -> tuple[dict[str, Any] | None, str, float]:
    command = [sys.executable, "-m", "cipub", "plan", str(feedstock / "recipe"), "--format", "json"]
    command += ["--no-build-numbers"]
    for platform in platforms:
        command += ["--platform", platform]
    environ = dict(os.environ)
    pinning = feedstock / ".pinning" / "recipe"
    if mode == "smithy":
        command += ["--conda-forge"]
        if (pinning / "conda_build_config.yaml").is_file():
            command += ["--pinning", str(pinning / "conda_build_config.yaml")]
    else:
        if (pinning / "conda_build_config.yaml").is_file():
            command += ["-m", str(pinning / "conda_build_config.yaml")]
        for migration in sorted((feedstock / ".ci_support" / "migrations").glob("*.yaml")):
            pinned = pinning / "migrations" / migration.name
            command += ["-m", str(pinned if pinned.is_file() else migration)]
    started = time.monotonic()
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=environ, timeout=900, check=False)  # noqa: S603
    except subprocess.TimeoutExpired:
        return None, "timed out after 900 s", time.monotonic() - started
    elapsed = time.monotonic() - started
    if done.returncode != 0:
        return None, f"exit {done.returncode}: {done.stderr.strip()[-600:]}", elapsed
    return json.loads(done.stdout), "", elapsed


def compare(feedstock: Path, mode: str) -> tuple[int, int, int, list[str]]:
    expected = expected_matrices(feedstock)
    lines: list[str] = []
    if not expected:
        return 0, 0, 0, [f"{feedstock.name}: no .ci_support files"]
    plan, error, elapsed = plan_feedstock(feedstock, sorted(expected), mode)
    if plan is None:
        return 0, 0, len(expected), [f"{feedstock.name}: cipub plan failed ({elapsed:.0f} s): {error}"]
    matched = grouped = 0
    for platform, (cells, jobs) in sorted(expected.items()):
        keys = sorted({k for c in cells for k in c})
        noarch = all(c.get("noarch") for c in plan["cells"]) and len(expected) == 1
        mine = [c for c in plan["cells"] if c["platform"] == platform or noarch]
        want = project_cells(cells, keys)
        got = project_cells([c["variant"] for c in mine], keys)
        planned_jobs = len({c.get("job") or c["id"] for c in mine})
        if want == got:
            matched += 1
            grouped += planned_jobs == jobs
            grouping = "" if planned_jobs == jobs else f" (jobs: cipub {planned_jobs}, conda-smithy {jobs})"
            lines.append(f"{feedstock.name} {platform}: match, {len(cells)} cell(s){grouping}")
            continue
        lines.append(f"{feedstock.name} {platform}: DIFFERS (cipub {sum(got.values())}, conda-smithy {len(cells)})")
        only_want = sorted((want - got).elements(), key=str)
        only_got = sorted((got - want).elements(), key=str)
        common = [k for k in keys if len({dict(c).get(k) for c in only_want + only_got}) == 1]
        for side, group in (("conda-smithy only", only_want), ("cipub only", only_got)):
            for cell in group:
                shown = " ".join(f"{k}={v}" for k, v in cell if k not in common)
                lines.append(f"    {side}: {shown or '(same keys)'}")
    lines.append(f"{feedstock.name}: {matched}/{len(expected)} in {elapsed:.0f} s")
    return matched, grouped, len(expected), lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("names", nargs="*")
    parser.add_argument("--mode", choices=("smithy", "files"), default="smithy")
    args = parser.parse_args(argv)
    feedstocks = sorted(p for p in args.directory.iterdir() if (p / "recipe").is_dir() and (p / ".ci_support").is_dir())
    if args.names:
        feedstocks = [p for p in feedstocks if p.name in args.names]
    matched = grouped = total = 0
    for feedstock in feedstocks:
        m, g, t, lines = compare(feedstock, args.mode)
        matched, grouped, total = matched + m, grouped + g, total + t
        print("\n".join(lines), flush=True)
    print(f"matched {matched}/{total} platform matrices ({grouped}/{total} with conda-smithy's job grouping too)")
    return 0 if matched == total else 1


if __name__ == "__main__":
    raise SystemExit(main())
