"""The noarch advice: pure-Python packages built per platform are told; compiled ones are not."""

from __future__ import annotations

from pathlib import Path

import pytest

from cipub.core.artifact import read_artifact
from cipub.policy.noarch import advise, advise_plan
from cipub.policy.plan import make_plan
from cipub.recipe import load_recipe
from tests.support.packages import make_package

PURE = {"lib/python3.12/site-packages/demo/__init__.py": "def f():\n    return 1\n"}
PY_DEPENDS = ["python >=3.12,<3.13.0a0", "python_abi 3.12.* *_cp312"]


@pytest.fixture
def recipe(tmp_path: Path):  # type: ignore[no-untyped-def]
    d = tmp_path / "recipe"
    d.mkdir()
    (d / "meta.yaml").write_text("package: {name: demo, version: '1.0'}\nrequirements:\n  host:\n    - python\n")
    return load_recipe(d, target_platform="linux-64")


def built(tmp_path: Path, subdir: str, files: dict[str, str], depends: list[str] | None = None, **kw):  # type: ignore[no-untyped-def]
    pkg = make_package(tmp_path / subdir, "demo", "1.0", 0, subdir=subdir, files=files, depends=depends, **kw)
    return read_artifact(pkg)


def test_pure_python_package_gets_the_advice(recipe, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    artifacts = [
        built(tmp_path, "linux-64", PURE, PY_DEPENDS),
        built(tmp_path, "osx-arm64", PURE, PY_DEPENDS),
        built(tmp_path, "win-64", PURE, PY_DEPENDS),
    ]
    notes = advise(recipe, artifacts)
    assert notes == [
        "demo could be `noarch: python`: no compiled files and no per-platform requirements; "
        "that would save 2 builds (3 -> 1)"
    ]
    assert "save 11 builds (12 -> 1)" in advise(recipe, artifacts[:1], planned_builds=12)[0]


def test_a_package_with_a_shared_library_gets_no_advice(recipe, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    files = {**PURE, "lib/python3.12/site-packages/demo/_speed.cpython-312-x86_64-linux-gnu.so": "ELF?"}
    assert advise(recipe, [built(tmp_path, "linux-64", files, PY_DEPENDS)]) == []


def test_an_executable_without_suffix_is_found_by_its_magic(recipe, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    files = {**PURE, "bin/demo-tool": "\x7fELF\x02\x01\x01 pretend binary"}
    assert advise(recipe, [built(tmp_path, "linux-64", files, PY_DEPENDS)]) == []


def test_platform_requirements_mean_no_advice(recipe, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert advise(recipe, [built(tmp_path, "linux-64", PURE, [*PY_DEPENDS, "libgcc >=13"])]) == []
    assert advise(recipe, [built(tmp_path, "osx-64", PURE, [*PY_DEPENDS, "__osx >=10.13"])]) == []
    # requirements that differ between platforms are platform-specific too
    a = built(tmp_path, "linux-64", PURE, PY_DEPENDS)
    b = built(tmp_path, "win-64", PURE, [*PY_DEPENDS, "colorama"])
    assert advise(recipe, [a, b]) == []


def test_noarch_packages_and_data_only_packages(recipe, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    noarch = read_artifact(make_package(tmp_path / "n", "demo", "1.0", 0, noarch="python", files=PURE))
    assert advise(recipe, [noarch]) == []
    data = built(tmp_path, "linux-64", {"share/demo/data.txt": "x"})
    assert advise(recipe, [data])[0].startswith("demo could be `noarch: generic`")


def test_plan_advice_for_a_compiler_free_recipe(tmp_path: Path) -> None:
    d = tmp_path / "recipe"
    d.mkdir()
    (d / "meta.yaml").write_text(
        "package: {name: purepy, version: '1.0'}\nrequirements:\n  host:\n    - python\n  run:\n    - python\n"
    )
    (d / "conda_build_config.yaml").write_text("python:\n  - 3.11\n  - 3.12\n")
    recipe = load_recipe(d, target_platform="linux-64")
    plan = make_plan(recipe, variant_configs=[], overrides={}, platforms=["linux-64", "win-64"], channel=None)
    assert len(plan.cells) == 4
    assert advise_plan(recipe, plan) == [
        "purepy could be `noarch: python`: the recipe calls no compiler; that would save 3 builds (4 -> 1) "
        "(check the built packages: `cipub build` says so when they hold no compiled files)"
    ]
    (d / "meta.yaml").write_text((d / "meta.yaml").read_text() + "  build:\n    - {{ compiler('c') }}\n")
    recipe = load_recipe(d, target_platform="linux-64")
    plan = make_plan(recipe, variant_configs=[], overrides={}, platforms=["linux-64", "win-64"], channel=None)
    assert advise_plan(recipe, plan) == []
