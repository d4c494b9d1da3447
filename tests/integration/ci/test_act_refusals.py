"""Failure paths of the shipped action and reusable workflow under a real runner (nektos/act, host
mode), one short act run each, independent of the full pipeline in test_act_workflow.py:

- a publish that meets a conflict (same file name, other bytes on the channel) exits 6, fails the
  job, and the step summary names the conflicting file;
- a hostile multi-line ``verify`` input (it becomes the verify job's ``extra-args``, one argument
  per line) is refused in the plan job, before anything is built or published;
- hostile label, promote-to and target inputs (``$(...)``, ``;``, backticks, new lines) run nothing
  and fail the plan job cleanly, before cipub is installed.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.integration.ci.conftest import (
    SAMPLE_RECIPE,
    SAMPLE_VARIANTS,
    VENV_BIN,
    local_channel_state,
    no_injection_happened,
)
from tests.support.act import ActRun, act_can_start, commit_all, copy_project, run_act

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

_WORKFLOW = (REPO / ".github" / "workflows" / "cipub.yml").read_text()
#: the pinned refs the reusable workflow uses (act maps each to a local folder)
ACTION = re.search(r'uses: "?(cipub-dev/cipub/github-actions@[0-9a-f]{40})', _WORKFLOW)[1]  # type: ignore[index]
CHECKOUT = re.search(r"uses: (actions/checkout@[0-9a-f]{40})", _WORKFLOW)[1]  # type: ignore[index]
SETUP_PYTHON = re.search(r"uses: (actions/setup-python@[0-9a-f]{40})", _WORKFLOW)[1]  # type: ignore[index]

#: the same package as the sample recipe (same file names) with other bytes
CHANGED_RECIPE = SAMPLE_RECIPE + '    - echo "other bytes, same name" > $PREFIX/share/${{ name }}/changed.txt\n'

#: the publish job of the reusable workflow, reduced to its own steps: build cells' packages are
#: built in the job itself (no artifacts), then the one upload
CONFLICT = f"""\
name: conflict
on: push
jobs:
  publish:
    runs-on: ubuntu-latest
    steps:
      - uses: {CHECKOUT}
        with:
          persist-credentials: false
      - uses: {SETUP_PYTHON}
      - uses: "{ACTION}"
        with:
          command: build
          target: @CHANNEL@
          variant-config: recipe/variants.yaml
          build-number: "0"
          output-dir: output
      - id: upload
        uses: "{ACTION}"
        with:
          command: upload
          target: @CHANNEL@
          label: test
          manifest: output/cipub-manifest.json
      - if: always()
        env:
          OUTCOME: ${{{{ steps.upload.outcome }}}}
        run: echo "OUT upload=$OUTCOME"
"""


def project_for(root: Path, workflow: str, name: str) -> Path:
    project = copy_project(root / "repo")
    (project / "recipe").mkdir(exist_ok=True)
    (project / "recipe" / "recipe.yaml").write_text(SAMPLE_RECIPE)
    (project / "recipe" / "variants.yaml").write_text(SAMPLE_VARIANTS)
    (project / ".github" / "workflows" / f"{name}.yml").write_text(workflow)
    commit_all(project)
    return project


def act(project: Path, name: str) -> ActRun:
    artifacts = project.parent / "artifacts"
    artifacts.mkdir(exist_ok=True)
    result = run_act(
        project,
        f".github/workflows/{name}.yml",
        secrets={},
        env={"ACT_STANDIN_ARTIFACTS": str(artifacts)},
        home=Path.home(),  # pip's cache: cipub installs from the copied source without downloads
    )
    (project.parent / f"act-{name}.log").write_text(result.log)  # for a look after a failure
    return result


@pytest.fixture(autouse=True)
def _act_runs_here() -> None:
    reason = act_can_start()
    if reason:
        pytest.skip(reason)


def test_a_conflict_fails_the_publish_job_with_exit_6_and_says_why_in_the_summary(tmp_path: Path) -> None:
    channel = tmp_path / "channel"
    # The channel already holds the sample's files, built from other bytes (build number 0).
    seed = tmp_path / "seed"
    (seed / "recipe").mkdir(parents=True)
    (seed / "recipe" / "recipe.yaml").write_text(CHANGED_RECIPE)
    (seed / "recipe" / "variants.yaml").write_text(SAMPLE_VARIANTS)
    subprocess.run(
        [str(VENV_BIN / "cipub"), "build", "--build-number=0", f"--target={channel}", "--label=test", "--", "recipe"],
        cwd=seed,
        check=True,
        capture_output=True,
        env={"PATH": f"{VENV_BIN}:/usr/bin:/bin", "HOME": str(Path.home())},
    )
    before = local_channel_state(channel)
    assert len(before["test"]) == 2

    run = act(project_for(tmp_path, CONFLICT.replace("@CHANNEL@", str(channel)), "conflict"), "conflict")

    assert run.returncode != 0, run.log[-4000:]
    lines = run.job_lines("conflict/publish")
    assert any(line.endswith("] exit status 6") for line in lines), "\n".join(lines[-40:])
    assert any(line.endswith("| OUT upload=failure") for line in lines), "\n".join(lines[-40:])
    assert any("Job failed" in line for line in lines)
    # Nothing replaced, nothing added.
    assert local_channel_state(channel) == before
    # The upload step's summary says what failed and names each conflicting file.
    summary = run.summary("conflict/publish")
    assert "### cipub failed: conflict (exit 6)" in summary, summary or run.log[-4000:]
    for key, sha in before["test"].items():
        assert f"{key} exists on the channel (label test) with different content (sha256 {sha[:12]} there" in summary
    assert "nothing was uploaded" in summary


#: one caller job per hostile input, all in one act run (each stops in its own plan job)
HOSTILE_CALLER = """\
name: hostile
on: push
jobs:
{jobs}"""
HOSTILE_JOB = """\
  {job}:
    uses: ./.github/workflows/cipub.yml
    with:
{inputs}"""


def hostile_job(job: str, channel: Path, name: str, value: str) -> str:
    """A caller job with the reusable workflow's usual inputs, ``name`` replaced by ``value``."""
    inputs = {"target": str(channel), "variant-config": "recipe/variants.yaml", "attest": "none"}
    inputs[name] = value.replace("{channel}", str(channel))
    return HOSTILE_JOB.format(job=job, inputs="".join(f"      {k}: {v}\n" for k, v in inputs.items()))


