"""``--output-dir`` reaches the whole loop: what ``build -o DIR`` wrote, ``upload``/``promote -o DIR``
read (the manifest and the ledger), as the option's help says."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CliResult
from tests.integration.local.test_local_loop import TEMPLATE, run

pytestmark = pytest.mark.integration


def test_build_upload_promote_with_one_output_dir(tmp_path: Path) -> None:
    shutil.copytree(TEMPLATE, tmp_path / "recipe")
    run("build", "recipe", "--no-upload", "--output-dir", "cells/a", cwd=tmp_path)
    assert not (tmp_path / "output").exists()
    run("upload", "--output-dir", "cells/a", cwd=tmp_path)
    promoted = json.loads(run("promote", "-o", "cells/a", "--json", cwd=tmp_path).stdout)
    assert [(p["filename"], p["state"]) for p in promoted["promotions"]] == [
        ("hello-cipub-data-0.1.0-h4616a5c_0.conda", "promoted")
    ]
    assert (tmp_path / ".cipub" / "channel" / "noarch" / "hello-cipub-data-0.1.0-h4616a5c_0.conda").is_file()


def test_an_unusable_output_dir_is_refused_before_the_channel_changes(tmp_path: Path) -> None:
    shutil.copytree(TEMPLATE, tmp_path / "recipe")
    run("build", "recipe", "--no-upload", cwd=tmp_path)
    (tmp_path / "afile").write_text("not a directory")
    refused = run(
        "upload", "--manifest", "output/cipub-manifest.json", "--output-dir", "afile", cwd=tmp_path, check=False
    )
    assert refused.returncode == 10, refused.stderr
    assert "ledger directory" in refused.stderr and "nothing was changed" in refused.stderr
    assert not (tmp_path / ".cipub" / "channel").exists()


def test_a_merge_never_replaces_another_manifest_at_the_default_path(
    tmp_path: Path, cipub: Callable[..., CliResult]
) -> None:
    """`upload --manifest a --manifest b` writes the merge to the default manifest path: over a local
    build's manifest there it would lose it (a cold reviewer's finding). Refused before anything is
    sent; a re-run of the same merge, or a merge with its own --output-dir, works."""
    import json

    from cipub.core import manifest as manifest_mod
    from cipub.core.artifact import read_artifact
    from cipub.core.manifest import ArtifactEntry, Manifest
    from tests.support.packages import make_package

    cells = []
    for n in (1, 2):
        pkg = make_package(tmp_path / f"cell{n}", "merged", "1.0", n)
        path = tmp_path / f"cell{n}" / "cipub-manifest.json"
        manifest_mod.write(Manifest(artifacts=[ArtifactEntry.from_artifact(read_artifact(pkg))]), path)
        cells += ["--manifest", str(path)]
    own = make_package(tmp_path / "output", "mine", "1.0", 0)
    default = tmp_path / "output" / "cipub-manifest.json"
    manifest_mod.write(Manifest(artifacts=[ArtifactEntry.from_artifact(read_artifact(own))]), default)
    before = default.read_bytes()
    channel = tmp_path / "channel"

    refused = cipub("upload", *cells, "--target", str(channel), cwd=tmp_path)
    assert refused.code == 2, refused.err
    assert "holds another manifest" in refused.err and "--output-dir" in refused.err
    assert default.read_bytes() == before
    assert not list(channel.rglob("*.conda"))

    elsewhere = cipub("upload", *cells, "--target", str(channel), "--output-dir", "merged", cwd=tmp_path)
    assert elsewhere.code == 0, elsewhere.err
    again = cipub("upload", *cells, "--target", str(channel), "--output-dir", "merged", cwd=tmp_path)
    assert again.code == 0, again.err
    names = {a["filename"] for a in json.loads((tmp_path / "merged" / "cipub-manifest.json").read_text())["artifacts"]}
    assert names == {"merged-1.0-h0000000_1.conda", "merged-1.0-h0000000_2.conda"}
    assert default.read_bytes() == before


def test_quiet_prints_results_only(tmp_path: Path, cipub: Callable[..., CliResult]) -> None:
    """`-q` is "errors and results": the outcome lines stay, progress goes (it printed nothing at all)."""
    from tests.support.packages import make_package

    pkg = make_package(tmp_path / "made", "quietpkg", "1.0", 0)
    channel = str(tmp_path / "channel")
    up = cipub("-q", "upload", str(pkg), "--target", channel, cwd=tmp_path)
    assert up.code == 0, up.err
    assert up.out.splitlines() == ["done: 1 uploaded"], up.out
    status = cipub("-q", "status", "quietpkg", "--target", channel, cwd=tmp_path)
    assert status.code == 0, status.err
    lines = status.out.splitlines()
    assert lines[0].startswith("staged") and "quietpkg-1.0-h0000000_0.conda" in lines[0], status.out
    assert lines[-1].startswith("summary: 1 staged"), status.out
