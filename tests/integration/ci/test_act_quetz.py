"""The shipped composite action under a real runner (nektos/act, host mode) against the real Quetz
server: the publish job's action steps in one job (build with a fixed build number, upload to the
staging label, verify from it, promote to main), the Quetz key passed as a secret.

One act run. The files must be on Quetz in the staging label (read from Quetz's served repodata by a
step between upload and verify) and then in main, each with the sha256 of the package built in the
job (Quetz's API, after the run); the step summaries list the files with their sha256; the key
appears in act's log only as ``***``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.ci.conftest import SAMPLE_CELLS
from tests.integration.ci.test_act_refusals import ACTION, CHECKOUT, SETUP_PYTHON, project_for
from tests.support.act import ActRun, act_can_start, run_act
from tests.support.quetz import QuetzServer
from tests.support.quetz_target import quetz_server, quetz_target
from tests.support.targets import TargetHandle

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]
__all__ = ["quetz_server"]

#: the reusable workflow's publish, verify and promote jobs' action steps, in one job; the step
#: after the upload reads the staging label's repodata as Quetz serves it (a public channel)
PUBLISH = f"""\
name: quetz
on: push
jobs:
  publish:
    runs-on: ubuntu-latest
    steps:
      - uses: {CHECKOUT}
        with:
          persist-credentials: false
      - uses: {SETUP_PYTHON}
      - id: build
        uses: "{ACTION}"
        with:
          command: build
          target: @TARGET@
          variant-config: recipe/variants.yaml
          build-number: "0"
          output-dir: output
      - id: upload
        uses: "{ACTION}"
        with:
          command: upload
          target: @TARGET@
          label: test
          manifest: output/cipub-manifest.json
          token: ${{{{ secrets.QUETZ_API_KEY }}}}
      - env:
          REPODATA: @STAGED@/linux-64/repodata.json
        run: |
          python3 - <<'EOF'
          import json, os, urllib.request
          with urllib.request.urlopen(os.environ["REPODATA"], timeout=30) as response:
              data = json.load(response)
          parts = (data.get("packages", {{}}), data.get("packages.conda", {{}}))
          files = {{f"linux-64/{{k}}": v["sha256"] for part in parts for k, v in part.items()}}
          print("OUT staged=" + json.dumps(files, sort_keys=True))
          EOF
      - id: verify
        uses: "{ACTION}"
        with:
          command: verify
          target: @TARGET@
          label: test
          manifest: output/cipub-manifest.json
          extra-args: --mode=isolated
          token: ${{{{ secrets.QUETZ_API_KEY }}}}
      - id: promote
        uses: "{ACTION}"
        with:
          command: promote
          target: @TARGET@
          from-label: test
          to-label: main
          manifest: output/cipub-manifest.json
          token: ${{{{ secrets.QUETZ_API_KEY }}}}
      - if: always()
        env:
          ARTIFACTS: ${{{{ steps.build.outputs.artifacts }}}}
          UPLOADED: ${{{{ steps.upload.outputs.states }}}}
          LABEL: ${{{{ steps.upload.outputs.label }}}}
          PROMOTED: ${{{{ steps.promote.outputs.states }}}}
        run: |
          echo "OUT artifacts=$ARTIFACTS"
          echo "OUT uploaded=$UPLOADED"
          echo "OUT label=$LABEL"
          echo "OUT promoted=$PROMOTED"
"""


@dataclass
class Published:
    quetz: TargetHandle
    token: str
    run: ActRun
    #: {label: {"subdir/filename": sha256}} from Quetz's API after the run
    state: dict[str, dict[str, str]]

    def outputs(self) -> dict[str, str]:
        values = {}
        for line in self.run.job_lines("quetz/publish"):
            found = re.search(r"\| OUT ([\w-]+)=(.*)$", line)
            if found:
                values[found[1]] = found[2]
        return values

    def built(self) -> dict[str, str]:
        """{"subdir/filename": sha256} of the packages the build step made (its artifacts output)."""
        artifacts = json.loads(self.outputs()["artifacts"])
        assert len(artifacts) == len(SAMPLE_CELLS)  # one per variant (built without a plan: no cell ids)
        assert {a["build_number"] for a in artifacts} == {0}
        return {f"{a['subdir']}/{a['filename']}": a["sha256"] for a in artifacts}


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory, quetz_server: QuetzServer) -> Iterator[Published]:
    reason = act_can_start()
    if reason:
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("act-quetz")
    with quetz_target(root / "quetz", server=quetz_server) as quetz:
        (token,) = quetz.env.values()
        workflow = PUBLISH.replace("@TARGET@", quetz.url).replace("@STAGED@", quetz.install_url("test"))
        project = project_for(root, workflow, "quetz")
        artifacts = root / "artifacts"
        artifacts.mkdir()
        run = run_act(
            project,
            ".github/workflows/quetz.yml",
            secrets={"QUETZ_API_KEY": token},
            env={"ACT_STANDIN_ARTIFACTS": str(artifacts)},
            home=Path.home(),  # pip's cache: cipub installs from the copied source without downloads
        )
        (root / "act-quetz.log").write_text(run.log)  # for a look after a failure
        yield Published(quetz, token, run, quetz.state())


def test_the_job_publishes_to_the_staging_label_then_promotes_to_main_on_quetz(published: Published) -> None:
    run = published.run
    assert run.returncode == 0, run.log[-6000:]
    lines = run.job_lines("quetz/publish")
    assert any("Job succeeded" in line for line in lines), "\n".join(lines[-40:])
    built = published.built()
    outputs = published.outputs()
    assert json.loads(outputs["uploaded"]) == {"uploaded": 2} and outputs["label"] == "test"
    assert json.loads(outputs["promoted"]) == {"promoted": 2}
    # Between the upload and the promotion, Quetz served the staging label's repodata with the
    # built files (cipub waited for its background indexing before the upload step ended) ...
    assert json.loads(outputs["staged"]) == built
    # ... and after the run Quetz's API has them in the label channel and in the main channel.
    assert published.state == {"test": built, "main": built}


def test_the_step_summaries_list_the_files_and_their_sha256(published: Published) -> None:
    summary = published.run.summary("quetz/publish")
    for key, sha in published.built().items():
        filename = key.split("/")[1]
        assert f"| `{filename}` | linux-64 | `{sha[:12]}` | — | built |" in summary, summary
        assert f"| `{filename}` | linux-64 | `{sha[:12]}` | test | uploaded |" in summary, summary
        assert f"| `{filename}` | linux-64 | `{sha[:12]}` | test → main | promoted |" in summary, summary
    assert "installed" in summary  # the verify step's


def test_the_quetz_key_appears_only_as_stars(published: Published) -> None:
    log = published.run.log
    assert published.token not in log, "the Quetz key appeared unmasked in act's log"
    # Each step given the key registers it as a mask first (act prints the command as ***).
    masks = [line for line in published.run.job_lines("quetz/publish") if line.rstrip().endswith("⚙  ***")]
    assert len(masks) >= 3, "the upload, verify and promote steps did not all mask the key"
