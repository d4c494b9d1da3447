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
    assert (s.target, s.label, s.concurrency) == ("./from-file", "rc", 2)
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
    assert s.target == "x"
    assert s.variant_config == ("a.yaml", "b.yaml")


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
    assert "did you mean 'label'?" in caplog.text


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
