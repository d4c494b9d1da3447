from __future__ import annotations

from pathlib import Path

import pytest

from cipub.core.errors import UsageError
from cipub.core.settings import DEFAULT_TARGET, resolve


def test_defaults(tmp_path: Path) -> None:
    s = resolve({}, environ={}, cwd=tmp_path)
    assert s.target == DEFAULT_TARGET
    assert s.label == "test"
    assert (s.promote_from, s.promote_to) == ("test", "main")
    assert s.manifest_path == Path("output/cipub-manifest.json")
    assert s.target_is_default


def test_precedence_flags_env_file_defaults(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.cipub]\ntarget = "./from-file"\nlabel = "rc"\nconcurrency = 2\n')
    s = resolve({}, environ={}, cwd=tmp_path)
    # a relative path in the config file is taken from the project root, the file's directory
    assert (s.target, s.label, s.concurrency) == (str(tmp_path / "from-file"), "rc", 2)
    s = resolve({}, environ={"CIPUB_TARGET": "./from-env"}, cwd=tmp_path)
    assert (s.target, s.label) == ("./from-env", "rc")
    assert s.sources["target"] == "CIPUB_TARGET"
    s = resolve({"target": "./from-flag"}, environ={"CIPUB_TARGET": "./from-env"}, cwd=tmp_path)
    assert s.target == "./from-flag"
    assert s.sources["target"] == "command line"
    assert not s.target_is_default


def test_cipub_toml_top_level(tmp_path: Path) -> None:
    (tmp_path / "cipub.toml").write_text('target = "x"\nvariant-config = ["a.yaml", "b.yaml"]\n')
    s = resolve({}, environ={}, cwd=tmp_path)
    assert s.target == "x"  # a bare word stays a word (and is refused as a target later)
    assert s.variant_config == (str(tmp_path / "a.yaml"), str(tmp_path / "b.yaml"))


def test_unknown_key_did_you_mean(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.cipub]\ntargte = "x"\n')
    with pytest.raises(UsageError) as exc:
        resolve({}, environ={}, cwd=tmp_path)
    assert "targte" in exc.value.message
    assert exc.value.hint == "did you mean 'target'?"


def test_unknown_env_variable_is_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    s = resolve({}, environ={"CIPUB_LABLE": "x"}, cwd=tmp_path)
    assert s.label == "test"
    assert "CIPUB_LABLE" in caplog.text
    assert "did you mean 'CIPUB_LABEL'?" in caplog.text


