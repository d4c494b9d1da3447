"""The shipped reusable workflow (.github/workflows/cipub.yml) run by a real runner, nektos/act in
host mode, as a caller's repository uses it: plan -> 2 build cells -> one publish job -> verify ->
promote on a local channel.

One module-scoped pair of act runs serves every assertion (act is slow to start jobs): first with
a recipe whose blue cell fails (nothing may be published), then with the recipe fixed (the re-run
converges: both files, build number 0, on test and main). The re-run's test also asserts the
action's outputs and summaries in each job that the emulation's chain test used to (that test is
gone: see the table in test_github_action.py).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.ci.conftest import SAMPLE_CELLS, SAMPLE_RECIPE, SAMPLE_VARIANTS, local_channel_state
from tests.support.act import ActRun, act_can_start, commit_all, copy_project, run_act

# two act runs of ~6 jobs each: minutes on a loaded machine, more than the default per-test timeout
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]

#: a canary, not a credential: the local target needs no token, so it is only there to be hidden
CANARY = "cipubcanary-7f3a9c1e5b2d4680"
#: the build script fails when the token reached the cell (or, with FAIL_BLUE, for the blue cell)
CHECKS = """\
    - if env | grep -q cipubcanary; then echo "the token reached a build cell"; exit 1; fi
"""
FAIL_BLUE = """\
    - if [ "${{ flavor }}" = blue ]; then echo "blue cell fails on purpose"; exit 1; fi
"""

CALLER = """\
name: caller
on: push
jobs:
  conda:
    uses: ./.github/workflows/cipub.yml
    with:
      recipe: recipe
      target: {channel}
      variant-config: recipe/variants.yaml
      verify: isolated
      attest: none # act has no OIDC token service: signing is tested in tests/integration/targets
    secrets:
      token: ${{{{ secrets.CIPUB_TOKEN }}}}
  after:
    needs: conda
    runs-on: ubuntu-latest
    steps:
      - env:
          MATRIX: ${{{{ needs.conda.outputs.matrix }}}}
          BUILD_NUMBER: ${{{{ needs.conda.outputs.build-number }}}}
          ARTIFACTS: ${{{{ needs.conda.outputs.artifacts }}}}
        run: |
          echo "OUT matrix=$MATRIX"
          echo "OUT build-number=$BUILD_NUMBER"
          echo "OUT artifacts=$ARTIFACTS"
