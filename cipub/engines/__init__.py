"""Build engines behind one Protocol, and the rule that picks one.

``auto``: rattler-build (in-process) for ``recipe.yaml``; for ``meta.yaml``, conda-build when
``conda`` is on PATH, else a build error (exit 4) saying how to install conda-build or convert the
recipe. ``boa`` is a deprecated alias of conda-build that runs ``conda mambabuild``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from cipub.core.errors import UsageError

if TYPE_CHECKING:
    from cipub.engines.base import BuildRequest, Engine, new_package_files, package_files
    from cipub.engines.boa import BoaEngine
    from cipub.engines.conda_build import CondaBuildEngine
    from cipub.engines.container import ContainerOptions
    from cipub.engines.rattler_build import RattlerBuildEngine
    from cipub.recipe import Recipe

#: the names above, imported at first use: the build worker (``python -m
#: cipub.engines._rattler_worker``) imports this package before its own module, and needs none of
#: the engines (the eager imports were 45 ms of every build's worker start, issue 12, B7)
_LAZY = {
    "BuildRequest": "cipub.engines.base",
    "Engine": "cipub.engines.base",
    "new_package_files": "cipub.engines.base",
    "package_files": "cipub.engines.base",
    "BoaEngine": "cipub.engines.boa",
    "CondaBuildEngine": "cipub.engines.conda_build",
    "RattlerBuildEngine": "cipub.engines.rattler_build",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


ENGINE_NAMES = ("auto", "rattler-build", "conda-build", "boa")

__all__ = [
    "ENGINE_NAMES",
    "BoaEngine",
    "BuildRequest",
    "CondaBuildEngine",
    "Engine",
    "RattlerBuildEngine",
    "check_engine_name",
    "new_package_files",
    "package_files",
    "select_engine",
]


def check_engine_name(name: str) -> None:
    """Exit 2 for an engine cipub does not know (before the build changes anything)."""
    if name not in ENGINE_NAMES:
        import difflib

        close = difflib.get_close_matches(name, ENGINE_NAMES, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"choose one of: {', '.join(ENGINE_NAMES)}"
        raise UsageError(f"unknown build engine {name!r}", hint=hint)


def select_engine(name: str, recipe: Recipe, container: ContainerOptions | None = None) -> Engine:
    """The engine called ``name`` for ``recipe``; ``auto`` follows the rule in the module docstring.

    With ``container`` the engine runs in that image (:mod:`cipub.engines.container`): conda is
    then looked for in the image, not on this machine.
    """
    from cipub.engines.base import CONVERT_HINT
    from cipub.engines.boa import BoaEngine
    from cipub.engines.conda_build import CondaBuildEngine, require_conda
    from cipub.engines.rattler_build import RattlerBuildEngine

    check_engine_name(name)
    if name == "auto":
        name = "rattler-build" if recipe.format == "v1" else "conda-build"
    if name == "rattler-build":
        if recipe.format != "v1":
            raise UsageError(
                f"{recipe.path}: rattler-build builds recipe.yaml (v1) recipes, not meta.yaml",
                hint="use --engine conda-build, or " + CONVERT_HINT,
            )
        if container is not None:
            from cipub.engines.container import ContainerRattlerBuildEngine

            return ContainerRattlerBuildEngine(container)
        return RattlerBuildEngine()
    if container is not None:
        from cipub.engines.container import ContainerCondaBuildEngine

        return ContainerCondaBuildEngine(container, subcommand="mambabuild" if name == "boa" else "build")
    # Fail before any work when conda is missing (exit 4, with how to fix it).
    require_conda(name, recipe.path)
    if name == "boa":
        return BoaEngine()
    return CondaBuildEngine()