def test_non_setting_variables_are_quiet(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    resolve({}, environ={"CIPUB_DOTENV": "x.env", "CIPUB_CONFIG": ""}, cwd=tmp_path)
    assert caplog.text == ""


def test_bad_value_type(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="concurrency"):
        resolve({}, environ={"CIPUB_CONCURRENCY": "many"}, cwd=tmp_path)


def test_invalid_toml(tmp_path: Path) -> None:
    (tmp_path / "cipub.toml").write_text("channel = \n")
    with pytest.raises(UsageError, match="not valid TOML"):
        resolve({}, environ={}, cwd=tmp_path)


def test_cli_unknown_config_key_exit_2(cipub, tmp_path: Path) -> None:
    (tmp_path / "cipub.toml").write_text('lable = "x"\n')
    result = cipub("promote", cwd=tmp_path)
    assert result.code == 2
    assert "did you mean 'label'" in result.err


# -- project discovery: the config is found upward, its relative paths start at the project root --


def project(root: Path, config: str = '[tool.cipub]\ntarget = "./chan"\nlabel = "rc"\n') -> Path:
    (root / ".git").mkdir(parents=True)
    (root / "pyproject.toml").write_text(config)
    sub = root / "src" / "pkg"
    sub.mkdir(parents=True)
    return sub


def test_config_is_found_from_a_subdirectory_and_paths_start_at_its_root(tmp_path: Path) -> None:
    sub = project(tmp_path, '[tool.cipub]\ntarget = "./chan"\nlabel = "rc"\nvariant-config = ["ci/v.yaml"]\n')
    s = resolve({}, environ={}, cwd=sub)
    assert s.project_root == tmp_path
    assert s.label == "rc"
    assert s.target == str(tmp_path / "chan")
    assert s.variant_config == (str(tmp_path / "ci" / "v.yaml"),)
    # the path defaults belong to the project too: never ./output or ./.cipub in the subdirectory
    assert s.manifest_path == tmp_path / "output" / "cipub-manifest.json"
    assert s.recipe == str(tmp_path / "recipe")
    assert s.origin("output_dir").kind == "default"


def test_flags_and_environment_paths_stay_relative_to_the_working_directory(tmp_path: Path) -> None:
    sub = project(tmp_path)
    s = resolve({"output_dir": "here"}, environ={"CIPUB_TARGET": "./there"}, cwd=sub)
    assert (s.output_dir, s.target) == ("here", "./there")


def test_dependency_channel_names_in_the_config_stay_names(tmp_path: Path) -> None:
    sub = project(tmp_path, '[tool.cipub]\nchannels = ["conda-forge", "./deps", "https://x/c"]\n')
    s = resolve({}, environ={}, cwd=sub)
    assert s.channels == ("conda-forge", str(tmp_path / "deps"), "https://x/c")


def test_a_pyproject_without_tool_cipub_is_not_a_project_root(tmp_path: Path) -> None:
    sub = project(tmp_path)
    (sub / "pyproject.toml").write_text('[project]\nname = "pkg"\n')
    assert resolve({}, environ={}, cwd=sub).project_root == tmp_path


def test_the_search_stops_at_the_repository_root(tmp_path: Path) -> None:
    (tmp_path / "cipub.toml").write_text('label = "outside"\n')
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    s = resolve({}, environ={}, cwd=repo)
    assert s.project_root is None
    assert s.label == "test"
    assert s.target == DEFAULT_TARGET


def test_the_nearest_config_wins(tmp_path: Path) -> None:
    sub = project(tmp_path)
    (sub / "cipub.toml").write_text('label = "inner"\n')
    s = resolve({}, environ={}, cwd=sub)
    assert (s.project_root, s.label) == (sub, "inner")


def test_cipub_toml_and_tool_cipub_in_one_directory_is_a_conflict(tmp_path: Path) -> None:
    sub = project(tmp_path)
    (tmp_path / "cipub.toml").write_text('label = "x"\n')
    with pytest.raises(UsageError) as exc:
        resolve({}, environ={}, cwd=sub)
    assert "two cipub configurations" in exc.value.message
    assert exc.value.exit_code == 2


def test_cipub_toml_next_to_a_pyproject_without_tool_cipub_is_fine(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "pkg"\n')
    (tmp_path / "cipub.toml").write_text('label = "x"\n')
    assert resolve({}, environ={}, cwd=tmp_path).label == "x"


def test_explicit_config_file_is_the_project_root(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "cipub.toml").write_text('output-dir = "out"\n')
    s = resolve({}, environ={}, cwd=tmp_path, config_file=Path("conf/cipub.toml"))
    assert s.output_dir == str(tmp_path / "conf" / "out")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('tool = "x"\n', "`tool` must be a table"),
        ('label = "a"\n[tool.cipub]\nlabel = "b"\n', "both at the top level (label) and in [tool.cipub]"),
        ("[tool]\ncipub = 3\n", "[tool.cipub] must be a table"),
    ],
)
def test_malformed_cipub_toml_is_a_usage_error(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "cipub.toml").write_text(text)
    with pytest.raises(UsageError) as exc:
        resolve({}, environ={}, cwd=tmp_path)
    assert message in exc.value.message


def test_config_naming_a_directory_says_so(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="is a directory"):
        resolve({}, environ={}, cwd=tmp_path, config_file=tmp_path)


def test_hints_name_keys_as_the_config_file_spells_them(tmp_path: Path) -> None:
    (tmp_path / "cipub.toml").write_text('promote_too = "x"\n')
    with pytest.raises(UsageError) as exc:
        resolve({}, environ={}, cwd=tmp_path)
    assert exc.value.hint == "did you mean 'promote-to'?"
