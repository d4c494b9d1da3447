"""Issue 18: a server target that cannot be reached is exit 7 on every command that talks to it, with
one error line and one hint, never exit 0 (an empty channel) nor a usage error.

The unreachable server is a closed local port (bound, then released), and a port whose connections
are never answered (what an unroutable address does); retries are cut so the run stays short. A server
that answers 404 to every path (a plain web server, a proxy, or a URL without Artifactory's context
path) is not the API cipub expected either. (The prefix.dev target reads static repodata, where an
empty 404 is an empty channel; it is not covered by that rule.)
"""

from __future__ import annotations

import contextlib
import http.server
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cipub.core.artifact import read_artifact
from cipub.core.manifest import ArtifactEntry, Manifest
from cipub.core.manifest import write as write_manifest
from tests.conftest import CliResult
from tests.support.packages import make_package

pytestmark = pytest.mark.integration

Cli = Callable[..., CliResult]

#: target URL template for each http kind ({hp} = host:port) and the variable its token is read from
KINDS = {
    "quetz": ("quetz+http://{hp}/chan", "QUETZ_API_KEY"),
    "anaconda": ("anaconda+http://{hp}/owner", "ANACONDA_API_TOKEN"),
    "prefix": ("prefix+http://{hp}/chan", "PREFIX_API_KEY"),
    "artifactory": ("artifactory+http://{hp}/artifactory/repo", "ARTIFACTORY_TOKEN"),
    "psm": ("psm+http://{hp}/chan", "PSM_TOKEN"),
}
COMMANDS = ("status", "upload", "promote", "prune", "yank")


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A package and a manifest describing it."""
    where = tmp_path_factory.mktemp("unreachable")
    path = make_package(where / "pkgs", "demo")
    manifest = write_manifest(Manifest(artifacts=[ArtifactEntry.from_artifact(read_artifact(path))]), where / "m.json")
    return path, Path(manifest)


def _args(command: str, package: Path, manifest: Path) -> list[str]:
    return {
        "status": ["status", "demo"],
        "upload": ["upload", str(package)],
        "promote": ["promote", "--manifest", str(manifest)],
        "prune": ["prune", "demo", "--older-than", "1"],
        "yank": ["yank", "demo=1.0"],
    }[command]


def _env(token_var: str) -> dict[str, str]:
    return {
        token_var: "not-a-real-token",
        "CIPUB_RETRIES": "1",
        "CIPUB_BACKOFF": "0.01",
        "CIPUB_CONNECT_TIMEOUT": "2",
        "CIPUB_INDEX_WAIT": "0",
    }


def _one_error_and_hint(result: CliResult) -> tuple[str, str]:
    lines = result.err.splitlines()
    errors = [line for line in lines if line.startswith("cipub: error:")]
    hints = [line for line in lines if line.startswith("cipub: hint:")]
    assert len(errors) == 1 and len(hints) == 1, result.err
    assert "Traceback" not in result.err + result.out, result.err
    return errors[0], hints[0]


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_refused_port_is_exit_7_on_every_command(
    cipub: Cli, tmp_path: Path, package: tuple[Path, Path], kind: str, command: str
) -> None:
    template, token_var = KINDS[kind]
    target = template.format(hp=f"127.0.0.1:{_closed_port()}")
    result = cipub(*_args(command, *package), "--target", target, cwd=tmp_path, env=_env(token_var))
    assert result.code == 7, (result.code, result.err)
    error, hint = _one_error_and_hint(result)
    assert "ConnectError" in error and "kept failing after 1 retries" in error, error
    assert "server may be down" in hint, hint


@pytest.fixture(scope="module")
def blackhole() -> Iterator[str]:
    """host:port whose connections are never answered, as an unroutable address behaves: a listening
    socket whose accept queue is full and never drained, so the kernel drops further SYNs."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = int(server.getsockname()[1])
    fillers = []
    for _ in range(4):
        filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        for filler in fillers:
            filler.close()
        server.close()


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_server_that_never_answers_is_exit_7_on_every_command(
    cipub: Cli, tmp_path: Path, package: tuple[Path, Path], blackhole: str, kind: str, command: str
) -> None:
    """The unroutable case (http://10.255.255.1:9 on a real network): the connection is never set
    up; the connect timeout (CIPUB_CONNECT_TIMEOUT, short here) ends each attempt, then exit 7."""
    template, token_var = KINDS[kind]
    env = {**_env(token_var), "CIPUB_RETRIES": "0", "CIPUB_CONNECT_TIMEOUT": "0.3"}
    result = cipub(*_args(command, *package), "--target", template.format(hp=blackhole), cwd=tmp_path, env=env)
    assert result.code == 7, (result.code, result.err)
    error, hint = _one_error_and_hint(result)
    assert "kept failing" in error and "server may be down" in hint, result.err


class _NotFoundEverywhere(http.server.BaseHTTPRequestHandler):
    """A web server that is no package server: 404 for every path, with ``body`` (empty by default:
    what a plain server or an intercepting proxy sends)."""

    body = b""
    content_type = ""

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        self.send_response(404)
        if self.content_type:
            self.send_header("Content-Type", self.content_type)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


class _JsonNotFound(_NotFoundEverywhere):
    body = b'{"errors": [{"status": 404, "message": "Not Found"}]}'
    content_type = "application/json"


def _serve(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def not_found_server() -> Iterator[str]:
    yield from _serve(_NotFoundEverywhere)


@pytest.fixture(scope="module")
def json_not_found_server() -> Iterator[str]:
    yield from _serve(_JsonNotFound)


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("kind", ["anaconda", "artifactory", "psm", "quetz"])
def test_a_server_answering_404_everywhere_is_not_an_empty_channel(
    cipub: Cli, tmp_path: Path, package: tuple[Path, Path], not_found_server: str, kind: str, command: str
) -> None:
    """A host that answers every path with an empty 404 (a plain web server, an intercepting proxy,
    a URL missing the API's path) is no package server: status and prune reported an empty channel
    (exit 0), upload blamed a missing package or repository (exit 2), promote and yank a missing file
    (exit 8)."""
    template, token_var = KINDS[kind]
    target = template.format(hp=not_found_server)
    result = cipub(*_args(command, *package), "--target", target, cwd=tmp_path, env=_env(token_var))
    assert result.code == 7, (result.code, result.err)
    error, hint = _one_error_and_hint(result)
    assert "404" in error and "check the target URL" in hint, result.err


def test_an_artifactory_url_without_the_context_path_is_exit_7(
    cipub: Cli, tmp_path: Path, package: tuple[Path, Path], json_not_found_server: str
) -> None:
    """Every Artifactory answers GET /api/repositories; a (JSON) 404 there means the URL misses the
    context path (https://HOST/REPO for https://HOST/artifactory/REPO), not an empty channel."""
    target = f"artifactory+http://{json_not_found_server}/repo"
    result = cipub("status", "demo", "--target", target, cwd=tmp_path, env=_env("ARTIFACTORY_TOKEN"))
    assert result.code == 7, (result.code, result.err)
    error, hint = _one_error_and_hint(result)
    assert "not an Artifactory API" in error and "/artifactory/REPO" in hint, result.err
