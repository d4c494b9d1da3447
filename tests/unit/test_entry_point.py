"""Ctrl-C (or SIGTERM) while ``cipub`` is still importing its CLI (typer, rich: the first ~0.15 s)
exits 130 (143) with one line, never a Python traceback. The signal is delivered from inside the
import of typer (an import hook put in by sitecustomize), so the moment is exact, not a timing guess.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

HOOK = """
import os, signal, sys

class _SignalDuringImport:
    def find_spec(self, name, path=None, target=None):
        if name == "typer":
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.{signame})
        return None

sys.meta_path.insert(0, _SignalDuringImport())
"""


def console_script() -> str:
    """What the installed ``cipub`` script runs, read from pyproject.toml (not from an old install)."""
    found = re.search(r'^cipub = "([\w.]+):(\w+)"$', (REPO / "pyproject.toml").read_text(), re.MULTILINE)
    assert found, "pyproject.toml names no `cipub` console script"
    module, function = found.groups()
    return f"import sys; from {module} import {function}; sys.exit({function}())"


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
@pytest.mark.parametrize("how", ["console-script", "python -m cipub"])
def test_signal_while_the_cli_imports_exits_quietly(tmp_path: Path, signum: int, code: int, how: str) -> None:
    (tmp_path / "sitecustomize.py").write_text(HOOK.format(signame=signal.Signals(signum).name))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIPUB_")}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(REPO)])
    argv = ["-c", console_script()] if how == "console-script" else ["-m", "cipub"]
    proc = subprocess.run(
        [sys.executable, *argv, "--help"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip() == f"cipub: interrupted by {signal.Signals(signum).name} before changing anything"
    assert proc.stdout == ""  # --help was never printed: the signal came first
