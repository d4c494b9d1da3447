"""A build number decided for one (name, version): what the plan records and the manifest keeps.

Its own module, so a plan (``cipub plan``) records decisions without importing the manifest's
reader and writer (JSON Schema, atomic files, dates: ~3 ms of every plan's start-up, benchmark B9);
:mod:`cipub.core.manifest` re-exports it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class BuildNumberDecision:
    name: str
    version: str
    recipe_number: int
    channel_highest: int | None
    chosen: int
    reason: str
    target: str | None = None
