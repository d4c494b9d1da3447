"""Issue 13 item 6: the composite action's status, yank and cross-target promotion, run as the
runner runs it (``cipub-action.sh run`` with INPUT_* variables), on local channels. Not covered
under act: the reusable workflow runs none of these commands (see test_github_action.py's table)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.support.packages import make_package

pytestmark = pytest.mark.integration
SCRIPT = REPO / "github-actions" / "cipub-action.sh"
CIPUB = Path(sys.executable).parent / "cipub"


def action(work: Path, **inputs: str) -> tuple[dict[str, str], str]:
    outputs, summary = work / "outputs", work / "summary.md"
    outputs.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CIPUB_", "GITHUB_", "INPUT_"))}
    env |= {
        "ACTION_CIPUB": str(CIPUB),
        "RUNNER_TEMP": str(work),
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(outputs),
        "GITHUB_STEP_SUMMARY": str(summary),
        **{f"INPUT_{k.upper().replace('-', '_')}": v for k, v in inputs.items()},
    }
    done = subprocess.run(["bash", str(SCRIPT), "run"], cwd=work, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    text = outputs.read_text()
    parsed = {
        m.group(1): m.group(3) for m in re.finditer(r"^([\w-]+)<<(ghadelimiter_[\w-]+)\n(.*?)\n\2$", text, re.M | re.S)
    }
    return parsed, done.stdout + done.stderr + (summary.read_text() if summary.exists() else "")


def test_status_yank_and_cross_target_promotion_through_the_action(tmp_path: Path) -> None:
    pkg = make_package(tmp_path / "pkgs", "action-rel", "1.0", 0, payload="x")
    subprocess.run([str(CIPUB), "upload", str(pkg)], cwd=tmp_path, check=True, capture_output=True)
    outputs, log = action(tmp_path, command="status", packages="action-rel")
    assert json.loads(outputs["status"]) == {"staged": 1}
    assert json.loads(outputs["staged-files"]) == [f"noarch/{pkg.name}"]
    assert "### cipub status" in log

    production = tmp_path / "production"
    outputs, log = action(
        tmp_path, command="promote", **{"to-target": str(production), "to-token": "to-canary-9f8e7d6c"}
    )
    assert json.loads(outputs["states"]) == {"promoted": 1}
    assert (production / "noarch" / pkg.name).read_bytes() == pkg.read_bytes()
    assert "to-canary-9f8e7d6c" not in log.replace("::add-mask::to-canary-9f8e7d6c", "")

    action(tmp_path, command="promote")  # test -> main on the first target
    outputs, log = action(tmp_path, command="yank", packages="action-rel=1.0")
    assert json.loads(outputs["states"]) == {"yanked": 1}
    assert json.loads(outputs["files"]) == [f"noarch/{pkg.name}"]
    channel = tmp_path / ".cipub" / "channel"
    assert not (channel / "noarch" / pkg.name).exists()
    assert (channel / "label" / "broken" / "noarch" / pkg.name).read_bytes() == pkg.read_bytes()
