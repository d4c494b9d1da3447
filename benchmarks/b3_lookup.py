"""B3: build-number lookup for one package as the channel grows (1k, 10k, 100k files).

The lookup is what ``cipub plan``/``cipub build`` do before building: ``buildnumber.decide`` over the
channel's files of one (name, version). Measured in a fresh process each time, around that call
only (start-up is B4): wall time, and bytes read (local: the process's ``rchar`` from
``/proc/self/io``; server: response bytes through a counting proxy). The looked-up package has 5
builds; the rest of the channel is other packages.

Big channels are made cheaply: the local one from hard links of a few real packages under many
names (the lookup must never open them; the files are valid packages if it did); the server's from
file records seeded directly (``AnacondaServer.seed_file``), without bytes.

A local channel's listing is saved in the user's cache once its directory has been unchanged for
``LISTING_QUIET_NS`` (2 s; ``cipub.channels.local``), and read back while the directory's ctime is
unchanged. So each local channel, once made, is left alone that long (as a channel a lookup meets
was last written earlier than that), then the first lookup, which lists the directory and saves
the listing, is its own row ("first lookup after a change", measured after each of several
changes: what a fresh CI job with an empty cache pays), and the runs after it are the lookups of an
unchanged channel: both ratios are reported, each against the goal.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import CIPUB, REPO, TOKEN, Series, anaconda_server, base_env, median, run
from cipub.channels.local import LISTING_QUIET_NS

TARGET = "lookup-me"
BUILDS = 5
PER_NAME = 10  # files per filler package name

LOOKUP = r"""
import json, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from cipub.policy.buildnumber import decide
from cipub.channels import open_channel

def rchar():
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    return 0

channel = open_channel(sys.argv[1])
before, start = rchar(), time.perf_counter()
with channel:
    decision = decide(channel, sys.argv[2], "1.0", 0)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "rchar": rchar() - before, "chosen": decision.chosen}))
