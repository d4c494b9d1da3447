"""CI integration: publish what a command did to the CI provider it runs under.

cipub detects the provider from the environment and writes, so the CI templates stay thin:

* **GitHub Actions** (``GITHUB_ACTIONS=true``): step outputs to ``$GITHUB_OUTPUT`` (``name<<DELIM``
  syntax, safe for any value), a Markdown table of what was built / uploaded / promoted to
  ``$GITHUB_STEP_SUMMARY``, and ``::add-mask::`` for every secret cipub reads (on stderr, which the
  runner scans for commands like stdout, so ``--json`` output on stdout stays clean).
* **GitLab CI** (``GITLAB_CI=true``): the same outputs as a dotenv file (``$CIPUB_DOTENV``, default
  ``cipub.env``) for ``artifacts: reports: dotenv:``. GitLab's rules apply: one ``KEY=value`` per
  line, no quotes, no blank lines, at most 5 KB -- large values are shortened, never the file broken.
  GitLab masks secrets through masked CI/CD variables; there is no runtime command for it.

``cipub ci gitlab-pipeline`` renders the GitLab child pipeline of a plan (see the last section).

Outside CI every reporting function here does nothing. Output names are the same everywhere: GitHub uses them
as written (``build-number``), GitLab as ``CIPUBCI_BUILD_NUMBER`` (not ``CIPUB_*``: those are
settings, and downstream jobs receive dotenv values as environment variables).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import shlex
import sys
import uuid
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml

from cipub.core.errors import UsageError
from cipub.core.manifest import ArtifactEntry, Manifest, PromotionReceipt, UploadReceipt

if TYPE_CHECKING:  # pragma: no cover
    from cipub.policy.plan import Plan

log = logging.getLogger(__name__)

Provider = Literal["github", "gitlab"]

#: prefix of GitLab dotenv output variables (``CIPUB_*`` names are settings and would be rejected)
DOTENV_PREFIX = "CIPUBCI_"
DEFAULT_DOTENV = "cipub.env"
#: GitLab refuses a dotenv report larger than this (bytes), or with more variables than 20
DOTENV_MAX_BYTES = 5 * 1024
DOTENV_MAX_VARIABLES = 20
#: GitHub caps a step summary at 1 MiB; a matrix of hundreds of files stays far below with this
SUMMARY_MAX_ROWS = 300

_OUTPUT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_DOTENV_LINE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


def detect(environ: Mapping[str, str] | None = None) -> Provider | None:
    """The CI provider this process runs under, or None (laptop, other CI)."""
    env = os.environ if environ is None else environ
    if env.get("GITHUB_ACTIONS") == "true":
        return "github"
    if env.get("GITLAB_CI") == "true":
        return "gitlab"
    return None


# -- masking -----------------------------------------------------------------------------------------


def _escape_command_data(text: str) -> str:
    # The runner unescapes %25, %0D, %0A in command data; escape so the mask is the exact value.
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def mask(value: str, *, environ: Mapping[str, str] | None = None) -> None:
    """Ask the CI provider to hide ``value`` in logs. No-op outside GitHub Actions.

    Each line is masked on its own too: the runner matches masks per log line.
    """
    if not value or detect(environ) != "github":
        return
    parts = [value] + [line for line in value.splitlines() if line.strip() and line != value]
    for part in parts:
        sys.stderr.write(f"::add-mask::{_escape_command_data(part)}\n")
    sys.stderr.flush()


# -- generic outputs ---------------------------------------------------------------------------------


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, separators=(",", ":"), sort_keys=False)


def _scrubbed(text: str) -> str:
    from cipub.core.secrets import scrub

    return scrub(text)


def _check_names(outputs: Mapping[str, Any]) -> None:
    for name in outputs:
        if not _OUTPUT_NAME.match(name):
            raise ValueError(f"invalid CI output name {name!r}")  # a programming error, not user input


def report_outputs(outputs: Mapping[str, Any], *, environ: Mapping[str, str] | None = None) -> None:
    """Publish ``outputs`` (name -> str, int, bool, or JSON-able value) to the CI provider.

    GitHub: step outputs; GitLab: the dotenv file. Values never carry a secret (they are scrubbed).
    """
    provider = detect(environ)
    if provider is None or not outputs:
        return
    _check_names(outputs)
    env = os.environ if environ is None else environ
    texts = {name: _scrubbed(_as_text(value)) for name, value in outputs.items()}
    if provider == "github":
        _write_github_outputs(texts, env)
    else:
        _write_dotenv(texts, env)


def _write_github_outputs(texts: Mapping[str, str], env: Mapping[str, str]) -> None:
    path = env.get("GITHUB_OUTPUT")
    if not path:
        log.warning("GITHUB_OUTPUT is not set: step outputs not written")
        return
    chunks = []
    for name, text in texts.items():
        # A fresh random delimiter per value: no value can end the heredoc early.
        delimiter = f"ghadelimiter_{uuid.uuid4()}"
        while delimiter in text:  # pragma: no cover - a uuid4 collision
            delimiter = f"ghadelimiter_{uuid.uuid4()}"
        chunks.append(f"{name}<<{delimiter}\n{text}\n{delimiter}\n")
    _append(Path(path), "".join(chunks), "GitHub output file (GITHUB_OUTPUT)")


def _append(path: Path, text: str, what: str) -> None:
    try:
        with path.open("a", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
    except OSError as exc:
        raise UsageError(f"cannot write the {what} {path}: {exc.strerror}") from exc


def dotenv_name(name: str) -> str:
    """``build-number`` -> ``CIPUBCI_BUILD_NUMBER``."""
    return DOTENV_PREFIX + name.upper().replace("-", "_")


def dotenv_path(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    return Path(env.get("CIPUB_DOTENV") or DEFAULT_DOTENV)


def read_dotenv(path: Path) -> dict[str, str]:
    """The variables of a dotenv file as GitLab reads it (``KEY=value`` lines, nothing else)."""
    values: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return values
    for line in text.splitlines():
        match = _DOTENV_LINE.match(line)
        if match:
            values[match.group(1)] = match.group(2)
    return values


def _dotenv_value(name: str, text: str) -> str:
    # GitLab keeps quotes as they are and refuses multi-line values: JSON-encode what needs it.
    if "\n" in text or "\r" in text:
        return json.dumps(text)
    return text


def _shorten_for_dotenv(name: str, text: str) -> str | None:
    """A smaller form of a large value, or None to leave it out (the manifest has everything)."""
    if name == "artifacts":
        try:
            entries = json.loads(text)
            keys = [f"{e['subdir']}/{e['filename']}" for e in entries]
        except (ValueError, KeyError, TypeError):
            return None
        return json.dumps(keys, separators=(",", ":"))
    return None


def _write_dotenv(texts: Mapping[str, str], env: Mapping[str, str]) -> None:
    path = dotenv_path(env)
    values = read_dotenv(path)  # several cipub commands in one job add to the same report
    for name, text in texts.items():
        values[dotenv_name(name)] = _dotenv_value(name, text)

    def size() -> int:
        return sum(len(f"{k}={v}\n".encode()) for k, v in values.items())

    # Keep under GitLab's limits: shorten, then drop, the largest of our own values.
    while size() > DOTENV_MAX_BYTES - 256 or len(values) > DOTENV_MAX_VARIABLES:
        ours = [k for k in values if k.startswith(DOTENV_PREFIX)]
        if not ours:
            break
        largest = max(ours, key=lambda k: len(values[k]))
        name = largest[len(DOTENV_PREFIX) :].lower().replace("_", "-")
        shorter = _shorten_for_dotenv(name, values[largest])
        if shorter is not None and len(shorter) < len(values[largest]):
            values[largest] = shorter
            continue
        log.warning("dotenv report: leaving out %s (too large for GitLab's 5 KB limit)", largest)
        del values[largest]
    body = "".join(f"{k}={v}\n" for k, v in values.items())
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(body, encoding="utf-8", newline="\n")
        tmp.replace(path)
    except OSError as exc:
        raise UsageError(f"cannot write the dotenv report {path}: {exc.strerror}") from exc


# -- step summary ------------------------------------------------------------------------------------


def md_cell(value: object) -> str:
    """Text safe inside a Markdown table cell (no column breaks, no HTML)."""
    text = str(value).replace("\r", " ").replace("\n", " ")
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("|", "\\|")


def md_code(value: object) -> str:
    text = md_cell(value)
    return f"`{text}`" if "`" not in text else text


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    rows = list(rows)
    lines = ["| " + " | ".join(md_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    for row in rows[:SUMMARY_MAX_ROWS]:
        lines.append("| " + " | ".join(str(c) for c in row) + " |")
    if len(rows) > SUMMARY_MAX_ROWS:
        lines.append(f"\n... and {len(rows) - SUMMARY_MAX_ROWS} more (see the manifest)")
    return "\n".join(lines) + "\n"


def report_summary(markdown: str, *, environ: Mapping[str, str] | None = None) -> None:
    """Append Markdown to the GitHub step summary. No-op elsewhere; a write failure only warns."""
    env = os.environ if environ is None else environ
    if detect(env) != "github":
        return
    path = env.get("GITHUB_STEP_SUMMARY")
    if not path:
        return
    try:
        with Path(path).open("a", encoding="utf-8", newline="\n") as fh:
            fh.write(_scrubbed(markdown) + "\n")
    except OSError as exc:  # the summary is a courtesy; the outputs are what later jobs need
        log.warning("cannot write the step summary %s: %s", path, exc.strerror)


# -- manifests ---------------------------------------------------------------------------------------


def _latest(receipts: Iterable[UploadReceipt | PromotionReceipt]) -> dict[str, Any]:
    latest: dict[str, Any] = {}
    for r in receipts:  # receipts accumulate across runs; the last one per file is this run's
        latest[f"{r.subdir}/{r.filename}"] = r
    return latest


def _build_numbers(manifest: Manifest) -> dict[str, int]:
    numbers = {f"{d.name}-{d.version}": d.chosen for d in manifest.build_numbers}
    for a in manifest.artifacts:
        numbers.setdefault(f"{a.name}-{a.version}", a.build_number)
    return numbers


def _single(numbers: Mapping[str, int]) -> str:
    distinct = set(numbers.values())
    return str(distinct.pop()) if len(distinct) == 1 else ""


def artifact_outputs(entries: Sequence[ArtifactEntry]) -> list[dict[str, Any]]:
    return [
        {
            "filename": a.filename,
            "subdir": a.subdir,
            "name": a.name,
            "version": a.version,
            "build": a.build,
            "build_number": a.build_number,
            "sha256": a.sha256,
            "size": a.size,
            "path": a.path,
            "variant_id": a.variant_id,
        }
        for a in entries
    ]


def manifest_outputs(
    command: str, manifest: Manifest, extra_outputs: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The outputs a command publishes (same names on every provider)."""
    numbers = _build_numbers(manifest)
    outputs: dict[str, Any] = {
        "command": command,
        "build-number": _single(numbers),
        "build-numbers": numbers,
        "artifacts": artifact_outputs(manifest.artifacts),
    }
    keys = {a.key for a in manifest.artifacts}
    if command in ("build", "upload"):
        uploads = [r for k, r in _latest(manifest.uploads).items() if k in keys]
        if uploads:
            outputs["label"] = uploads[-1].label
            outputs["states"] = _count(r.state for r in uploads)
    if command == "promote":
        promotions = [r for k, r in _latest(manifest.promotions).items() if k in keys]
        if promotions:
            outputs["from-label"] = promotions[-1].from_label
            outputs["to-label"] = promotions[-1].to_label
            outputs["states"] = _count(r.state for r in promotions)
    outputs.update(extra_outputs or {})
    return outputs


