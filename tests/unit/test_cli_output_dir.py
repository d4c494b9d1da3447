"""status, yank, prune and ci verify find the ledger and the manifest through ``--output-dir`` as
build, upload and promote do: the same setting, the same precedence (flag > CIPUB_OUTPUT_DIR >
config file > ``output``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CliResult
from tests.support.packages import make_package

Cipub = Callable[..., CliResult]


@pytest.fixture
def project(cipub: Cipub, tmp_path: Path) -> Path:
    package = make_package(tmp_path, "odirdemo", "1.0", 0)
    result = cipub("upload", str(package), "--output-dir", "cell", cwd=tmp_path)
    assert result.code == 0, result.err
    assert list((tmp_path / "cell" / "cipub-ledger").glob("*-upload-*.json"))
    return tmp_path


@pytest.mark.parametrize("command", [("status",), ("prune", "--superseded")])
def test_the_ledger_is_read_under_the_output_dir(cipub: Cipub, project: Path, command: tuple[str, ...]) -> None:
    # no names given: the packages the ledger knows, so the ledger must be found
    found = cipub(*command, "--output-dir", "cell", "--json", cwd=project)
    assert found.code == 0, found.err
    assert "odirdemo" in found.out
    # the flag wins over the environment, as for build/upload/promote
    flag_wins = cipub(*command, "--output-dir", "cell", "--json", cwd=project, env={"CIPUB_OUTPUT_DIR": "nowhere"})
    assert flag_wins.code == 0, flag_wins.err
    from_env = cipub(*command, "--json", cwd=project, env={"CIPUB_OUTPUT_DIR": "cell"})
    assert from_env.code == 0, from_env.err
    default = cipub(*command, cwd=project)  # output/cipub-ledger holds nothing
    assert default.code == 2 and "the ledger (output/cipub-ledger) records no package on ./.cipub" in default.err
    elsewhere = cipub(*command, "--output-dir", "nope", cwd=project)  # the ledger it read is named
    assert elsewhere.code == 2, elsewhere.err
    assert "the ledger (nope/cipub-ledger) records no package" in elsewhere.err, elsewhere.err
    assert "hint: " in elsewhere.err and "--output-dir" in elsewhere.err


def test_yank_records_in_the_ledger_under_the_output_dir(cipub: Cipub, project: Path) -> None:
    result = cipub("yank", "odirdemo=1.0", "--remove-from", "test", "--output-dir", "cell", cwd=project)
    assert result.code == 0, result.err
    assert list((project / "cell" / "cipub-ledger").glob("*-yank-*.json"))
    assert not (project / "output").exists()


def test_ci_verify_reads_the_manifest_under_the_output_dir(cipub: Cipub, project: Path) -> None:
    result = cipub("ci", "verify", "--mode", "files", "--output-dir", "cell", cwd=project)
    assert result.code == 2
    assert "cell/cipub-manifest.json does not exist" in result.err
    manifest = cipub("upload", *map(str, (project / "pkgs").glob("*.conda")), "--json", cwd=project).out
    (project / "cell" / "cipub-manifest.json").write_text(manifest)
    verified = cipub("ci", "verify", "--mode", "files", "--output-dir", "cell", cwd=project)
    assert verified.code == 0, verified.err
    assert json.loads(manifest)["artifacts"][0]["name"] == "odirdemo"
