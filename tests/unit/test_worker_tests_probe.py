"""The build worker skips py-rattler-build's test run for a package whose ``info/`` says it has no
recipe tests (that call extracts the whole archive even to find none: seconds for a big package)."""

from __future__ import annotations

from pathlib import Path

from cipub.engines._rattler_worker import _has_tests
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
