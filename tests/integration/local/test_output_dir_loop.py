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
