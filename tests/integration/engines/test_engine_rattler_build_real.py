"""Real py-rattler-build builds, offline: the template recipe, build-number override, failures."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cipub.core.artifact import read_artifact
from cipub.core.errors import BuildFailedError, RecipeError
from cipub.engines import BuildRequest, select_engine
from cipub.recipe import load_recipe

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
GENERIC = REPO / "recipes-template" / "v1-noarch-generic"


def test_template_builds_offline_with_build_number_override(tmp_path: Path) -> None:
    recipe = load_recipe(GENERIC)
    engine = select_engine("auto", recipe)
    assert engine.name == "rattler-build"
    out = tmp_path / "dist"
    first = engine.build(BuildRequest(recipe=recipe, output_dir=out, build_number=7, channels=()))
    assert len(first) == 1
    artifact = read_artifact(first[0])
    assert (artifact.name, artifact.version, artifact.build_number, artifact.noarch, artifact.subdir) == (
        "hello-cipub-data",
        "0.1.0",
        7,
        "generic",
        "noarch",
    )
    assert artifact.filename.endswith("_7.conda")
    # a second build with another number reports only the new file; the first stays
    second = engine.build(BuildRequest(recipe=recipe, output_dir=out, build_number=8, channels=()))
    assert [read_artifact(p).build_number for p in second] == [8]
    assert first[0].is_file()
    # without an override the recipe's own number (0) is used
    third = engine.build(BuildRequest(recipe=recipe, output_dir=out, channels=()))
    assert [read_artifact(p).build_number for p in third] == [0]


def test_variant_overrides_reach_the_build(tmp_path: Path) -> None:
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "recipe.yaml").write_text(
        "package: {name: flavoured, version: '1.0'}\n"
        "build:\n  number: 0\n  noarch: generic\n  string: ${{ flavour }}_${{ build_number }}\n"
        "  script:\n    - mkdir -p $PREFIX/share && echo ${{ flavour }} > $PREFIX/share/flavour.txt\n"
    )
    recipe = load_recipe(tmp_path / "r", overrides={"flavour": ["mint"]})
    built = select_engine("rattler-build", recipe).build(
        BuildRequest(
            recipe=recipe,
            output_dir=tmp_path / "out",
            variant_overrides={"flavour": ["mint"]},
            build_number=2,
            channels=(),
        )
    )
    assert [p.name for p in built] == ["flavoured-1.0-mint_2.conda"]


def test_failing_script_is_exit_4(tmp_path: Path) -> None:
    shutil.copytree(GENERIC, tmp_path / "r")
    text = (tmp_path / "r" / "recipe.yaml").read_text().replace("    - mkdir -p", "    - exit 3\n    - mkdir -p", 1)
    (tmp_path / "r" / "recipe.yaml").write_text(text)
    recipe = load_recipe(tmp_path / "r")
    with pytest.raises(BuildFailedError) as info:
        select_engine("auto", recipe).build(BuildRequest(recipe=recipe, output_dir=tmp_path / "out", channels=()))
    assert info.value.exit_code == 4
    assert "rattler-build failed" in info.value.message


def test_broken_variant_file_is_exit_3(tmp_path: Path) -> None:
    recipe = load_recipe(GENERIC)
    bad = tmp_path / "variants.yaml"
    bad.write_text("python:\n  - 3.11\n bad: [\n")
    with pytest.raises(RecipeError) as info:
        select_engine("auto", recipe).build(
            BuildRequest(recipe=recipe, output_dir=tmp_path / "out", variant_configs=(bad,), channels=())
        )
    assert info.value.exit_code == 3


def test_migration_files_are_merged_before_rattler_build_sees_them(tmp_path: Path) -> None:
    # rattler-build refuses conda-smithy migration files (`__migrator`); cipub merges them first
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "recipe.yaml").write_text(
        "package: {name: migrated, version: '1.0'}\n"
        "build:\n  noarch: generic\n  string: ${{ flavour }}_${{ build_number }}\n"
        "  script:\n    - mkdir -p $PREFIX/share && echo ${{ flavour }} > $PREFIX/share/flavour.txt\n"
    )
    pins = tmp_path / "pins.yaml"
    pins.write_text("flavour: [mint]\n")
    migration = tmp_path / "lemon.yaml"
    migration.write_text("migrator_ts: 1\n__migrator: {operation: key_add, primary_key: flavour}\nflavour: [lemon]\n")
    recipe = load_recipe(tmp_path / "r", variant_files=(pins, migration))
    built = select_engine("auto", recipe).build(
        BuildRequest(recipe=recipe, output_dir=tmp_path / "out", variant_configs=(pins, migration), channels=())
    )
    assert sorted(p.name for p in built) == ["migrated-1.0-lemon_0.conda", "migrated-1.0-mint_0.conda"]


def test_broken_variant_file_names_file_and_line(tmp_path: Path) -> None:
    recipe = load_recipe(GENERIC)
    bad = tmp_path / "conda_build_config.yaml"
    bad.write_text("python:\n  - 3.11  # [lnux]\n")
    with pytest.raises(RecipeError, match=r"conda_build_config\.yaml:2: selector \[lnux\]"):
        select_engine("auto", recipe).build(
            BuildRequest(recipe=recipe, output_dir=tmp_path / "out", variant_configs=(bad,), channels=())
        )


def test_the_package_is_announced_while_its_recipe_tests_still_run(tmp_path: Path) -> None:
    """cipub checks the package meanwhile (issue 12): the engine names it before build() returns."""
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "recipe.yaml").write_text(
        "package: {name: announced, version: '1.0'}\n"
        "build:\n  number: 0\n  noarch: generic\n"
        "  script:\n    - mkdir -p $PREFIX/share && echo a > $PREFIX/share/a.txt\n"
        "tests:\n  - script:\n      - sleep 1\n      - test -f $PREFIX/share/a.txt\n"
    )
    recipe = load_recipe(tmp_path / "r")
    announced: list[Path] = []
    built = select_engine("rattler-build", recipe).build(
        BuildRequest(recipe=recipe, output_dir=tmp_path / "out", channels=(), on_package=announced.append)
    )
    assert len(built) == 1 and built[0].name.startswith("announced-1.0-")
    assert announced == built
