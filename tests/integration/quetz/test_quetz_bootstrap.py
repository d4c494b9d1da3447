"""The Quetz bootstrap on a machine where it cannot be installed: a clear failure, never a skip."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import quetz as quetz_support
from tests.support.quetz import QuetzUnavailable, ensure_quetz_venv

pytestmark = pytest.mark.integration


def test_an_uninstallable_quetz_fails_with_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # pip offline, asked for a version that cannot exist: what a machine without PyPI sees.
    monkeypatch.setattr(quetz_support, "REQUIREMENTS", ("quetz-server==0.0.0",))
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    monkeypatch.delenv("PIP_EXTRA_INDEX_URL", raising=False)
    venv = tmp_path / "quetz-venv"
    with pytest.raises(QuetzUnavailable) as info:
        ensure_quetz_venv(venv)
    message = str(info.value)
    assert "could not install the Quetz test server" in message and "PyPI" in message
    assert "quetz-server==0.0.0" in message  # pip's own words are shown
    assert not venv.exists()  # no half-built environment is left to be mistaken for a good one
