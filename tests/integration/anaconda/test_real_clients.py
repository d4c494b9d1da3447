"""The anaconda.org-protocol test server is faithful: the real clients work against it unchanged.

- the ``anaconda`` CLI (anaconda-client) uploads with a label, shows, copies and moves between
  labels, removes, refuses a second upload of a name, and overwrites only with its own --force;
- rattler-build's uploader (``rattler_build.upload_package_to_anaconda``) uploads to a label;
- py-rattler solves and installs from the labels those clients wrote;
- cipub's requests for one upload follow anaconda-client's, apart from documented differences.

The token reaches anaconda-client through ``BINSTAR_API_TOKEN`` and rattler-build through its
``api_key`` argument inside a child process: never through a command line.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from rattler_build import assemble_package

from tests.servers.anaconda_server import AnacondaServer
from tests.support.anaconda_target import TOKEN, USER, AnacondaHandle
from tests.support.install import install_from
from tests.support.publish_flows import Cipub

pytestmark = pytest.mark.integration

ANACONDA = Path(sys.executable).with_name("anaconda")


def full_package(out: Path, name: str, version: str, build_number: int, payload: str = "hello") -> Path:
    """A package with info/about.json (rattler-build's uploader needs it; real builds have it)."""
    stage = out / f".stage-{name}-{version}-{build_number}-{abs(hash(payload))}"
    (stage / "share" / name).mkdir(parents=True, exist_ok=True)
    (stage / "share" / name / "payload.txt").write_text(payload)
    result = assemble_package(
        name=name,
        version=version,
        target_platform="noarch",
        build_string=f"h0000000_{build_number}",
        output_dir=out / "pkgs",
        files_dir=stage,
        build_number=build_number,
        noarch="generic",
        summary=f"{name}, a test package",
        license="MIT",
        compression_level=1,
    )
    return Path(result.path)


class AnacondaCli:
    """Runs the real ``anaconda`` command against the test server, configured like a user would."""

    def __init__(self, server: AnacondaServer, home: Path, *, standalone: bool = False) -> None:
        if not ANACONDA.exists():
            pytest.fail(f"anaconda-client is not installed next to {sys.executable}: pip install anaconda-client")
        config_dir = home / "binstar"
        (config_dir / "data").mkdir(parents=True)
        # BINSTAR_CONFIG_DIR/data/config.yaml is anaconda-client's user config under that variable
        (config_dir / "data" / "config.yaml").write_text(f"url: {server.url}\nssl_verify: false\n")
        self.env = {
            **os.environ,
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "BINSTAR_CONFIG_DIR": str(config_dir),
            "BINSTAR_API_TOKEN": TOKEN,
        }
        self.env.pop("ANACONDA_API_TOKEN", None)
        if standalone:
            # anaconda-client without the anaconda-cli-base plugin host: the same requests, half the
            # start-up time (its documented escape hatch, ANACONDA_CLIENT_FORCE_STANDALONE)
            self.env["ANACONDA_CLIENT_FORCE_STANDALONE"] = "true"

    def __call__(self, *args: str, ok: bool = True, token: str | None = None) -> subprocess.CompletedProcess[str]:
        env = dict(self.env)
        if token is not None:
            env["BINSTAR_API_TOKEN"] = token
        result = subprocess.run(
            [str(ANACONDA), *args], env=env, capture_output=True, text=True, timeout=120, check=False
        )
        output = result.stdout + result.stderr
        assert TOKEN not in output
        if ok:
            assert result.returncode == 0, f"anaconda {' '.join(args)} -> {result.returncode}\n{output}"
        return result


@pytest.fixture
def anaconda_cli(anaconda_srv: AnacondaServer, tmp_path: Path) -> AnacondaCli:
    return AnacondaCli(anaconda_srv, tmp_path / "home")


def test_anaconda_client_upload_show_copy_move_remove(
    anaconda_srv: AnacondaServer, anaconda: AnacondaHandle, tmp_path: Path
) -> None:
    anaconda_cli = AnacondaCli(anaconda_srv, tmp_path / "home", standalone=True)
    owner = anaconda.owner
    one = full_package(tmp_path, "acdemo", "1.0", 0, payload="one")
    two = full_package(tmp_path, "acdemo", "1.0", 1, payload="two")
    k1, k2 = f"noarch/{one.name}", f"noarch/{two.name}"

    anaconda_cli("upload", "--user", owner, "--label", "test", str(one), str(two))
    state = anaconda.state()
    assert set(state) == {"test"} and set(state["test"]) == {k1, k2}
    sha = state["test"]
    assert install_from(anaconda.install_url("test"), "acdemo", tmp_path / "env-test") == ["acdemo-1.0-h0000000_1"]

    shown = anaconda_cli("show", f"{owner}/acdemo/1.0/{k1}")
    assert one.name in shown.stdout + shown.stderr and "test" in shown.stdout + shown.stderr
    shown = anaconda_cli("show", f"{owner}/acdemo/1.0")
    assert all(k in shown.stdout + shown.stderr for k in (k1, k2))
    shown = anaconda_cli("show", f"{owner}/acdemo")
    assert "1.0" in shown.stdout + shown.stderr

    # copy adds a label to exactly one file (--to-owner: the default is the caller's own account);
    # move takes the source label off
    copy = ("copy", f"{owner}/acdemo/1.0/{k1}", "--to-owner", owner, "--from-label", "test", "--to-label", "main")
    copied = anaconda_cli(*copy)
    assert f"Copied file: {k1}" in copied.stdout
    assert anaconda.state() == {"test": sha, "main": {k1: sha[k1]}}
    assert install_from(anaconda.install_url("main"), "acdemo", tmp_path / "env-main") == ["acdemo-1.0-h0000000_0"]
    anaconda_cli("move", f"{owner}/acdemo/1.0/{k2}", "--from-label", "test", "--to-label", "rc")
    assert anaconda.state() == {"test": {k1: sha[k1]}, "main": {k1: sha[k1]}, "rc": {k2: sha[k2]}}
    # without --to-owner, copy goes to the caller's own account (anaconda-client's documented default)
    anaconda_cli("copy", f"{owner}/acdemo/1.0/{k2}", "--from-label", "rc", "--to-label", "mine")
    assert anaconda.server is not None and anaconda.server.truth(USER)["mine"] == {k2: sha[k2]}
    listed = anaconda_cli("label", "--list", "-o", owner)
    assert all(label in listed.stdout + listed.stderr for label in ("main", "rc", "test"))
    # label-wide operations: lock/show/unlock, and --copy tags every file of the label
    anaconda_cli("label", "--lock", "rc", "-o", owner)
    shown = anaconda_cli("label", "--show", "rc", "-o", owner)
    assert "[locked]" in shown.stdout + shown.stderr and k2 in shown.stdout + shown.stderr
    anaconda_cli("label", "--unlock", "rc", "-o", owner)
    anaconda_cli("label", "--copy", "test", "stable", "-o", owner)
    assert anaconda.state()["stable"] == {k1: sha[k1]}
    assert anaconda.state()["rc"] == {k2: sha[k2]}

    # a second upload of a taken name is refused and changes nothing; --skip-existing skips
    before = anaconda.state()
    refused = anaconda_cli("upload", "--user", owner, "--label", "test", str(one), ok=False)
    assert refused.returncode != 0 and "already exists" in refused.stdout + refused.stderr
    anaconda_cli("upload", "--user", owner, "--label", "test", "--skip-existing", str(one))
    assert anaconda.state() == before

    # remove deletes one file; the release and package go with their last file
    anaconda_cli("remove", "--force", f"{owner}/acdemo/1.0/{k2}")
    assert anaconda.state() == {"test": {k1: sha[k1]}, "main": {k1: sha[k1]}, "stable": {k1: sha[k1]}}
    anaconda_cli("remove", "--force", f"{owner}/acdemo/1.0/{k1}")
    assert anaconda.state() == {}
    assert anaconda_cli("show", f"{owner}/acdemo", ok=False).returncode != 0


def test_anaconda_client_force_replaces_only_through_delete(
    anaconda_cli: AnacondaCli, anaconda: AnacondaHandle, tmp_path: Path
) -> None:
    """--force is delete-then-upload (the peer behaviour cipub refuses); the server must support it."""
    first = full_package(tmp_path / "a", "acforce", "2.0", 0, payload="first")
    second = full_package(tmp_path / "b", "acforce", "2.0", 0, payload="second")
    anaconda_cli("upload", "--user", anaconda.owner, "--label", "test", str(first))
    anaconda_cli("upload", "--user", anaconda.owner, "--label", "test", "--force", str(second))
    [record] = anaconda.server.file_records(anaconda.owner) if anaconda.server else []
    assert record.basename == f"noarch/{second.name}"
    assert anaconda.state() == {"test": {record.basename: record.sha256}}
    assert anaconda.server is not None and not anaconda.server.verify_storage()
    methods = [(m, p.split("/")[1]) for m, p in anaconda.server.requests]
    assert ("DELETE", "dist") in methods


def test_anaconda_client_with_a_bad_token_gets_the_servers_401(
    anaconda_cli: AnacondaCli, anaconda: AnacondaHandle, tmp_path: Path
) -> None:
    pkg = full_package(tmp_path, "acauth", "1.0", 0)
    result = anaconda_cli("upload", "--user", anaconda.owner, str(pkg), ok=False, token="not-a-valid-token")
    assert result.returncode != 0
    assert "token is invalid" in result.stdout + result.stderr
    assert anaconda.state() == {}


def _upload_with_rattler_build(files: list[Path], owner: str, label: str, url: str) -> subprocess.CompletedProcess[str]:
    # py-rattler-build keeps the GIL while it uploads, so it runs in a child process (the test
    # server runs in this one); the key travels in the child's environment, not its argv.
    code = (
        "import json, os, sys, rattler_build\n"
        "args = json.loads(sys.stdin.read())\n"
        "rattler_build.upload_package_to_anaconda(args['files'], args['owner'], channel=[args['label']],\n"
        "    api_key=os.environ['TEST_ANACONDA_KEY'], url=args['url'])\n"
    )
    import json

    payload = json.dumps({"files": [str(f) for f in files], "owner": owner, "label": label, "url": url})
    return subprocess.run(
        [sys.executable, "-c", code],
        input=payload,
        env={**os.environ, "TEST_ANACONDA_KEY": TOKEN},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_rattler_build_uploader_uploads_to_a_label(anaconda: AnacondaHandle, tmp_path: Path) -> None:
    assert anaconda.server is not None
    one = full_package(tmp_path, "rbdemo", "3.1", 0, payload="one")
    two = full_package(tmp_path, "rbdemo", "3.1", 1, payload="two")
    result = _upload_with_rattler_build([one, two], anaconda.owner, "test", anaconda.server.url)
    assert result.returncode == 0, result.stderr
    state = anaconda.state()
    assert set(state) == {"test"} and set(state["test"]) == {f"noarch/{one.name}", f"noarch/{two.name}"}
    assert not anaconda.server.verify_storage()
    assert install_from(anaconda.install_url("test"), "rbdemo", tmp_path / "env") == ["rbdemo-3.1-h0000000_1"]

    # without --force a taken name is refused, and nothing changes
    again = _upload_with_rattler_build([one], anaconda.owner, "main", anaconda.server.url)
    assert again.returncode != 0 and "already exists" in again.stderr
    assert anaconda.state() == state


def _calls(server: AnacondaServer, owner: str) -> list[tuple[str, str]]:
    """The recorded requests, with the owner replaced by OWNER so two owners' sequences compare."""
    return [(m, "/".join("OWNER" if seg == owner else seg for seg in p.split("/"))) for m, p in server.requests]


def test_cipub_upload_speaks_like_anaconda_client(
    anaconda_cli: AnacondaCli,
    anaconda_srv: AnacondaServer,
    anaconda: AnacondaHandle,
    cipub: Cipub,
    tmp_path: Path,
) -> None:
    """Same package, two owners: anaconda-client's requests, then cipub's, compared by method and path."""
    pkg = full_package(tmp_path, "seqdemo", "0.1", 0)
    key = f"noarch/{pkg.name}"
    client_owner = f"{anaconda.owner}-client"
    anaconda_srv.add_org(client_owner, [USER])

    anaconda_srv.clear_requests()
    anaconda_cli("upload", "--user", client_owner, "--label", "test", str(pkg))
    client = _calls(anaconda_srv, client_owner)

    anaconda_srv.clear_requests()
    result = cipub("upload", str(pkg), "--target", anaconda.url, "--label", "test", cwd=tmp_path, env=anaconda.env)
    assert result.code == 0, result.err
    ours = _calls(anaconda_srv, anaconda.owner)

    upload = [
        ("GET", "/package/OWNER/seqdemo"),
        ("POST", "/package/OWNER/seqdemo"),
        ("GET", "/release/OWNER/seqdemo/0.1"),
        ("POST", "/release/OWNER/seqdemo/0.1"),
        ("POST", f"/stage/OWNER/seqdemo/0.1/{key}"),
        ("POST", "/s3/upload"),
        ("POST", f"/commit/OWNER/seqdemo/0.1/{key}"),
    ]
    # anaconda-client: reachability, does the owner exist, one existence check per file, the upload
    assert client == [("HEAD", "/"), ("GET", "/user/OWNER"), ("GET", f"/dist/OWNER/seqdemo/0.1/{key}"), *upload]
    # cipub, by design: no HEAD / or GET /user/OWNER (an absent owner or a bad token shows on the
    # first real request, with the server's message); the existence check is one state query per
    # (name, version) that returns every file with its labels and sha256, instead of GET /dist per
    # file without them: the package's record, whose 404 also says the release is absent (so
    # neither GET before their creation is repeated); and a read-back of the release verifies
    # label and sha256 at the end.
    package, release = ("GET", "/package/OWNER/seqdemo"), ("GET", "/release/OWNER/seqdemo/0.1")
    assert ours == [package, *[call for call in upload if call not in (package, release)], release]
    assert anaconda_srv.truth(client_owner) == anaconda.state() == {"test": {key: anaconda.state()["test"][key]}}
