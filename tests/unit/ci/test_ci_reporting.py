"""cipub.ci.provider and cipub.ci.reports: provider detection, GitHub outputs / summary / masks, GitLab
dotenv; nothing outside CI."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from cipub.ci import provider, reports
from cipub.cli import main
from cipub.core.decisions import BuildNumberDecision
from cipub.core.errors import UsageError
from cipub.core.manifest import ArtifactEntry, Manifest, PromotionReceipt, UploadReceipt
from cipub.core.secrets import Secret, install_masker
from cipub.policy.plan import Plan, PlanCell
from tests.support.github_runner import masks_in, parse_output_file


def entry(name: str = "pkg", filename: str | None = None, subdir: str = "noarch", number: int = 3) -> ArtifactEntry:
    filename = filename or f"{name}-1.0-h0_{number}.conda"
    return ArtifactEntry(
        filename=filename,
        subdir=subdir,
        name=name,
        version="1.0",
        build=f"h0_{number}",
        build_number=number,
        noarch="generic",
        sha256="ab" * 32,
        size=1234,
        path=f"{subdir}/{filename}",
        variant={},
        variant_id=None,
    )


def uploaded_manifest() -> Manifest:
    a, b = entry("pkg"), entry("other", subdir="linux-64")
    m = Manifest(
        artifacts=[a, b],
        build_numbers=[BuildNumberDecision("pkg", "1.0", 0, 2, 3, "channel has 2", ".cipub/channel")],
    )
    m.uploads = [
        UploadReceipt(a.filename, a.subdir, a.sha256, "./chan", "test", "conflict"),  # an earlier run
        UploadReceipt(a.filename, a.subdir, a.sha256, "./chan", "test", "uploaded"),
        UploadReceipt(b.filename, b.subdir, b.sha256, "./chan", "test", "skipped-identical"),
    ]
    return m


@pytest.fixture
def github(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    files = {"output": tmp_path / "gh_output", "summary": tmp_path / "gh_summary"}
    for f in files.values():
        f.touch()
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_OUTPUT", str(files["output"]))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(files["summary"]))
    return files


@pytest.fixture
def gitlab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GITLAB_CI", "true")
    monkeypatch.chdir(tmp_path)
    return tmp_path / "cipub.env"


def test_detects_the_provider_from_the_environment() -> None:
    assert provider.detect({"GITHUB_ACTIONS": "true"}) == "github"
    assert provider.detect({"GITLAB_CI": "true"}) == "gitlab"
    assert provider.detect({"GITHUB_ACTIONS": "false", "CI": "true"}) is None
    assert provider.detect({}) is None


def test_outside_ci_nothing_is_written_or_printed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GITHUB_OUTPUT alone (e.g. left over in a shell) does not make this GitHub Actions.
    out = tmp_path / "out"
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    monkeypatch.chdir(tmp_path)
    reports.report_manifest("upload", uploaded_manifest(), {"manifest": "dist/m.json"})
    provider.report_outputs({"x": "1"})
    provider.mask("a-secret-value")
    assert not out.exists()
    assert not (tmp_path / "cipub.env").exists()
    assert capsys.readouterr() == ("", "")


def test_github_outputs_round_trip_through_the_runner_format(github: dict[str, Path]) -> None:
    tricky = "line one\nEOF\nghadelimiter_x\nname<<EOF\n"
    provider.report_outputs({"plain": "v", "multi": tricky, "number": 7, "flag": True, "data": {"a": [1, 2]}})
    values = parse_output_file(github["output"].read_text())
    assert values == {
        "plain": "v",
        "multi": tricky,
        "number": "7",
        "flag": "true",
        "data": '{"a":[1,2]}',
    }


def test_github_upload_outputs_and_summary(github: dict[str, Path]) -> None:
    reports.report_manifest("upload", uploaded_manifest(), {"manifest": "dist/cipub-manifest.json"})
    values = parse_output_file(github["output"].read_text())
    assert values["command"] == "upload"
    assert values["manifest"] == "dist/cipub-manifest.json"
    assert values["build-number"] == "3"
    assert json.loads(values["build-numbers"]) == {"pkg-1.0": 3, "other-1.0": 3}
    assert values["label"] == "test"
    assert json.loads(values["states"]) == {"uploaded": 1, "skipped-identical": 1}
    artifacts = json.loads(values["artifacts"])
    assert [(a["subdir"], a["filename"]) for a in artifacts] == [
        ("noarch", "pkg-1.0-h0_3.conda"),
        ("linux-64", "other-1.0-h0_3.conda"),
    ]
    assert artifacts[0]["sha256"] == "ab" * 32

    summary = github["summary"].read_text()
    assert "### cipub upload: 2 file(s) uploaded on `./chan`" in summary
    assert "| File | Subdir | sha256 | Label | State |" in summary
    assert "| `pkg-1.0-h0_3.conda` | noarch | `abababababab` | test | uploaded |" in summary
    assert "| `other-1.0-h0_3.conda` | linux-64 | `abababababab` | test | skipped-identical |" in summary
    assert "conflict" not in summary  # only the latest receipt per file counts
    assert "pkg 1.0 → 3 (channel has 2)" in summary


def test_github_promote_summary_shows_both_labels(github: dict[str, Path]) -> None:
    m = uploaded_manifest()
    m.promotions = [
        PromotionReceipt(a.filename, a.subdir, a.sha256, "./chan", "test", "main", "promoted") for a in m.artifacts
    ]
    reports.report_manifest("promote", m)
    values = parse_output_file(github["output"].read_text())
    assert (values["from-label"], values["to-label"]) == ("test", "main")
    assert json.loads(values["states"]) == {"promoted": 2}
    summary = github["summary"].read_text()
    assert "| `pkg-1.0-h0_3.conda` | noarch | `abababababab` | test → main | promoted |" in summary


def test_build_summary_without_uploads_says_built(github: dict[str, Path]) -> None:
    m = Manifest(artifacts=[entry()], notes=["could be noarch: python"])
    reports.report_manifest("build", m, {"manifest": "dist/cipub-manifest.json"})
    summary = github["summary"].read_text()
    assert "| `pkg-1.0-h0_3.conda` | noarch | `abababababab` | — | built |" in summary
    assert "> could be noarch: python" in summary
    assert "label" not in parse_output_file(github["output"].read_text())


def test_summary_cells_cannot_break_the_table_or_inject_html(github: dict[str, Path]) -> None:
    m = Manifest(artifacts=[entry()], notes=["<script>x</script> | `y`\nnext"])
    m.uploads = [UploadReceipt(m.artifacts[0].filename, "noarch", "ab" * 32, "s3://b|c", "te|st", "uploaded")]
    reports.report_manifest("upload", m)
    summary = github["summary"].read_text()
    assert "<script>" not in summary and "&lt;script&gt;" in summary
    row = next(line for line in summary.splitlines() if "pkg-1.0" in line)
    assert row.count(" | ") == 4  # five cells: the label's "|" is escaped
    assert "te\\|st" in row


def test_mask_is_a_workflow_command_on_stderr(github: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    provider.mask("s3cr%t\nsecond-line")
    out, err = capsys.readouterr()
    assert out == ""  # stdout may carry --json
    assert masks_in(err) == ["s3cr%25t%0Asecond-line", "s3cr%25t", "second-line"]


@pytest.fixture
def cli_masking() -> Iterator[None]:
    """Secrets masked as in a cipub process: the CLI's entry point installs the CI masker."""
    previous = install_masker(None)
    assert main(["--version"]) == 0
    yield
    install_masker(previous)


