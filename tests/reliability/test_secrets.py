"""The canary check: a token used by every command, on every remote target, on success and failure
paths and with ``--debug``, never appears in stdout, stderr, the manifest or any file cipub writes,
and never on any process's command line while an upload runs.

Failure paths include a hostile server that echoes every request header (so the token itself) back in
its 401 and 500 error messages: cipub must scrub what it repeats.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.reliability import figures
from tests.reliability.helpers import REPO, cipub_cmd, cipub_env
from tests.reliability.targets import (
    OWNER,
    REMOTE_KINDS,
    own_anaconda_handle,
    remote_handle,
    secret_values,
    start_shared_servers_here,
)
from tests.support.packages import make_package
from tests.support.targets import TargetHandle

pytestmark = pytest.mark.integration

CANARY = "cipub-canary-3f9a7c51e2d84b06"
WRONG_CANARY = "cipub-canary-wrong-9b1e44d07a"
RECIPE = REPO / "recipes-template" / "v1-noarch-generic"
#: the environment variable each kind reads its token from (for the wrong-token and token-file runs)
TOKEN_VARS = {
    "anaconda": "ANACONDA_API_TOKEN",
    "quetz": "QUETZ_API_KEY",
    "psm": "PSM_TOKEN",
    "prefix": "PREFIX_API_KEY",
    "artifactory": "ARTIFACTORY_TOKEN",
}


@dataclass
class Sweep:
    kind: str
    secrets: list[str]
    runs: int = 0
    leaks: list[str] = field(default_factory=list)
    codes: dict[str, int] = field(default_factory=dict)


@contextlib.contextmanager
def echo_server(status_cycle: tuple[int, ...] = (401, 500)) -> Iterator[str]:
    """Answers everything with an error whose message quotes every request header and the URL."""
    counter = iter(range(10**9))

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            status = status_cycle[next(counter) % len(status_cycle)]
            headers = "; ".join(f"{k}={v}" for k, v in self.headers.items())
            body = json.dumps(
                {"error": f"rejected {self.command} {self.path} with {headers}", "detail": headers}
            ).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Echo-Token", headers[:200])
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _answer

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _hostile_url(kind: str, base: str) -> tuple[str, dict[str, str]]:
    """A target URL of ``kind`` on ``base`` (echo server or closed port), and env overrides."""
    hostport = base.split("://", 1)[1]
    if kind == "s3":
        return "s3://bucket/prefix", {"AWS_ENDPOINT_URL": base}
    if kind == "artifactory":
        return f"artifactory+http://{hostport}/artifactory/repo", {}
    return f"{kind}+http://{hostport}/{OWNER if kind == 'anaconda' else 'chan'}", {}


class Workspace:
    """A project directory plus HOME and TMPDIR of its own: everything cipub writes lands here."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.project = root / "project"
        self.home = root / "home"
        self.tmp = root / "tmp"
        for d in (self.project, self.home, self.tmp):
            d.mkdir(parents=True)
        shutil.copytree(RECIPE, self.project / "recipe")

    def env(self, extra: dict[str, str]) -> dict[str, str]:
        return {
            "HOME": str(self.home),
            "TMPDIR": str(self.tmp),
            "XDG_CACHE_HOME": str(self.home / ".cache"),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            **extra,
        }

    def files_containing(self, secrets: list[str], skip: set[Path]) -> list[str]:
        found = []
        for path in self.root.rglob("*"):
            if not path.is_file() or path in skip or path.is_symlink():
                continue
            data = path.read_bytes()
            found += [f"{path.relative_to(self.root)} contains a secret" for s in secrets if s.encode() in data]
        return found


