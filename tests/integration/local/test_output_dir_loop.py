"""``--output-dir`` reaches the whole loop: what ``build -o DIR`` wrote, ``upload``/``promote -o DIR``
read (the manifest and the ledger), as the option's help says."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

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
