"""What a command tells CI about its work: the outputs it publishes and the GitHub step summary.

* :func:`report_manifest` -- after ``build``/``upload``/``promote``: the build numbers, the files
  (with sha256), the label and each file's state, as outputs (:func:`manifest_outputs`) and as a
  Markdown table (:func:`manifest_summary`).
* :func:`report_plan` -- after ``cipub plan``: the GitHub ``strategy.matrix`` JSON (rendered by
  :mod:`cipub.ci.matrix`), the cell ids and build numbers, and a table of the cells.
* :func:`report_summary` and the Markdown helpers (:func:`md_cell`, :func:`markdown_table`) for
  commands with a report of their own (``cipub ci verify``).
* :func:`report_failure` -- a command that fails (exit 2..10) says why in the step summary too: the
  job's page is where a reviewer looks, not the raw log.

Where the values go (``$GITHUB_OUTPUT``, the GitLab dotenv) is :mod:`cipub.ci.provider`'s business;
outside CI every function here does nothing. Summaries and outputs are scrubbed of secrets.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cipub.ci.provider import detect, report_outputs
from cipub.core.decisions import BuildNumberDecision
from cipub.core.manifest import ArtifactEntry, Manifest, PromotionReceipt, UploadReceipt
from cipub.core.secrets import scrub

if TYPE_CHECKING:  # pragma: no cover
    from cipub.policy.plan import Plan

log = logging.getLogger(__name__)

#: GitHub caps a step summary at 1 MiB; a matrix of hundreds of files stays far below with this
SUMMARY_MAX_ROWS = 300


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
            fh.write(scrub(markdown) + "\n")
    except OSError as exc:  # the summary is a courtesy; the outputs are what later jobs need
        log.warning("cannot write the step summary %s: %s", path, exc.strerror)


def _fenced(lines: Sequence[str]) -> str:
    """``lines`` as a Markdown code block that no line of theirs can close (a longer fence)."""
    longest = max((len(run) for line in lines for run in re.findall(r"`+", line)), default=0)
    fence = "`" * max(3, longest + 1)
    return "\n".join([fence + "text", *lines, fence])


def failure_summary(kind: str, exit_code: int, message: str, hint: str | None, details: Sequence[str] = ()) -> str:
    """The step summary of a failed command: what failed (the error's kind and exit code), the
    message (for a conflict: the files), the hint, and the detail lines (a failed build's log tail)."""
    parts = [f"### cipub failed: {md_cell(kind)} (exit {exit_code})", "", f"> {md_cell(message)}", ""]
    if hint:
        parts += [f"Hint: {md_cell(hint)}", ""]
    if details:
        parts += [_fenced(list(details)), ""]
    return "\n".join(parts)


def report_failure(kind: str, exit_code: int, message: str, hint: str | None, details: Sequence[str] = ()) -> None:
    """Append :func:`failure_summary` to the GitHub step summary; no-op elsewhere (GitLab has no
    summary: its job log ends with the same lines)."""
    report_summary(failure_summary(kind, exit_code, message, hint, details))


# -- manifests ---------------------------------------------------------------------------------------


def _latest(receipts: Iterable[UploadReceipt | PromotionReceipt]) -> dict[str, Any]:
    latest: dict[str, Any] = {}
    for r in receipts:  # receipts accumulate across runs; the last one per file is this run's
        latest[f"{r.subdir}/{r.filename}"] = r
    return latest


def _build_numbers(manifest: Manifest) -> dict[str, int]:
    numbers = _highest(manifest.build_numbers)
    for a in manifest.artifacts:
        numbers.setdefault(f"{a.name}-{a.version}", a.build_number)
    return numbers


def _highest(decisions: Iterable[BuildNumberDecision]) -> dict[str, int]:
    """Per ``name-version``, the highest number chosen (variants may have numbers of their own)."""
    numbers: dict[str, int] = {}
    for d in decisions:
        key = f"{d.name}-{d.version}"
        numbers[key] = max(numbers.get(key, d.chosen), d.chosen)
    return numbers


def _single(numbers: Mapping[str, int], others: Iterable[int] = ()) -> str:
    """The one build number of everything, or empty when there are several (variants' own ones too)."""
    distinct = set(numbers.values()) | set(others)
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
            "job": a.job,
        }
        for a in entries
    ]


