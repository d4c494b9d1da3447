"""Two pipelines publishing the same recipe at the same moment: distinct build numbers, or one clean
conflict (exit 6) — never an overwrite, never a lost file.

Each round runs two real ``cipub build RECIPE --target TARGET`` processes at once (rattler-build
builds for real; each decides its build number from the channel, builds, writes its manifest and
uploads to ``test``), then checks every file on the channel against the manifest of the pipeline that
uploaded it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.reliability import figures
from tests.reliability.helpers import REPO, cipub_cmd, cipub_env
from tests.reliability.targets import fresh_target

pytestmark = pytest.mark.integration

RECIPE = REPO / "recipes-template" / "v1-noarch-generic"
ROUNDS = 4


def _pipeline(workdir: Path, target_url: str, env: dict[str, str], extra: list[str]) -> tuple[int, str, dict]:
    workdir.mkdir(parents=True)
    shutil.copytree(RECIPE, workdir / "recipe")
    done = subprocess.run(
        cipub_cmd("build", "recipe", "--target", target_url, "--label", "test", *extra),
        cwd=workdir,
        env=cipub_env(env),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    manifest_path = workdir / "output" / "cipub-manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    return done.returncode, done.stderr, manifest


@pytest.mark.parametrize("kind", ["local", "anaconda"])
def test_two_pipelines_race(kind: str, tmp_path: Path) -> None:
    outcomes: dict[str, int] = {"distinct build numbers": 0, "one clean conflict": 0, "identical bytes": 0}
    problems: list[str] = []
    for round_no in range(ROUNDS):
        workdir = tmp_path / f"round{round_no}"
        with fresh_target(kind, workdir) as target:
            # Rounds alternate between an empty channel and one that already has build 0.
            if round_no % 2:
                code, err, _ = _pipeline(workdir / "seed", target.url, target.env, target.extra_args)
                assert code == 0, err
            seeded = target.files().get("test", {})
            with ThreadPoolExecutor(max_workers=2) as pool:
                results = list(
                    pool.map(
                        lambda name: _pipeline(workdir / name, target.url, target.env, target.extra_args),
                        ["a", "b"],
                    )
                )
            codes = sorted(code for code, _, _ in results)
            held = target.files().get("test", {})
            problems += [f"round {round_no}: {p}" for p in target.problems()]
            uploaded: dict[str, str] = {}
            for code, err, manifest in results:
                if code not in (0, 6):
                    problems.append(f"round {round_no}: a pipeline exited {code}: {err[-800:]}")
                    continue
                if code == 6 and "exists" not in err.lower():
                    problems.append(f"round {round_no}: exit 6 without saying why: {err[-400:]}")
                for art in manifest.get("artifacts", []):
                    key = f"{art['subdir']}/{art['filename']}"
                    if code == 0:
                        uploaded[key] = art["sha256"]
                        if held.get(key) != art["sha256"]:
                            problems.append(f"round {round_no}: {key} on the channel is not what its pipeline built")
            # Nothing that was on the channel before changed; everything on it belongs to somebody.
            for key, sha in seeded.items():
                if held.get(key) != sha:
                    problems.append(f"round {round_no}: seeded {key} was overwritten or lost")
            for key in held:
                if key not in uploaded and key not in seeded:
                    problems.append(f"round {round_no}: {key} on the channel belongs to no successful pipeline")
            numbers = sorted(
                art["build_number"] for code, _, m in results if code == 0 for art in m.get("artifacts", [])
            )
            if codes == [0, 6]:
                outcomes["one clean conflict"] += 1
            elif codes == [0, 0] and len(set(numbers)) == 2:
                outcomes["distinct build numbers"] += 1
            elif codes == [0, 0]:
                outcomes["identical bytes"] += 1
            else:
                problems.append(f"round {round_no}: exit codes {codes}")
    figures.record(
        "concurrency",
        kind,
        rounds=ROUNDS,
        overwrites=sum("overwritten" in p or "not what its pipeline built" in p for p in problems),
        problems=len(problems),
        **{k.replace(" ", "_"): v for k, v in outcomes.items()},
    )
    assert not problems, "\n".join(problems)
