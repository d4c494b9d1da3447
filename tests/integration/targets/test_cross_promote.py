"""Issue 13 item 3: ``cipub promote --to-target URL`` copies exactly the ledger's / manifest's files
from one target to another, checked by reading the destination back (the server's own truth),
idempotent, never overwriting, and the destination's token never shows in output or files."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CliResult
from tests.servers.anaconda_server import serve_anaconda
from tests.support.packages import make_package
from tests.support.quetz_target import quetz_server, quetz_target
from tests.support.s3_target import s3_target, shared_s3
from tests.support.targets import TargetHandle

pytestmark = pytest.mark.integration
__all__ = ["quetz_server"]
Cipub = Callable[..., CliResult]


def sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def ok(result: CliResult) -> dict[str, Any]:
    assert result.code == 0, f"exit {result.code}\n{result.out}\n{result.err}"
    doc: dict[str, Any] = json.loads(result.out)
    return doc


def files_text(root: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in root.rglob("*") if p.is_file() and p.suffix != ".conda")


def stage_locally(cipub: Cipub, work: Path) -> list[Path]:
    """Two packages staged in the zero-config local channel (label test) by this project."""
    pkgs = [make_package(work / "pkgs", f"cross-{n}", "1.0", 0, payload=n) for n in ("a", "b")]
    ok(cipub("upload", *map(str, pkgs), "--json", cwd=work))
    return pkgs


def promote_across(
    cipub: Cipub, work: Path, dest: TargetHandle, env: dict[str, str], pkgs: list[Path], canary: str
) -> None:
    expected = {"main": {f"noarch/{p.name}": sha(p) for p in pkgs}}
    dry = cipub("promote", "--to-target", dest.url, "--dry-run", "--json", cwd=work, env=env)
    assert [p["state"] for p in ok(dry)["promotions"]] == ["planned", "planned"]
    assert dest.state() == {}
    first = cipub("promote", "--to-target", dest.url, "--json", cwd=work, env=env)
    assert [p["state"] for p in ok(first)["promotions"]] == ["promoted", "promoted"]
    assert dest.state() == expected
    again = cipub("promote", "--to-target", dest.url, "--json", cwd=work, env=env)
    assert [p["state"] for p in ok(again)["promotions"]] == ["already-promoted", "already-promoted"]
    assert dest.state() == expected
    for result in (dry, first, again):
        assert canary not in result.out + result.err
    assert canary not in files_text(work)


def test_local_to_s3(cipub: Cipub, tmp_path: Path) -> None:
    pkgs = stage_locally(cipub, tmp_path)
    with s3_target(tmp_path / "s3", server=shared_s3()) as dest:
        promote_across(cipub, tmp_path, dest, dest.env, pkgs, dest.env["AWS_SECRET_ACCESS_KEY"])


def test_local_to_quetz_uses_only_the_destination_token(cipub: Cipub, quetz_server: Any, tmp_path: Path) -> None:
    pkgs = stage_locally(cipub, tmp_path)
    with quetz_target(tmp_path / "q", server=quetz_server) as dest:
        key = dest.env["QUETZ_API_KEY"]
        # QUETZ_API_KEY is not read for the destination: without CIPUB_TO_TOKEN it is refused
        refused = cipub("promote", "--to-target", dest.url, cwd=tmp_path, env={"QUETZ_API_KEY": key})
        assert refused.code == 5, refused.err
        assert "CIPUB_TO_TOKEN" in refused.err and "QUETZ_API_KEY" not in refused.err
        assert dest.state() == {}
        promote_across(cipub, tmp_path, dest, {"CIPUB_TO_TOKEN": key}, pkgs, key)


SOURCE_TOKEN = "anaconda-source-canary-0a9e7c11d2"
DEST_TOKEN = "anaconda-dest-canary-77b3f0e4c5"


def test_anaconda_owner_to_owner(cipub: Cipub, tmp_path: Path) -> None:
    with serve_anaconda(
        tmp_path / "server",
        tokens={SOURCE_TOKEN: "stager", DEST_TOKEN: "publisher"},
        orgs={"stager": ["cf-staging"], "publisher": ["cf-staging", "prod"]},
    ) as server:
        staging, prod = f"anaconda+{server.url}/cf-staging", f"anaconda+{server.url}/prod"
        pkgs = [make_package(tmp_path / "pkgs", f"owner-{n}", "1.0", 0, payload=n) for n in ("a", "b")]
        env = {"ANACONDA_API_TOKEN": SOURCE_TOKEN}
        ok(cipub("upload", *map(str, pkgs), "--target", staging, "--json", cwd=tmp_path, env=env))
        dest = TargetHandle(kind="anaconda", url=prod, state=lambda: server.truth("prod"))
        both = {**env, "CIPUB_TO_TOKEN": DEST_TOKEN}
        before = len(server.requests) if hasattr(server, "requests") else None
        promote_across(cipub, tmp_path, dest, {**both, "CIPUB_TARGET": staging}, pkgs, DEST_TOKEN)
        assert server.truth("cf-staging") == {"test": {f"noarch/{p.name}": sha(p) for p in pkgs}}
        if before is not None:
            paths = [str(r) for r in server.requests[before:]]
            assert any("/copy/package/cf-staging/" in p for p in paths), "expected a server-side copy"
            assert not any("/download/" in p for p in paths), "owner to owner must not download"


def test_anaconda_to_local_by_bytes(cipub: Cipub, tmp_path: Path) -> None:
    """Another kind of destination: downloaded with the source's token, checked, uploaded."""
    with serve_anaconda(
        tmp_path / "server", tokens={SOURCE_TOKEN: "stager"}, orgs={"stager": ["cf-staging"]}
    ) as server:
        staging = f"anaconda+{server.url}/cf-staging"
        pkgs = [make_package(tmp_path / "pkgs", f"bytes-{n}", "1.0", 0, payload=n) for n in ("a", "b")]
        env = {"ANACONDA_API_TOKEN": SOURCE_TOKEN, "CIPUB_TARGET": staging}
        ok(cipub("upload", *map(str, pkgs), "--json", cwd=tmp_path, env=env))
        local = tmp_path / "production"

        def state() -> dict[str, dict[str, str]]:
            found = {f"noarch/{p.name}": sha(p) for p in (local / "noarch").glob("*.conda")} if local.exists() else {}
            return {"main": found} if found else {}

        dest = TargetHandle(kind="local", url=str(local), state=state)
        promote_across(cipub, tmp_path, dest, env, pkgs, SOURCE_TOKEN)