def manifest_outputs(
    command: str, manifest: Manifest, extra_outputs: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The outputs a command publishes (same names on every provider)."""
    numbers = _build_numbers(manifest)
    every = [d.chosen for d in manifest.build_numbers] + [a.build_number for a in manifest.artifacts]
    outputs: dict[str, Any] = {
        "command": command,
        "build-number": _single(numbers, every),
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
    return _with_numbers_and_notes(parts, manifest.build_numbers, manifest.notes)


def report_manifest(command: str, manifest: Manifest, extra_outputs: Mapping[str, str] | None = None) -> None:
    """Publish a command's results to the CI provider (outputs, summary). No-op outside CI."""
    if detect() is None:
        return
    report_outputs(manifest_outputs(command, manifest, extra_outputs))
    report_summary(manifest_summary(command, manifest))


# -- plans -------------------------------------------------------------------------------------------


def plan_outputs(plan: Plan, plan_path: str | None = None) -> dict[str, Any]:
    from cipub.ci.matrix import render_github_matrix  # only plans have a matrix: uploads do not pay for it

    numbers = _highest(plan.build_numbers)
    outputs: dict[str, Any] = {
        "command": "plan",
        "matrix": render_github_matrix(plan).strip(),
        "ids": plan.ids,
        "cells": len(plan.cells),
        "build-number": _single(numbers, [d.chosen for d in plan.build_numbers]),
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
    return _with_numbers_and_notes(parts, plan.build_numbers, plan.notes)


def _with_numbers_and_notes(parts: list[str], numbers: Sequence[BuildNumberDecision], notes: Iterable[str]) -> str:
    """A summary's ``parts``, then its build-number decisions and notes, as one markdown text."""
    if numbers:
        parts.append(
            "Build numbers: "
            + "; ".join(md_cell(f"{d.name} {d.version} → {d.chosen} ({d.reason})") for d in numbers)
            + "\n"
        )
    for note in notes:
        parts.append(f"> {md_cell(note)}\n")
    return "\n".join(parts)


def report_plan(plan: Plan, plan_path: str | None = None) -> None:
    """Publish a plan: the GitHub ``strategy.matrix`` JSON, cell ids, build numbers, a summary."""
    if detect() is None:
        return
    report_outputs(plan_outputs(plan, plan_path))
    report_summary(plan_summary(plan))


# -- status, yank, prune (after promotion) ------------------------------------------------------------


def report_status(doc: Mapping[str, Any]) -> None:
    """``cipub status``: outputs ``status`` (files per status, JSON) and ``staged-files`` (the
    files staged but not promoted, JSON list); a summary table. No-op outside CI."""
    if detect() is None:
        return
    files = list(doc.get("files", []))
    staged = [f"{f['subdir']}/{f['filename']}" for f in files if f["status"] == "staged"]
    report_outputs({"command": "status", "status": dict(doc.get("summary", {})), "staged-files": staged})
    rows = [
        [md_code(f["filename"]), md_cell(f["subdir"]), md_cell(f["status"]), md_cell(", ".join(f["labels"]) or "—")]
        for f in files
    ]
    title = f"### cipub status: {len(files)} file(s) on {md_code(doc.get('target', ''))}"
    report_summary("\n".join([title, "", markdown_table(["File", "Subdir", "Status", "Labels"], rows)]))


def report_label_actions(command: str, actions: Sequence[Any], target: str) -> None:
    """``cipub yank`` / ``cipub prune``: output ``states`` (JSON counts) and ``files``; a summary
    table. ``actions`` are :class:`cipub.core.ledger.LabelAction`. No-op outside CI."""
    if detect() is None:
        return
    report_outputs({"command": command, "states": _count(a.state for a in actions), "files": [a.key for a in actions]})
    rows = [[md_code(a.filename), md_cell(a.subdir), md_cell(a.label), md_cell(a.state)] for a in actions]
    title = f"### cipub {md_cell(command)}: {len(actions)} file(s) on {md_code(target)}"
    report_summary("\n".join([title, "", markdown_table(["File", "Subdir", "Label", "State"], rows)]))
