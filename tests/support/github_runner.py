"""What the GitHub Actions runner does with a step's files and a composite action, done here in Python.

- ``parse_output_file``: reads ``$GITHUB_OUTPUT`` / ``$GITHUB_ENV`` as the runner does (``name=value``
  lines and ``name<<DELIMITER`` blocks).
- ``masks_in``: the values registered with ``::add-mask::`` in a log.
- ``CompositeAction``: runs the ``run:`` steps of a composite ``action.yml`` as the runner would:
  each script written to a file and run with ``bash --noprofile --norc -eo pipefail FILE``, the step's
  ``env:`` evaluated (``${{ inputs.x }}``, ``${{ github.action_path }}``, ``${{ steps.ID.outputs.N }}``,
  ``${{ runner.temp }}``, ``${{ env.X }}``), ``if:`` conditions of the forms the action uses,
  outputs collected from ``$GITHUB_OUTPUT``, and the action's ``outputs:`` mapped at the end.
"""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

_EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def parse_output_file(text: str) -> dict[str, str]:
    """``name=value`` and ``name<<DELIM`` ... ``DELIM`` blocks; later values win."""
    values: dict[str, str] = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line:
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            body: list[str] = []
            while True:
                if i >= len(lines):
                    raise ValueError(f"output {name!r}: delimiter {delimiter!r} never closed")
                if lines[i] == delimiter:
                    i += 1
                    break
                body.append(lines[i])
                i += 1
            values[name] = "\n".join(body)
        else:
            name, _, value = line.partition("=")
            values[name] = value
    return values


def masks_in(log: str) -> list[str]:
    return [line[len("::add-mask::") :] for line in log.splitlines() if line.startswith("::add-mask::")]


@dataclass
class StepResult:
    id: str | None
    name: str
    returncode: int
    stdout: str
    stderr: str
    outputs: dict[str, str] = field(default_factory=dict)
    skipped: bool = False


@dataclass
class ActionRun:
    steps: list[StepResult]
    outputs: dict[str, str]
    summary: str

    @property
    def ok(self) -> bool:
        return all(s.returncode == 0 for s in self.steps)

    @property
    def log(self) -> str:
        return "\n".join(s.stdout + s.stderr for s in self.steps)


class CompositeAction:
    def __init__(self, action_dir: Path) -> None:
        self.action_dir = action_dir.resolve()
        self.spec: dict[str, Any] = yaml.safe_load((action_dir / "action.yml").read_text(encoding="utf-8"))
        assert self.spec["runs"]["using"] == "composite"

    def input_defaults(self) -> dict[str, str]:
        return {name: str(meta.get("default", "")) for name, meta in self.spec.get("inputs", {}).items()}

    def _evaluate(self, expression: str, context: Mapping[str, Any]) -> str:
        """The few expression forms the action uses; anything else is a test failure to look at."""
        expression = expression.strip()
        parts = expression.split(".")
        if parts[0] == "inputs" and len(parts) == 2:
            return str(context["inputs"].get(parts[1], ""))
        if parts[0] == "steps" and len(parts) == 4 and parts[2] == "outputs":
            return str(context["steps"].get(parts[1], {}).get(parts[3], ""))
        if expression == "github.action_path":
            return str(self.action_dir)
        if expression == "runner.temp":
            return str(context["runner_temp"])
        if expression == "runner.os":
            return "Linux"
        if parts[0] == "env" and len(parts) == 2:
            return str(context["env"].get(parts[1], ""))
        raise AssertionError(f"expression the test runner does not know: ${{{{ {expression} }}}}")

    def _substitute(self, text: str, context: Mapping[str, Any]) -> str:
        return _EXPR.sub(lambda m: self._evaluate(m.group(1), context), text)

    def _condition(self, condition: str | None, context: Mapping[str, Any]) -> bool:
        if condition is None:
            return True
        text = condition.strip()
        if text.startswith("${{") and text.endswith("}}"):
            text = text[3:-2].strip()
        match = re.fullmatch(r"(inputs\.[\w-]+|steps\.[\w-]+\.outputs\.[\w-]+)\s*(==|!=)\s*'([^']*)'", text)
        if not match:
            raise AssertionError(f"if: the test runner does not know: {condition}")
        left = self._evaluate(match.group(1), context)
        return (left == match.group(3)) == (match.group(2) == "==")

    def run(
        self,
        inputs: Mapping[str, str],
        *,
        workdir: Path,
        runner_temp: Path,
        base_env: Mapping[str, str],
        only_steps: set[str] | None = None,
        step_outputs: Mapping[str, Mapping[str, str]] | None = None,
        timeout: float = 900,
    ) -> ActionRun:
        """Run the action's steps in order (stopping at the first failure, as the runner does).

        ``only_steps`` runs just those step ids; ``step_outputs`` gives the outputs of steps that
        are not run (e.g. the install step's, once cipub is installed)."""
        context: dict[str, Any] = {
            "inputs": {**self.input_defaults(), **inputs},
            "steps": {k: dict(v) for k, v in (step_outputs or {}).items()},
            "runner_temp": runner_temp,
            "env": dict(base_env),
        }
        summary_file = runner_temp / f"step_summary_{uuid.uuid4().hex}"
        summary_file.touch()
        results: list[StepResult] = []
        for index, step in enumerate(self.spec["runs"]["steps"]):
            step_id = step.get("id")
            name = step.get("name", step_id or f"step {index}")
            if only_steps is not None and step_id not in only_steps:
                continue
            assert "run" in step, f"step {name!r}: the test runner only runs `run:` steps"
            assert step.get("shell") == "bash", f"step {name!r}: expected shell: bash"
            if not self._condition(step.get("if"), context):
                results.append(StepResult(step_id, name, 0, "", "", skipped=True))
                continue
            output_file = runner_temp / f"output_{uuid.uuid4().hex}"
            output_file.touch()
            env = {
                **base_env,
                "GITHUB_ACTIONS": "true",
                "CI": "true",
                "GITHUB_ACTION_PATH": str(self.action_dir),
                "GITHUB_OUTPUT": str(output_file),
                "GITHUB_STEP_SUMMARY": str(summary_file),
                "RUNNER_TEMP": str(runner_temp),
                "RUNNER_OS": "Linux",
            }
            for key, value in (step.get("env") or {}).items():
                env[key] = self._substitute(str(value), context)
            # The runner never interpolates into the script in this action (the tests check that),
            # but do what it would, so a violation shows up as behaviour too.
            script = self._substitute(step["run"], context)
            script_file = runner_temp / f"{uuid.uuid4()}.sh"
            script_file.write_text(script, encoding="utf-8")
            proc = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script_file)],
                cwd=workdir,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
            outputs = parse_output_file(output_file.read_text(encoding="utf-8"))
            results.append(StepResult(step_id, name, proc.returncode, proc.stdout, proc.stderr, outputs))
            if step_id:
                context["steps"][step_id] = outputs
            if proc.returncode != 0:
                break
        action_outputs = {
            name: self._substitute(str(meta.get("value", "")), context)
            for name, meta in self.spec.get("outputs", {}).items()
        }
        return ActionRun(results, action_outputs, summary_file.read_text(encoding="utf-8"))


def runner_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A clean environment like a runner's: PATH and HOME, no CIPUB_* leaking in from outside."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PIP_CONFIG_FILE")}
    env.update(extra or {})
    return env
