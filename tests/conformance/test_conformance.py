"""One conformance suite, the same scenarios on every kind of target (local, anaconda, PSM, Quetz,
prefix, Artifactory, S3), driven through the real CLI and checked against each server's own
truth (``TargetHandle.state()``: the server's API or stored bytes, never cipub).

Scenarios: upload · skip identical · conflict · build-number bump · promote (only the manifest's
files) · promote again · --move · verify by installing · faults (a fault proxy in front of the
server; for the local channel, a crashed earlier run) · unreachable target.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.conformance.conftest import ALL_KINDS, KINDS
from tests.conftest import REPO, CliResult
from tests.support.faultproxy import FaultProxy
from tests.support.packages import make_package
from tests.support.targets import TargetHandle

pytestmark = pytest.mark.integration

TEMPLATE = REPO / "recipes-template" / "v1-noarch-generic"
RECIPE_NAME = "hello-cipub-data"
Runner = Callable[..., CliResult]


# -- helpers ----------------------------------------------------------------------------------------
def ok(result: CliResult) -> dict[str, Any]:
    assert result.code == 0, f"exit {result.code}\nstdout:\n{result.out}\nstderr:\n{result.err}"
    doc: dict[str, Any] = json.loads(result.out) if result.out.strip().startswith("{") else {}
    return doc


def packages(root: Path, *specs: tuple[str, str, int, str]) -> list[Path]:
    """Real small packages, each in its own directory: (name, version, build number, payload)."""
    return [
        make_package(root / f"pkg{i}", name, version, number, payload=payload)
        for i, (name, version, number, payload) in enumerate(specs)
    ]


def key(path: Path, subdir: str = "noarch") -> str:
    return f"{subdir}/{path.name}"


def sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def upload(run: Runner, files: list[Path], label: str = "test", **kwargs: Any) -> CliResult:
    return run("upload", *map(str, files), "--label", label, "--json", **kwargs)


def receipts(doc: dict[str, Any], field: str = "uploads") -> dict[str, str]:
    return {f"{r['subdir']}/{r['filename']}": r["state"] for r in doc[field]}


def installs(handle: TargetHandle, label: str, spec: str, prefix: Path) -> list[str]:
    """Solve and install with py-rattler from one label, with a fresh repodata cache each time
    (so an earlier look at the label cannot hide what was promoted since)."""
    import asyncio

    from rattler import Channel, Gateway, install, solve

    async def go() -> list[str]:
        gateway = Gateway(cache_dir=prefix.parent / f".{prefix.name}-repodata")
        records = await solve(
            [Channel(handle.install_url(label))], [spec], gateway=gateway, platforms=["linux-64", "noarch"]
        )
        await install(
            records, target_prefix=prefix, cache_dir=prefix.parent / f".{prefix.name}-pkgs", show_progress=False
        )
        return [f"{r.name.normalized}-{r.version}-{r.build}" for r in records]

    return asyncio.run(go())


# -- the suite --------------------------------------------------------------------------------------
def test_every_kind_takes_part() -> None:
    """All seven kinds must be in the parametrization (each has tests/support/<kind>_target.py)."""
    assert set(KINDS) == set(ALL_KINDS), f"missing target modules: {sorted(set(ALL_KINDS) - set(KINDS))}"


def test_upload(run: Runner, target: TargetHandle, tmp_path: Path) -> None:
    files = packages(tmp_path, ("conf-a", "1.0", 0, "a"), ("conf-b", "2.0", 3, "b"))
    doc = ok(upload(run, files))
    assert receipts(doc) == {key(f): "uploaded" for f in files}
    assert target.state() == {"test": {key(f): sha(f) for f in files}}


def test_upload_again_skips_identical(run: Runner, target: TargetHandle, tmp_path: Path) -> None:
    files = packages(tmp_path, ("conf-a", "1.0", 0, "a"), ("conf-b", "2.0", 0, "b"))
    ok(upload(run, files))
    before = target.state()
    doc = ok(upload(run, files))
    assert receipts(doc) == {key(f): "skipped-identical" for f in files}
    assert target.state() == before


def test_conflict_exits_6_and_changes_nothing(run: Runner, target: TargetHandle, tmp_path: Path) -> None:
    [real] = packages(tmp_path / "real", ("conf-clash", "1.0", 0, "the real one"))
    [impostor, newcomer] = packages(
        tmp_path / "other", ("conf-clash", "1.0", 0, "an impostor"), ("conf-new", "1.0", 0, "new")
    )
    assert real.name == impostor.name and sha(real) != sha(impostor)
    ok(upload(run, [real]))
    before = target.state()
    for label in ("test", "main"):
        result = upload(run, [newcomer, impostor], label=label)
        assert result.code == 6, f"label {label}: exit {result.code}\n{result.err}"
        assert "Traceback" not in result.err
        assert target.state() == before, "a conflicting batch must leave the server untouched"


def test_build_twice_bumps_the_build_number(run: Runner, target: TargetHandle) -> None:
    work: Path = run.work  # type: ignore[attr-defined]
    shutil.copytree(TEMPLATE, work / "recipe")
    first = ok(run("build", "recipe", "--json"))["artifacts"][0]
    second = ok(run("build", "recipe", "--json"))["artifacts"][0]
    assert (first["build_number"], second["build_number"]) == (0, 1)
    assert first["filename"] != second["filename"]
    assert target.state() == {
        "test": {
            f"{first['subdir']}/{first['filename']}": first["sha256"],
            f"{second['subdir']}/{second['filename']}": second["sha256"],
        }
    }


def _staged_release(run: Runner, target: TargetHandle, tmp_path: Path) -> tuple[list[Path], list[Path]]:
    """The release (in this project's ledger) and bystanders (same label, staged by another project,
    another ledger) in ``test``."""
    bystanders = packages(tmp_path / "others", ("conf-rel", "0.9", 0, "older"), ("conf-other", "1.0", 0, "x"))
    ok(upload(run, bystanders, env={"CIPUB_OUTPUT_DIR": str(tmp_path / "another-project")}))
    release = packages(tmp_path / "release", ("conf-rel", "1.0", 0, "new"), ("conf-rel-data", "1.0", 0, "d"))
    ok(upload(run, release))  # this project's ledger lists exactly the release
    return release, bystanders


def test_promote_moves_only_the_manifest_files(run: Runner, target: TargetHandle, tmp_path: Path) -> None:
    release, bystanders = _staged_release(run, target, tmp_path)
    doc = ok(run("promote", "--json"))
    assert receipts(doc, "promotions") == {key(f): "promoted" for f in release}
    assert target.state() == {
        "test": {key(f): sha(f) for f in [*release, *bystanders]},
        "main": {key(f): sha(f) for f in release},
    }


def test_promote_again_changes_nothing(run: Runner, target: TargetHandle, tmp_path: Path) -> None:
    release, _ = _staged_release(run, target, tmp_path)
    ok(run("promote", "--json"))
    after = target.state()
    doc = ok(run("promote", "--json"))
    assert receipts(doc, "promotions") == {key(f): "already-promoted" for f in release}
    assert target.state() == after


def test_promote_move(run: Runner, target: TargetHandle, tmp_path: Path) -> None:
    release, bystanders = _staged_release(run, target, tmp_path)
    doc = ok(run("promote", "--move", "--json"))
    states = [r["state"] for r in doc["promotions"]]
    assert states.count("promoted") == len(release) and states.count("removed-from-source") == len(release)
    expected = {"test": {key(f): sha(f) for f in bystanders}, "main": {key(f): sha(f) for f in release}}
    assert target.state() == expected
    ok(run("promote", "--move", "--json"))  # again: nothing left to do, nothing changes
    assert target.state() == expected


def test_verify_installs_from_each_label(run: Runner, target: TargetHandle, tmp_path: Path) -> None:
    [pkg] = packages(tmp_path, ("conf-install", "1.0", 0, "installed payload"))
    ok(upload(run, [pkg]))
    assert installs(target, "test", "conf-install", tmp_path / "env-test") == ["conf-install-1.0-h0000000_0"]
    with pytest.raises(Exception):  # noqa: PT011 - each server words "not there" its own way
        installs(target, "main", "conf-install", tmp_path / "env-early")
    assert not (tmp_path / "env-early" / "share" / "conf-install").exists()
    ok(run("promote", "--json"))
    assert installs(target, "main", "conf-install", tmp_path / "env-main") == ["conf-install-1.0-h0000000_0"]
    payload = tmp_path / "env-main" / "share" / "conf-install" / "payload.txt"
    assert payload.read_text() == "installed payload"


# -- faults -----------------------------------------------------------------------------------------
_LOOPBACK = re.compile(r"(?:127\.0\.0\.1|localhost):(\d+)")
FAULT_SETTINGS = {
    "CIPUB_RETRIES": "6",
    "CIPUB_BACKOFF": "0.02",
    "CIPUB_READ_TIMEOUT": "2",
    "CIPUB_CONNECT_TIMEOUT": "2",
}


def _through(handle: TargetHandle, proxies: dict[int, FaultProxy]) -> TargetHandle:
    """The same target reached through the proxies (every loopback port in its URL and env)."""

    def swap(text: str) -> str:
        return _LOOPBACK.sub(lambda m: f"127.0.0.1:{proxies[int(m.group(1))].port}", text)

    return replace(handle, url=swap(handle.url), env={k: swap(v) for k, v in handle.env.items()})


def _ports(handle: TargetHandle) -> set[int]:
    return {int(p) for text in (handle.url, *handle.env.values()) for p in _LOOPBACK.findall(text)}


def test_faults(run: Runner, target: TargetHandle, tmp_path: Path) -> None:
    files = packages(tmp_path, *[(f"conf-fault{i}", "1.0", 0, f"payload {i}") for i in range(10)])
    expected = {key(f): sha(f) for f in files}
    if target.kind == "local":
        # The local channel's fault is a crashed earlier run: half-written temp files left behind.
        root = Path(target.url)
        (root / "label" / "test" / "noarch").mkdir(parents=True)
        (root / "label" / "test" / "noarch" / f".{files[0].name}.partial").write_bytes(b"\0" * 10)
        ok(upload(run, files))
        ok(upload(run, files))
        assert target.state() == {"test": expected}
        return
    upstream = _ports(target)
    assert upstream, f"{target.kind}: no loopback server to put the proxy in front of"
    proxies = {
        port: FaultProxy(f"http://127.0.0.1:{port}", rate=0.3, seed=7 + port % 97, max_consecutive=3, stall_seconds=4)
        for port in upstream
    }
    for proxy in proxies.values():
        proxy.__enter__()
    try:
        proxied = _through(target, proxies)
        result = upload(run, files, channel=proxied.url, env={**proxied.env, **FAULT_SETTINGS})
        assert result.code == 0, f"exit {result.code}\n{result.err}"
        assert sum(p.stats.requests for p in proxies.values()) > 0
    finally:
        for proxy in proxies.values():
            proxy.__exit__(None, None, None)
    assert target.state() == {"test": expected}, "every file exactly once, with its sha256"


def test_unreachable_target_fails_cleanly(run: Runner, target: TargetHandle, tmp_path: Path) -> None:
    files = packages(tmp_path, ("conf-down", "1.0", 0, "x"))
    before = target.state()
    if target.kind == "local":
        blocker = tmp_path / "not-a-directory"
        blocker.write_text("a file where the channel should be")
        result = upload(run, files, channel=str(blocker / "channel"))
        assert result.code not in (0, 1), f"exit {result.code}\n{result.err}"
    else:
        proxies = {port: FaultProxy(f"http://127.0.0.1:{port}") for port in _ports(target)}
        for proxy in proxies.values():
            proxy.__enter__()
            proxy.down = True  # every connection is reset: the server is gone for good
        try:
            proxied = _through(target, proxies)
            settings = {**FAULT_SETTINGS, "CIPUB_RETRIES": "2"}
            result = upload(run, files, channel=proxied.url, env={**proxied.env, **settings})
        finally:
            for proxy in proxies.values():
                proxy.__exit__(None, None, None)
        assert result.code == 7, f"exit {result.code}\n{result.err}"
    assert "Traceback" not in result.err
    assert len(result.err.strip().splitlines()) <= 4, result.err
    assert target.state() == before


# -- one decision on every kind ------------------------------------------------------------------------
#: what every kind must decide, step by step: (exit code, receipt states) or (exit code, the problem)
SAME_DECISIONS = [
    ("promote a build that is not on the channel", (8, "is not on the channel")),
    ("promote when --from holds another build of that name", (8, "is not the file that was built")),
    ("take the label off the only copy", (8, "no other label holds the same bytes")),
    ("promote --dry-run", (0, ["planned"])),
    ("promote", (0, ["promoted"])),
    ("promote again", (0, ["already-promoted"])),
    ("promote --move", (0, ["already-promoted", "removed-from-source"])),
    ("promote --move again", (0, ["already-promoted"])),
    ("take the label off the last copy left", (8, "no other label holds the same bytes")),
]
PROBLEMS = ("is not on the channel", "is not the file that was built", "no other label holds the same bytes")


def test_same_manifest_same_state_same_decision(
    run: Runner, target: TargetHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The promote/refuse decision is the policy's (cipub.policy.promote), not the target's: the
    same manifest and channel state give the same answer on all seven kinds, the last-copy case
    included, and a refusal changes nothing on the server."""
    from cipub.channels import TargetOptions, open_channel
    from cipub.core import manifest as manifest_mod
    from cipub.core.artifact import read_artifact
    from cipub.core.errors import CipubError
    from cipub.core.manifest import ArtifactEntry, Manifest
    from cipub.policy.promote import promote, remove_label

    [built_a, release] = packages(tmp_path / "built", ("conf-dec-a", "1.0", 0, "built"), ("conf-dec", "1.0", 0, "r"))
    [impostor] = packages(tmp_path / "impostor", ("conf-dec-a", "1.0", 0, "another build"))
    assert built_a.name == impostor.name and sha(built_a) != sha(impostor)
    entries = {p: [ArtifactEntry.from_artifact(read_artifact(p))] for p in (built_a, release)}
    for name, value in target.env.items():
        monkeypatch.setenv(name, value)
    channel = open_channel(target.url, TargetOptions(backoff=0.01, labels=("test", "main")))

    def problem(text: str) -> str:
        return next((p for p in PROBLEMS if p in text), text)

    def cli(pkg: Path, *args: str) -> tuple[int, object]:
        path = manifest_mod.write(Manifest(artifacts=list(entries[pkg])), tmp_path / "manifest.json")
        result = run("promote", "--manifest", str(path), "--json", *args)
        assert "Traceback" not in result.err
        if result.code:
            return result.code, problem(result.err)
        return 0, [r["state"] for r in json.loads(result.out)["promotions"]]

    def library(act: Callable[[], object]) -> tuple[int, object]:
        try:
            return 0, act()
        except CipubError as exc:
            return exc.exit_code, problem(exc.message)

    def dry_run() -> list[str]:
        return [r.state for r in promote(Manifest(artifacts=entries[release]), channel, "test", "main", dry_run=True)]

    def take_off(label: str) -> list[str]:
        return [e.key for e in remove_label(channel, entries[release], label)]

    def state() -> dict[str, dict[str, str]]:
        return {label: files for label, files in target.state().items() if files}

    impostor_in_test = {"test": {key(impostor): sha(impostor)}}
    staged = {"test": {key(impostor): sha(impostor), key(release): sha(release)}}
    both = {**staged, "main": {key(release): sha(release)}}
    moved = {"test": {key(impostor): sha(impostor)}, "main": {key(release): sha(release)}}

    def staged_first(pkg: Path) -> Callable[[], object]:
        return lambda: ok(upload(run, [pkg]))  # upload to "test" before deciding

    Step = tuple[str, Callable[[], object] | None, Callable[[], tuple[int, object]], dict[str, dict[str, str]]]
    steps: list[Step] = [
        ("promote a build that is not on the channel", None, lambda: cli(built_a), {}),
        (
            "promote when --from holds another build of that name",
            staged_first(impostor),
            lambda: cli(built_a),
            impostor_in_test,
        ),
        ("take the label off the only copy", staged_first(release), lambda: library(lambda: take_off("test")), staged),
        ("promote --dry-run", None, lambda: library(dry_run), staged),
        ("promote", None, lambda: cli(release), both),
        ("promote again", None, lambda: cli(release), both),
        ("promote --move", None, lambda: cli(release, "--move"), moved),
        ("promote --move again", None, lambda: cli(release, "--move"), moved),
        ("take the label off the last copy left", None, lambda: library(lambda: take_off("main")), moved),
    ]
    decided = []
    for name, setup, act, expected_state in steps:
        if setup is not None:
            setup()
        decided.append((name, act()))
        assert state() == expected_state, f"{target.kind}, after {name!r}"
    assert decided == SAME_DECISIONS


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_kind_is_importable(kind: str) -> None:
    """Each kind's cipub channel module loads and defines ``open_target``."""
    import importlib

    module = importlib.import_module(f"cipub.channels.{kind}")
    assert callable(module.open_target)


