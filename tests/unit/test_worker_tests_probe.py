"""The build worker skips py-rattler-build's test run for a package whose ``info/`` says it has no
recipe tests (that call extracts the whole archive even to find none: seconds for a big package)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cipub.core.artifact import carries_recipe_tests as _has_tests
from tests.conftest import REPO
from tests.support.packages import make_package


def test_an_empty_tests_list_means_no_tests(tmp_path: Path) -> None:
    none = make_package(tmp_path / "a", "none", files={"share/x": "x", "info/tests/tests.yaml": "[]\n"})
    assert _has_tests(none) is False


def test_listed_or_legacy_tests_or_no_list_run(tmp_path: Path) -> None:
    listed = make_package(
        tmp_path / "b", "listed", files={"share/x": "x", "info/tests/tests.yaml": "- script: [true]\n"}
    )
    legacy = make_package(tmp_path / "c", "legacy", files={"share/x": "x", "info/test/run_test.sh": "true\n"})
    unknown = make_package(tmp_path / "d", "unknown")  # no tests.yaml: py-rattler-build decides
    old = make_package(tmp_path / "e", "old", tar_bz2=True, files={"share/x": "x", "info/tests/tests.yaml": "[]\n"})
    assert [_has_tests(p) for p in (listed, legacy, unknown, old)] == [True, True, True, True]


def test_the_worker_loads_no_other_engine_and_no_recipe_reader() -> None:
    """``python -m cipub.engines._rattler_worker`` imports the ``cipub.engines`` package first: its
    names are imported on first use, so the worker starts without conda-build's engine, the recipe
    readers or yaml (they were 45 ms of every build's worker start, issue 12, B7)."""
    code = (
        "import sys\n"
        "import cipub.engines._rattler_worker\n"
        "heavy = ('cipub.engines.conda_build', 'cipub.engines.boa', 'cipub.engines.rattler_build',\n"
        "         'cipub.engines.container', 'cipub.recipe', 'yaml', 'httpx', 'typer', 'rattler')\n"
        "print('imported:', ','.join(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert done.stdout.splitlines()[-1] == "imported: ", done.stdout + done.stderr


def test_the_engines_package_still_gives_every_name() -> None:
    import cipub.engines as engines

    for name in engines.__all__:
        assert getattr(engines, name) is not None, name
    assert engines.RattlerBuildEngine.name == "rattler-build"
    with pytest.raises(AttributeError):
        _ = engines.NoSuchEngine  # type: ignore[attr-defined]