"""


@dataclass
class Pipeline:
    channel: Path
    failed: ActRun
    failed_state: dict[str, dict[str, str]]
    passed: ActRun

    def outputs(self) -> dict[str, str]:
        values = {}
        for line in self.passed.job_lines("caller/after"):
            found = re.search(r"\| OUT ([\w-]+)=(.*)$", line)
            if found:
                values[found[1]] = found[2]
        return values


def write_recipe(project: Path, *, fail_blue: bool) -> None:
    (project / "recipe").mkdir(exist_ok=True)
    (project / "recipe" / "recipe.yaml").write_text(SAMPLE_RECIPE + CHECKS + (FAIL_BLUE if fail_blue else ""))
    (project / "recipe" / "variants.yaml").write_text(SAMPLE_VARIANTS)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    reason = act_can_start()
    if reason:
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("act")
    channel = root / "channel"
    project = copy_project(root / "repo")
    (project / ".github" / "workflows" / "caller.yml").write_text(CALLER.format(channel=channel))

    def run(name: str) -> ActRun:
        artifacts = root / f"artifacts-{name}"  # one artifact store per workflow run, as on GitHub
        artifacts.mkdir()
        result = run_act(
            project,
            ".github/workflows/caller.yml",
            secrets={"CIPUB_TOKEN": CANARY},
            env={"ACT_STANDIN_ARTIFACTS": str(artifacts)},
            home=Path.home(),  # pip's cache: cipub installs from the copied source without downloads
        )
        (root / f"act-{name}.log").write_text(result.log)  # for a look after a failure
        return result

    write_recipe(project, fail_blue=True)
    commit_all(project)
    failed = run("failed")
    failed_state = local_channel_state(channel) if channel.exists() else {}
    write_recipe(project, fail_blue=False)
    commit_all(project)
    return Pipeline(channel, failed, failed_state, run("passed"))


def test_a_failed_cell_publishes_nothing(pipeline: Pipeline) -> None:
    run = pipeline.failed
    assert run.returncode != 0
    assert any("blue cell fails on purpose" in line for line in run.job_lines("flavorblue")), run.log[-4000:]
    # The red cell's steps all passed and its packages were stored (act then prints "Job failed" for
    # every cell of a matrix with a failed cell: the job's status is the matrix's).
    red = run.job_lines("flavorred")
    assert not any("❌" in line for line in red), "\n".join(red)
    assert any("stored cipub-build-linux-64-flavorred/" in line for line in red), "\n".join(red)
    assert not run.job_lines("cipub/publish"), "the publish job ran although a cell failed"
    # The failed cell's summary says why (a failed command wrote none before).
    blue = run.summary("flavorblue")
    assert "### cipub failed: build (exit 4)" in blue, blue
    assert "blue cell fails on purpose" in blue
    assert not any(pipeline.failed_state.values()), pipeline.failed_state


def test_the_rerun_publishes_and_promotes_every_cell(pipeline: Pipeline) -> None:
    run = pipeline.passed
    assert run.returncode == 0, run.log[-6000:]
    for job in ("cipub/plan", "flavorred", "flavorblue", "cipub/publish", "cipub/verify", "cipub/promote"):
        assert any("Job succeeded" in line for line in run.job_lines(job)), f"{job} did not succeed"

    outputs = pipeline.outputs()
    assert [c["id"] for c in json.loads(outputs["matrix"])["include"]] == SAMPLE_CELLS
    assert outputs["build-number"] == "0"
    artifacts = json.loads(outputs["artifacts"])
    built = {f"{a['subdir']}/{a['filename']}": a["sha256"] for a in artifacts}
    assert sorted(a["variant_id"] for a in artifacts) == sorted(SAMPLE_CELLS)
    assert {a["build_number"] for a in artifacts} == {0}

    state = local_channel_state(pipeline.channel)
    assert state["test"] == built and state["main"] == built

    # The action's outputs in each job, as act reported them (the emulation's chain test asserted
    # these on the action's own outputs; this pipeline asserts them on the real runner's).
    plan = run.outputs("cipub/plan")
    assert (plan["cells"], plan["build-number"], plan["plan"]) == ("2", "0", "cipub-plan.json"), plan
    assert all(c["runner"] == "ubuntu-latest" for c in json.loads(plan["matrix"])["include"])
    assert "| `linux-64-flavorred` | linux-64 | — | ubuntu-latest | flavor=red |" in run.summary("cipub/plan")
    for cell in SAMPLE_CELLS:
        cell_outputs = run.outputs(cell)
        assert cell_outputs["build-number"] == "0" and cell_outputs["manifest"] == "output/cipub-manifest.json"
        (artifact,) = json.loads(cell_outputs["artifacts"])
        assert artifact["variant_id"] == cell and built[f"{artifact['subdir']}/{artifact['filename']}"]
        row = f"| `{artifact['filename']}` | linux-64 | `{artifact['sha256'][:12]}` | — | built |"
        assert row in run.summary(cell), run.summary(cell)
        # The exact argv the action ran, built from its inputs without a shell in between.
        assert any(f"| cipub build --plan=cipub-plan.json --only={cell} " in line for line in run.job_lines(cell))
    publish = run.outputs("cipub/publish")
    assert json.loads(publish["states"]) == {"uploaded": 2} and publish["label"] == "test", publish
    assert run.outputs("cipub/verify")["verified"] == "2"
    assert json.loads(run.outputs("cipub/promote")["states"]) == {"promoted": 2}

    # Each job's step summary names every file with its sha256 (the rows come from that job's own
    # summary: act prints them without the job prefix, ActRun.summary reads them).
    published, promoted = run.summary("cipub/publish"), run.summary("cipub/promote")
    verified = run.summary("cipub/verify")
    for key, sha in built.items():
        filename = key.split("/")[1]
        assert f"| `{filename}` | linux-64 | `{sha[:12]}` | test | uploaded |" in published, published
        assert f"| `{filename}` | linux-64 | `{sha[:12]}` | test → main | promoted |" in promoted, promoted
        assert f"| `{filename}` | linux-64 | `{sha[:12]}` | test | installed |" in verified, verified


def test_the_token_is_masked_and_never_reaches_a_build_cell(pipeline: Pipeline) -> None:
    for run in (pipeline.failed, pipeline.passed):
        assert CANARY not in run.log, "the token appeared unmasked in act's log"
        # The jobs that get the token register it as a mask first (act prints that as ***) ...
        for job in ("cipub/plan", "cipub/publish", "cipub/verify", "cipub/promote"):
            if run is pipeline.passed or job == "cipub/plan":
                assert any(line.rstrip().endswith("⚙  ***") for line in run.job_lines(job)), f"{job}: no mask"
        # ... the build cells never get it: no mask, and their recipe script's check passed.
        for cell in SAMPLE_CELLS:
            lines = run.job_lines(cell)
            assert lines, f"no log for {cell}"
            assert not any("***" in line for line in lines), f"{cell} was given the token"
            assert not any("the token reached a build cell" in line for line in lines)
