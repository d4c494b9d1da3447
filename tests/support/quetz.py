"""The real Quetz server (``quetz-server`` 0.10.4) for tests: installed, created and started here.

Nothing is assumed to be installed. The first use builds a virtual environment under
``<tools>/quetz-venv-<pins digest>`` (about a minute, cached after that for every checkout on the machine,
see ``tests/support/tool_cache.py``; a new one when the pins below change)
with the exact versions known to start Quetz 0.10.4: FastAPI must stay at 0.104.1 because newer
releases dropped ``app.route``, which Quetz calls; everything else is pinned too, so a new release
of a dependency cannot break the test suite overnight.

A deployment is then made with ``quetz create DIR --create-conf --dev`` (which prints a test API key),
the key's user is given the server-wide ``owner`` role (the dev data leaves it without one, and
creating channels needs it), and ``quetz start`` serves it on 127.0.0.1.

If any of this fails, :class:`QuetzUnavailable` carries a message that says what failed and shows
the tool's output; fixtures turn it into a test failure, never a skip.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.tool_cache import TOOLS_DIR

REPO = Path(__file__).resolve().parents[2]
TOOLS = TOOLS_DIR
_READY_MARK = ".cipub-ready"

#: What gets installed, and the versions every dependency is held at (``pip freeze`` of a venv
#: known to work with Python 3.11). Only the two requirements are asked for; the rest are constraints.
REQUIREMENTS = ("quetz-server==0.10.4", "fastapi==0.104.1")
CONSTRAINTS = """
aiofiles==25.1.0
aioshutil==1.6
alembic==1.20.1
annotated-doc==0.0.7
annotated-types==0.8.0
anyio==3.7.1
appdirs==1.4.4
Authlib==0.15.6
certifi==2026.10.18
cffi==2.1.1
charset-normalizer==3.5.2
click==8.5.1
cryptography==50.0.2
fsspec==2026.9.0
h11==0.16.0
h2==4.4.1
hpack==4.2.0
httpcore==1.0.9
httpx==0.28.1
hyperframe==6.1.0
idna==3.20
importlib_metadata==10.2.0
itsdangerous==2.2.0
Jinja2==3.1.6
lazy-importer==0.1.0
Mako==1.4.3
markdown-it-py==4.3.0
MarkupSafe==3.0.4
mdurl==0.1.2
pluggy==1.7.0
prometheus_client==0.26.0
pycparser==3.12
pydantic==2.14.3
pydantic_core==2.50.4
Pygments==2.21.0
python-multipart==0.0.34
PyYAML==6.0.3
requests==2.34.2
rich==15.0.0
shellingham==1.5.4
sniffio==1.3.1
SQLAlchemy==2.1.9
SQLAlchemy-Utils==0.43.0
starlette==0.27.0
tenacity==9.2.1
toml==0.10.2
typer==0.29.2
typing-inspection==0.4.5
typing_extensions==4.16.0
ujson==6.1.0
urllib3==2.8.0
uvicorn==0.54.0
zipp==4.1.2
zstandard==0.25.0
"""

_KEY_LINE = re.compile(r'Test API key created for user "(?P<user>[^"]+)": (?P<key>[0-9a-f]+)')


class QuetzUnavailable(RuntimeError):
    """The Quetz test server could not be installed, created or started (message says which)."""


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _pins_digest() -> str:
    text = "\n".join(REQUIREMENTS) + CONSTRAINTS + sys.version.split()[0]
    return hashlib.sha256(text.encode()).hexdigest()


#: the venv for these pins and this Python, shared by every checkout on the machine
VENV = TOOLS / f"quetz-venv-{_pins_digest()[:16]}"


def quetz_executable(venv: Path = VENV) -> Path:
    return venv / "bin" / "quetz"


def ensure_quetz_venv(venv: Path = VENV) -> tuple[Path, bool]:
    """Return (path of the ``quetz`` executable, whether it was built now). Safe across processes."""
    venv.parent.mkdir(parents=True, exist_ok=True)
    digest = _pins_digest()
    with (venv.parent / "quetz-venv.lock").open("w") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)  # parallel test workers build it once
        mark = venv / _READY_MARK
        if mark.is_file() and mark.read_text().strip() == digest and quetz_executable(venv).is_file():
            return quetz_executable(venv), False
        shutil.rmtree(venv, ignore_errors=True)
        steps = [
            [sys.executable, "-m", "venv", str(venv)],
        ]
        constraints = venv.parent / "quetz-constraints.txt"
        constraints.write_text(CONSTRAINTS.strip() + "\n")
        steps.append(
            [
                str(venv / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "--no-input",
                "--disable-pip-version-check",
                "-q",
                "-c",
                str(constraints),
                *REQUIREMENTS,
            ]
        )
        for argv in steps:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=900, check=False)
            if done.returncode != 0:
                shutil.rmtree(venv, ignore_errors=True)
                raise QuetzUnavailable(
                    f"could not install the Quetz test server ({' '.join(argv[:4])} ... exited "
                    f"{done.returncode}); it needs network access to PyPI.\n" + _tail(done.stdout + "\n" + done.stderr)
                )
        if not quetz_executable(venv).is_file():
            raise QuetzUnavailable(f"pip installed quetz-server but {quetz_executable(venv)} is missing")
        mark.write_text(digest)
        return quetz_executable(venv), True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class QuetzServer:
    """A running Quetz deployment."""

    url: str
    api_key: str
    user: str
    deployment: Path
    log_path: Path
    process: subprocess.Popen[bytes]
    #: seconds spent on each bootstrap step (venv, create, start), for the report
    timings: dict[str, float] = field(default_factory=dict)

    def client(self) -> httpx.Client:
        """An httpx client authenticated as the owner: the tests' view of the server's truth."""
        return httpx.Client(base_url=self.url, headers={"X-API-Key": self.api_key}, timeout=30)

    def log_tail(self) -> str:
        try:
            return _tail(self.log_path.read_text(errors="replace"))
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.process.poll() is None:
            # Quetz forks helper processes; they share the session we started it in.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=15)


def _die_with_parent() -> None:
    """Runs in the server's process before exec: on Linux, SIGTERM it when the test process dies.

    The test process may end without running any cleanup (SIGKILL, a timeout, or ``os._exit``,
    which tests/conftest.py uses to dodge a py-rattler crash at interpreter exit); the server must
    not outlive it. The parent is the thread that started the server: start it from the main thread.
    """
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def _create_deployment(quetz: Path, deployment: Path) -> tuple[str, str]:
    done = subprocess.run(
        [str(quetz), "create", str(deployment), "--create-conf", "--dev"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=deployment.parent,
    )
    found = _KEY_LINE.search(done.stdout + done.stderr)
    if done.returncode != 0 or found is None:
        raise QuetzUnavailable(
            f"`quetz create --dev` failed (exit {done.returncode}) or printed no API key:\n"
            + _tail(done.stdout + "\n" + done.stderr)
        )
    user, key = found["user"], found["key"]
    # The dev data gives that user no server-wide role; channel creation needs one.
    db = sqlite3.connect(deployment / "quetz.sqlite")
    try:
        with db:
            changed = db.execute("UPDATE users SET role = 'owner' WHERE username = ?", (user,)).rowcount
    finally:
        db.close()
    if changed != 1:
        raise QuetzUnavailable(f"could not give Quetz user {user!r} the owner role (no such row)")
    return user, key


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log_path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise QuetzUnavailable(
                f"quetz start exited with {process.returncode}:\n" + _tail(log_path.read_text(errors="replace"))
            )
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/health/ready", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise QuetzUnavailable(
        f"Quetz did not become healthy within {timeout:.0f}s:\n" + _tail(log_path.read_text(errors="replace"))
    )


def start_quetz(workdir: Path, *, port: int | None = None, start_timeout: float = 90.0) -> QuetzServer:
    """Install (if needed), create and start a Quetz deployment under ``workdir``."""
    timings: dict[str, float] = {}
    t0 = time.monotonic()
    quetz, built = ensure_quetz_venv()
    timings["venv-build" if built else "venv-cached"] = time.monotonic() - t0

    t0 = time.monotonic()
    workdir.mkdir(parents=True, exist_ok=True)
    deployment = workdir / "deployment"
    user, key = _create_deployment(quetz, deployment)
    timings["create"] = time.monotonic() - t0

    t0 = time.monotonic()
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = workdir / "quetz.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                str(quetz),
                "start",
                str(deployment),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-supervisor",  # the job supervisor is not needed: indexing runs in the web process
                "--log-level",
                "warning",
            ],
            cwd=deployment,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - only prctl, async-signal-safe enough
        )
    server = QuetzServer(url, key, user, deployment, log_path, process, timings)
    try:
        _wait_healthy(url, process, log_path, start_timeout)
    except BaseException:
        server.stop()
        raise
    timings["start"] = time.monotonic() - t0
    return server


@contextlib.contextmanager
def running_quetz(workdir: Path) -> Iterator[QuetzServer]:
    server = start_quetz(workdir)
    try:
        yield server
    finally:
        server.stop()


def main() -> None:
    """``python -m tests.support.quetz DIR``: start a server by hand and print how long it took."""
    import tempfile

    workdir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="quetz-"))
    t0 = time.monotonic()
    with running_quetz(workdir) as server:
        total = time.monotonic() - t0
        steps = ", ".join(f"{k} {v:.1f}s" for k, v in server.timings.items())
        print(f"Quetz at {server.url} (user {server.user}); bootstrap {total:.1f}s: {steps}")


if __name__ == "__main__":
    main()