#: caller job -> (input, value as YAML). The verify value becomes the
#: verify job's extra-args, one argument per line: the second and third lines would be options.
HOSTILE = {
    "verify-lines": ("verify", '"isolated\\n--label=main\\n--target=/tmp/pwned-target"'),
    "label-subst": ("label", '"$(touch pwned-subst)"'),
    "label-semicolon": ("label", '"test; touch pwned-semicolon"'),
    "label-backtick": ("label", '"`touch pwned-backtick`"'),
    "promote-to-lines": ("promote-to", '"main\\n::add-path::/tmp/pwned-path\\ntouch pwned-line"'),
    "target-lines": ("target", '"{channel}\\n$(touch pwned-target-subst)\\n; touch pwned-target-semicolon"'),
}


@dataclass
class Hostile:
    root: Path
    channel: Path
    run: ActRun


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Hostile:
    reason = act_can_start()
    if reason:
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("act-hostile")
    channel = root / "channel"
    jobs = "".join(hostile_job(job, channel, name, value) for job, (name, value) in HOSTILE.items())
    run = act(project_for(root, HOSTILE_CALLER.format(jobs=jobs), "hostile"), "hostile")
    return Hostile(root, channel, run)


def assert_refused_in_the_plan_job(hostile: Hostile, job: str) -> None:
    """The job's plan job failed at its first step with the refusal, no other of its jobs ran, and
    the value was neither run nor echoed as a workflow command."""
    refused, _value = HOSTILE[job]
    lines = hostile.run.job_lines(f"{job}/cipub/")
    assert lines, hostile.run.log[-4000:]
    assert all(line.startswith(f"[{job}/cipub/plan]") for line in lines), "a job after the plan ran"
    text = "\n".join(lines)
    assert "❌  Failure - Main Check the inputs" in text, text
    # the reason: in the log's error line, or (act can drop a step's last output line as it exits)
    # in the step summary the check writes too
    reason = f"input '{refused}' must be"
    assert f"::error title=cipub workflow::{reason}" in text or reason in hostile.run.summary(f"{job}/cipub/plan"), text
    assert "Install cipub" not in text  # refused before anything was installed or built
    assert any("Job failed" in line for line in lines)


def assert_nothing_ran(hostile: Hostile) -> None:
    assert hostile.run.returncode != 0
    no_injection_happened(hostile.root)
    # act runs each job in its own copy of the repository (host mode): ~/.cache/act/<id>/hostexecutor
    ran = list((Path.home() / ".cache" / "act").glob("*/hostexecutor/pwned*"))
    assert not ran, f"an input was executed: {ran}"
    assert not Path("/tmp/pwned-target").exists() and not Path("/tmp/pwned-path").exists()
    assert "pwned-path" not in os.environ.get("PATH", "")
    assert not hostile.channel.exists(), "something was published"


def test_a_multi_line_verify_input_is_refused_before_anything_is_built(hostile: Hostile) -> None:
    assert_nothing_ran(hostile)
    assert_refused_in_the_plan_job(hostile, "verify-lines")


@pytest.mark.parametrize("job", [job for job in HOSTILE if job != "verify-lines"])
def test_hostile_label_and_target_inputs_run_nothing_and_fail_cleanly(hostile: Hostile, job: str) -> None:
    assert_nothing_ran(hostile)
    assert_refused_in_the_plan_job(hostile, job)