"""


def _local_channel(root: Path, size: int, sources: list[Path]) -> None:
    """``size`` files in ``root/noarch`` (label main): hard links named like real packages."""
    noarch = root / "noarch"
    noarch.mkdir(parents=True)
    for b in range(BUILDS):
        os.link(sources[b % len(sources)], noarch / f"{TARGET}-1.0-h0000000_{b}.conda")
    for i in range(size - BUILDS):
        name, build = divmod(i, PER_NAME)
        os.link(sources[i % len(sources)], noarch / f"filler{name:06d}-1.0-h0000000_{build}.conda")


def _real_sources(work: Path) -> list[Path]:
    """Real packages named ``lookup-me`` with build numbers 0..4 (the filler links reuse them)."""
    from tests.support.packages import make_package

    return [make_package(work / "src", TARGET, "1.0", b, payload=f"b{b}") for b in range(BUILDS)]


def measure(work: Path, *, sizes: tuple[int, ...], runs: int) -> dict[str, Any]:
    from tests.support.faultproxy import FaultProxy

    sources = _real_sources(work)
    rows: list[Series] = []
    env = base_env({"ANACONDA_API_TOKEN": TOKEN, "HOME": str(work / "home")})

    def lookups(url: str, case: str, tool: str, proxy: Any = None, count: int = runs) -> Series:
        series = Series(case, tool)
        reads: list[int] = []
        for _ in range(count):
            before = proxy.stats.bytes_to_clients if proxy else 0
            result = run([sys.executable, "-c", LOOKUP, url, TARGET, str(REPO)], env=env, cwd=work)
            doc = json.loads(result.out)
            if doc["chosen"] != BUILDS:
                raise RuntimeError(f"B3 {case}: lookup chose {doc['chosen']}, expected {BUILDS}")
            series.seconds.append(doc["seconds"])
            reads.append(proxy.stats.bytes_to_clients - before if proxy else doc["rchar"])
        series.extra["bytes read (median)"] = int(median(reads))
        return series

    recipe = work / "recipe"
    recipe.mkdir()
    (recipe / "recipe.yaml").write_text(
        f'package: {{name: {TARGET}, version: "1.0"}}\nbuild: {{number: 0, noarch: generic}}\n'
    )
    for size in sizes:
        root = work / f"local-{size}"
        _local_channel(root, size, sources)
        first = Series(f"local channel, {size:,} files", "cipub first lookup after a change")
        for _ in range(runs):
            # a change another tool makes (the listing cache must miss), then the quiet time a channel
            # a lookup meets has had: a fresh CI job's empty cache pays this every time
            (root / "noarch" / ".touch").write_bytes(b"")
            (root / "noarch" / ".touch").unlink()
            time.sleep(LISTING_QUIET_NS / 1e9 + 0.5)
            first.seconds.extend(lookups(str(root), first.case, first.tool, count=1).seconds)
        rows.append(first)
        rows.append(lookups(str(root), f"local channel, {size:,} files", "cipub lookup"))
        # the whole user-facing command that does this lookup: start-up and recipe reading included
        plan = Series(f"local channel, {size:,} files", "cipub plan (whole command)")
        for _ in range(runs):
            result = run([CIPUB, "plan", str(recipe), "--target", str(root), "--format", "json"], env=env, cwd=work)
            if json.loads(result.out)["build_numbers"][0]["chosen"] != BUILDS:
                raise RuntimeError(f"B3 plan did not choose build {BUILDS}: {result.out[:2000]}")
            plan.seconds.append(result.seconds)
        rows.append(plan)
    with anaconda_server(work / "server", owners=len(sizes)) as server:
        for n, size in enumerate(sizes):
            owner = f"o{n}"
            for b in range(BUILDS):
                server.seed_file(
                    owner,
                    TARGET,
                    "1.0",
                    "noarch",
                    f"{TARGET}-1.0-h0000000_{b}.conda",
                    build=f"h0000000_{b}",
                    build_number=b,
                )
            for i in range(size - BUILDS):
                name, build = divmod(i, PER_NAME)
                server.seed_file(
                    owner,
                    f"filler{name:06d}",
                    "1.0",
                    "noarch",
                    f"filler{name:06d}-1.0-h0000000_{build}.conda",
                    build=f"h0000000_{build}",
                    build_number=build,
                )
            with FaultProxy(server.url) as proxy:
                rows.append(
                    lookups(f"anaconda+{proxy.url}/{owner}", f"anaconda server, {size:,} files", "cipub lookup", proxy)
                )
    ratios = []
    firsts = [s for s in rows if s.tool == "cipub first lookup after a change"]
    ratios.append(
        {
            "what": f"first lookup after a change (cache miss) at {sizes[-1]:,} / at {sizes[0]:,} files, local",
            "value": round(firsts[-1].median_s / firsts[0].median_s, 3),
            "goal": "<= 2.0",
            "met": firsts[-1].median_s / firsts[0].median_s <= 2.0,
        }
    )
    for kind in ("local channel", "anaconda server"):
        mine = [s for s in rows if s.case.startswith(kind) and s.tool == "cipub lookup"]
        small, big = mine[0], mine[-1]
        value = big.median_s / small.median_s
        ratios.append(
            {
                "what": f"time at {sizes[-1]:,} / time at {sizes[0]:,} files, {kind}",
                "value": round(value, 3),
                "goal": "<= 2.0",
                "met": value <= 2.0,
            }
        )
        ratios.append(
            {
                "what": f"bytes read at {sizes[-1]:,} / at {sizes[0]:,} files, {kind}",
                "value": round(big.extra["bytes read (median)"] / max(1, small.extra["bytes read (median)"]), 3),
                "goal": None,
                "met": None,
            }
        )
    plans = [s for s in rows if s.tool.startswith("cipub plan")]
    ratios.append(
        {
            "what": f"cipub plan (whole command) at {sizes[-1]:,} / at {sizes[0]:,} files, local channel",
            "value": round(plans[-1].median_s / plans[0].median_s, 3),
            "goal": None,
            "met": None,
        }
    )
    return {
        "id": "B3",
        "title": "Build-number lookup as the channel grows",
        "rows": [s.as_dict() for s in rows],
        "ratios": ratios,
        "setup": f"One package with {BUILDS} builds among filler packages ({PER_NAME} files each); the lookup in a "
        f"fresh process, timed around the call; median of {runs} runs. Local channels: left unchanged for "
        f"{LISTING_QUIET_NS / 1e9:.0f} s after each change; the first lookup after a change (a cache miss: lists "
        f"the directory, saves the listing in the user's cache; {runs} changes), then the runs on the unchanged "
        "channel.",
    }
