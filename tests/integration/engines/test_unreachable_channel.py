"""A build or recipe-test environment that cannot be set up because a dependency channel is
unreachable is a network failure (exit 7: re-run later), not a broken build (exit 4); a dependency
that is simply missing from a reachable channel stays exit 4. Real rattler-build builds, run by the
real CLI; the unreachable channel is a closed port on this machine."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

RECIPE = """\
package: {{name: cipub-offline-probe, version: "{version}"}}
build:
  number: 0
  noarch: generic
  script:
    - mkdir -p $PREFIX/share/probe && echo ok > $PREFIX/share/probe/ok.txt
{requirements}
tests:
  - script:
      - test -f $PREFIX/share/probe/ok.txt
    requirements:
      run:
        - zlib
"""


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/nochannel"


def write_recipe(tmp_path: Path, requirements: str = "") -> None:
    # a version of its own: rattler's package cache must not serve another run's package
    (tmp_path / "recipe").mkdir()
    (tmp_path / "recipe" / "recipe.yaml").write_text(
        RECIPE.format(version=f"1.0.{uuid.uuid4().int % 10**9}", requirements=requirements)
    )


def test_recipe_test_environment_on_an_unreachable_channel_is_exit_7(cipub: Any, tmp_path: Path) -> None:
    write_recipe(tmp_path)
    channel = closed_port_url()
    result = cipub("build", "recipe", "-c", channel, "--no-upload", cwd=tmp_path)
    assert result.code == 7, result.err
    assert f"channel {channel} is unreachable" in result.err
    assert "could not set up their environment" in result.err
    # the package is not broken: it stays where it was built
    assert [p.name for p in (tmp_path / "output" / "noarch").glob("*.conda")]
    assert not (tmp_path / "output" / "broken").exists()


def test_build_environment_on_an_unreachable_channel_is_exit_7(cipub: Any, tmp_path: Path) -> None:
    write_recipe(tmp_path, "requirements:\n  host:\n    - zlib\n")
    channel = closed_port_url()
    result = cipub("build", "recipe", "-c", channel, "--no-upload", cwd=tmp_path)
    assert result.code == 7, result.err
    assert f"channel {channel} is unreachable" in result.err


def test_a_missing_test_dependency_on_a_reachable_channel_stays_exit_4(cipub: Any, tmp_path: Path) -> None:
    write_recipe(tmp_path)
    empty = tmp_path / "empty-channel"
    (empty / "noarch").mkdir(parents=True)
    (empty / "noarch" / "repodata.json").write_text('{"info": {"subdir": "noarch"}, "packages": {}}')
    result = cipub("build", "recipe", "-c", empty.as_uri(), "--no-upload", cwd=tmp_path)
    assert result.code == 4, result.err
    assert "unreachable" not in result.err
