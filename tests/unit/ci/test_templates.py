"""The shipped CI files, read as data: injection-safe structure, pinned actions, one source of truth,
and `cipub ci init` / `cipub ci gitlab-pipeline` output."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from cipub.ci import matrix
from cipub.core.errors import UsageError
from cipub.core.secrets import CREDENTIAL_LIKE_NAMES, SECRET_ENV_NAMES
from cipub.policy.plan import Plan, PlanCell
from cipub.workflows.ci import DEFAULT_ACTION, render_github_workflow, render_init
from tests.conftest import REPO

ACTION = REPO / "github-actions" / "action.yml"
WORKFLOWS = [
    REPO / ".github" / "workflows" / "cipub.yml",
    *sorted((REPO / "github-actions" / "examples").glob("*.yml")),
]
GITLAB_INCLUDE = REPO / "gitlab-ci" / "cipub.yml"


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def gitlab_documents(text: str) -> list[Any]:
    return list(yaml.safe_load_all(text))


# -- the composite action ----------------------------------------------------------------------------


def test_action_scripts_never_interpolate_expressions() -> None:
    action = load(ACTION)
    for step in action["runs"]["steps"]:
        if "run" in step:
            assert "${{" not in step["run"], f"step {step.get('id')}: an expression inside run: is an injection"
            assert step["shell"] == "bash"
    script = (REPO / "github-actions" / "cipub-action.sh").read_text()
    assert "eval" not in re.sub(r"#.*", "", script)
    assert "${{" not in script


def test_every_action_input_reaches_the_script_through_env() -> None:
    action = load(ACTION)
    env_values = {
        value
        for step in action["runs"]["steps"]
        for value in (step.get("env") or {}).values()
        if isinstance(value, str)
    }
    for name in action["inputs"]:
        assert f"${{{{ inputs.{name} }}}}" in env_values, f"input {name} is not passed through env:"
    # ... under the INPUT_* name the script reads
    script = (REPO / "github-actions" / "cipub-action.sh").read_text()
    for step in action["runs"]["steps"]:
        for var in step.get("env") or {}:
            assert var.startswith(("INPUT_", "ACTION_")), var
            assert var in script, f"{var} is set but the script never reads it"
            assert not var.startswith("CIPUB_"), "CIPUB_* variables are cipub settings"


def test_action_outputs_come_from_the_run_step() -> None:
    action = load(ACTION)
    for name, meta in action["outputs"].items():
        assert meta["value"] == f"${{{{ steps.run.outputs.{name} }}}}"


_USES = re.compile(r"^\s*(?:-\s*)?uses:\s*(\S+)(.*)$", re.MULTILINE)


def third_party_uses(text: str) -> list[tuple[str, str]]:
    return [(m.group(1).strip("\"'"), m.group(2)) for m in _USES.finditer(text)]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_third_party_actions_are_pinned_by_sha_with_a_version_comment(path: Path) -> None:
    uses = third_party_uses(path.read_text())
    assert uses
    for ref, rest in uses:
        if ref.startswith(("OWNER/cipub/", "./")):
            continue  # cipub itself, at the ref the user chooses
        assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", ref), f"{ref} is not pinned by a commit sha"
        assert re.fullmatch(r"\s*# v\d+(\.\d+)*", rest), f"{ref}: missing '# vX.Y.Z' comment"


def test_same_third_party_action_same_sha_everywhere() -> None:
    pins: dict[str, set[str]] = {}
    for path in WORKFLOWS:
        for ref, _ in third_party_uses(path.read_text()):
            name, _, sha = ref.partition("@")
            pins.setdefault(name, set()).add(sha)
    assert all(len(shas) == 1 for shas in pins.values()), pins


# -- one source for each file --------------------------------------------------------------------------


def test_reusable_workflow_is_the_rendered_template() -> None:
    assert (REPO / ".github" / "workflows" / "cipub.yml").read_text() == render_github_workflow(reusable=True)


def test_reusable_workflow_signs_in_the_publish_job_only_by_default() -> None:
    """Issue 16: the upload signs keyless (``attest: sigstore`` by default, '' / 'none' turns it off);
    only the publish job may ask for an OIDC token, never a build cell (which runs recipe code)."""
    doc = yaml.safe_load((REPO / ".github" / "workflows" / "cipub.yml").read_text())
    on = doc.get("on", doc.get(True))
    assert on["workflow_call"]["inputs"]["attest"]["default"] == "sigstore"
    assert doc["permissions"] == {"contents": "read"}
    jobs = doc["jobs"]
    assert jobs["publish"]["permissions"] == {"contents": "read", "id-token": "write"}
    assert [name for name, job in jobs.items() if "id-token" in (job.get("permissions") or {})] == ["publish"]
    [upload] = [step for step in jobs["publish"]["steps"] if step.get("id") == "upload"]
    extra = upload["with"]["extra-args"]
    assert "inputs.attest == 'sigstore'" in extra and "'--attest=keyless'" in extra
    for name in ("plan", "build", "verify", "promote"):
        steps = jobs[name]["steps"]
        assert all("--attest" not in str(step.get("with", {}).get("extra-args", "")) for step in steps), name


#: the reusable workflow's defaults, then one hostile value at a time (None: accepted)
GOOD_INPUTS = {
    "VERIFY": "install",
    "ATTEST": "sigstore",
    "LABEL": "test",
    "PROMOTE_TO": "main",
    "TARGET": "https://anaconda.org/o",
}
INPUT_CASES = [
    ({}, None),
    ({"VERIFY": "isolated", "ATTEST": "none", "LABEL": "rc.1_x-y", "PROMOTE_TO": "a" * 128}, None),
    ({"VERIFY": "files", "ATTEST": ""}, None),
    ({"VERIFY": "isolated\n--label=main"}, "verify"),  # the second line would be an argument of its own
    ({"VERIFY": "isolated --label=main"}, "verify"),
    ({"VERIFY": ""}, "verify"),
    ({"ATTEST": "sigstor"}, "attest"),  # a typo would publish unsigned without a word
    ({"LABEL": "$(touch pwned-label)"}, "label"),
    ({"LABEL": "test; touch pwned-semicolon"}, "label"),
    ({"LABEL": "test\n::add-path::/tmp/pwned"}, "label"),
    ({"LABEL": "-rf"}, "label"),
    ({"PROMOTE_TO": "a" * 129}, "promote-to"),
    ({"PROMOTE_TO": "main\nx"}, "promote-to"),
    ({"TARGET": "./channel dir; x"}, None),  # one line: the action passes it on as data
    ({"TARGET": "./channel dir; $(touch pwned-t)"}, "target"),  # as the action refuses it in paths
    ({"TARGET": "./ch`touch pwned-b`"}, "target"),
    ({"TARGET": 'https://anaconda.org/o"x'}, "target"),
    ({"LABEL": "main", "PROMOTE_TO": "main"}, "label"),  # would skip staging, verify and the release gate
    ({"TARGET": ""}, None),  # empty: CIPUB_TARGET, then [tool.cipub] target
    ({"TARGET": "./ch\n$(touch pwned-target)"}, "target"),
    ({"TARGET": "./ch\r"}, "target"),
]


@pytest.mark.parametrize(("inputs", "refused"), INPUT_CASES)
def test_reusable_workflow_checks_its_inputs_before_anything_is_built(
    tmp_path: Path, inputs: dict[str, str], refused: str | None
) -> None:
    """The plan job's first step (every other job needs the plan job) refuses a 'verify' that is not
    one of its values (it becomes the verify job's extra-args, one argument per line), an unknown
    'attest', and labels outside cipub's rule; it runs nothing it is given and echoes no value."""
    doc = yaml.safe_load((REPO / ".github" / "workflows" / "cipub.yml").read_text())
    first = doc["jobs"]["plan"]["steps"][0]
    assert first["name"] == "Check the inputs" and first["shell"] == "bash"
    assert set(first["env"]) == set(GOOD_INPUTS)
    script = tmp_path / "check.sh"
    script.write_text(first["run"])
    env = {"PATH": os.environ["PATH"], **GOOD_INPUTS, **inputs}
    # as the runner runs a bash step
    proc = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert not list(tmp_path.glob("pwned*"))
    if refused is None:
        assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
        return
    assert proc.returncode == 2
    assert proc.stdout.startswith(f"::error title=cipub workflow::input '{refused}' must be "), proc.stdout
    assert proc.stdout.count("\n") == 1 and "pwned" not in proc.stdout


def test_reusable_workflow_checks_labels_by_cipubs_rule() -> None:
    from cipub.channels.base import NAMES

    doc = yaml.safe_load((REPO / ".github" / "workflows" / "cipub.yml").read_text())
    script = doc["jobs"]["plan"]["steps"][0]["run"]
    assert f"[[ $1 =~ ^{NAMES.pattern.pattern}$ ]] && [ ${{#1}} -le {NAMES.max_length} ]" in script


def test_matrix_example_is_the_init_output() -> None:
    expected = render_init(
        "github", recipe="recipe", target="https://anaconda.org/my-org", platforms=["linux-64", "osx-arm64"]
    )[".github/workflows/cipub.yml"]
    assert (REPO / "github-actions" / "examples" / "matrix.yml").read_text() == expected


def test_include_component_and_package_copy_are_identical() -> None:
    packaged = matrix.gitlab_include_text()
    assert GITLAB_INCLUDE.read_text() == packaged
    assert (REPO / "gitlab-ci" / "component" / "templates" / "cipub.yml").read_text() == packaged


def test_include_installs_the_cipub_version_it_ships_with() -> None:
    from cipub.workflows.ci import PINNED_REQUIREMENT

    spec = gitlab_documents(GITLAB_INCLUDE.read_text())[0]["spec"]
    # cipub is not on PyPI: the default is this project's source at the commit the action is pinned to
    assert spec["inputs"]["install"]["default"] == PINNED_REQUIREMENT


# -- the GitLab include ----------------------------------------------------------------------------------


def test_gitlab_inputs_only_become_variable_values() -> None:
    """`$[[ inputs.x ]]` is text substitution: inside a script it would be code."""
    spec, body = gitlab_documents(GITLAB_INCLUDE.read_text())
    used: set[str] = set()

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}[{i}]")
        elif isinstance(node, str) and "$[[" in node:
            names = re.findall(r"\$\[\[\s*inputs\.([\w-]+)\s*\]\]", node)
            used.update(names)
            allowed = (".variables." in path) or path.endswith((".stage", "stages[0]", "stages[1]"))
            assert allowed, f"{path}: an input outside variables/stage: {node!r}"
            assert re.fullmatch(r"\$\[\[\s*inputs\.[\w-]+\s*\]\]", node), f"{path}: input mixed into text"

    walk(body, "")
    assert used == set(spec["spec"]["inputs"]), "every input is used, and nothing else"


