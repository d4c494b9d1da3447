"""S3 credentials are checked before the build starts, as the token targets' tokens are: a build
that reuses a plan's numbers reads nothing from the bucket first, so without this check a long build
ran and then failed at its upload. The AWS chain is cut off from this machine's files and from the
instance-metadata service; the endpoint is a closed port (the check needs no network)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("given", "said"),
    [({}, "no AWS credentials"), ({"AWS_ACCESS_KEY_ID": "AKIDONLYHALF"}, "only half of the key pair")],
)
def test_build_without_aws_credentials_stops_before_building(
    cipub: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, given: dict[str, str], said: str
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    env = {
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        **given,
    }
    shutil.copytree(REPO / "recipes-template" / "v1-noarch-generic", tmp_path / "recipe")
    plan = cipub("plan", "recipe", "--format", "json", cwd=tmp_path, env=env)
    assert plan.code == 0, plan.err
    (tmp_path / "plan.json").write_text(plan.out)

    result = cipub(
        "build",
        "recipe",
        "--plan",
        "plan.json",
        "--only",
        "noarch",
        "--target",
        "s3://bucket/prefix",
        cwd=tmp_path,
        env=env,
    )
    assert result.code == 5, result.err
    assert said in result.err
    assert "building" not in result.err  # refused before the build, not at its upload
    assert not list((tmp_path / "output").rglob("*.conda"))
