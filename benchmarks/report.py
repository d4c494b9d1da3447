"""Turn measured scenarios into the console summary and ``docs/benchmarks.md``."""

from __future__ import annotations

from typing import Any

from benchmarks import notes


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if value < 100 else f"{value:.1f}"
    return str(value)


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _rows_table(rows: list[dict[str, Any]]) -> str:
    extra_keys: list[str] = []
    for row in rows:
        for key in row:
            if key not in ("case", "tool", "median_s", "runs_s") and key not in extra_keys:
                extra_keys.append(key)
    header = ["case", "tool", "median (s)", "runs (s)", *extra_keys]
    body = [
        [
            r["case"],
            r["tool"],
            r["median_s"],
            ", ".join(f"{s:.3f}" for s in r["runs_s"]),
            *[r.get(k, "") for k in extra_keys],
        ]
        for r in rows
    ]
    return _table(header, body)


def _verdict(ratio: dict[str, Any]) -> str:
    if ratio.get("met") is None:
        return "(no goal)"
    return "met" if ratio["met"] else "**missed**"


def console(result: dict[str, Any]) -> str:
    if "error" in result:
        return f"[{result['id']}] NOT MEASURED: {result['error']}"
    lines = [f"[{result['id']}] {result['title']} ({result.get('seconds')} s)"]
    for r in result.get("rows", []):
        lines.append(f"    {r['case']:<40} {r['tool']:<34} {r['median_s']:>9.3f} s")
    for q in result.get("ratios", []):
        goal = f" goal {q['goal']} {_verdict(q)}" if q.get("goal") else ""
        lines.append(f"    ratio {q['what']}: {q['value']}{goal}")
    return "\n".join(lines)


def _load_note(doc: dict[str, Any]) -> str:
    """The machine's load during the run, stated (a shared machine slows both sides of a ratio, not
    always alike), and the commit measured."""
    m = doc["machine"]
    start, end = (m.get("load_average") or [None, None])[:2]
    if start is None:
        return ""
    during = ", ".join(
        f"{r['id']} {r['load'][0]}" for r in doc["scenarios"] if r.get("load") and r["load"][0] is not None
    )
    commit = f" Commit measured: `{m['commit']}`." if m.get("commit") else ""
    return (
        f"**Machine load.** 1-minute load average {start} at the start and {end} at the end, on "
        f"{m['cpus']} CPUs; at the start of each scenario: {during}.{commit}\n"
    )


def markdown(doc: dict[str, Any]) -> str:
    m = doc["machine"]
    out = [
        "# Benchmarks: cipub and the peer tools, measured side by side\n",
        f"Produced by `{doc['command']}` ({doc['mode']} mode) on {doc['generated']}, in {doc['duration_s']} s, "
        f"on {m['cpus']} CPUs ({m['cpu_model']}), Python {m['python']}, {m['platform']}. "
        "Regenerate with `python -m benchmarks` (full) or `python -m benchmarks --quick` (smaller sizes, "
        "fewer runs; what CI runs). Every figure below was measured in that run; every server is on "
        "127.0.0.1; each tool runs as a fresh process, as a user runs it. Medians of the runs listed; "
        "every run is listed too, so the spread shows (the machine may run other work at the same time; "
        "B4, B6 and B7 interleave the tools' runs so that such noise hits them alike).\n",
        _load_note(doc),
        "## Goals\n",
    ]
    goal_rows = []
    for result in doc["scenarios"]:
        for q in result.get("ratios", []):
            if q.get("goal"):
                goal_rows.append([result["id"], q["what"], q["value"], q["goal"], _verdict(q)])
        if "error" in result:
            goal_rows.append([result["id"], "not measured", "", "", result["error"][:120]])
    out.append(_table(["scenario", "ratio", "measured", "goal", ""], goal_rows) + "\n")
    for result in doc["scenarios"]:
        out.append(f"## {result['id']}: {result.get('title', '')}\n")
        if "error" in result:
            out.append(f"Not measured in this run: `{result['error']}`.\n")
            out.append(notes.NOTES.get(result["id"], ""))
            continue
        if result.get("setup"):
            out.append(result["setup"] + "\n")
        if result.get("rows"):
            out.append(_rows_table(result["rows"]) + "\n")
        if result.get("ratios"):
            out.append(
                _table(
                    ["ratio", "value", "goal", ""],
                    [[q["what"], q["value"], q.get("goal") or "", _verdict(q)] for q in result["ratios"]],
                )
                + "\n"
            )
        if result.get("profile"):
            out.append("Profile, taken in the same run:\n")
            out.append("```\n" + "\n".join(result["profile"]) + "\n```\n")
        for line in result.get("findings", []):
            out.append(f"- {line}")
        if result.get("findings"):
            out.append("")
        out.append(notes.NOTES.get(result["id"], ""))
    return "\n".join(out).rstrip() + "\n"
