"""CI integration (GitHub Actions, GitLab CI): outputs, step summary, secret masking.

Placeholder with the final signatures; the CI-templates work fills it in.
"""

from __future__ import annotations

from collections.abc import Mapping

from cipub.manifest import Manifest


def report_manifest(command: str, manifest: Manifest, extra_outputs: Mapping[str, str] | None = None) -> None:
    """Publish a command's results to the CI provider (outputs, summary). No-op outside CI."""
    return None


def mask(value: str) -> None:
    """Ask the CI provider to hide ``value`` in logs. No-op outside CI."""
    return None