def _run(sweep: Sweep, ws: Workspace, name: str, args: list[str], env: dict[str, str]) -> int:
    done = subprocess.run(
        cipub_cmd(*args),
        cwd=ws.project,
        env=cipub_env(ws.env(env)),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    sweep.runs += 1
    sweep.codes[name] = done.returncode
    for stream, text in (("stdout", done.stdout), ("stderr", done.stderr)):
        for secret in sweep.secrets:
            if secret in text:
                sweep.leaks.append(f"{name}: the secret appears in {stream}: {text[-600:]}")
        if "Traceback" in text and "--debug" not in args:
            sweep.leaks.append(f"{name}: traceback without --debug")
    return done.returncode


def _sweep(kind: str, handle: TargetHandle, ws: Workspace) -> Sweep:
    secrets = sorted(set(secret_values(handle)) | {CANARY, WRONG_CANARY})
    sweep = Sweep(kind, secrets)
    url, env, extra = handle.url, dict(handle.env), list(handle.extra_args)
    ch = ["--target", url, *extra]
    # -- success paths -------------------------------------------------------------------------
    _run(sweep, ws, "plan --debug", ["--debug", "plan", "recipe", *ch, "--format", "json"], env)
    _run(sweep, ws, "build --debug", ["--debug", "build", "recipe", *ch], env)
    _run(sweep, ws, "upload (again)", ["upload", *ch], env)
    _run(sweep, ws, "promote --debug --dry-run", ["--debug", "promote", *ch, "--dry-run"], env)
    _run(sweep, ws, "promote --debug", ["--debug", "promote", *ch], env)
    _run(sweep, ws, "upload --json", ["upload", *ch, "--json"], env)
    github = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(ws.root / "gh-output"),
        "GITHUB_STEP_SUMMARY": str(ws.root / "gh-summary"),
    }
    done = subprocess.run(
        cipub_cmd("--debug", "upload", *ch),
        cwd=ws.project,
        env=cipub_env(ws.env({**env, **github})),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    sweep.runs += 1
    sweep.codes["upload in GitHub Actions"] = done.returncode
    for line in (done.stdout + done.stderr).splitlines():
        # GitHub's runner removes a value from its logs once told with ::add-mask::; that line is the
        # only place a secret may be written.
        if not line.startswith("::add-mask::") and any(s in line for s in secrets):
            sweep.leaks.append(f"upload in GitHub Actions: secret outside ::add-mask:: : {line[:200]}")
    token_var = TOKEN_VARS.get(kind)
    token_file = ws.root / "token.txt"
    if token_var and token_var in env:
        token_file.write_text(env[token_var] + "\n")
        without = {k: v for k, v in env.items() if k != token_var}
        _run(sweep, ws, "upload --token-file", ["upload", *ch, "--token-file", str(token_file)], without)
        # -- failure paths ---------------------------------------------------------------------
        wrong = {**env, token_var: WRONG_CANARY}
        fresh = make_package(ws.root / "fresh", "secrets-fresh", "1.0", 0, payload=kind)
        _run(sweep, ws, "upload, wrong token --debug", ["--debug", "upload", str(fresh), *ch], wrong)
        _run(sweep, ws, "promote, wrong token", ["promote", *ch], wrong)
        _run(sweep, ws, "plan, wrong token", ["plan", "recipe", *ch], wrong)
    fast = {"CIPUB_RETRIES": "2", "CIPUB_BACKOFF": "0.01", "CIPUB_READ_TIMEOUT": "2"}
    with echo_server() as echo:
        hostile, overrides = _hostile_url(kind, echo)
        henv = {**env, **overrides, **fast}
        _run(sweep, ws, "upload to an echoing server --debug", ["--debug", "upload", "--target", hostile], henv)
        # the build's manifest, explicitly: the ledger has staged nothing there, and this must reach the server
        manifest = str(ws.project / "dist" / "cipub-manifest.json")
        _run(sweep, ws, "promote to an echoing server", ["promote", "--manifest", manifest, "--target", hostile], henv)
    down, overrides = _hostile_url(kind, f"http://127.0.0.1:{_closed_port()}")
    _run(
        sweep, ws, "upload, server down --debug", ["--debug", "upload", "--target", down], {**env, **overrides, **fast}
    )
    if token_var and token_var in env:
        # last: a failed build sets the manifest aside, and the commands above act on it
        wrong = {**env, token_var: WRONG_CANARY}
        _run(sweep, ws, "build, wrong token --debug", ["--debug", "build", "recipe", *ch], wrong)
    sweep.leaks += ws.files_containing(secrets, skip={token_file})
    return sweep


def _check_kind(kind: str, tmp_path: Path) -> list[str]:
    ws = Workspace(tmp_path / "ws")
    servers = tmp_path / "servers"  # server storage is not cipub's writing: keep it out of the scan
    servers.mkdir(parents=True)
    factory = own_anaconda_handle(servers, token=CANARY) if kind == "anaconda" else remote_handle(kind, servers)
    with factory as handle:
        sweep = _sweep(kind, handle, ws)
    figures.record(
        "secrets",
        kind,
        commands_run=sweep.runs,
        leaks=len(sweep.leaks),
        exit_codes=json.dumps(sweep.codes, sort_keys=True),
    )
    problems = list(sweep.leaks)
    successes = ["plan --debug", "build --debug", "upload (again)", "promote --debug --dry-run", "promote --debug"]
    successes += ["upload --json", "upload in GitHub Actions", "upload --token-file"]
    problems += [f"{n} exited {sweep.codes[n]}" for n in successes if sweep.codes.get(n, 0) != 0]
    # A wrong token is refused (5) whenever something must be written; reads of a public channel
    # (plan, an already-done promote) may succeed without it.
    problems += [
        f"{n} exited {sweep.codes[n]}, not 5"
        for n in ("upload, wrong token --debug", "build, wrong token --debug")
        if n in sweep.codes and sweep.codes[n] != 5
    ]
    problems += [
        f"{n} exited {code}"
        for n, code in sweep.codes.items()
        if ("wrong token" in n and code not in (0, 5)) or ("server down" in n and code != 7)
    ]
    return [f"{kind}: {p}" for p in problems]


def test_canary_never_leaks_on_any_server(tmp_path: Path) -> None:
    """Every kind at once (each sweep is a series of cipub processes against its own server)."""
    from concurrent.futures import ThreadPoolExecutor

    def guarded(kind: str) -> list[str]:
        try:
            return _check_kind(kind, tmp_path / kind)
        except BaseException as exc:  # pytest.fail inside remote_handle is a BaseException
            return [f"{kind}: {type(exc).__name__}: {exc}"]

    start_shared_servers_here()
    with ThreadPoolExecutor(max_workers=4) as pool:
        problems = [p for found in pool.map(guarded, REMOTE_KINDS) for p in found]
    assert not problems, "\n".join(problems)


def _all_cmdlines() -> list[str]:
    lines = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                lines.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace"))
    return lines


def test_token_never_on_a_command_line_during_upload(tmp_path: Path) -> None:
    """While a slow upload runs, no process's /proc/PID/cmdline (what ps shows) holds the token."""
    from tests.reliability.helpers import make_batch
    from tests.servers.anaconda_server import AnacondaServer

    batch = make_batch(tmp_path / "pkgs", 8, prefix="ps")
    with AnacondaServer(tmp_path / "server", tokens={CANARY: OWNER}, latency=0.15, record=False) as server:
        proc = subprocess.Popen(
            cipub_cmd("upload", "--manifest", str(batch.manifest), "--target", f"anaconda+{server.url}/{OWNER}"),
            cwd=tmp_path,
            env=cipub_env({"ANACONDA_API_TOKEN": CANARY}),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        samples = 0
        seen_cipub = 0
        leaks: list[str] = []
        ps_outputs = 0
        while proc.poll() is None:
            lines = _all_cmdlines()
            samples += 1
            seen_cipub += any("cipub" in line and "upload" in line for line in lines)
            leaks += [line for line in lines if CANARY in line]
            if samples % 10 == 1 and shutil.which("ps"):
                ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=False)
                ps_outputs += 1
                leaks += [line for line in ps.stdout.splitlines() if CANARY in line]
            time.sleep(0.02)
        out, err = proc.communicate()
    figures.record(
        "secrets",
        "process table during upload",
        samples=samples,
        samples_seeing_cipub=seen_cipub,
        ps_runs=ps_outputs,
        leaks=len(leaks),
    )
    assert proc.returncode == 0, err.decode()
    assert seen_cipub >= 5, "the upload finished before the process table could be sampled"
    assert not leaks, leaks[:3]
    assert CANARY.encode() not in out + err
