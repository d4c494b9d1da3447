"""Issue 18 class 5: a recipe's build script must not find a publish credential anywhere it can read.

A real py-rattler-build build (the recipe-template's offline noarch package) whose script searches
its own environment, ``/proc/$PPID/environ``, every ancestor's environ and every ``/proc/*/environ``
it can read for a canary token that cipub was started with. Tests run as root here: root reads any
process's environ whatever its dumpable flag, so this checks that the bytes are gone, not merely
unreadable. The script writes how many places held the canary, so "found nothing" is told apart
from "did not run".
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.helpers import run_cipub

pytestmark = pytest.mark.integration

CANARY = "cipub-canary-buildenv-8c2d41f09e6a"

SCRIPT = r"""
found=0
own=$(env | grep -c "{canary}" || true)
pid=$PPID
ancestors=""
while [ "$pid" -gt 1 ]; do
  ancestors="$ancestors $pid"
  if tr '\0' '\n' < /proc/$pid/environ 2>/dev/null | grep -q "{canary}"; then found=$((found+1)); fi
  pid=$(awk '{{print $4}}' /proc/$pid/stat 2>/dev/null || echo 1)
done
readable=0
for f in /proc/[0-9]*/environ; do
  if tr '\0' '\n' < "$f" 2>/dev/null | grep -q "{canary}"; then found=$((found+1)); echo "in $f" >> {report}.where; fi
  [ -r "$f" ] && readable=$((readable+1))
done
echo "own=$own ancestors_found_or_any=$found readable=$readable chain=$ancestors" > {report}
"""

RECIPE = """\
package:
  name: envprobe
  version: "1.0"
build:
  number: 0
  noarch: generic
  script:
    - mkdir -p $PREFIX/share
    - bash {probe}
    - cp {report} $PREFIX/share/probe.txt
about:
  summary: probes the build's reach for secrets
  license: MIT
"""


def test_a_build_script_finds_no_publish_token_anywhere(tmp_path: Path) -> None:
    report = tmp_path / "probe-report.txt"
    probe = tmp_path / "probe.sh"
    probe.write_text(SCRIPT.format(canary=CANARY, report=report))
    recipe = tmp_path / "recipe"
    recipe.mkdir()
    (recipe / "recipe.yaml").write_text(RECIPE.format(probe=probe, report=report))
    env = {"ANACONDA_API_TOKEN": CANARY, "QUETZ_API_KEY": CANARY + "-q", "MY_DEPLOY_TOKEN": CANARY + "-x"}
    result = run_cipub(
        "build",
        str(recipe),
        "--no-upload",
        "--no-bump",
        "-o",
        str(tmp_path / "dist"),
        cwd=tmp_path,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert report.is_file(), "the probe did not run"
    text = report.read_text()
    fields = dict(part.split("=", 1) for part in text.split() if "=" in part)
    assert fields["own"] == "0", text
    assert int(fields["readable"]) > 3, f"the probe could read too little to mean anything: {text}"
    where = tmp_path / "probe-report.txt.where"
    assert fields["ancestors_found_or_any"] == "0", where.read_text() if where.exists() else text
    assert CANARY not in result.stdout + result.stderr
