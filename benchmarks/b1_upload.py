"""B1: upload N small packages to label ``test`` of an anaconda.org-protocol server.

cipub (``cipub upload --manifest``) vs one ``anaconda upload`` invocation with every file vs
rattler-build's uploader (``rattler_build.upload_package_to_anaconda``, what ``rattler-build upload
anaconda`` runs), each as a fresh process on a fresh owner; on plain loopback and with 50 ms added
to every response by the server (a WAN-like round trip).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from benchmarks.common import (
    ANACONDA,
    CIPUB,
    TOKEN,
    USER,
    Series,
    anaconda_env,
    anaconda_server,
    cipub_env,
    run,
    small_packages,
    write_manifest,
)
from benchmarks.profiling import py_spy_top

RATTLER_UPLOAD = (
    "import os, sys, rattler_build\n"
    "rattler_build.upload_package_to_anaconda(sys.argv[3:], sys.argv[1], channel=['test'],"
    " api_key=os.environ['BENCH_TOKEN'], url=sys.argv[2])\n"
)


def measure(work: Path, *, packages: int, runs: int, latencies: tuple[float, ...] = (0.0, 0.05)) -> dict[str, Any]:
    paths = small_packages(packages)
    manifest = write_manifest(paths, work / "b1" / "cipub-manifest.json")
    home = work / "b1-home"
    series: list[Series] = []
    owners = iter(range(10_000))
    with anaconda_server(work / "b1-server", owners=3 * runs * len(latencies) + 3, record=True) as server:
        ac_env = anaconda_env(home / "anaconda", server.url)
        cp_env = cipub_env(home / "cipub")
        rb_env = cipub_env(home / "rattler", {"BENCH_TOKEN": TOKEN})

        def fresh_owner() -> str:
            return f"o{next(owners)}"

        def count_files(owner: str) -> int:
            return len(server.truth(owner).get("test", {}))

        for latency in latencies:
            server.latency = latency
            case = f"{packages} packages, {'loopback' if not latency else f'+{int(latency * 1000)} ms per response'}"
            tools = {
                "cipub": lambda owner: [
                    CIPUB,
                    "upload",
                    "--manifest",
                    str(manifest),
                    "--target",
                    f"anaconda+{server.url}/{owner}",
                    "--label",
                    "test",
                ],
                "anaconda-client": lambda owner: [
                    ANACONDA,
                    "upload",
                    "--user",
                    owner,
                    "--label",
                    "test",
                    *map(str, paths),
                ],
                "rattler-build uploader": lambda owner: [
                    sys.executable,
                    "-c",
                    RATTLER_UPLOAD,
                    owner,
                    server.url,
                    *map(str, paths),
                ],
            }
            envs = {"cipub": cp_env, "anaconda-client": ac_env, "rattler-build uploader": rb_env}
            for tool, command in tools.items():
                s = Series(case, tool)
                for _ in range(runs):
                    owner = fresh_owner()
                    server.clear_requests()
                    result = run(command(owner), env=envs[tool], cwd=work)
                    s.extra["HTTP requests"] = len(server.requests)
                    landed = count_files(owner)
                    if landed != packages:
                        raise RuntimeError(f"B1 {tool}: {landed}/{packages} files landed\n{result.err[-2000:]}")
                    s.seconds.append(result.seconds)
                series.append(s)
        server.latency = 0.0
        owner = fresh_owner()
        profile = py_spy_top(
            [
                sys.executable,
                "-m",
                "cipub",
                "upload",
                "--manifest",
                str(manifest),
                "--target",
                f"anaconda+{server.url}/{owner}",
                "--label",
                "test",
            ],
            cp_env,
            work,
        )
    rows = [s.as_dict() for s in series]
    by = {(s.case, s.tool): s.median_s for s in series}
    loop_case = next(s.case for s in series if "loopback" in s.case)
    ratios = [
        _ratio(by, loop_case, "cipub", "anaconda-client"),
        _ratio(by, loop_case, "cipub", "rattler-build uploader", goal=1.0),
    ]
    for case in sorted({s.case for s in series} - {loop_case}):
        ratios.append(_ratio(by, case, "cipub", "anaconda-client", goal=0.35))
        ratios.append(_ratio(by, case, "cipub", "rattler-build uploader"))
    return {
        "id": "B1",
        "title": f"Upload {packages} small packages",
        "rows": rows,
        "ratios": ratios,
        "profile": ["cipub upload, loopback, under py-spy:", *profile],
        "setup": f"anaconda.org-protocol test server on 127.0.0.1 (user {USER}); fresh owner per run; "
        f"median of {runs} runs; each tool a fresh process; cipub at its default concurrency (4).",
    }


def _ratio(
    by: dict[tuple[str, str], float], case: str, mine: str, peer: str, goal: float | None = None
) -> dict[str, Any]:
    value = by[(case, mine)] / by[(case, peer)]
    return {
        "what": f"{mine} / {peer}, {case}",
        "value": round(value, 3),
        "goal": f"<= {goal}" if goal is not None else None,
        "met": None if goal is None else value <= goal,
    }
