"""The classes of issue 17: ways real conda-forge recipes broke ``cipub plan``, one recipe each.

The recipes are cipub's own (``tests/data/real-classes``), each the smallest one that shows a class.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cipub.core.errors import RecipeError
from cipub.policy import plan as plan_mod
from cipub.policy.plan import make_plan
from cipub.recipe import load_recipe
from cipub.recipe.variants import VariantConfig

DATA = Path(__file__).resolve().parents[2] / "data" / "real-classes"


def _plan(name: str, platforms: list[str], **kwargs: object) -> plan_mod.Plan:
    recipe = load_recipe(DATA / name, target_platform=platforms[0])
    arguments: dict[str, object] = {"variant_configs": [], "overrides": {}, "platforms": platforms, "channel": None}
    arguments.update(kwargs)
    return make_plan(recipe, **arguments)  # type: ignore[arg-type]


def test_class1_derived_keys_lose_no_output() -> None:
    # py-demo's variant carries libdemo (its pin_subpackage'd sibling), demo-tools' carries
    # build_platform: neither is a variant-file key, and neither may cost a cell or an output
    plan = _plan("derived-keys", ["linux-64"])
    by_python = {c.variant.get("python"): c for c in plan.cells}
    assert set(by_python) == {"3.11", "3.12"}
    published = [o for c in plan.cells for o in c.outputs]
    assert sorted(published) == ["demo-tools", "libdemo", "py-demo", "py-demo"]
    assert all("libdemo" not in c.variant and "build_platform" not in c.variant for c in plan.cells)


def test_class1_an_exact_pin_makes_a_package_per_variant_of_the_sibling() -> None:
    # libcore-dev pins libcore exactly and names no variant key itself, libcore-tools pins
    # libcore-dev: each is one package per flavor (another libcore hash), so each flavor's cell
    # publishes its own, not only the first cell
    plan = _plan("pinned-split", ["linux-64"])
    by_flavor = {c.variant.get("flavor"): c.outputs for c in plan.cells}
    assert set(by_flavor) == {"cpu", "gpu"}
    for outputs in by_flavor.values():
        assert sorted(outputs) == ["libcore", "libcore-dev", "libcore-tools"]


def test_class1_an_output_matching_no_combination_is_an_error_naming_it() -> None:
    recipe = load_recipe(DATA / "derived-keys", target_platform="linux-64")
    config = VariantConfig({"python": ["3.11", "3.12"], "c_compiler": ["gcc"]})
    outputs = [
        plan_mod._Output("libdemo", {"c_compiler": "gcc"}, None),
        plan_mod._Output("py-demo", {"python": "3.13", "libdemo": "1.2.3 h0_0"}, None),
    ]
    with pytest.raises(RecipeError, match=r"output py-demo \(python=3\.13\) for linux-64 matches no combination"):
        plan_mod._cells_from_outputs(recipe, "linux-64", config, outputs)


def test_class3_selectors_see_integer_variant_values() -> None:
    plan = _plan("int-selectors", ["linux-64"])
    assert sorted(c.variant["microarch_level"] for c in plan.cells) == ["1", "3"]


def test_class6_the_pinning_is_below_the_recipes_own_file() -> None:
    pinning = DATA / "pinning" / "conda_build_config.yaml"
    plan = _plan("pinning-below-recipe", ["linux-64"], pinning=pinning)
    (cell,) = plan.cells
    assert cell.variant["channel_sources"] == "conda-forge/label/rc,conda-forge"
    assert cell.variant["libfoo"] == "2"
    # a -m file still wins over the recipe's own, as conda-build stacks variant_config_files last
    plan = _plan("pinning-below-recipe", ["linux-64"], pinning=pinning, variant_configs=[pinning])
    assert plan.cells[0].variant["libfoo"] == "1"


def test_class5_and_item2_a_feedstock_as_conda_smithy_reads_it(cipub, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import json

    pinning = DATA / "pinning" / "conda_build_config.yaml"
    result = cipub(
        "plan",
        str(DATA / "noarch-feedstock" / "recipe"),
        "--conda-forge",
        "--pinning",
        str(pinning),
        "--no-build-numbers",
        "-f",
        "json",
        cwd=tmp_path,
    )
    assert result.code == 0, result.err
    plan = json.loads(result.out)
    cells = {c["id"]: c for c in plan["cells"]}
    assert set(cells) == {"noarch-linux-64", "noarch-win-64"}
    assert cells["noarch-win-64"]["platform"] == "win-64" and cells["noarch-win-64"]["noarch"] == "python"
    assert any("planned as conda-smithy" in n and "1 expired migration(s) dropped" in n for n in plan["notes"])


def test_item2_migrations_are_chosen_as_conda_smithy() -> None:
    from cipub.recipe.feedstock import choose_migrations

    local = DATA / "noarch-feedstock" / ".ci_support" / "migrations"
    chosen, expired = choose_migrations(local, DATA / "pinning" / "conda_build_config.yaml")
    assert sorted(str(p.relative_to(DATA)) for p in chosen) == [
        "noarch-feedstock/.ci_support/migrations/local.yaml",
        "pinning/migrations/kept.yaml",
    ]
    assert [p.name for p in expired] == ["over.yaml"]


def test_only_the_pinning_migrations_a_feedstock_names_are_parsed(tmp_path: Path) -> None:
    from cipub.recipe.feedstock import choose_migrations

    local = tmp_path / "feedstock" / ".ci_support" / "migrations"
    upstream = tmp_path / "pinning" / "migrations"
    local.mkdir(parents=True)
    upstream.mkdir(parents=True)
    (tmp_path / "pinning" / "conda_build_config.yaml").write_text("python: ['3.12']\n")
    (local / "py.yaml").write_text("migrator_ts: 1727634007\n__migrator:\n  migration_number: 1\n")
    (upstream / "py.yaml").write_text("__migrator:\n  migration_number: 1\nmigrator_ts: 1727634007\n")
    # dozens of others in an installed pinning; this one is not even valid YAML: never parsed
    (upstream / "other.yaml").write_text("migrator_ts: 1600000000\n__migrator: [unclosed\n")
    chosen, expired = choose_migrations(local, tmp_path / "pinning" / "conda_build_config.yaml")
    assert chosen == [upstream / "py.yaml"]
    assert expired == []


def test_class2_v1_recipes_are_read_by_py_rattler_build_only() -> None:
    # rattler-build's own filter in context:, and a skip: naming a context: variable (python 3.11)
    recipe = load_recipe(DATA / "rattler-filters", target_platform="linux-64")
    assert [(o.name, o.version) for o in recipe.outputs] == [("skipper", "2.5.1")]
    plan = _plan("rattler-filters", ["linux-64"])
    assert sorted(c.variant["python"] for c in plan.cells) == ["3.12", "3.13"]


def test_class2_a_v1_recipe_needing_a_variant_file_says_so(tmp_path: Path) -> None:
    (tmp_path / "recipe.yaml").write_text(
        "package: {name: needs-stdlib, version: '1'}\nrequirements:\n  build:\n    - ${{ stdlib('c') }}\n"
    )
    with pytest.raises(RecipeError, match="cannot render for linux-64") as caught:
        load_recipe(tmp_path, target_platform="linux-64")
    assert caught.value.hint is not None and "-m FILE" in caught.value.hint
    (tmp_path / "pinning.yaml").write_text("c_stdlib: [sysroot]\nc_stdlib_version: ['2.17']\n")
    recipe = load_recipe(tmp_path, target_platform="linux-64", pinning=tmp_path / "pinning.yaml")
    assert recipe.name == "needs-stdlib"


def test_class7_py_rattler_build_is_given_only_the_keys_the_recipe_names(monkeypatch: pytest.MonkeyPatch) -> None:
    from cipub.recipe import v1

    seen: list[set[str]] = []
    render = v1.render_outputs

    def spy(stage0: object, platform: str, variants: dict[str, list[str]] | None = None, zips: object = None) -> list:  # type: ignore[type-arg]
        seen.append(set(variants or {}))
        return render(stage0, platform, variants, zips)  # type: ignore[arg-type]

    monkeypatch.setattr(v1, "render_outputs", spy)
    # the pinning has python, libfoo, channel_sources, c_compiler: the recipe names two of them
    plan = _plan("derived-keys", ["linux-64"], pinning=DATA / "pinning" / "conda_build_config.yaml")
    assert len(plan.cells) == 2
    assert seen and all(keys <= {"python", "c_compiler"} for keys in seen)


def test_class4_conda_smithy_grouping_builds_a_library_once_per_job() -> None:
    # libdemo uses c_compiler, py-demo python, demo-tools neither: no key is used by every output,
    # so conda-smithy builds both python cells of a platform in one job
    plan = _plan("derived-keys", ["linux-64", "osx-64"], grouping="conda-smithy")
    assert plan.grouping == "conda-smithy"
    assert len(plan.cells) == 4 and plan.jobs == ["linux-64-job", "osx-64-job"]
    assert any("2 job(s) for 4 cell(s)" in note for note in plan.notes)
    again = plan_mod.Plan.from_json(plan.to_json())
    assert again.grouping == "conda-smithy" and again.jobs == plan.jobs
    # the default: a job per cell, and the plan says so
    default = _plan("derived-keys", ["linux-64"])
    assert default.grouping == "cells" and default.jobs == default.ids


def test_class3_conda_build_config_values_are_the_text_written() -> None:
    plan = _plan("yes-no-values", ["linux-64"])
    assert sorted((c.variant["with_icu"], c.variant.get("icu")) for c in plan.cells) == [("no", "78"), ("yes", "78")]


def test_conda_builds_default_compilers_are_the_lowest_layer() -> None:
    plan = _plan("default-compilers", ["osx-arm64"])
    assert plan.cells[0].variant["fortran_compiler"] == "gfortran"


def test_a_bare_list_item_anywhere_uses_its_key() -> None:
    plan = _plan("bare-items", ["linux-64"])
    assert plan.cells[0].variant.get("libbrotlicommon") == "1.2"


def test_a_pinning_may_give_a_key_twice_as_conda_build_reads_it(tmp_path: Path) -> None:
    pinning = tmp_path / "conda_build_config.yaml"
    pinning.write_text("libfoo:\n  - '1'\nc_compiler:\n  - gcc\nlibfoo:\n  - '5'\n")
    plan = _plan("pinning-below-recipe", ["linux-64"], pinning=pinning)
    assert plan.cells[0].variant["libfoo"] == "2"  # the recipe's own still wins
    with pytest.raises(RecipeError, match="duplicate key 'libfoo'"):
        _plan("pinning-below-recipe", ["linux-64"], variant_configs=[pinning])


def test_runner_labels_are_kept_as_conda_smithy_keeps_them() -> None:
    plan = _plan("runner-labels", ["linux-64"])
    assert plan.cells[0].variant["github_actions_labels"] == "cirun-openstack-gpu-large"
    assert plan.cells[0].id == "linux-64"


def test_class4_v0_a_library_with_bindings_is_one_job() -> None:
    plan = _plan("v0-lib-with-bindings", ["linux-64"], grouping="conda-smithy")
    assert len(plan.cells) == 3 and plan.jobs == ["linux-64-job"]


def test_a_cdt_call_uses_the_cdt_keys(tmp_path: Path) -> None:
    # conda-build 25.1: {{ cdt('x') }} uses cdt_name and cdt_arch (tk's X11 CDTs keep cdt_name=conda)
    from cipub.recipe import usage

    meta = tmp_path / "meta.yaml"
    meta.write_text("requirements:\n  build:\n    - {{ cdt('libx11-devel') }}  # [linux]\n")
    assert usage.static_keys(meta, ["cdt_name", "cdt_arch", "python"]) == {"cdt_name", "cdt_arch"}


def test_a_migration_file_is_read_with_selectors_for_a_v1_recipe(tmp_path: Path) -> None:
    # conda-smithy reads migrations with conda-build's selectors whatever the recipe format, an
    # unknown name being False; key_add compares the whole zip group (llama.cpp's tegra variant)
    from cipub.recipe.variants import load_variant_files

    base = tmp_path / "conda_build_config.yaml"
    base.write_text(
        "cuda_compiler_version:\n  - None\n  - '12.9'\narm_variant_type:  # [aarch64]\n  - sbsa  # [aarch64]\n"
    )
    migration = tmp_path / "arm.yaml"
    migration.write_text(
        "migrator_ts: 1\n__migrator:\n  operation: key_add\n  primary_key: cuda_compiler_version\n"
        "  additional_zip_keys:  # [aarch64]\n    - arm_variant_type  # [aarch64]\n"
        "  commit_message: |\n    - arm-variant  # [aarch64 and cuda_compiler_version != 'None']\n"
        "cuda_compiler_version:  # [aarch64]\n  - '12.9'  # [aarch64]\n"
        "arm_variant_type:  # [aarch64]\n  - tegra  # [aarch64]\n"
    )
    linux = load_variant_files([base, migration], "linux-64", recipe_format="v1")
    assert linux.values["cuda_compiler_version"] == ["None", "12.9"]
    arm = load_variant_files([base, migration], "linux-aarch64", recipe_format="v1")
    rows = set(zip(arm.values["cuda_compiler_version"], arm.values["arm_variant_type"], strict=True))
    assert rows == {("None", "sbsa"), ("12.9", "sbsa"), ("12.9", "tegra")}


def test_python_only_in_build_requirements_is_not_used(tmp_path: Path) -> None:
    # conda-build's ignore_build_only_deps default (python, numpy): jsoncpp's build-only python
    # (for its tests) gives one cell, not one per python
    from cipub.policy.plan import make_plan

    recipe_dir = tmp_path / "lib"
    recipe_dir.mkdir()
    (recipe_dir / "meta.yaml").write_text(
        "package:\n  name: lib\n  version: '1.0'\nrequirements:\n  build:\n    - {{ compiler('c') }}\n    - python\n"
    )
    cbc = tmp_path / "cbc.yaml"
    cbc.write_text("c_compiler:\n  - gcc\npython:\n  - '3.11'\n  - '3.12'\n")
    recipe = load_recipe(recipe_dir, target_platform="linux-64")
    plan = make_plan(recipe, channel=None, variant_configs=[cbc], overrides={}, platforms=["linux-64"])
    assert [c.variant.get("python") for c in plan.cells] == [None]


def test_linux64_names_linux_64_only() -> None:
    # conda-build's get_selectors: linux64 is the linux-64 subdir, not every 64-bit linux (aiohttp)
    from cipub.recipe.selectors import platform_namespace

    assert platform_namespace("linux-64")["linux64"] is True
    assert platform_namespace("linux-aarch64")["linux64"] is False
    assert platform_namespace("win-arm64")["win64"] is False


def test_pin_compatible_of_a_longer_name_uses_the_key_it_starts_with(tmp_path: Path) -> None:
    # conda-build's variant_regex: {{ pin_compatible('libwebp-base') }} uses libwebp as well
    from cipub.recipe import usage

    meta = tmp_path / "meta.yaml"
    meta.write_text("build:\n  run_exports:\n    - {{ pin_compatible('libwebp-base') }}\n")
    assert usage.static_keys(meta, ["libwebp", "libwebp_base", "libwebpx"]) == {"libwebp", "libwebp_base"}
