"""The package's optional extras (``cipub[s3]``, ``cipub[attest]``, ``cipub[container]``): import the
module an extra brings, or refuse with the install line, so a missing extra is a usage error
(exit 2) that says what to install, never an ImportError traceback."""

from __future__ import annotations

import importlib
from types import ModuleType

from cipub.core.errors import UsageError


def import_extra(module: str, *, extra: str, needed_for: str, otherwise: str = "") -> ModuleType:
    """``module``, imported; ``needed_for`` names what needs it and ``otherwise`` a way around it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        hint = f"pip install 'cipub[{extra}]'" + (f" ({otherwise})" if otherwise else "")
        raise UsageError(
            f"{needed_for}: the {module.split('.', maxsplit=1)[0]} package is not installed", hint=hint
        ) from exc