def test_gitlab_trigger_job_has_no_scripts() -> None:
    body = gitlab_documents(GITLAB_INCLUDE.read_text())[1]
    trigger = body["cipub-pipeline"]
    assert trigger["extends"] == ".cipub-variables"
    assert "before_script" not in body[".cipub-variables"] and "script" not in body[".cipub-variables"]


def test_include_variables_are_settings_or_ci_glue() -> None:
    """CIPUB_* variables reach cipub as settings; anything else must not start with CIPUB_."""
    from cipub.core.settings import Settings

    body = gitlab_documents(GITLAB_INCLUDE.read_text())[1]
    settings = {f"CIPUB_{f.upper()}" for f in Settings.__dataclass_fields__ if f != "sources"}
    for name in body[".cipub-variables"]["variables"]:
        assert name.startswith("CIPUBCI_") or name in settings, name


# -- the child pipeline ----------------------------------------------------------------------------------


def make_plan(*cells: tuple[str, str]) -> Plan:
    return Plan(
        recipe="recipe/recipe.yaml",
        recipe_format="v1",
        platforms=sorted({p for _, p in cells}),
        noarch_platform="linux-64",
        cells=[PlanCell(ident, platform, {"flavor": ident}, None, "") for ident, platform in cells],
    )


def test_child_pipeline_builds_each_cell_and_publishes_them_together() -> None:
    plan = make_plan(("linux-64-a", "linux-64"), ("linux-64-b", "linux-64"))
    doc = yaml.safe_load(matrix.render_gitlab_child_pipeline(plan, promote_when="manual", verify="isolated"))
    assert doc["cipub-build"]["parallel"]["matrix"] == [{"CIPUBCI_CELL": ["linux-64-a", "linux-64-b"]}]
    assert "tags" not in doc["cipub-build"]
    manifests = "--manifest=output/linux-64-a/cipub-manifest.json --manifest=output/linux-64-b/cipub-manifest.json"
    assert doc["cipub-publish"]["script"] == [f"cipub upload --attest=keyless {manifests}"]
    assert doc["cipub-verify"]["script"] == [f"cipub ci verify --mode=isolated {manifests}"]
    assert doc["cipub-promote"]["script"] == [f"cipub promote {manifests}"]
    assert doc["cipub-promote"]["when"] == "manual"
    assert doc["cipub-promote"]["environment"]["name"] == "conda-main"
    assert doc["cipub-promote"]["needs"] == ["cipub-publish", "cipub-verify"]
    assert doc[".cipub"]["before_script"] == matrix.gitlab_install_script()
    # The plan rides along, byte for byte.
    import base64

    assert Plan.from_json(base64.b64decode(doc["variables"]["CIPUBCI_PLAN_B64"]).decode()).ids == plan.ids