def _count(states: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for s in states:
        counts[s] = counts.get(s, 0) + 1
    return counts


def manifest_summary(command: str, manifest: Manifest) -> str:
    """The Markdown summary: one row per file with its label and what happened to it."""
    uploads = _latest(manifest.uploads)
    promotions = _latest(manifest.promotions)
    rows = []
    targets: set[str] = set()
    for a in manifest.artifacts:
        label, state = "—", "built"
        if command == "promote" and a.key in promotions:
            p = promotions[a.key]
            label, state = f"{p.from_label} → {p.to_label}", p.state
            targets.add(p.target)
        elif a.key in uploads:
            u = uploads[a.key]
            label, state = u.label, u.state
            targets.add(u.target)
        rows.append([md_code(a.filename), md_cell(a.subdir), md_code(a.sha256[:12]), md_cell(label), md_cell(state)])
    verb = {"build": "built", "upload": "uploaded", "promote": "promoted"}.get(command, command)
    title = f"### cipub {md_cell(command)}: {len(manifest.artifacts)} file(s) {verb}"
    if targets:
        title += " on " + ", ".join(md_code(t) for t in sorted(targets))
    parts = [title, "", markdown_table(["File", "Subdir", "sha256", "Label", "State"], rows)]
    if manifest.build_numbers:
        parts.append(
            "Build numbers: "
            + "; ".join(md_cell(f"{d.name} {d.version} → {d.chosen} ({d.reason})") for d in manifest.build_numbers)
            + "\n"
        )
    for note in manifest.notes:
        parts.append(f"> {md_cell(note)}\n")
    return "\n".join(parts)


def report_manifest(command: str, manifest: Manifest, extra_outputs: Mapping[str, str] | None = None) -> None:
    """Publish a command's results to the CI provider (outputs, summary). No-op outside CI."""
    if detect() is None:
        return
    report_outputs(manifest_outputs(command, manifest, extra_outputs))
    report_summary(manifest_summary(command, manifest))


# -- plans -------------------------------------------------------------------------------------------


def plan_outputs(plan: Plan, plan_path: str | None = None) -> dict[str, Any]:
    from cipub.policy.plan import render_github

    numbers = {f"{d.name}-{d.version}": d.chosen for d in plan.build_numbers}
    outputs: dict[str, Any] = {
        "command": "plan",
        "matrix": render_github(plan).strip(),
        "ids": plan.ids,
        "cells": len(plan.cells),
        "build-number": _single(numbers),
        "build-numbers": numbers,
    }
    if plan_path is not None:
        outputs["plan"] = plan_path
    return outputs


def plan_summary(plan: Plan) -> str:
    rows = [
        [
            md_code(c.id),
            md_cell(c.platform),
            md_cell(c.noarch or "—"),
            md_cell(c.runner or "—"),
            md_cell(" ".join(f"{k}={v}" for k, v in sorted(c.variant.items())) or "—"),
        ]
        for c in plan.cells
    ]
    parts = [
        f"### cipub plan: {len(plan.cells)} cell(s) for {md_code(plan.recipe)}",
        "",
        markdown_table(["Cell", "Platform", "noarch", "Runner", "Variant"], rows),
    ]
    if plan.build_numbers:
        parts.append(
            "Build numbers: "
            + "; ".join(md_cell(f"{d.name} {d.version} → {d.chosen} ({d.reason})") for d in plan.build_numbers)
            + "\n"
        )
    for note in plan.notes:
        parts.append(f"> {md_cell(note)}\n")
    return "\n".join(parts)


def report_plan(plan: Plan, plan_path: str | None = None) -> None:
    """Publish a plan: the GitHub ``strategy.matrix`` JSON, cell ids, build numbers, a summary."""
    if detect() is None:
        return
    report_outputs(plan_outputs(plan, plan_path))
    report_summary(plan_summary(plan))


# -- GitLab child pipeline ---------------------------------------------------------------------------
#
# The include (``cipub/templates/gitlab/cipub.yml``, shipped as ``gitlab-ci/cipub.yml``) runs
# ``cipub plan``, then ``cipub ci gitlab-pipeline``, which writes the pipeline below with
# ``yaml.safe_dump`` (plan values are data in it, never script text). GitLab runs it as a child
# pipeline (``trigger: include: artifact:``) with the include's variables forwarded. A child
# pipeline because the matrix is known only after planning; publish, verify and promote live in it
# too, because a parent pipeline cannot read its child's artifacts.

PROMOTE_WHEN = ("manual", "on_success", "never")
VERIFY_MODES = ("install", "isolated", "files")
#: GitLab refuses a parallel:matrix of more jobs than this
GITLAB_MAX_MATRIX = 200
CHILD_PLAN_FILE = "cipub-plan.json"


def gitlab_include_text() -> str:
    """The shipped include / component (also what ``cipub ci init gitlab`` vendors)."""
    return resources.files("cipub").joinpath("templates/gitlab/cipub.yml").read_text(encoding="utf-8")


def gitlab_install_script() -> list[str]:
    """The include's ``before_script`` (install cipub), so child jobs install it the same way."""
    documents = list(yaml.safe_load_all(gitlab_include_text()))
    before = documents[1][".cipub"]["before_script"]
    return [str(line) for line in before]


def parse_runner_tags(text: str) -> dict[str, str]:
    """``linux-64=docker,osx-arm64=mac`` -> {platform: tag}."""
    tags: dict[str, str] = {}
    for raw in text.replace("\n", ",").split(","):
        item = raw.strip()
        if not item:
            continue
        platform, sep, tag = item.partition("=")
        if not sep or not platform.strip() or not tag.strip():
            raise UsageError(f"runner tags: {item!r} is not PLATFORM=TAG", hint="e.g. linux-64=docker,osx-arm64=mac")
        tags[platform.strip()] = tag.strip()
    return tags


def _manifests(plan: Plan) -> str:
    return " ".join(f"--manifest={shlex.quote(f'dist/{cell.id}/cipub-manifest.json')}" for cell in plan.cells)


def _matrix(plan: Plan, tags: Mapping[str, str]) -> list[dict[str, Any]]:
    if not tags:
        return [{"CIPUBCI_CELL": [cell.id for cell in plan.cells]}]
    by_platform: dict[str, list[str]] = {}
    for cell in plan.cells:
        by_platform.setdefault(cell.platform, []).append(cell.id)
    missing = sorted(p for p in by_platform if p not in tags)
    if missing:
        raise UsageError(
            f"runner tags: no tag for platform {', '.join(missing)}",
            hint="give a tag for every platform of the plan, or none to run on any runner",
        )
    return [{"CIPUBCI_CELL": ids, "CIPUBCI_RUNNER_TAG": tags[p]} for p, ids in by_platform.items()]


def gitlab_child_pipeline(
    plan: Plan,
    *,
    promote_when: str = "manual",
    environment: str = "conda-main",
    verify: str = "install",
    runner_tags: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    if promote_when not in PROMOTE_WHEN:
        raise UsageError(f"promote-when {promote_when!r}: choose one of {', '.join(PROMOTE_WHEN)}")
    if verify not in VERIFY_MODES:
        raise UsageError(f"verify {verify!r}: choose one of {', '.join(VERIFY_MODES)}")
    if not plan.cells:
        raise UsageError(f"the plan for {plan.recipe} has no cells: nothing to build")
    if len(plan.cells) > GITLAB_MAX_MATRIX:
        raise UsageError(
            f"the plan has {len(plan.cells)} cells; a GitLab parallel:matrix takes at most {GITLAB_MAX_MATRIX}",
            hint="plan each platform in its own pipeline (inputs: platforms)",
        )
    tags = dict(runner_tags or {})
    manifests = _manifests(plan)
    build_job: dict[str, Any] = {
        "extends": ".cipub",
        "stage": "build",
        "parallel": {"matrix": _matrix(plan, tags)},
        "script": [
            # The plan travels inside this pipeline: every cell builds with the plan's numbers.
            f'printf %s "$CIPUBCI_PLAN_B64" | base64 -d > {CHILD_PLAN_FILE}',
            f'cipub build --plan {CHILD_PLAN_FILE} --only "$CIPUBCI_CELL" --no-upload --output-dir "dist/$CIPUBCI_CELL"'
            ' -- "$CIPUBCI_RECIPE"',
        ],
        "artifacts": {"paths": ["dist/"], "expire_in": "1 week"},
    }
    if tags:
        build_job["tags"] = ["$CIPUBCI_RUNNER_TAG"]
    manifest_artifacts = {
        "paths": ["dist/*/cipub-manifest.json", "dist/cipub-manifest.json"],
        "reports": {"dotenv": "cipub.env"},
        "expire_in": "1 month",
    }
    document: dict[str, Any] = {
        "stages": ["build", "publish", "verify", "promote"],
        "variables": {
            # The include passes its own CIPUBCI_RECIPE down (trigger variables win over these).
            "CIPUBCI_RECIPE": plan.recipe,
            "CIPUBCI_PLAN_B64": base64.b64encode(plan.to_json().encode("utf-8")).decode("ascii"),
        },
        ".cipub": {"before_script": gitlab_install_script()},
        "cipub-build": build_job,
        "cipub-publish": {
            "extends": ".cipub",
            "stage": "publish",
            "needs": ["cipub-build"],
            # One upload of every cell, never two publishes to the same channel at once.
            "resource_group": "cipub-publish",
            "script": [f"cipub upload {manifests}"],
            "artifacts": manifest_artifacts,
        },
        "cipub-verify": {
            "extends": ".cipub",
            "stage": "verify",
            "needs": ["cipub-publish"],
            "script": [f"cipub ci verify --mode={verify} {manifests}"],
        },
        "cipub-promote": {
            "extends": ".cipub",
            "stage": "promote",
            "needs": ["cipub-publish", "cipub-verify"],
            "when": promote_when,
            "environment": {"name": environment, "action": "start"},
            "resource_group": "cipub-promote",
            "script": [f"cipub promote {manifests}"],
            "artifacts": manifest_artifacts,
        },
    }
    return document


def render_gitlab_child_pipeline(plan: Plan, **options: Any) -> str:
    header = (
        f"# generated by `cipub ci gitlab-pipeline`: {len(plan.cells)} cell(s). GitLab runs it as a\n"
        "# child pipeline of the cipub include (gitlab-ci/cipub.yml).\n"
    )
    return header + yaml.safe_dump(gitlab_child_pipeline(plan, **options), sort_keys=False, width=1000)
