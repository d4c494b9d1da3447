from __future__ import annotations

from pathlib import Path

import pytest

from cipub.core.errors import UsageError
from cipub.core.settings import DEFAULT_CHANNEL, resolve


def test_defaults(tmp_path: Path) -> None:
    s = resolve({}, environ={}, cwd=tmp_path)
    assert s.channel == DEFAULT_CHANNEL
    assert s.label == "test"
    assert (s.promote_from, s.promote_to) == ("test", "main")
    assert s.manifest_path == Path("dist/cipub-manifest.json")
    assert s.channel_is_default


def test_precedence_flags_env_file_defaults(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.cipub]\nchannel = "from-file"\nlabel = "rc"\nconcurrency = 2\n')
    s = resolve({}, environ={}, cwd=tmp_path)
    assert (s.channel, s.label, s.concurrency) == ("from-file", "rc", 2)
    s = resolve({}, environ={"CIPUB_CHANNEL": "from-env"}, cwd=tmp_path)
    assert (s.channel, s.label) == ("from-env", "rc")
    assert s.sources["channel"] == "CIPUB_CHANNEL"
    s = resolve({"channel": "from-flag"}, environ={"CIPUB_CHANNEL": "from-env"}, cwd=tmp_path)
    assert s.channel == "from-flag"
    assert s.sources["channel"] == "command line"
    assert not s.channel_is_default


def test_cipub_toml_top_level(tmp_path: Path) -> None:
    (tmp_path / "cipub.toml").write_text('channel = "x"\nvariant-config = ["a.yaml", "b.yaml"]\n')
    s = resolve({}, environ={}, cwd=tmp_path)
    assert s.channel == "x"
    assert s.variant_config == ("a.yaml", "b.yaml")


def test_unknown_key_did_you_mean(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.cipub]\nchanel = "x"\n')
    with pytest.raises(UsageError) as exc:
        resolve({}, environ={}, cwd=tmp_path)
    assert "chanel" in exc.value.message
    assert exc.value.hint == "did you mean 'channel'?"


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