def test_child_pipeline_runner_tags_per_platform() -> None:
    plan = make_plan(("l1", "linux-64"), ("m1", "osx-arm64"), ("l2", "linux-64"))
    doc = matrix.gitlab_child_pipeline(plan, runner_tags=matrix.parse_runner_tags("linux-64=docker, osx-arm64=mac"))
    # a build job per platform, each with its own tags (a matrix variable cannot give several, or none)
    assert doc["cipub-build-linux-64"]["parallel"]["matrix"] == [{"CIPUBCI_CELL": ["l1", "l2"]}]
    assert doc["cipub-build-linux-64"]["tags"] == ["docker"]
    assert doc["cipub-build-osx-arm64"]["parallel"]["matrix"] == [{"CIPUBCI_CELL": ["m1"]}]
    assert doc["cipub-build-osx-arm64"]["tags"] == ["mac"]
    assert doc["cipub-publish"]["needs"] == ["cipub-build-linux-64", "cipub-build-osx-arm64"]
    # a platform not named keeps the plan's tags (make_plan's cells: none)
    partial = matrix.gitlab_child_pipeline(plan, runner_tags={"linux-64": ("docker",)})
    assert partial["cipub-build-linux-64"]["tags"] == ["docker"] and "tags" not in partial["cipub-build-osx-arm64"]
    with pytest.raises(UsageError, match="PLATFORM=TAG"):
        matrix.parse_runner_tags("linux-64")


