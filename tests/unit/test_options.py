"""The options registry (cipub.core.options) is the one declaration: Settings, the typer options,
--help and the README table all follow it."""

from __future__ import annotations

import dataclasses
import re

import pytest

from cipub.core.errors import UsageError
from cipub.core.options import (
    FLAGS,
    GLOBAL_KEYS,
    OPTIONS,
    README_END,
    README_START,
    SETTING_KEYS,
    Settings,
    replace_settings_table,
    settings_table,
)
from cipub.core.settings import describe, resolve
from tests.conftest import REPO


def test_settings_fields_are_the_registry_s_settings() -> None:
    declared = [f for f in dataclasses.fields(Settings) if f.name not in ("origins", "project_root")]
    assert [f.name for f in declared] == list(SETTING_KEYS)
    for f in declared:
        spec = OPTIONS[f.name]
        assert spec.default == f.default
        assert spec.env == f"CIPUB_{f.name.upper()}"
        assert spec.config_key == f.name.replace("_", "-")
    assert not any(o.is_setting for o in FLAGS)
    assert "debug" in GLOBAL_KEYS


def test_every_option_has_help_and_long_flags_come_first() -> None:
    for spec in OPTIONS.values():
        assert spec.help.strip(), spec.key
        if spec.flags:
            assert spec.flags[0].startswith("--"), spec.key


def test_readme_settings_table_is_generated_from_the_registry() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert README_START in readme and README_END in readme
    assert replace_settings_table(readme) == readme, (
        "README settings table is stale: run `python -m cipub.core.options README.md`"
    )
    table = settings_table()
    for key in SETTING_KEYS:
        assert f"`{OPTIONS[key].config_key}`" in table and f"`CIPUB_{key.upper()}`" in table


def test_help_shows_env_and_default_from_the_registry(cipub) -> None:  # type: ignore[no-untyped-def]
    result = cipub("upload", "--help")
    assert result.code == 0
    text = " ".join(result.out.split())
    assert "[env: CIPUB_LABEL; default: test]" in text
    assert "[env: CIPUB_CONCURRENCY; default: 4]" in text
    assert "--debug" in text  # the global option is listed on the command too


def test_config_keys_may_be_kebab_or_snake_case(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "cipub.toml").write_text('noarch-platform = "osx-arm64"\nread_timeout = 5\n')
    s = resolve({}, environ={}, cwd=tmp_path)
    assert (s.noarch_platform, s.read_timeout) == ("osx-arm64", 5.0)
    assert str(s.origin("read_timeout")) == f"file {tmp_path / 'cipub.toml'}"


def test_describe_names_each_origin_and_masks_url_credentials(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "cipub.toml").write_text("concurrency = 2\n")
    with pytest.raises(UsageError, match="carries a credential") as refused:
        resolve({"target": "./x", "api_url": "https://user:hunter2-secret@host/api"}, environ={}, cwd=tmp_path)
    assert "hunter2" not in str(refused.value)
    s = resolve({"target": "./x"}, environ={"CIPUB_RETRIES": "1"}, cwd=tmp_path)
    s = dataclasses.replace(s, api_url="https://user:hunter2-secret@host/api")  # describe masks all the same
    lines = {line.split()[0].replace("-", "_"): line for line in describe(s)}  # listed as config keys
    assert set(lines) == set(SETTING_KEYS)
    assert lines["target"].endswith("flag --target")
    assert lines["retries"].endswith("env CIPUB_RETRIES")
    assert lines["concurrency"].endswith(f"file {tmp_path / 'cipub.toml'}")
    assert lines["label"].endswith("default")
    assert "hunter2" not in lines["api_url"] and "https://***@host/api" in lines["api_url"]


@pytest.mark.parametrize("key", sorted(OPTIONS))
def test_help_text_mentions_env_only_for_options_that_read_it(key: str) -> None:
    spec = OPTIONS[key]
    assert ("[env: " in spec.help_text()) == (spec.env is not None)
    assert re.search(r"default: None\b", spec.help_text()) is None