def test_never_overwrites_the_destination(cipub: Cipub, tmp_path: Path) -> None:
    """Other bytes under the same name in the destination: exit 6 before anything is copied."""
    [pkg, friend] = stage_locally(cipub, tmp_path)
    impostor = make_package(tmp_path / "other", "cross-a", "1.0", 0, payload="impostor")
    assert impostor.name == pkg.name and sha(impostor) != sha(pkg)
    production = tmp_path / "production"
    ok(cipub("upload", str(impostor), "--target", str(production), "--label", "main", "--json", cwd=tmp_path / "other"))
    result = cipub("promote", "--to-target", str(production), cwd=tmp_path)
    assert result.code == 6, result.err
    assert "different content" in result.err and "nothing was copied" in result.err
    assert sha(production / "noarch" / pkg.name) == sha(impostor)
    assert not (production / "noarch" / friend.name).exists()


@pytest.mark.parametrize("dest", ["quetz+http://127.0.0.1:9/chan", "s3://bucket/prefix"])
def test_destination_token_file_errors_name_the_to_token_file_option(cipub: Cipub, tmp_path: Path, dest: str) -> None:
    """An unusable --to-token-file is reported as --to-token-file (the flag given), never --token-file."""
    stage_locally(cipub, tmp_path)
    result = cipub("promote", "--to-target", dest, "--to-token-file", str(tmp_path / "missing"), cwd=tmp_path)
    assert result.code == 2, result.err
    assert "--to-token-file" in result.err
    assert "--token-file" not in result.err.replace("--to-token-file", "")