@pytest.mark.parametrize(
    ("options", "message"),
    [({"promote_when": "always"}, "promote-when"), ({"verify": "maybe"}, "verify")],
)
def test_child_pipeline_rejects_unknown_choices(options: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        matrix.gitlab_child_pipeline(make_plan(("a", "linux-64")), **options)


def test_child_pipeline_cell_ids_are_shell_quoted() -> None:
    plan = make_plan(("odd id;$(x)", "linux-64"))
    script = matrix.gitlab_child_pipeline(plan)["cipub-publish"]["script"][0]
    import shlex

    assert shlex.split(script) == [
        "cipub",
        "upload",
        "--attest=keyless",
        "--manifest=output/odd id;$(x)/cipub-manifest.json",
    ]


def test_child_pipeline_signs_in_the_publish_job_alone_by_default() -> None:
    """Issue 16: only the job that signs gets an OIDC token; the build cells run recipe code."""
    plan = make_plan(("linux-64-a", "linux-64"), ("osx-arm64-b", "osx-arm64"))
    doc = yaml.safe_load(matrix.render_gitlab_child_pipeline(plan))
    publish = doc["cipub-publish"]
    assert publish["id_tokens"] == {"SIGSTORE_ID_TOKEN": {"aud": "sigstore"}}
    assert publish["script"][0].startswith("cipub upload --attest=keyless ")
    # the variable the job gets is the one cipub's keyless signing reads
    from cipub.core.attest import GITLAB_TOKEN_VARIABLE, SIGSTORE_AUDIENCE

    assert publish["id_tokens"] == {GITLAB_TOKEN_VARIABLE: {"aud": SIGSTORE_AUDIENCE}}
    for name, job in doc.items():
        if name == "cipub-publish" or not isinstance(job, dict):
            continue
        assert "id_tokens" not in job, name
        assert not any("--attest" in line for line in job.get("script", [])), name
    assert "id_tokens" not in doc["cipub-build"]
    assert doc["cipub-build"]["script"][-1].startswith("cipub build ")
    assert "--attest" not in " ".join(doc["cipub-build"]["script"])
    assert matrix.gitlab_child_pipeline(plan, attest="keyless") == matrix.gitlab_child_pipeline(plan)


@pytest.mark.parametrize("off", ["none", "", " none "])
def test_child_pipeline_attest_none_publishes_unsigned(off: str) -> None:
    plan = make_plan(("linux-64-a", "linux-64"))
    doc = yaml.safe_load(matrix.render_gitlab_child_pipeline(plan, attest=off))
    assert not any("id_tokens" in job for job in doc.values() if isinstance(job, dict))
    assert doc["cipub-publish"]["script"] == ["cipub upload --manifest=output/linux-64-a/cipub-manifest.json"]


def test_child_pipeline_rejects_an_unknown_attest_mode() -> None:
    with pytest.raises(UsageError, match="attest 'key'"):
        matrix.gitlab_child_pipeline(make_plan(("a", "linux-64")), attest="key")


def test_include_attest_input_defaults_to_sigstore_and_reaches_the_plan_job() -> None:
    spec, body = gitlab_documents(GITLAB_INCLUDE.read_text())
    attest = spec["spec"]["inputs"]["attest"]
    assert attest["default"] == "sigstore" and attest["options"] == ["sigstore", "none"]
    assert body[".cipub-variables"]["variables"]["CIPUBCI_ATTEST"] == "$[[ inputs.attest ]]"
    # the include's own jobs never get a token: the plan job only renders the child pipeline
    assert not any("id_tokens" in job for job in body.values() if isinstance(job, dict))


# -- cipub ci init ------------------------------------------------------------------------------------------


def test_init_github_values_become_quoted_scalars() -> None:
    text = render_init("github", recipe="conda/my recipe", target="https://anaconda.org/o", platforms=["linux-64"])[
        ".github/workflows/cipub.yml"
    ]
    doc = load_text(text)
    plan_step = next(s for s in doc["jobs"]["plan"]["steps"] if s.get("id") == "plan")
    assert plan_step["uses"] == DEFAULT_ACTION
    assert plan_step["with"]["recipe"] == "conda/my recipe"
    assert plan_step["with"]["target"] == "https://anaconda.org/o"
    assert doc["jobs"]["promote"]["environment"] == "release"


def load_text(text: str) -> Any:
    return yaml.safe_load(text)


@pytest.mark.parametrize(
    "value",
    ["x\nevil: true", "${{ github.token }}", "$[[ inputs.x ]]", 'a": b', "a' # c"],
)
def test_init_values_cannot_become_yaml_or_expressions(value: str) -> None:
    for provider in ("github", "gitlab"):
        try:
            files = render_init(provider, recipe=value, target="c")
        except UsageError:
            continue  # refused: fine
        main = files[".github/workflows/cipub.yml" if provider == "github" else ".gitlab-ci.yml"]
        doc = load_text(main)
        if provider == "gitlab":
            assert doc["include"][0]["inputs"]["recipe"] == value
        else:
            plan_step = next(s for s in doc["jobs"]["plan"]["steps"] if s.get("id") == "plan")
            assert plan_step["with"]["recipe"] == value


def test_init_gitlab_writes_the_include_and_image(tmp_path: Path, cipub: Callable[..., Any]) -> None:
    result = cipub(
        "ci", "init", "gitlab", "--target", "https://anaconda.org/o", "-p", "linux-64", "-p", "osx-arm64", cwd=tmp_path
    )
    assert result.code == 0, result.err
    main = load(tmp_path / ".gitlab-ci.yml")
    assert main["include"] == [
        {
            "local": ".gitlab/cipub.yml",
            "inputs": {"recipe": "recipe", "target": "https://anaconda.org/o", "platforms": "linux-64,osx-arm64"},
        }
    ]
    assert main[".cipub"] == {"image": "python:3.12-slim"}
    assert (tmp_path / ".gitlab" / "cipub.yml").read_text() == matrix.gitlab_include_text()


def test_init_refuses_to_overwrite_without_force(tmp_path: Path, cipub: Callable[..., Any]) -> None:
    target = tmp_path / ".github" / "workflows" / "cipub.yml"
    target.parent.mkdir(parents=True)
    target.write_text("mine\n")
    result = cipub("ci", "init", "github", "--target", "./x", cwd=tmp_path)
    assert result.code == 2
    assert "already exist" in result.err and "--force" in result.err
    assert "Traceback" not in result.err
    assert target.read_text() == "mine\n"
    forced = cipub("ci", "init", "github", "--target", "./x", "--force", cwd=tmp_path)
    assert forced.code == 0
    assert target.read_text().startswith("# Conda packages with cipub")


def test_init_gitlab_refuses_when_either_file_exists(tmp_path: Path, cipub: Callable[..., Any]) -> None:
    (tmp_path / ".gitlab").mkdir()
    (tmp_path / ".gitlab" / "cipub.yml").write_text("old\n")
    result = cipub("ci", "init", "gitlab", "--target", "./x", cwd=tmp_path)
    assert result.code == 2
    assert not (tmp_path / ".gitlab-ci.yml").exists()  # nothing written at all


def test_init_needs_a_channel_and_a_known_provider(tmp_path: Path, cipub: Callable[..., Any]) -> None:
    assert cipub("ci", "init", "github", cwd=tmp_path).code == 2
    assert cipub("ci", "init", "jenkins", "--target", "./x", cwd=tmp_path).code == 2
    assert not any(tmp_path.iterdir())


def test_templates_ship_in_the_package() -> None:
    from cipub.workflows.ci import template_names

    assert template_names() == ["github/workflow.yml.j2", "gitlab/cipub.yml", "gitlab/gitlab-ci.yml.j2"]


def test_gitlab_pipeline_command_writes_yaml(tmp_path: Path, cipub: Callable[..., Any]) -> None:
    plan = make_plan(("linux-64-a", "linux-64"))
    (tmp_path / "plan.json").write_text(plan.to_json())
    result = cipub(
        "ci",
        "gitlab-pipeline",
        "plan.json",
        "-o",
        "child.yml",
        cwd=tmp_path,
        env={"CIPUBCI_PROMOTE_WHEN": "on_success"},
    )
    assert result.code == 0, result.err
    assert yaml.safe_load((tmp_path / "child.yml").read_text())["cipub-promote"]["when"] == "on_success"
    bad = cipub("ci", "gitlab-pipeline", "missing.json", cwd=tmp_path)
    assert bad.code == 2 and "does not exist" in bad.err
    (tmp_path / "bad.json").write_text(json.dumps({"schema": 99}))
    assert cipub("ci", "gitlab-pipeline", "bad.json", cwd=tmp_path).code == 2


def test_child_build_cells_drop_every_credential_before_installing_anything() -> None:
    # GitLab hands project CI/CD variables to every job; only publish/promote may keep them.
    plan = make_plan(("linux-64-a", "linux-64"), ("linux-64-b", "linux-64"))
    doc = yaml.safe_load(matrix.render_gitlab_child_pipeline(plan))
    unset = matrix.unset_secrets_script()
    assert doc["cipub-build"]["before_script"] == [unset, *matrix.gitlab_install_script()]
    assert "before_script" not in doc["cipub-publish"]  # it extends .cipub: the token stays there
    assert all(re.search(CREDENTIAL_LIKE_NAMES, name, re.I) for name in SECRET_ENV_NAMES)
    environ = {
        "PATH": os.environ["PATH"],
        "ANACONDA_API_TOKEN": "canary-1",
        "CIPUB_TOKEN": "canary-2",
        "MY_DEPLOY_PASSWORD": "canary-3",
        "AWS_SECRET_ACCESS_KEY": "canary-4",
        "CI_JOB_JWT": "canary-5",
        "MULTI_LINE": "x\nFAKE_TOKEN=not-a-variable",
        "CIPUBCI_CELL": "linux-64-a",
    }
    for shell in ("sh", "bash"):
        out = subprocess.run([shell, "-euc", f"{unset}; env"], env=environ, capture_output=True, text=True, check=True)
        assert "canary" not in out.stdout, shell
        assert "CIPUBCI_CELL=linux-64-a" in out.stdout and "MULTI_LINE=x" in out.stdout
