"""Bad setting values get exit 2 and one message, whatever their source (flag, env, config file).

Found by a cold review: NaN or negative timeouts crashed with exit 1, a huge retry count retried
without end, ``1.5`` and ``true`` were quietly read as the integer 1, an empty ``CIPUB_TARGET``
published to the local disk, ``--variant a=b,c=d`` built a package named after the mistake.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cipub.core.errors import UsageError
from cipub.core.settings import resolve
from cipub.recipe.selectors import check_platform
from cipub.recipe.variants import parse_overrides

RECIPE = Path(__file__).resolve().parents[2] / "recipes-template" / "v1-noarch-generic"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CIPUB_BACKOFF", "nan"),
        ("CIPUB_BACKOFF", "-1"),
        ("CIPUB_BACKOFF", "inf"),
        ("CIPUB_CONNECT_TIMEOUT", "-5"),
        ("CIPUB_CONNECT_TIMEOUT", "0"),
        ("CIPUB_READ_TIMEOUT", "nan"),
        ("CIPUB_RETRIES", "99999999999999"),
        ("CIPUB_CONCURRENCY", "0"),
        ("CIPUB_CONCURRENCY", "1.5"),
        ("CIPUB_CONCURRENCY", "true"),
    ],
)
def test_a_bad_number_in_the_environment_is_a_usage_error(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(UsageError) as exc:
        resolve({}, environ={name: value}, cwd=tmp_path)
    assert name in exc.value.message
    assert exc.value.hint is not None and "takes a" in exc.value.hint


@pytest.mark.parametrize("line", ["concurrency = 0", "concurrency = 1.5", "concurrency = true", "backoff = nan"])
def test_a_bad_number_in_the_config_file_is_a_usage_error(tmp_path: Path, line: str) -> None:
    (tmp_path / "cipub.toml").write_text(line + "\n")
    with pytest.raises(UsageError, match="cipub.toml"):
        resolve({}, environ={}, cwd=tmp_path)


def test_the_flag_is_checked_by_the_same_rule(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--concurrency.*out of range"):
        resolve({"concurrency": 99999999999999999999}, environ={}, cwd=tmp_path)


def test_values_in_range_are_taken(tmp_path: Path) -> None:
    s = resolve({}, environ={"CIPUB_BACKOFF": "0", "CIPUB_RETRIES": "0", "CIPUB_CONCURRENCY": "64"}, cwd=tmp_path)
    assert (s.backoff, s.retries, s.concurrency) == (0.0, 0, 64)


def test_an_empty_target_variable_is_refused_not_read_as_the_default(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="CIPUB_TARGET is set but empty"):
        resolve({}, environ={"CIPUB_TARGET": " "}, cwd=tmp_path)
    # other empty variables still mean "not set"
    assert resolve({}, environ={"CIPUB_LABEL": ""}, cwd=tmp_path).label == "test"


@pytest.mark.parametrize(
    ("texts", "message"),
    [
        (["flavor=c,other=z"], "contains '='"),
        (["flavor=c", "flavor=d"], "given twice"),
    ],
)
def test_ambiguous_variant_overrides_are_refused(texts: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_overrides(texts)


def test_platforms_are_checked_against_rattlers_list() -> None:
    assert check_platform("linux-loongarch64") == "linux-loongarch64"
    with pytest.raises(UsageError) as exc:
        check_platform("nope-64", source="--platform")
    assert "--platform" in exc.value.message


def test_version_works_after_a_subcommand(cipub) -> None:
    result = cipub("upload", "--version")
    assert (result.code, result.out.startswith("cipub ")) == (0, True)


def test_build_refuses_a_bad_label_before_it_builds(cipub, tmp_path: Path) -> None:
    result = cipub("build", str(RECIPE), "--label", "Bad Label", "--output-dir", str(tmp_path / "out"), cwd=tmp_path)
    assert result.code == 2
    assert "--label: invalid label 'Bad Label'" in result.err
    assert not (tmp_path / "out").exists()


def test_build_takes_one_platform_from_the_shared_setting(cipub, tmp_path: Path) -> None:
    result = cipub("build", str(RECIPE), "--no-upload", env={"CIPUB_PLATFORMS": "linux-64,osx-arm64"}, cwd=tmp_path)
    assert result.code == 2
    assert "one platform at a time" in result.err


def test_promote_takes_the_files_from_the_configured_staging_label(tmp_path: Path) -> None:
    (tmp_path / "cipub.toml").write_text('label = "staging"\n')
    assert resolve({}, environ={}, cwd=tmp_path).promote_from == "staging"
    assert resolve({"promote_from": "test"}, environ={}, cwd=tmp_path).promote_from == "test"


def test_a_manifest_path_that_is_a_link_or_device_is_refused_before_the_build(cipub, tmp_path: Path) -> None:
    # the atomic write renames over the path: /dev/stdout or a link would be replaced, not written
    (tmp_path / "link.json").symlink_to(tmp_path / "elsewhere.json")
    result = cipub("build", str(RECIPE), "--no-upload", "--manifest", "link.json", cwd=tmp_path)
    assert result.code == 10, result.err
    assert "not a regular file" in result.err
    assert (tmp_path / "link.json").is_symlink() and not (tmp_path / "output").exists()


def test_a_target_that_is_the_output_directory_is_refused(cipub, tmp_path: Path) -> None:
    result = cipub("build", str(RECIPE), "--target", "./output", cwd=tmp_path)
    assert result.code == 2
    assert "overlaps the output directory" in result.err


def test_a_huge_prune_age_is_a_usage_error(cipub, tmp_path: Path) -> None:
    result = cipub("prune", "--older-than", "1000000000", cwd=tmp_path)
    assert result.code == 2, result.err