def test_reading_a_secret_masks_it_once(
    github: dict[str, Path], cli_masking: None, capsys: pytest.CaptureFixture[str]
) -> None:
    Secret("token-masked-on-read-1", "TEST_TOKEN")
    Secret("token-masked-on-read-1", "TEST_TOKEN")
    assert masks_in(capsys.readouterr().err) == ["token-masked-on-read-1"]


def test_outputs_never_carry_a_secret(github: dict[str, Path]) -> None:
    Secret("never-in-outputs-42", "TEST_TOKEN")
    provider.report_outputs({"target": "https://u:never-in-outputs-42@host/x"})
    assert "never-in-outputs-42" not in github["output"].read_text()


def test_unwritable_output_file_is_a_clear_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "missing-dir" / "out"))
    with pytest.raises(UsageError, match="GITHUB_OUTPUT"):
        provider.report_outputs({"a": "b"})


_GITLAB_LINE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=[^\n]*$")


def assert_gitlab_dotenv(path: Path) -> dict[str, str]:
    """GitLab's dotenv rules: KEY=value lines only, no blank lines or comments, < 5 KB, <= 20 vars."""
    data = path.read_bytes()
    assert len(data) < 5 * 1024
    lines = data.decode().split("\n")
    assert lines[-1] == ""
    assert all(_GITLAB_LINE.match(line) for line in lines[:-1]), lines
    assert len(lines) - 1 <= 20
    return dict(line.split("=", 1) for line in lines[:-1])


