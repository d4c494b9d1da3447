"""Where the suite keeps the tools it installs for itself (the npm tools, the Quetz venv).

One folder per machine user, shared by every checkout and fresh clone on the machine:
``$CIPUB_TEST_TOOLS_DIR`` when set, else ``${XDG_CACHE_HOME:-~/.cache}/cipub-tests``. Each tool
lives in a folder named after the digest of its pins, so checkouts that pin different versions
never replace each other's tools, and a fresh clone reuses what an earlier run on the machine
installed instead of building it again (npm compiles a C++ library for gitlab-ci-local: minutes on
two cores). Installs stay atomic and behind file locks in that folder (node_tools, quetz), so
several test processes can share it; a machine without it installs everything on first use.
"""

from __future__ import annotations

import os
from pathlib import Path


def tools_dir() -> Path:
    explicit = os.environ.get("CIPUB_TEST_TOOLS_DIR")
    if explicit:
        return Path(explicit).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "cipub-tests"


TOOLS_DIR = tools_dir()
