"""Install from a channel label with py-rattler (solve + install), as a conda user would."""

from __future__ import annotations

import asyncio
from pathlib import Path

from rattler import Channel, solve
from rattler import install as rattler_install


def install_from(
    channel_url: str,
    spec: str,
    prefix: Path,
    *,
    platforms: tuple[str, ...] = ("linux-64", "noarch"),
    cache_dir: Path | None = None,
) -> list[str]:
    """Solve ``spec`` against ``channel_url`` only and install into ``prefix``.

    Returns the installed file names (``name-version-build``). Raises whatever py-rattler raises
    when the package cannot be found or installed.
    """

    async def _run() -> list[str]:
        records = await solve([Channel(channel_url)], [spec], platforms=list(platforms))
        await rattler_install(
            records,
            target_prefix=prefix,
            cache_dir=cache_dir or prefix.parent / f".{prefix.name}-pkgs",
            show_progress=False,
        )
        return [f"{r.name.normalized}-{r.version}-{r.build}" for r in records]

    return asyncio.run(_run())
