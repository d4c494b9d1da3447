"""boa (``conda mambabuild``): kept only as a deprecated alias of conda-build.

boa is archived upstream and superseded by rattler-build; conda-build itself now solves with
libmamba, which was boa's reason to exist. cipub still runs it for old pipelines, and says so.
"""

from __future__ import annotations

import sys
from pathlib import Path

from cipub.engines.base import BuildRequest
from cipub.engines.conda_build import CondaBuildEngine

DEPRECATION = (
    "cipub: warning: boa (`conda mambabuild`) is archived upstream and superseded by rattler-build; "
    "use --engine conda-build (it solves with libmamba too) or move the recipe to recipe.yaml\n"
)
_warned: set[str] = set()


def warn_deprecated() -> None:
    """Print the deprecation once per process, on stderr."""
    if "boa" not in _warned:
        sys.stderr.write(DEPRECATION)
        _warned.add("boa")


class BoaEngine(CondaBuildEngine):
    name = "boa"
    subcommand = "mambabuild"

    def build(self, request: BuildRequest) -> list[Path]:
        warn_deprecated()
        return super().build(request)