# -- yank and prune (issue 13) -------------------------------------------------------------------------
def test_yank_keeps_the_file_in_broken_and_takes_it_off_main(run: Runner, target: TargetHandle, tmp_path: Path) -> None:
    [bad, good] = packages(tmp_path, ("conf-yank", "1.0", 0, "bad release"), ("conf-yank-ok", "1.0", 0, "fine"))
    ok(upload(run, [bad, good]))
    ok(run("promote", "--json"))
    promoted = target.state()
    dry = run("yank", "conf-yank=1.0", "--target", target.url, *target.extra_args, "--dry-run", "--json")
    assert [a["state"] for a in ok(dry)["actions"]] == ["planned"]
    assert target.state() == promoted, "--dry-run changed the server"

    yank = run("yank", "conf-yank=1.0", "--target", target.url, *target.extra_args, "--json")
    assert [a["state"] for a in ok(yank)["actions"]] == ["yanked"]
    expected = {
        "test": {key(bad): sha(bad), key(good): sha(good)},
        "main": {key(good): sha(good)},
        "broken": {key(bad): sha(bad)},
    }
    assert target.state() == expected, "nothing deleted, the file moved from main to broken"
    assert installs(target, "broken", "conf-yank", tmp_path / "env-broken") == ["conf-yank-1.0-h0000000_0"]
    with pytest.raises(Exception):  # noqa: PT011 - not in main's repodata any more
        installs(target, "main", "conf-yank", tmp_path / "env-main")

    again = run("yank", "conf-yank=1.0", "--target", target.url, *target.extra_args, "--json")
    assert [a["state"] for a in ok(again)["actions"]] == ["already-yanked"]
    assert target.state() == expected
    # a later `cipub promote` does not bring the yanked file back
    ok(run("promote", "--json"))
    assert target.state() == expected


