"""The composite action's steps, run as the GitHub runner runs them (bash -eo pipefail on a script
file, inputs through env as INPUT_*, GITHUB_OUTPUT / GITHUB_STEP_SUMMARY files, GITHUB_ACTIONS=true),
by the Python emulation in tests/support/github_runner.py: what the real runner (nektos/act, the
test_act_*.py modules) does not run.

What act covers and what the emulation still does (issue 15 item 3):

======================================================  ==============================================
emulation test                                          under act
======================================================  ==============================================
test_action_chain_on_a_local_channel (removed)          test_act_workflow.py::
                                                        test_the_rerun_publishes_and_promotes_every_cell:
                                                        same sample project, 2 cells, local channel;
                                                        channel state (test and main), the plan, cell,
                                                        publish, verify and promote outputs (act's
                                                        ``::set-output::`` lines), the plan / built /
                                                        uploaded / installed / promoted summary rows,
                                                        the cell's exact ``cipub build`` argv
test_token_only_ever_appears_in_a_mask_command (kept)   only in part: test_act_workflow.py::
                                                        test_the_token_is_masked_and_never_reaches_a_
                                                        build_cell checks a canary on a local channel
                                                        (never in act's log, a mask in the plan,
                                                        publish, verify and promote jobs, none in the
                                                        cells). Kept for what act does not assert: a
                                                        real Quetz token that authenticates the whole
                                                        chain, no workspace file holding it, no
                                                        ``cipub-token.*`` file left after its step (a
                                                        Quetz act pipeline is another run of minutes)
test_hostile_action_input_is_data, 27 inputs x 2        not covered. act's hostile inputs
payloads (kept)                                         (test_act_refusals.py: label, promote-to, target,
                                                        verify) go through the reusable workflow, whose
                                                        "Check the inputs" step refuses them (``cipub
                                                        workflow``) before the action runs: the action's
                                                        own refusals (``cipub action``) and the way each
                                                        of its inputs reaches cipub as data, what a
                                                        caller of the action itself relies on, never
                                                        run under act. Fast (the run step only, cipub
                                                        installed once); an act run each would be minutes
test_hostile_install_input_is_data, python and          not covered: the reusable workflow has no such
cipub-spec x 2 payloads (kept)                          inputs, so act never gives the install step a
                                                        hostile one. Fast
test_a_build_cell_drops_token_variables_the_runner_     not covered: the act pipeline checks that the
carries, upload false / true (kept)                     token given as a *secret* never reaches a cell's
                                                        recipe script; this checks that the token
                                                        variables of the runner's *own* environment (act
                                                        host mode and self-hosted runners hand theirs to
                                                        every job) are gone from cipub's environment in
                                                        a build that does not upload, and kept in one
                                                        that does (the workflow's cells never upload).
                                                        Fast (a stand-in cipub prints its environment)
test_release_action.py::test_status_yank_and_cross_     not covered: the reusable workflow has no status,
target_promotion_through_the_action (kept)              yank or cross-target promotion step, so act never
                                                        runs those commands (that test runs
                                                        ``cipub-action.sh run`` itself, not the emulation)
======================================================  ==============================================
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO
from tests.integration.ci.conftest import (
    SAMPLE_CELLS,
    ActionHarness,
    no_injection_happened,
    write_sample_project,
)
from tests.support.github_runner import ActionRun, CompositeAction, masks_in, runner_env
from tests.support.quetz import QuetzServer
from tests.support.quetz_target import quetz_server, quetz_target

pytestmark = pytest.mark.integration
__all__ = ["quetz_server"]

ACTION_INPUTS = list(yaml.safe_load((REPO / "github-actions" / "action.yml").read_text())["inputs"])
ACTION_OUTPUTS = set(yaml.safe_load((REPO / "github-actions" / "action.yml").read_text())["outputs"])


def run_action(harness: ActionHarness, workdir: Path, **inputs: str) -> ActionRun:
    result = harness.run(workdir, {k.replace("_", "-"): v for k, v in inputs.items()})
    assert isinstance(result, ActionRun)
    return result


def ok(result: ActionRun) -> ActionRun:
    assert result.ok, "\n".join(f"{s.name}: {s.returncode}\n{s.stdout}\n{s.stderr}" for s in result.steps)
    return result


def run_chain(harness: ActionHarness, project: Path, channel: str, token: str = "") -> dict[str, ActionRun]:
    """What the reusable workflow does, job by job, in one workspace."""
    runs = {"plan": ok(run_action(harness, project, command="plan", target=channel, token=token))}
    for cell in json.loads(runs["plan"].outputs["ids"]):
        runs[cell] = ok(
            run_action(
                harness,
                project,
                command="build",
                target=channel,
                plan="cipub-plan.json",
                only=cell,
                output_dir=f"cells/{cell}",
            )
        )
    runs["upload"] = ok(
        run_action(
            harness,
            project,
            command="upload",
            target=channel,
            label="test",
            manifest="cells/*/cipub-manifest.json",
            token=token,
        )
    )
    runs["verify"] = ok(
        run_action(
            harness,
            project,
            command="verify",
            target=channel,
            label="test",
            manifest="cells/**/cipub-manifest.json",
            extra_args="--mode=isolated",
            token=token,
        )
    )
    runs["promote"] = ok(
        run_action(
            harness, project, command="promote", target=channel, manifest="cells/**/cipub-manifest.json", token=token
        )
    )
    return runs


def test_token_only_ever_appears_in_a_mask_command(
    action_harness: ActionHarness, tmp_path: Path, quetz_server: QuetzServer
) -> None:
    with quetz_target(tmp_path / "quetz", server=quetz_server) as quetz:
        (token,) = quetz.env.values()
        project = write_sample_project(tmp_path / "work")
        runs = run_chain(action_harness, project, quetz.url, token=token)
        assert len(quetz.state()["main"]) == 2

    for name, result in runs.items():
        for step in result.steps:
            for line in (step.stdout + step.stderr).splitlines():
                if token in line:
                    assert line.startswith("::add-mask::"), f"{name}/{step.name} printed the token: {line!r}"
            assert all(token not in value for value in step.outputs.values())
        assert token not in result.summary
        if name in ("plan", "upload", "promote"):
            assert token in masks_in(result.log), f"{name}: the token was never masked"
    for path in project.rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes(), f"the token was written to {path}"
    leftovers = list(action_harness.runner_temp.glob("cipub-token.*"))
    assert not leftovers, "the token file outlived its step"


#: command substitution, backticks, breaking out of quotes, new lines (a second argument, a second
#: command, a workflow command of its own)
HOSTILE = {
    "one-line": '$(touch pwned-dollar) `touch pwned-backtick` "; touch pwned-quote; rm -rf ~; echo "',
    "multi-line": "x\ntouch pwned-newline\n::add-path::/tmp/pwned-path\n$(touch pwned-dollar2)",
}
#: the command each input matters to
COMMAND_FOR = {
    "recipe": "plan",
    "platforms": "plan",
    "variant-config": "plan",
    "variants": "plan",
    "plan": "plan",
    "only": "build",
    "output-dir": "build",
    "container": "build",
    "build-number": "build",
    "upload": "build",
    "from-label": "promote",
    "to-label": "promote",
    "move": "promote",
    "to-target": "promote",
    "to-token": "promote",
    "packages": "status",
    "remove-from": "yank",
}
RUN_STEP_INPUTS = [name for name in ACTION_INPUTS if name not in ("python", "cipub-spec")]
#: inputs that only take a fixed set of values, or paths that rattler-build writes into build scripts
REFUSED_ANY_SHELL_CHARACTER = {
    "command",
    "move",
    "upload",
    "dry-run",
    "recipe",
    "output-dir",
    "plan",
    "working-directory",
    "variants",
    "variant-config",
}
#: inputs that take one item per line (a token may span lines too)
LIST_INPUTS = {"platforms", "variant-config", "variants", "manifest", "extra-args", "token", "to-token", "packages"}


@pytest.mark.parametrize("payload", list(HOSTILE.values()), ids=list(HOSTILE))
@pytest.mark.parametrize("name", RUN_STEP_INPUTS)
def test_hostile_action_input_is_data(action_harness: ActionHarness, tmp_path: Path, name: str, payload: str) -> None:
    project = write_sample_project(tmp_path / "work")
    (action_harness.home / "sentinel").write_text("still here")
    inputs = {"command": COMMAND_FOR.get(name, "upload"), "target": str(tmp_path / "channel"), name: payload}
    result = action_harness.run(project, inputs, install=False)
    assert isinstance(result, ActionRun)
    no_injection_happened(tmp_path, action_harness.runner_temp)
    assert (action_harness.home / "sentinel").read_text() == "still here"
    assert_no_workflow_command_injected(result)
    if ("\n" in payload and name not in LIST_INPUTS) or name in REFUSED_ANY_SHELL_CHARACTER:
        # Refused by the action itself, before cipub runs.
        assert not result.ok
        assert f"::error title=cipub action::input '{name}' must" in result.log


def assert_no_workflow_command_injected(result: ActionRun) -> None:
    for step in result.steps:
        for line in (step.stdout + step.stderr).splitlines():
            if line.startswith("::"):
                assert re.match(r"::(add-mask|error title=cipub action)::", line), f"injected: {line!r}"
        assert set(step.outputs) <= ACTION_OUTPUTS | {"cipub", "command", "verified"}, step.outputs


@pytest.mark.parametrize("payload", list(HOSTILE.values()), ids=list(HOSTILE))
@pytest.mark.parametrize("name", ["python", "cipub-spec"])
def test_hostile_install_input_is_data(tmp_path: Path, name: str, payload: str) -> None:
    action = CompositeAction(REPO / "github-actions")
    (tmp_path / "home").mkdir()
    (tmp_path / "temp").mkdir()
    result = action.run(
        {"command": "plan", name: payload},
        workdir=tmp_path,
        runner_temp=tmp_path / "temp",
        base_env=runner_env({"HOME": str(tmp_path / "home")}),
        only_steps={"install"},
    )
    assert not result.ok
    no_injection_happened(tmp_path)
    assert_no_workflow_command_injected(result)


@pytest.mark.parametrize("upload", ["false", "true"])
def test_a_build_cell_drops_token_variables_the_runner_carries(
    action_harness: ActionHarness, tmp_path: Path, upload: str
) -> None:
    """act's host mode (like a self-hosted runner) hands its own environment to every job: a build
    that takes its numbers from the plan and does not upload runs cipub (and the recipe's scripts)
    without the targets' token variables; one that uploads keeps them."""
    dump = tmp_path / "env.txt"
    fake = tmp_path / "cipub"
    fake.write_text(f'#!/bin/sh\nenv > "{dump}"\n')
    fake.chmod(0o755)
    leaked = {"ANACONDA_API_TOKEN": "runnercanary-1", "QUETZ_API_KEY": "runnercanary-2", "KEEP_ME": "yes"}
    result = action_harness.action.run(
        {"command": "build", "plan": "cipub-plan.json", "only": SAMPLE_CELLS[0], "upload": upload},
        workdir=tmp_path,
        runner_temp=action_harness.runner_temp,
        base_env=runner_env({"HOME": str(action_harness.home), **leaked}),
        only_steps={"run"},
        step_outputs={"install": {"cipub": str(fake)}},
    )
    assert isinstance(result, ActionRun)
    ok(result)
    seen = dump.read_text()
    assert "KEEP_ME=yes" in seen
    assert ("runnercanary" in seen) == (upload == "true")
