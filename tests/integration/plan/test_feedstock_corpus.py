"""Real-world conformance: ``cipub plan --conda-forge`` against conda-smithy's ``.ci_support``.

The corpus (``tests/data/feedstocks``, see its README.md) holds real conda-forge feedstocks as of a
re-render commit: ``recipe/``, ``conda-forge.yml`` and ``.ci_support/`` (with the migrations), and
the conda-forge-pinning of that re-render (``_pinning/COMMIT``). Each feedstock is planned for the
platforms of its ``.ci_support`` files (the real CLI, in-process); per platform the cells, the values of every key
conda-smithy wrote (but the bookkeeping ones, ``NOT_USED`` in tests/tools/check_feedstocks.py) and the job
grouping must agree.

The differences that are understood are listed, with their reason, in
``tests/data/feedstocks/known_differences.yaml``: each is asserted to be exactly that difference, so
a new difference, a changed one and a vanished one all fail, with a readable diff.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.tools.check_feedstocks import expected_matrices, project_cells

pytestmark = pytest.mark.integration

CORPUS = Path(__file__).resolve().parents[2] / "data" / "feedstocks"
KNOWN = CORPUS / "known_differences.yaml"
FEEDSTOCKS = sorted(p.name for p in CORPUS.iterdir() if (p / "recipe").is_dir() and (p / ".ci_support").is_dir())


def pinning_of(feedstock: Path) -> Path:
    found = re.search(r"conda-forge-pinning-feedstock ([0-9a-f]{40})", (feedstock / "SOURCE").read_text("utf-8"))
    assert found, f"{feedstock}/SOURCE names no pinning commit"
    return CORPUS / "_pinning" / found.group(1) / "conda_build_config.yaml"


def plan_feedstock(cipub: Callable[..., Any], feedstock: Path, platforms: list[str]) -> dict[str, Any]:
    """``cipub plan --conda-forge`` of the feedstock, run in-process (the real CLI)."""
    command = ["plan", str(feedstock / "recipe"), "--format", "json"]
    command += ["--no-build-numbers", "--conda-forge", "--pinning", str(pinning_of(feedstock))]
    for platform in platforms:
        command += ["--platform", platform]
    done = cipub(*command, cwd=feedstock)
    assert done.code == 0, f"cipub plan {feedstock.name}: exit {done.code}\n{done.err[-2000:]}"
    result: dict[str, Any] = json.loads(done.out)
    return result


def differences(cipub: Callable[..., Any], feedstock: Path) -> dict[str, list[str]]:
    """platform -> the readable difference of cipub's plan from ``.ci_support`` (absent: none)."""
    expected = expected_matrices(feedstock)
    assert expected, f"{feedstock.name}: no .ci_support files"
    plan = plan_feedstock(cipub, feedstock, sorted(expected))
    result: dict[str, list[str]] = {}
    for platform, (cells, jobs) in sorted(expected.items()):
        keys = sorted({k for c in cells for k in c})
        noarch = all(c.get("noarch") for c in plan["cells"]) and len(expected) == 1
        mine = [c for c in plan["cells"] if c["platform"] == platform or noarch]
        want = project_cells(cells, keys)
        got = project_cells([c["variant"] for c in mine], keys)
        planned_jobs = len({c.get("job") or c["id"] for c in mine})
        lines: list[str] = []
        if want != got:
            lines.append(f"cells: cipub {sum(got.values())}, conda-smithy {len(cells)}")
            only_want = sorted((want - got).elements(), key=str)
            only_got = sorted((got - want).elements(), key=str)
            common = [k for k in keys if len({dict(c).get(k) for c in only_want + only_got}) == 1]
            for side, group in (("conda-smithy only", only_want), ("cipub only", only_got)):
                for cell in group:
                    shown = " ".join(f"{k}={v}" for k, v in cell if k not in common)
                    lines.append(f"{side}: {shown or '(same keys)'}")
        if planned_jobs != jobs:
            lines.append(f"jobs: cipub {planned_jobs}, conda-smithy {jobs}")
        if lines:
            result[platform] = lines
    return result


def known_differences() -> dict[str, dict[str, list[str]]]:
    """feedstock -> platform -> the difference listed in known_differences.yaml (reasons left out)."""
    loaded = yaml.safe_load(KNOWN.read_text("utf-8")) or {}
    for name, platforms in loaded.items():
        for platform, entry in platforms.items():
            assert entry.get("reason"), f"{KNOWN.name}: {name} {platform} has no reason"
    return {
        name: {platform: list(entry["difference"]) for platform, entry in platforms.items()}
        for name, platforms in loaded.items()
    }


def test_corpus_is_complete() -> None:
    """≥ 20 feedstocks, v0 and v1, ≥ 5 multi-output, each with its license and source."""
    assert len(FEEDSTOCKS) >= 20
    formats: Counter[str] = Counter()
    multi = 0
    for name in FEEDSTOCKS:
        feedstock = CORPUS / name
        assert (feedstock / "LICENSE.txt").is_file(), name
        source = (feedstock / "SOURCE").read_text("utf-8")
        assert re.search(r"^commit: [0-9a-f]{40}$", source, re.MULTILINE), name
        assert pinning_of(feedstock).is_file(), name
        assert (pinning_of(feedstock).parent / "LICENSE.txt").is_file(), name
        v1 = (feedstock / "recipe" / "recipe.yaml").is_file()
        formats["v1" if v1 else "v0"] += 1
        text = (feedstock / "recipe" / ("recipe.yaml" if v1 else "meta.yaml")).read_text("utf-8")
        multi += bool(re.search(r"^outputs:", text, re.MULTILINE))
    assert formats["v0"] and formats["v1"], formats
    assert multi >= 5
    assert set(known_differences()) <= set(FEEDSTOCKS)


@pytest.mark.parametrize("name", FEEDSTOCKS)
def test_plan_matches_conda_smithy(cipub: Callable[..., Any], name: str) -> None:
    got = differences(cipub, CORPUS / name)
    want = known_differences().get(name, {})
    if got != want:
        report = [f"{name}: cipub plan --conda-forge differs from .ci_support other than listed:"]
        for platform in sorted(set(got) | set(want)):
            if got.get(platform) == want.get(platform):
                continue
            report.append(f"  {platform}:")
            report += [f"    listed:  {line}" for line in want.get(platform, ["(no difference)"])]
            report += [f"    now:     {line}" for line in got.get(platform, ["(no difference)"])]
        pytest.fail("\n".join(report), pytrace=False)
