"""The pinning's name does not change the plan: conda-forge-pinning's conda_build_config.yaml copied
under another name (as a CI job may keep it) is still read with its ``# [selector]`` lines, for a
recipe.yaml as for a meta.yaml, and rattler-build types its values as before."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.plan.test_feedstock_corpus import CORPUS, pinning_of

pytestmark = pytest.mark.integration


def _cells(cipub: Callable[..., Any], feedstock: Path, pinning: Path) -> list[dict[str, Any]]:
    done = cipub(
        "plan", "recipe", "--conda-forge", "--pinning", str(pinning), "--no-build-numbers", "-f", "json", cwd=feedstock
    )
    assert done.code == 0, done.err
    plan = json.loads(done.out)
    return [{k: c[k] for k in ("id", "platform", "variant", "native", "job", "outputs")} for c in plan["cells"]]


@pytest.mark.parametrize("name", ["libgit2", "hdf5"])  # a recipe.yaml and a meta.yaml, each with migrations
def test_the_real_pinning_under_another_name_gives_the_same_plan(
    cipub: Callable[..., Any], tmp_path: Path, name: str
) -> None:
    feedstock = CORPUS / name
    pinning = pinning_of(feedstock)
    renamed = tmp_path / "pinning" / "conda-forge-pinning-2026.yaml"
    shutil.copytree(pinning.parent, renamed.parent)  # its migrations/ beside it, as in the pinning feedstock
    (renamed.parent / pinning.name).rename(renamed)
    assert _cells(cipub, feedstock, renamed) == _cells(cipub, feedstock, pinning)