def test_prune_removes_only_superseded_staged_builds(run: Runner, target: TargetHandle, tmp_path: Path) -> None:
    [old, new, release] = packages(
        tmp_path, ("conf-prune", "1.0", 0, "old"), ("conf-prune", "1.0", 1, "new"), ("conf-prune-rel", "1.0", 0, "r")
    )
    ok(upload(run, [old, new, release]))
    ok(run("promote", "--json"))  # promotes the newest: `new` and `release`; `old` stays staged only
    [newer_release] = packages(tmp_path / "later", ("conf-prune-rel", "1.0", 1, "r2"))
    ok(upload(run, [newer_release]))  # supersedes the promoted `release`, which must stay
    before = target.state()
    assert before["main"] == {key(new): sha(new), key(release): sha(release)}
    args = ("--target", target.url, *target.extra_args)

    dry = run("prune", "--superseded", *args, "--json")
    assert [(a["filename"], a["state"]) for a in ok(dry)["actions"]] == [(old.name, "planned")]
    # why each file is kept is in the document's plan (with --json, not printed on stderr too)
    assert {
        "subdir": "noarch",
        "filename": release.name,
        "sha256": sha(release),
        "action": "keep",
        "reason": "also in label main",
    } in ok(dry)["plan"]
    assert target.state() == before, "the default dry run changed the server"

    done = run("prune", "--superseded", "--yes", *args, "--json")
    assert [(a["filename"], a["state"]) for a in ok(done)["actions"]] == [(old.name, "pruned")]
    after = {**before, "test": {k: v for k, v in before["test"].items() if k != key(old)}}
    assert {label: files for label, files in target.state().items() if files} == after
    again = run("prune", "--superseded", "--yes", *args, "--json")
    assert ok(again)["actions"] == []
    assert {label: files for label, files in target.state().items() if files} == after


def test_cross_target_promotion_from_every_kind_into_a_local_channel(
    run: Runner, target: TargetHandle, tmp_path: Path
) -> None:
    """Every kind as the source of ``promote --to-target``: the bytes land once, checked by sha256,
    and a re-run changes nothing."""
    files = packages(tmp_path, ("conf-cross", "1.0", 0, "cross"))
    ok(upload(run, files))
    production = tmp_path / "production"
    first = ok(run("promote", "--to-target", str(production), "--json"))
    assert [r["state"] for r in first["promotions"]] == ["promoted"]
    assert sha(production / "noarch" / files[0].name) == sha(files[0])
    again = ok(run("promote", "--to-target", str(production), "--json"))
    assert [r["state"] for r in again["promotions"]] == ["already-promoted"]
    assert sorted(p.name for p in (production / "noarch").glob("*.conda")) == [files[0].name]
