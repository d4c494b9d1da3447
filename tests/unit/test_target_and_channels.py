"""The publish target is --target; -c/--channel names dependency channels (build, plan), as in
conda-build, rattler-build and pixi. Old spellings fail with what changed, never reinterpreted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cipub.channels import parse_target
from cipub.core.errors import UsageError
from cipub.core.settings import resolve
from tests.conftest import REPO
from tests.support.packages import make_package

GENERIC = REPO / "recipes-template" / "v1-noarch-generic"


@pytest.mark.parametrize("spelling", ["--channel", "-c"])
@pytest.mark.parametrize(
    "command",
    [["upload", "PKG"], ["promote"], ["ci", "verify"], ["ci", "init", "github"], ["ci", "report-plan", "p.json"]],
    ids=["upload", "promote", "ci-verify", "ci-init", "ci-report-plan"],
)
def test_old_target_flag_is_refused_with_what_changed(
    cipub: Any, tmp_path: Path, command: list[str], spelling: str
) -> None:
    package = make_package(tmp_path / "pkgs", "demo", "1.0", 0)
    args = [str(package) if a == "PKG" else a for a in command]
    result = cipub(*args, spelling, "./old-target", cwd=tmp_path)
    assert result.code == 2, result.err
    assert "no longer names the publish target" in result.err
    assert "hint: the publish target is now --target URL" in result.err
    assert "Traceback" not in result.err
    assert not (tmp_path / "old-target").exists()


def test_old_flag_before_the_subcommand_is_refused_too(cipub: Any, tmp_path: Path) -> None:
    result = cipub("-c", "./x", "promote", cwd=tmp_path)
    assert result.code == 2
    assert "--target" in result.err


def test_old_environment_variable_is_refused(cipub: Any, tmp_path: Path) -> None:
    package = make_package(tmp_path / "pkgs", "demo", "1.0", 0)
    result = cipub("upload", str(package), cwd=tmp_path, env={"CIPUB_CHANNEL": str(tmp_path / "chan")})
    assert result.code == 2
    assert "CIPUB_CHANNEL was renamed CIPUB_TARGET" in result.err
    assert "hint:" in result.err
    assert not (tmp_path / "chan").exists() and not (tmp_path / ".cipub").exists()


@pytest.mark.parametrize(
    ("name", "text"),
    [("cipub.toml", 'channel = "./chan"\n'), ("pyproject.toml", '[tool.cipub]\nchannel = "./chan"\n')],
)
def test_old_config_key_is_refused(cipub: Any, tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / name).write_text(text)
    result = cipub("promote", "--dry-run", cwd=tmp_path)
    assert result.code == 2
    assert "the key 'channel' was renamed: write target = ..." in result.err
    assert "hint: the publish target is now --target URL" in result.err


@pytest.mark.parametrize("word", ["conda-forge", "my-channel", "chan/sub", ".cipub/channel"])
def test_a_bare_word_target_is_refused(cipub: Any, tmp_path: Path, word: str) -> None:
    package = make_package(tmp_path / "pkgs", "demo", "1.0", 0)
    result = cipub("upload", str(package), "--target", word, cwd=tmp_path)
    assert result.code == 2
    assert "is neither a URL nor a path" in result.err
    assert f"--target ./{word}" in result.err
    assert not (tmp_path / word.split("/", maxsplit=1)[0]).exists()


@pytest.mark.parametrize("path", ["./chan", "../chan", "/srv/conda", "~/chan", "file:///srv/conda", "C:\\conda"])
def test_clear_paths_are_local_targets(path: str) -> None:
    assert parse_target(path).kind == "local"


def test_a_clear_path_target_is_published_to(cipub: Any, tmp_path: Path) -> None:
    package = make_package(tmp_path / "pkgs", "demo", "1.0", 0)
    result = cipub("upload", str(package), "--target", "./chan", cwd=tmp_path)
    assert result.code == 0, result.err
    assert (tmp_path / "chan" / "label" / "test" / "noarch" / package.name).is_file()


def test_build_dash_c_is_a_dependency_channel_not_a_target(cipub: Any, tmp_path: Path) -> None:
    result = cipub("build", str(GENERIC), "-c", "conda-forge", "-c", "./deps", "--dry-run", cwd=tmp_path)
    assert result.code == 0, result.err
    assert "solving dependencies from conda-forge, ./deps" in result.out
    assert "then upload to ./.cipub/channel label test" in result.out
    assert not (tmp_path / "conda-forge").exists()


def test_dependency_channels_from_config_and_environment(cipub: Any, tmp_path: Path) -> None:
    (tmp_path / "cipub.toml").write_text('channels = ["from-file"]\n')
    result = cipub("build", str(GENERIC), "--dry-run", cwd=tmp_path)
    assert "solving dependencies from from-file" in result.out
    result = cipub("build", str(GENERIC), "--dry-run", cwd=tmp_path, env={"CIPUB_CHANNELS": "a,b"})
    assert "solving dependencies from a, b" in result.out
    result = cipub("build", str(GENERIC), "--dry-run", "-c", "flag", cwd=tmp_path, env={"CIPUB_CHANNELS": "a,b"})
    assert "solving dependencies from flag" in result.out


@pytest.mark.parametrize("command", ["build", "plan"])
def test_a_publish_target_given_to_dash_c_is_refused(cipub: Any, tmp_path: Path, command: str) -> None:
    result = cipub(command, str(GENERIC), "-c", "quetz+https://quetz.example.org/mine", cwd=tmp_path)
    assert result.code == 2
    assert "is a publish target, not a channel to solve dependencies from" in result.err
    assert "--target quetz+https://quetz.example.org/mine" in result.err


def test_conda_build_gets_every_dependency_channel_as_dash_c(tmp_path: Path) -> None:
    from cipub.engines.conda_build import conda_build_argv
    from cipub.policy.cells import whole_recipe
    from cipub.recipe import load_recipe
    from cipub.workflows.build import _engine_request

    settings = resolve({"channels": ["conda-forge", "./local-deps"]}, environ={}, cwd=tmp_path)
    recipe = load_recipe(REPO / "recipes-template" / "v0-noarch-python")
    argv = conda_build_argv(_engine_request(settings, recipe, whole_recipe({}, None), 0), None)
    at = argv.index("-c")
    assert argv[at : at + 4] == ["-c", "conda-forge", "-c", "./local-deps"]


def test_plan_records_its_dependency_channels_for_the_build_jobs(cipub: Any, tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    result = cipub("plan", str(GENERIC), "-c", "./deps", "-f", "json", "-o", str(plan), cwd=tmp_path)
    assert result.code == 0, result.err
    assert json.loads(plan.read_text())["channels"] == ["./deps"]
    built = cipub("build", str(GENERIC), "--plan", str(plan), "--only", "noarch", "--dry-run", cwd=tmp_path)
    assert "solving dependencies from ./deps" in built.out, built.err
    mine = cipub("build", str(GENERIC), "--plan", str(plan), "--only", "noarch", "-c", "x", "--dry-run", cwd=tmp_path)
    assert "solving dependencies from x" in mine.out


def test_ci_init_refuses_a_target_ci_could_not_use(cipub: Any, tmp_path: Path) -> None:
    result = cipub("ci", "init", "github", "--target", "my-org", cwd=tmp_path)
    assert result.code == 2
    assert "is neither a URL nor a path" in result.err
    assert not (tmp_path / ".github").exists()


def test_parse_target_error_for_a_bare_word() -> None:
    with pytest.raises(UsageError) as info:
        parse_target("conda-forge")
    assert info.value.hint is not None and "-c/--channel" in info.value.hint