def test_gitlab_dotenv_report(gitlab: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gitlab.write_text("EXISTING=kept\n")
    reports.report_manifest("upload", uploaded_manifest(), {"manifest": "dist/cipub-manifest.json"})
    values = assert_gitlab_dotenv(gitlab)
    assert values["EXISTING"] == "kept"
    assert values["CIPUBCI_COMMAND"] == "upload"
    assert values["CIPUBCI_MANIFEST"] == "dist/cipub-manifest.json"
    assert values["CIPUBCI_BUILD_NUMBER"] == "3"
    assert values["CIPUBCI_LABEL"] == "test"
    assert len(json.loads(values["CIPUBCI_ARTIFACTS"])) == 2
    assert not any(k.startswith("CIPUB_") for k in values)  # those are settings in later jobs
    assert capsys.readouterr() == ("", "")  # no masks, no summary on GitLab


def test_gitlab_dotenv_path_from_cipub_dotenv(gitlab: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = gitlab.parent / "reports" / "out.env"
    monkeypatch.setenv("CIPUB_DOTENV", str(target))
    provider.report_outputs({"multi": "a\nb", "n": 1})
    values = assert_gitlab_dotenv(target)
    assert json.loads(values["CIPUBCI_MULTI"]) == "a\nb"
    assert values["CIPUBCI_N"] == "1"
    assert not gitlab.exists()


def test_gitlab_dotenv_stays_within_limits_for_large_matrices(gitlab: Path) -> None:
    m = Manifest(artifacts=[entry(f"package-number-{i}") for i in range(120)])
    reports.report_manifest("build", m, {"manifest": "dist/cipub-manifest.json"})
    values = assert_gitlab_dotenv(gitlab)
    assert values["CIPUBCI_MANIFEST"] == "dist/cipub-manifest.json"  # the small values survive


def test_gitlab_dotenv_shortens_artifacts_before_dropping_them(gitlab: Path) -> None:
    m = Manifest(artifacts=[entry(f"pkg{i}") for i in range(30)])
    reports.report_manifest("build", m)
    values = assert_gitlab_dotenv(gitlab)
    assert json.loads(values["CIPUBCI_ARTIFACTS"])[0] == "noarch/pkg0-1.0-h0_3.conda"


def make_plan() -> Plan:
    return Plan(
        recipe="recipe/recipe.yaml",
        recipe_format="v1",
        platforms=["linux-64"],
        noarch_platform="linux-64",
        cells=[
            PlanCell("linux-64-flavor-a", "linux-64", {"flavor": "a"}, None, "ubuntu-latest"),
            PlanCell("linux-64-flavor-b", "linux-64", {"flavor": "b"}, None, "ubuntu-latest"),
        ],
        build_numbers=[BuildNumberDecision("pkg", "1.0", 0, None, 0, "not on the channel")],
    )


def test_plan_outputs_give_the_matrix_and_ids(github: dict[str, Path]) -> None:
    reports.report_plan(make_plan(), "plan.json")
    values = parse_output_file(github["output"].read_text())
    matrix = json.loads(values["matrix"])
    assert [c["id"] for c in matrix["include"]] == ["linux-64-flavor-a", "linux-64-flavor-b"]
    assert json.loads(values["ids"]) == ["linux-64-flavor-a", "linux-64-flavor-b"]
    assert values["cells"] == "2"
    assert values["plan"] == "plan.json"
    assert values["build-number"] == "0"
    summary = github["summary"].read_text()
    assert "### cipub plan: 2 cell(s) for `recipe/recipe.yaml`" in summary
    assert "| `linux-64-flavor-b` | linux-64 | — | ubuntu-latest | flavor=b |" in summary


def test_plan_outputs_in_gitlab_dotenv(gitlab: Path) -> None:
    reports.report_plan(make_plan(), "plan.json")
    values = assert_gitlab_dotenv(gitlab)
    assert values["CIPUBCI_CELLS"] == "2"
    assert values["CIPUBCI_PLAN"] == "plan.json"


def test_a_failed_command_says_why_in_the_github_summary(github: dict[str, Path], tmp_path: Path) -> None:
    """A conflict (exit 6) wrote no summary at all: the step failed with its reason only in the log."""
    from tests.support.packages import make_package

    first, second = make_package(tmp_path / "a", payload="one"), make_package(tmp_path / "b", payload="two")
    channel = tmp_path / "channel"
    assert main(["upload", f"--target={channel}", str(first)]) == 0
    github["summary"].write_text("")
    assert main(["upload", f"--target={channel}", str(second)]) == 6
    summary = github["summary"].read_text()
    assert summary.startswith("### cipub failed: conflict (exit 6)\n")
    there, here = (hashlib.sha256(path.read_bytes()).hexdigest()[:12] for path in (first, second))
    assert (
        "> noarch/demo-1.0-h0000000_0.conda exists on the channel (label test) with different content "
        f"(sha256 {there} there, {here} here)"
    ) in summary
    assert "Hint: cipub never overwrites" in summary


def test_the_failure_summary_is_markdown_safe() -> None:
    text = reports.failure_summary("build", 4, "a | b <script>", "run `x`", ["line with ``` fence", "| not a table |"])
    assert "> a \\| b &lt;script&gt;" in text
    assert "Hint: run `x`" in text
    # the details sit in a fence longer than any backtick run in them
    assert "````text\nline with ``` fence\n| not a table |\n````" in text


def test_outside_github_a_failure_writes_no_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    summary = tmp_path / "summary"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))  # left over, without GITHUB_ACTIONS=true
    assert main(["upload", f"--target={tmp_path / 'ch'}", str(tmp_path / "missing.conda")]) == 2  # usage: no such file
    assert not summary.exists()
