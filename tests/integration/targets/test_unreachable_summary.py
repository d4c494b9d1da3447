"""An unreachable server: exit 7 after the bounded retries, with one summary line (the retries show
with -v), not one line per attempt."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.local.test_local_loop import clean_env
from tests.support.packages import make_package

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("verbose", [False, True])
def test_an_unreachable_server_is_one_line(tmp_path: Path, verbose: bool) -> None:
    package = make_package(tmp_path, "demo")
    args = ["upload", str(package), "--target", "quetz+http://127.0.0.1:9/chan", *(["-v"] if verbose else [])]
    env = {**clean_env(), "QUETZ_API_KEY": "not-a-real-key", "CIPUB_RETRIES": "2", "CIPUB_BACKOFF": "0.01"}
    proc = subprocess.run(
        [sys.executable, "-m", "cipub", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 7, proc.stderr
    err = proc.stderr
    retries = [line for line in err.splitlines() if "retry" in line and "failed" in line]
    assert len(retries) == (2 if verbose else 0), err
    errors = [line for line in err.splitlines() if line.startswith("cipub: error:")]
    assert len(errors) == 1 and "kept failing after 2 retries" in errors[0], err
