"""B8: the local loop as it scales: ``cipub upload`` to label test then ``cipub promote`` test -> main
of N packages into a directory channel, against what it replaces by hand: copy the files into
``label/test/noarch``, ``rattler.index_fs`` it, copy them into ``noarch``, ``index_fs`` again.

N = 10, 100, 1,000; each run starts from an empty channel; the two tools alternate, run by run, so
load on the machine hits both alike. Besides wall time, the CPU seconds of each process tree are
recorded (less sensitive to a shared machine than wall time).
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import CIPUB, Series, base_env, run, write_manifest

PEER = r"""
import asyncio, shutil, sys
from pathlib import Path
from rattler import Subdir
from rattler.index import index_fs
channel, files = Path(sys.argv[1]), [Path(p) for p in sys.argv[2:]]
for label_dir in (channel / "label" / "test", channel):
    (label_dir / "noarch").mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.copy2(f, label_dir / "noarch" / f.name)
    asyncio.run(index_fs(label_dir, target_platform=Subdir("noarch"), write_zst=False, write_shards=False))
sys.stdout.flush()
import os; os._exit(0)  # py-rattler's threads can abort interpreter finalisation (SIGABRT): nothing to finalise
"""


def packages(directory: Path, count: int) -> list[Path]:
    """``count`` small real .conda packages of distinct names (tests/support's maker: fast, offline)."""
    from tests.support.packages import make_package

    done = directory / f"done-{count}"
    out = directory / f"n{count}"
    if done.is_file():
        return sorted(out.rglob("*.conda"))
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    paths = [make_package(out, f"loop{i:04d}", "1.0", 0) for i in range(count)]
    done.write_text("ok")
    return paths


def _timed(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    before = os.times()
    started = time.perf_counter()
    run(cmd, env=env, cwd=cwd)
    wall = time.perf_counter() - started
    after = os.times()
    return wall, (after.children_user - before.children_user) + (after.children_system - before.children_system)


def measure(work: Path, *, sizes: tuple[int, ...] = (10, 100, 1_000), runs: int = 3) -> dict[str, Any]:
    env = base_env({"HOME": str(work / "home")})
    rows: list[Series] = []
    ratios: list[dict[str, Any]] = []
    cpu: dict[str, list[float]] = {}
    for n in sizes:
        paths = packages(work / "pkgs", n)
        mine, peer = Series(f"{n} packages", "cipub upload + promote"), Series(f"{n} packages", "copy + index_fs x2")
        for i in range(runs):
            # A fresh manifest per run, as each build writes one: upload and promote append their
            # receipts to it, so one manifest reused by every run grew by 2N receipts a run.
            manifest = write_manifest(paths, work / f"m{n}-{i}" / "cipub-manifest.json")
            chan_a, chan_b = work / f"a{n}-{i}", work / f"b{n}-{i}"
            target = ["--manifest", str(manifest), "--target", str(chan_a)]
            w1, c1 = _timed([CIPUB, "upload", *target, "--label", "test"], env, work)
            w2, c2 = _timed([CIPUB, "promote", *target], env, work)
            wp, cp = _timed([sys.executable, "-c", PEER, str(chan_b), *map(str, paths)], env, work)
            if any(len(list((c / "noarch").glob("*.conda"))) != n for c in (chan_a, chan_b)):
                raise RuntimeError(f"B8: a channel does not hold the {n} packages")
            mine.seconds.append(w1 + w2)
            peer.seconds.append(wp)
            cpu.setdefault(f"cipub {n}", []).append(c1 + c2)
            cpu.setdefault(f"peer {n}", []).append(cp)
            shutil.rmtree(chan_a)
            shutil.rmtree(chan_b)
        rows += [mine, peer]
        from statistics import median

        ratios.append(
            {
                "what": f"cipub / copy + index_fs x2, {n} packages (wall)",
                "value": round(mine.median_s / peer.median_s, 3),
                "goal": "<= 1.5",
                "met": mine.median_s / peer.median_s <= 1.5,
            }
        )
        ratios.append(
            {
                "what": f"cipub / copy + index_fs x2, {n} packages (CPU seconds)",
                "value": round(median(cpu[f"cipub {n}"]) / median(cpu[f"peer {n}"]), 3),
                "goal": None,
                "met": None,
            }
        )
    return {
        "id": "B8",
        "title": "Local loop: upload + promote as the channel grows",
        "rows": [s.as_dict() for s in rows],
        "ratios": ratios,
        "setup": f"N = {', '.join(map(str, sizes))} small packages; median of {runs} runs, cipub and the peer "
        "alternating; each run on an empty directory channel.",
    }
