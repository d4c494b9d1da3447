"""Bad feedstock input under ``--conda-forge``: conda-forge.yml, the migrations, the pinning.

Each is a clear error naming the file (and conda-forge.yml's key) with a hint and its own exit code
(3: the feedstock's files, 2: the command line), never an internal error (exit 1).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from cipub.core.errors import RecipeError, UsageError
from cipub.recipe.feedstock import find_root, read_feedstock
from tests.conftest import CliResult

Cli = Callable[..., CliResult]

META = 'package:\n  name: demo\n  version: "1.0"\nbuild:\n  number: 0\n'
PINNING = "python:\n  - 3.12  # [linux]\n  - 3.13  # [win]\n"


def _feedstock(tmp_path: Path, config: str | bytes = "") -> Path:
    root = tmp_path / "demo-feedstock"
    (root / "recipe").mkdir(parents=True)
    (root / "recipe" / "meta.yaml").write_text(META)
    (root / ".ci_support" / "migrations").mkdir(parents=True)
    if isinstance(config, bytes):
        (root / "conda-forge.yml").write_bytes(config)
    else:
        (root / "conda-forge.yml").write_text(config)
    (tmp_path / "pinning").mkdir()
    (tmp_path / "pinning" / "conda_build_config.yaml").write_text(PINNING)
    return root


def _pinning(tmp_path: Path) -> Path:
    return tmp_path / "pinning" / "conda_build_config.yaml"


def _read_error(tmp_path: Path, config: str | bytes) -> RecipeError:
    root = _feedstock(tmp_path, config)
    with pytest.raises(RecipeError) as caught:
        read_feedstock(root / "recipe" / "meta.yaml", pinning=_pinning(tmp_path))
    assert caught.value.hint, caught.value
    return caught.value


def test_a_conda_forge_yml_that_is_not_utf8_names_the_file(tmp_path: Path) -> None:
    error = _read_error(tmp_path, b"provider:\n  linux_aarch64: \xff\n")
    assert "conda-forge.yml: not UTF-8 text" in error.message


def test_a_migration_that_is_not_utf8_names_the_file(tmp_path: Path) -> None:
    root = _feedstock(tmp_path)
    migration = root / ".ci_support" / "migrations" / "broken.yaml"
    migration.write_bytes(b"migrator_ts: 1\n__migrator:\n  commit_message: \xff\xfe\n")
    # the pinning has migrations: the feedstock's are read to choose between them
    (tmp_path / "pinning" / "migrations").mkdir()
    with pytest.raises(RecipeError) as caught:
        read_feedstock(root / "recipe", pinning=_pinning(tmp_path))
    assert str(migration) in caught.value.message and "not UTF-8" in caught.value.message
    assert caught.value.hint and "migrations" in caught.value.hint


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ("noarch_platforms: 5\n", "noarch_platforms must be a platform or a list of platforms, not 5 (a number)"),
        ("noarch_platforms: [5]\n", "noarch_platforms: 5 is not a platform"),
        ("noarch_platforms: [win_bogus]\n", "noarch_platforms: 'win_bogus' is not a platform"),
        ("noarch_platforms: {linux_64: 1}\n", "noarch_platforms must be a platform or a list of platforms"),
        ("noarch_platforms: [noarch]\n", "noarch_platforms: 'noarch' is not a platform"),
        ("provider: 5\n", "provider must be a mapping of platform"),
        ("provider: {linux_bogus: default}\n", "provider: 'linux_bogus' is not a platform"),
        ("provider: {5: default}\n", "provider: 5 is not a platform"),
        ("provider: {linux_64: {a: b}}\n", "provider: linux_64 must be a CI service (or a list of them), not a"),
        ("build_platform: {osx_arm64: banana}\n", "build_platform: osx_arm64: 'banana' is not a platform"),
        ("build_platform: {osx_arm64: 5}\n", "build_platform: osx_arm64: 5 is not a platform"),
        ("build_platform: {bogus_64: osx_64}\n", "build_platform: 'bogus_64' is not a platform"),
        ("build_platform: [osx_64]\n", "build_platform must be a mapping of platform"),
        ("os_version: {linux_64: [1]}\n", "os_version: linux_64 must be an OS version"),
        ("os_version: {linux_64: 8}\n", "os_version: linux_64 must be an OS version (cos7, alma9 ...), not 8"),
        ("os_version: [alma9]\n", "os_version must be a mapping of platform"),
        ("- a\n", "conda-forge.yml: must be a mapping of settings, not a list"),
        ("provider: {linux_64: [azure\n", "conda-forge.yml:2: invalid YAML"),
    ],
)
def test_each_conda_forge_yml_key_is_checked(tmp_path: Path, config: str, expected: str) -> None:
    error = _read_error(tmp_path, config)
    assert "conda-forge.yml" in error.message and expected in error.message, error.message


def test_a_misspelt_platform_gets_a_suggestion_spelt_as_conda_forge_yml_spells_it(tmp_path: Path) -> None:
    error = _read_error(tmp_path, "build_platform: {osx_arm46: osx_64}\n")
    assert error.hint is not None and error.hint.startswith("did you mean osx_arm64?"), error.hint


def test_valid_settings_are_read(tmp_path: Path) -> None:
    root = _feedstock(
        tmp_path,
        "provider: {linux_aarch64: default, win: azure, osx_64: [azure, github_actions], linux_ppc64le: null}\n"
        "build_platform: {osx_arm64: osx_64}\nos_version: {linux_64: alma9, linux_aarch64: null}\n"
        "noarch_platforms: [linux_64, win_64]\n",
    )
    feedstock = read_feedstock(root / "recipe", pinning=_pinning(tmp_path))
    assert feedstock.platforms == ("linux-64", "osx-64", "win-64", "linux-aarch64", "osx-arm64")
    assert feedstock.build_platforms == {"osx-arm64": "osx-64"}
    # conda-smithy: os.environ["BUILD_PLATFORM"] = build_platform[...].replace("_", "-")
    assert feedstock.environ("osx-arm64", META)["BUILD_PLATFORM"] == "osx-64"
    assert feedstock.os_versions == {"linux-64": "alma9"}
    assert feedstock.noarch_platforms == ("linux-64", "win-64")


def test_the_feedstock_is_found_from_inside_recipe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _feedstock(tmp_path)
    monkeypatch.chdir(root / "recipe")
    assert find_root(Path(".")) == root
    assert find_root(Path("meta.yaml")) == root


@pytest.mark.parametrize("where", ["directory", "missing"])
def test_a_pinning_that_is_no_file_is_a_usage_error(tmp_path: Path, where: str) -> None:
    root = _feedstock(tmp_path)
    pinning = tmp_path / "pinning" if where == "directory" else tmp_path / "nothing.yaml"
    with pytest.raises(UsageError) as caught:
        read_feedstock(root / "recipe", pinning=pinning)
    assert ("is a directory" if where == "directory" else "does not exist") in caught.value.message


# -- the CLI: exit codes and hints ------------------------------------------------------------------


def _hint(result: CliResult) -> str:
    lines = [line for line in result.err.splitlines() if line.startswith("cipub: hint: ")]
    assert len(lines) == 1, result.err
    return lines[0]


@pytest.mark.parametrize(
    "config",
    [b"noarch_platforms: 5\n", b"provider:\n  linux_aarch64: \xff\n", b"provider: {linux_bogus: default}\n"],
)
def test_cli_bad_conda_forge_yml_is_exit_3_with_a_hint(cipub: Cli, tmp_path: Path, config: bytes) -> None:
    root = _feedstock(tmp_path, config)
    result = cipub("plan", "recipe", "--conda-forge", "--pinning", str(_pinning(tmp_path)), cwd=root)
    assert result.code == 3, result.err
    assert "conda-forge.yml" in result.err and "internal error" not in result.err
    assert "--platform" not in result.err  # conda-forge.yml's key is to blame, not the command line
    assert _hint(result)


@pytest.mark.parametrize("recipe", [".", "meta.yaml"])
def test_cli_plan_from_inside_recipe(cipub: Cli, tmp_path: Path, recipe: str) -> None:
    root = _feedstock(tmp_path)
    result = cipub(
        "plan", recipe, "--conda-forge", "--pinning", str(_pinning(tmp_path)), "--no-build-numbers", cwd=root / "recipe"
    )
    assert result.code == 0, result.err
    assert "planned as conda-smithy" in result.err


@pytest.mark.parametrize("conda_forge", [True, False])
@pytest.mark.parametrize("where", ["directory", "missing"])
def test_cli_a_pinning_that_is_no_file_is_exit_2_as_no_pinning(
    cipub: Cli, tmp_path: Path, where: str, conda_forge: bool
) -> None:
    root = _feedstock(tmp_path)
    pinning = tmp_path / "pinning" if where == "directory" else tmp_path / "nothing.yaml"
    flags = ["--conda-forge"] if conda_forge else []
    result = cipub("plan", "recipe", *flags, "--pinning", str(pinning), "--no-build-numbers", cwd=root)
    assert result.code == 2, result.err
    assert f"--pinning {pinning}: " + ("is a directory" if where == "directory" else "does not exist") in result.err
    assert "conda_build_config.yaml" in _hint(result)
    # and no pinning at all, under --conda-forge, is the same kind of mistake
    if conda_forge:
        bare = cipub("plan", "recipe", "--conda-forge", "--no-build-numbers", cwd=root, env={"CONDA_PREFIX": ""})
        assert bare.code == 2, bare.err
