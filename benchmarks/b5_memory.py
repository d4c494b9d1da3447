"""B5: peak memory (RSS) of the uploading process, for big artifacts.

A .conda of 512 MiB and one of 1 GiB (incompressible content, so the files are that big) are
uploaded to an anaconda.org-protocol server on 127.0.0.1 by cipub and by anaconda-client; the peak
RSS of each process comes from the kernel (``wait4``'s ``ru_maxrss``), not from sampling.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.common import (
    ANACONDA,
    CIPUB,
    Series,
    anaconda_env,
    anaconda_server,
    big_package,
    cipub_env,
    run,
    write_manifest,
)

GOAL_MIB = 150


def measure(work: Path, *, sizes_mib: tuple[int, ...], runs: int) -> dict[str, Any]:
    rows: list[Series] = []
    owners = iter(range(1000))
    with anaconda_server(work / "server", owners=4 * len(sizes_mib) * runs + 2) as server:
        cp_env = cipub_env(work / "home-cipub")
        ac_env = anaconda_env(work / "home-anaconda", server.url)
        for size in sizes_mib:
            package = big_package(size)
            actual_mib = package.stat().st_size / 1024**2
            manifest = write_manifest([package], work / f"m{size}" / "cipub-manifest.json")
            case = f"{actual_mib:,.0f} MiB .conda"
            tools = {
                "cipub": lambda owner: [
                    CIPUB,
                    "upload",
                    "--manifest",
                    str(manifest),
                    "--target",
                    f"anaconda+{server.url}/{owner}",
                ],
                "anaconda-client": lambda owner: [ANACONDA, "upload", "--user", owner, "--label", "test", str(package)],
            }
            envs = {"cipub": cp_env, "anaconda-client": ac_env}
            for tool, command in tools.items():
                series = Series(case, tool)
                peaks = []
                for _ in range(runs):
                    owner = f"o{next(owners)}"
                    result = run(command(owner), env=envs[tool], cwd=work, rss=True)
                    if not server.truth(owner).get("test"):
                        raise RuntimeError(f"B5 {tool}: nothing landed\n{result.err[-2000:]}")
                    series.seconds.append(result.seconds)
                    peaks.append(result.peak_rss_mib)
                series.extra["peak RSS (MiB)"] = round(max(peaks), 1)
                rows.append(series)
    ratios = []
    for s in rows:
        if s.tool == "cipub":
            peak = s.extra["peak RSS (MiB)"]
            ratios.append(
                {
                    "what": f"cipub peak RSS, {s.case}",
                    "value": peak,
                    "goal": f"<= {GOAL_MIB} MiB",
                    "met": peak <= GOAL_MIB,
                }
            )
    for case in dict.fromkeys(s.case for s in rows):
        mine = next(s for s in rows if s.case == case and s.tool == "cipub")
        peer = next(s for s in rows if s.case == case and s.tool == "anaconda-client")
        ratios.append(
            {
                "what": f"cipub / anaconda-client peak RSS, {case}",
                "value": round(mine.extra["peak RSS (MiB)"] / peer.extra["peak RSS (MiB)"], 3),
                "goal": None,
                "met": None,
            }
        )
    return {
        "id": "B5",
        "title": "Peak memory while uploading a big artifact",
        "rows": [s.as_dict() for s in rows],
        "ratios": ratios,
        "setup": f"anaconda.org-protocol test server on 127.0.0.1; {runs} run(s) per tool and size; the peak RSS "
        "is the largest over the runs. The 512 MiB row is issue 4's acceptance check (under 150 MiB).",
    }
