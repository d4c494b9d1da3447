"""Issue 18 class 5: secrets arriving in odd shapes or odd places.

- token files with padding (spaces, CRLF, a BOM) are read; several lines or inner whitespace are
  refused with exit 2, never sent as a broken header, never echoed;
- a credential inside any URL option (``--target``, ``--api-url``, ``-c``) is refused with exit 2 and
  never echoed; ``--api-url`` that is not a URL is exit 2 at once (not 5 retries then exit 7);
- a recipe whose Jinja reads a secret variable during ``plan`` sees nothing: the canary is in no
  output, no plan file, no GITHUB_OUTPUT, no step summary.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cipub.core.errors import AuthError, UsageError
from cipub.core.secrets import read_token, seen_secrets
from tests.reliability.helpers import run_cipub

CANARY = "cipub-canary-inputs-5d1e9a0b77c3"


@pytest.mark.parametrize(
    "content",
    [f"{CANARY}\n", f"  {CANARY}  \n\n", f"{CANARY}\r\n", f"\ufeff{CANARY}\n", f"\n\n{CANARY}"],
    ids=["newline", "spaces", "crlf", "bom", "leading-blank-lines"],
)
def test_padded_token_files_are_read(tmp_path: Path, content: str) -> None:
    path = tmp_path / "token"
    path.write_text(content, encoding="utf-8")
    secret = read_token(["UNSET_VAR_X"], token_file=path, environ={})
    assert secret is not None and secret.reveal() == CANARY


@pytest.mark.parametrize(
    "content",
    [f"{CANARY}\nsecond-line-of-stuff\n", f"{CANARY} trailing-part", f"{CANARY}\x00zz", f"user\r{CANARY}"],
    ids=["two-lines", "inner-space", "nul", "cr-inside"],
)
def test_ambiguous_token_files_are_refused_without_echo(tmp_path: Path, content: str) -> None:
    path = tmp_path / "token"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(UsageError) as caught:
        read_token(["UNSET_VAR_X"], token_file=path, environ={})
    assert CANARY not in str(caught.value) and CANARY not in (caught.value.hint or "")
    assert any(CANARY in s for s in seen_secrets()), "what was refused is still masked"


def test_a_multi_line_token_variable_is_refused() -> None:
    with pytest.raises(UsageError, match="non-blank lines"):
        read_token(["TOK"], environ={"TOK": f"{CANARY}\nX-Evil: header"})


def test_an_empty_token_file_is_an_auth_error(tmp_path: Path) -> None:
    (tmp_path / "t").write_text(" \n\n")
    with pytest.raises(AuthError, match="empty"):
        read_token(["X"], token_file=tmp_path / "t", environ={})


URL_CASES = [
    ("upload", "--target", f"quetz+https://user:{CANARY}@quetz.test/ch"),
    ("upload", "--target", f"https://conda.anaconda.org/t/{CANARY}/owner"),
    ("upload", "--api-url", f"https://ci:{CANARY}@psm.test/api"),
    ("upload", "--api-url", f"https://psm.test/api?token={CANARY}"),
    ("plan", "-c", f"https://ci:{CANARY}@mirror.test/conda-forge"),
]


@pytest.mark.parametrize(
    ("command", "flag", "value"), URL_CASES, ids=[f"{c[0]}{c[1]}-{i}" for i, c in enumerate(URL_CASES)]
)
def test_a_credential_in_a_url_option_is_refused_and_never_echoed(
    tmp_path: Path, command: str, flag: str, value: str
) -> None:
    args = [command, flag, value]
    if flag == "--api-url":
        args += ["--target", "psm+https://psm.test/ch"]
    if command == "plan":
        args.append(str(tmp_path))
    result = run_cipub(*args, cwd=tmp_path, timeout=60)
    assert result.returncode == 2, (result.returncode, result.stderr[-600:])
    assert "credential" in result.stderr
    assert CANARY not in result.stdout + result.stderr


def test_api_url_that_is_not_a_url_is_exit_2_at_once(tmp_path: Path) -> None:
    result = run_cipub(
        "upload", "--target", "psm+https://psm.test/ch", "--api-url", "not a url", cwd=tmp_path, timeout=60
    )
    assert result.returncode == 2, result.stderr[-600:]
    assert "is not an http(s) URL" in result.stderr


RECIPE_V1 = """\
context:
  leaked: ${{ env.get("ANACONDA_API_TOKEN", default="none") }}
package:
  name: envreader
  version: "1.0"
build:
  noarch: generic
  string: ${{ leaked }}
  script:
    - echo ok
about:
  summary: ${{ env.get("QUETZ_API_KEY", default="none") }}
"""

RECIPE_V0 = """\
package:
  name: envreader0
  version: "1.0"
build:
  string: {{ environ.get("ANACONDA_API_TOKEN", "none") }}_{{ os.environ.get("QUETZ_API_KEY", "none") }}
about:
  summary: {{ environ["PREFIX_API_KEY"] if "PREFIX_API_KEY" in environ else "none" }}
"""


@pytest.mark.parametrize("flavour", ["v1", "v0"])
def test_plan_never_carries_a_secret_a_recipe_reads(tmp_path: Path, flavour: str) -> None:
    recipe = tmp_path / "recipe"
    recipe.mkdir()
    if flavour == "v1":
        (recipe / "recipe.yaml").write_text(RECIPE_V1)
    else:
        (recipe / "meta.yaml").write_text(RECIPE_V0)
    out, summary = tmp_path / "gh_output", tmp_path / "summary.md"
    env = {
        "ANACONDA_API_TOKEN": CANARY,
        "QUETZ_API_KEY": CANARY,
        "PREFIX_API_KEY": CANARY,
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(out),
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    codes = []
    for fmt in ("json", "github"):
        result = run_cipub(
            "plan", str(recipe), "-p", "linux-64", "--format", fmt, "--no-build-numbers", cwd=tmp_path, env=env
        )
        codes.append(result.returncode)
        assert CANARY not in result.stdout + result.stderr
    assert codes[0] == 0, codes
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert CANARY not in path.read_text(errors="replace"), f"canary in {path}"
