"""`cipub ci verify --mode install` with an unreachable dependency channel: a network failure
(exit 7, with a hint), not a verdict on the package (exit 8)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.ci.test_verify import stage

pytestmark = pytest.mark.integration


def test_an_unreachable_dependency_channel_is_exit_7(tmp_path: Path, cipub: Callable[..., Any]) -> None:
    manifest = stage(tmp_path, cipub)
    args = ["ci", "verify", "-M", str(manifest), "--target", str(tmp_path / "channel"), "--mode", "install"]
    # the dependency channels come from settings (env here); port 9 refuses connections at once
    result = cipub(*args, cwd=tmp_path, env={"CIPUB_CHANNELS": "http://127.0.0.1:9/nothing", "CIPUB_RETRIES": "0"})
    assert result.code == 7, result.err
    assert "could not be reached" in result.err and "hint:" in result.err
    assert "Traceback" not in result.err
