"""B2: promote N files from label ``test`` to ``main`` on an anaconda.org-protocol server.

cipub (``cipub promote``, one process for the manifest's files, checked by sha256 afterwards) vs
anaconda-client as its users do it per file: ``anaconda copy OWNER/PKG/VER/SUBDIR/FILE --from-label
test --to-label main`` once per file, and ``anaconda move`` likewise (compared with
``cipub promote --move``). Each run starts from the same state, seeded directly on the server.
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
    cipub_env,
    run,
    seed_from_packages,
    small_packages,
    write_manifest,
)


def measure(work: Path, *, files: int, runs: int) -> dict[str, Any]:
    from cipub.core import manifest as manifest_mod
    from cipub.core.artifact import read_artifact

    paths = small_packages(100)[:files]
    artifacts = [read_artifact(p) for p in paths]
    manifest_template = write_manifest(paths, work / "template" / "cipub-manifest.json")
    owners = iter(range(10_000))
    series = {
        name: Series(f"{files} files test -> main", name)
        for name in ("cipub promote", f"anaconda copy x{files}", "cipub promote --move", f"anaconda move x{files}")
    }
    with anaconda_server(work / "server", owners=4 * runs + 2) as server:
        ac_env = anaconda_env(work / "home-anaconda", server.url)
        cp_env = cipub_env(work / "home-cipub")

        def fresh() -> str:
            owner = f"o{next(owners)}"
            seed_from_packages(server, owner, paths, ("test",))
            return owner

        def check(owner: str, move: bool, tool: str) -> None:
            truth = server.truth(owner)
            in_main, in_test = len(truth.get("main", {})), len(truth.get("test", {}))
            if in_main != files or in_test != (0 if move else files):
                raise RuntimeError(f"B2 {tool}: main {in_main}, test {in_test} after promotion of {files}")

        for i in range(runs):
            for move in (False, True):
                owner = fresh()
                # promote writes receipts into its manifest: a fresh copy per run (paths re-based)
                manifest = manifest_mod.write(
                    manifest_mod.load(manifest_template), work / f"run{i}-{move}" / "cipub-manifest.json"
                )
                args = [CIPUB, "promote", "--manifest", str(manifest), "--target", f"anaconda+{server.url}/{owner}"]
                result = run([*args, "--move"] if move else args, env=cp_env, cwd=work)
                check(owner, move, "cipub")
                series["cipub promote --move" if move else "cipub promote"].seconds.append(result.seconds)

                owner = fresh()
                total = 0.0
                for a in artifacts:
                    spec = f"{owner}/{a.name}/{a.version}/{a.subdir}/{a.filename}"
                    if move:
                        cmd = [ANACONDA, "move", spec, "--from-label", "test", "--to-label", "main"]
                    else:
                        cmd = [
                            ANACONDA,
                            "copy",
                            spec,
                            "--to-owner",
                            owner,
                            "--from-label",
                            "test",
                            "--to-label",
                            "main",
                        ]
                    total += run(cmd, env=ac_env, cwd=work).seconds
                check(owner, move, "anaconda-client")
                series[f"anaconda {'move' if move else 'copy'} x{files}"].seconds.append(total)
    med = {k: s.median_s for k, s in series.items()}
    ratios = [
        {
            "what": f"cipub promote / anaconda copy per file ({files} files)",
            "value": round(med["cipub promote"] / med[f"anaconda copy x{files}"], 3),
            "goal": "<= 0.25",
            "met": med["cipub promote"] / med[f"anaconda copy x{files}"] <= 0.25,
        },
        {
            "what": f"cipub promote --move / anaconda move per file ({files} files)",
            "value": round(med["cipub promote --move"] / med[f"anaconda move x{files}"], 3),
            "goal": "<= 0.25",
            "met": med["cipub promote --move"] / med[f"anaconda move x{files}"] <= 0.25,
        },
    ]
    return {
        "id": "B2",
        "title": f"Promote {files} files from test to main",
        "rows": [s.as_dict() for s in series.values()],
        "ratios": ratios,
        "setup": f"anaconda.org-protocol test server on 127.0.0.1, loopback; each run starts from {files} files "
        f"seeded in label test of a fresh owner; median of {runs} runs. anaconda-client has no per-manifest "
        "promotion: its users run one `anaconda copy` (or `move`) per file (`anaconda label --copy` exists "
        "but tags every file of the owner's label, not the ones built); the anaconda times are the sum "
        "of those invocations.",
    }
