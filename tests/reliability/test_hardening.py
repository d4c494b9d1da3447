"""Issue 18: the classes of attack an independent red team found, each as tests that failed on the
main branch of the time and hold now. Figures go to the "hardening" section of docs/reliability.md:
per class, the cases tried and how many held (refused before any write, or converged, or exited
with a documented code and one line).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cipub.core.artifact import read_artifact
from cipub.core.errors import InvalidPackageError, VerificationError
from cipub.core.manifest import ArtifactEntry, Manifest
from cipub.core.manifest import write as write_manifest
from cipub.core.transport import file_chunks
from tests.conftest import CliResult
from tests.reliability import figures
from tests.reliability.craft import Member, Spec, write_conda, write_tar_bz2
from tests.reliability.helpers import cipub_cmd, cipub_env, local_truth, sha256_file
from tests.support.packages import make_package

Cli = Callable[..., CliResult]
OK_FILE = Member("share/evil/readme.txt", b"hello")


def _held(klass: str, case: str, held: bool = True, n: int = 1) -> None:
    figures.record("hardening", f"{klass}: {case}", cases=n, held=n if held else 0)


def _one_line(result: CliResult) -> bool:
    return result.err.count("cipub: error:") == 1 and "Traceback" not in result.err + result.out


def _manifest(directory: Path, *paths: Path) -> Path:
    entries = [ArtifactEntry.from_artifact(read_artifact(p)) for p in paths]
    return Path(write_manifest(Manifest(artifacts=entries), directory / "cipub-manifest.json"))


# -- class 1: channel-layout integrity -----------------------------------------------------------


def test_symlinked_label_never_loses_the_only_copy(cipub: Cli, tmp_path: Path) -> None:
    """`ln -s test ch/label/stable`, then promote --from test --to stable --move: refused, file kept."""
    package = make_package(tmp_path / "pkgs", "solo", payload="only copy")
    channel = tmp_path / "ch"
    assert cipub("upload", str(package), "--target", str(channel), "--label", "test", cwd=tmp_path).code == 0
    (channel / "label" / "stable").symlink_to("test")
    manifest = _manifest(tmp_path, package)
    result = cipub(
        "promote", "-M", str(manifest), "--target", str(channel), "--from", "test", "--to", "stable", "--move"
    )
    assert result.code == 2, result.err
    assert "symlink" in result.err and _one_line(result)
    assert (channel / "label" / "test" / "noarch" / package.name).is_file()
    _held("1 layout", "symlinked label + promote --move")


def test_symlinked_subdir_and_package_file_are_refused(cipub: Cli, tmp_path: Path) -> None:
    package = make_package(tmp_path / "pkgs", "solo", payload="x")
    channel = tmp_path / "ch"
    assert cipub("upload", str(package), "--target", str(channel), "--label", "test", cwd=tmp_path).code == 0
    other = channel / "label" / "other"
    other.mkdir()
    (other / "noarch").symlink_to(channel / "label" / "test" / "noarch")
    result = cipub("upload", str(package), "--target", str(channel), "--label", "other", cwd=tmp_path)
    assert result.code == 2 and "symlink" in result.err and _one_line(result)
    (other / "noarch").unlink()
    (other / "noarch").mkdir()
    (other / "noarch" / package.name).symlink_to(channel / "label" / "test" / "noarch" / package.name)
    manifest = _manifest(tmp_path, package)
    result = cipub(
        "promote", "-M", str(manifest), "--target", str(channel), "--from", "test", "--to", "other", "--move"
    )
    assert result.code == 2 and _one_line(result), result.err
    assert (channel / "label" / "test" / "noarch" / package.name).is_file()
    _held("1 layout", "symlinked subdir / package file", n=2)


def test_symlinked_label_as_the_source_is_refused_too(cipub: Cli, tmp_path: Path) -> None:
    """The reverse direction: promote --from alias --to test --move, alias -> test."""
    package = make_package(tmp_path / "pkgs", "solo", payload="only copy")
    channel = tmp_path / "ch"
    assert cipub("upload", str(package), "--target", str(channel), "--label", "test", cwd=tmp_path).code == 0
    (channel / "label" / "alias").symlink_to("test")
    manifest = _manifest(tmp_path, package)
    result = cipub(
        "promote", "-M", str(manifest), "--target", str(channel), "--from", "alias", "--to", "test", "--move"
    )
    assert result.code == 2 and _one_line(result), result.err
    assert (channel / "label" / "test" / "noarch" / package.name).is_file()
    _held("1 layout", "symlinked label as --from")


def test_overlong_label_and_bad_journal_never_brick_the_channel(cipub: Cli, tmp_path: Path) -> None:
    package = make_package(tmp_path / "pkgs", "long", payload="l")
    channel = tmp_path / "ch"
    assert cipub("upload", str(package), "--target", str(channel), "--label", "test", cwd=tmp_path).code == 0
    manifest = _manifest(tmp_path, package)
    result = cipub("promote", "-M", str(manifest), "--target", str(channel), "--to", "a" * 300)
    assert result.code == 2 and _one_line(result), result.err
    assert not (channel / ".cipub-pending").exists()
    (channel / ".cipub-pending").write_text(json.dumps([["a" * 300, "noarch"], ["test", "../x"]]))
    again = cipub("promote", "-M", str(manifest), "--target", str(channel), cwd=tmp_path)
    assert again.code == 0, again.err
    _held("1 layout", "over-long label / unusable journal entry", n=2)


def _junk_files(directory: Path) -> list[Path]:
    """What a channel may come to hold by hand or from an older cipub: not packages at all, and
    packages with well-formed but wrongly typed index.json (accepted by the main branch)."""
    directory.mkdir(parents=True, exist_ok=True)
    junk = directory / "junk-1.0-0.conda"
    junk.write_bytes(b"not a zip")
    (directory / "notes-1.0-0.tar.bz2").write_bytes(b"BZh9 nope")
    typed = write_conda(directory, Spec(name="typed", index={"depends": "python"}, pkg=[OK_FILE]))
    return [junk, directory / "notes-1.0-0.tar.bz2", typed]


def test_junk_in_a_label_is_skipped_reported_and_kept(
    cipub: Cli, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    channel = tmp_path / "ch"
    first = make_package(tmp_path / "p1", "good", payload="1")
    assert cipub("upload", str(first), "--target", str(channel), "--label", "test", cwd=tmp_path).code == 0
    junk = _junk_files(channel / "label" / "test" / "noarch")
    second = make_package(tmp_path / "p2", "later", payload="2")
    result = cipub("upload", str(second), "--target", str(channel), "--label", "test", cwd=tmp_path)
    assert result.code == 0, result.err
    assert all(p.is_file() for p in junk), "junk must never be deleted silently"
    assert all(p.name in caplog.text for p in junk), caplog.text  # reported (a warning on stderr)
    truth = local_truth(channel)
    assert truth.indexed["test"] == {f"noarch/{first.name}", f"noarch/{second.name}"}
    manifest = _manifest(tmp_path, first, second)
    promoted = cipub("promote", "-M", str(manifest), "--target", str(channel), cwd=tmp_path)
    assert promoted.code == 0, promoted.err
    _held("1 layout", "junk files in a label, later commands", n=len(junk))


def test_junk_in_an_s3_label_is_skipped_reported_and_kept(
    cipub: Cli, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The same on an S3 channel (moto): index_s3 fails on a junk object; cipub indexes without it."""
    from tests.support.s3_target import s3_client, s3_target, shared_s3

    endpoint = shared_s3()
    with s3_target(tmp_path, server=endpoint) as handle:
        first = make_package(tmp_path / "p1", "good", payload="1")
        up = cipub("upload", str(first), "--target", handle.url, "--label", "test", cwd=tmp_path, env=handle.env)
        assert up.code == 0, up.err
        bucket, prefix = handle.url.removeprefix("s3://").split("/", 1)
        client = s3_client(endpoint)
        junk_keys = [f"{prefix}/label/test/noarch/junk-1.0-0.conda", f"{prefix}/label/test/noarch/typed-1.0-0.conda"]
        typed = write_conda(tmp_path, Spec(name="typed", index={"depends": "python"}, pkg=[OK_FILE]))
        client.put_object(Bucket=bucket, Key=junk_keys[0], Body=b"not a zip")
        client.put_object(Bucket=bucket, Key=junk_keys[1], Body=typed.read_bytes())
        second = make_package(tmp_path / "p2", "later", payload="2")
        later = cipub("upload", str(second), "--target", handle.url, "--label", "test", cwd=tmp_path, env=handle.env)
        assert later.code == 0, later.err
        assert all(k.rsplit("/", 1)[-1] in caplog.text for k in junk_keys), caplog.text
        for key in junk_keys:
            client.head_object(Bucket=bucket, Key=key)  # still there: never deleted silently
        repodata = json.loads(
            client.get_object(Bucket=bucket, Key=f"{prefix}/label/test/noarch/repodata.json")["Body"].read()
        )
        assert set(repodata["packages.conda"]) == {first.name, second.name}
        leftovers = client.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/label/test/.cipub-index-")
        assert not leftovers.get("Contents"), "the scratch index must be cleaned up"
    _held("1 layout", "junk objects in an S3 label, later commands", n=len(junk_keys))


INDEX_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.text(max_size=8),
    st.lists(st.one_of(st.integers(), st.text(max_size=6)), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)
INDEX_KEYS = st.sampled_from(
    [
        "depends",
        "constrains",
        "build_number",
        "license",
        "timestamp",
        "track_features",
        "features",
        "platform",
        "arch",
        "noarch",
        "license_family",
        "subdir",
    ]
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fields=st.dictionaries(INDEX_KEYS, INDEX_VALUES, min_size=1, max_size=3))
def test_index_json_refused_or_indexable(tmp_path_factory: pytest.TempPathFactory, fields: dict[str, object]) -> None:
    """Whatever types index.json holds: read_artifact refuses it, or py-rattler can index it."""
    from rattler import Subdir
    from rattler.index import index_fs

    from cipub.channels.local import run_index

    directory = tmp_path_factory.mktemp("typed")
    spec = Spec(name="typed", index=dict(fields), pkg=[OK_FILE])
    path = write_conda(directory, spec)
    try:
        artifact = read_artifact(path)
    except InvalidPackageError:
        _held("1 layout", "index.json types (hypothesis): refused")
        return
    channel = directory / "ch"
    (channel / artifact.subdir).mkdir(parents=True)
    os.link(path, channel / artifact.subdir / path.name)
    run_index(index_fs(channel, target_platform=Subdir(artifact.subdir), write_zst=False, write_shards=False))
    assert json.loads((channel / artifact.subdir / "repodata.json").read_text())["packages.conda"]
    _held("1 layout", "index.json types (hypothesis): accepted and indexable")


def test_two_formats_and_case_twins_are_refused(cipub: Cli, tmp_path: Path) -> None:
    channel = tmp_path / "ch"
    conda = make_package(tmp_path / "a", "fmt", payload="a")
    bz2 = make_package(tmp_path / "b", "fmt", payload="b", tar_bz2=True)
    assert cipub("upload", str(conda), "--target", str(channel), cwd=tmp_path).code == 0
    later = cipub("upload", str(bz2), "--target", str(channel), cwd=tmp_path)
    assert later.code == 6 and "two formats" in later.err and _one_line(later), later.err
    both = cipub("upload", str(conda), str(bz2), "--target", str(tmp_path / "ch2"), cwd=tmp_path)
    assert both.code == 6 and not (tmp_path / "ch2").exists(), both.err
    upper = write_conda(tmp_path, Spec(name="Evil", pkg=[OK_FILE]))
    refused = cipub("upload", str(upper), "--target", str(channel), cwd=tmp_path)
    assert refused.code == 9 and "lower case" in refused.err, refused.err
    lower = make_package(tmp_path / "c", "casey", "1.0rc1", payload="c")
    upper = make_package(tmp_path / "d", "casey", "1.0RC1", payload="d")
    assert cipub("upload", str(lower), "--target", str(channel), cwd=tmp_path).code == 0
    twin = cipub("upload", str(upper), "--target", str(channel), "--label", "main", cwd=tmp_path)
    assert twin.code == 6 and "only in case" in twin.err and _one_line(twin), twin.err
    _held("1 layout", "two formats / upper-case name / case twin on the channel", n=4)


# -- class 2: batch integrity --------------------------------------------------------------------


def test_same_file_name_twice_in_a_batch_writes_nothing(cipub: Cli, tmp_path: Path) -> None:
    one = make_package(tmp_path / "a", "dup", payload="first")
    two = make_package(tmp_path / "b", "dup", payload="second")
    assert one.name == two.name and sha256_file(one) != sha256_file(two)
    channel = tmp_path / "ch"
    result = cipub("upload", str(one), str(two), "--target", str(channel), cwd=tmp_path)
    assert result.code == 6 and "twice" in result.err and _one_line(result), result.err
    assert not channel.exists() or local_truth(channel).files == {}
    merged = cipub("upload", str(one), str(one), "--target", str(channel), cwd=tmp_path)  # same bytes: one file
    assert merged.code == 0, merged.err
    _held("2 batch", "same name twice, other bytes (and same bytes)", n=2)


@pytest.mark.parametrize("field", ["subdir", "name", "filename", "build_number"])
def test_hand_edited_manifest_is_caught_before_writing(cipub: Cli, tmp_path: Path, field: str) -> None:
    package = make_package(tmp_path / "pkgs", "edited", payload="e")
    manifest = _manifest(tmp_path, package)
    data = json.loads(manifest.read_text())
    entry = data["artifacts"][0]
    changed = {"subdir": "linux-64", "name": "other", "filename": "edited-9.9-h0000000_0.conda", "build_number": 7}
    entry[field] = changed[field]
    if field == "filename":
        renamed = package.with_name(changed["filename"])
        os.link(package, renamed)
        entry["path"] = str(renamed)
    manifest.write_text(json.dumps(data))
    channel = tmp_path / "ch"
    result = cipub("upload", "-M", str(manifest), "--target", str(channel), cwd=tmp_path)
    assert result.code in (8, 9), result.err
    assert _one_line(result)
    assert not channel.exists() or local_truth(channel).files == {}
    _held("2 batch", f"manifest edited by hand: {field}")


def test_file_swapped_between_check_and_write(cipub: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check reads the good file; the write must hash what it copies and publish nothing else."""
    from cipub.policy import publish

    package = make_package(tmp_path / "pkgs", "swap", payload="good")
    evil = make_package(tmp_path / "evil", "swap", payload="evil")
    checked = publish._checked_artifact

    def check_then_swap(manifest: Manifest, entry: ArtifactEntry, **how: bool) -> object:
        artifact = checked(manifest, entry, **how)
        package.write_bytes(evil.read_bytes())  # the swap, after the check
        return artifact

    monkeypatch.setattr(publish, "_checked_artifact", check_then_swap)
    channel = tmp_path / "ch"
    result = cipub("upload", str(package), "--target", str(channel), cwd=tmp_path)
    assert result.code == 8 and "changed while" in result.err, result.err
    assert local_truth(channel).files == {}
    _held("2 batch", "file swapped after its check (local)")


def test_http_bodies_are_hashed_while_sent(tmp_path: Path) -> None:
    """Every HTTP upload streams through file_chunks: the last chunk is held back until the hash is
    known, so a swapped file never reaches a server whole."""
    path = tmp_path / "f.bin"
    path.write_bytes(b"a" * 3000)
    good = sha256_file(path)
    assert b"".join(file_chunks(path, 1024, sha256=good)) == b"a" * 3000
    path.write_bytes(b"b" * 3000)
    sent = []
    with pytest.raises(VerificationError):
        for chunk in file_chunks(path, 1024, sha256=good):
            sent.append(chunk)
    assert sum(map(len, sent)) < 3000
    # the same for httpx's files= (PSM): the read that would hand out the last bytes raises
    from cipub.core.transport import VerifiedReader

    with path.open("rb") as fh:
        reader = VerifiedReader(fh, good)
        assert reader.read(1024)
        reader.seek(0)  # a retry rewinds: the digest starts again
        with pytest.raises(VerificationError):
            while reader.read(1024):
                pass
    path.write_bytes(b"a" * 3000)
    with path.open("rb") as fh:
        reader = VerifiedReader(fh, good)
        assert len(b"".join(iter(lambda: reader.read(1024), b""))) == 3000
    _held("2 batch", "HTTP body hashed while sent", n=2)


# -- class 3: hostile packages -------------------------------------------------------------------

ESCAPES = {
    "chain through a symlinked dir": [
        Member("share/up", kind="symlink", target=".."),
        Member("share/a", kind="symlink", target="up/.."),
    ],
    "file written through an escaping chain": [
        Member("share/up", kind="symlink", target=".."),
        Member("share/a", kind="symlink", target="up/.."),
        Member("share/a/etc/passwd", b"x"),
    ],
    "symlink loop": [Member("share/l1", kind="symlink", target="l2"), Member("share/l2", kind="symlink", target="l1")],
    "hard link to nothing in the package": [OK_FILE, Member("share/hl", kind="hardlink", target="share/missing")],
    "hard link to a symlink": [
        Member("share/s", kind="symlink", target="readme.txt"),
        Member("share/hl", kind="hardlink", target="share/s"),
    ],
    "fifo": [Member("share/fifo", kind="fifo")],
    "setuid file": [Member("bin/su", b"x", kind="setuid")],
}


def _crafted(directory: Path, members: list[Member]) -> list[Path]:
    spec = Spec(name="chain", pkg=members)
    return [write_conda(directory, spec), write_tar_bz2(directory, spec)]


@pytest.mark.parametrize("case", sorted(ESCAPES))
def test_escapes_an_installer_would_follow_are_refused(case: str, tmp_path: Path) -> None:
    for path in _crafted(tmp_path, ESCAPES[case]):
        with pytest.raises(InvalidPackageError):
            read_artifact(path)
        _held("3 hostile", case)


def test_paths_json_that_points_outside_is_refused(tmp_path: Path) -> None:
    """conda links what info/paths.json lists: a listed path outside the prefix is refused too."""
    listing = {"paths": [{"_path": "../../etc/cron.d/x", "path_type": "hardlink"}], "paths_version": 1}
    spec = Spec(name="listed", pkg=[OK_FILE], info_extra=[Member("info/paths.json", json.dumps(listing).encode())])
    for path in (write_conda(tmp_path, spec), write_tar_bz2(tmp_path, spec)):
        with pytest.raises(InvalidPackageError):
            read_artifact(path)
        _held("3 hostile", "info/paths.json lists a path outside the prefix")


NAMES = st.sampled_from(["a", "b", "share", "share/a", "share/b", "share/x/y"])
TARGETS = st.lists(st.sampled_from(["..", ".", "a", "b", "x", "share"]), min_size=1, max_size=4).map("/".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(links=st.dictionaries(NAMES, TARGETS, min_size=1, max_size=4))
def test_symlink_chains_against_the_real_filesystem(
    tmp_path_factory: pytest.TempPathFactory, links: dict[str, str]
) -> None:
    """Oracle: the same links made on a real disk. Whatever resolves outside the prefix there is
    refused by read_artifact (it may refuse more: loops, links through absolute paths)."""
    root = tmp_path_factory.mktemp("chain")
    prefix = root / "prefix"
    prefix.mkdir()
    escapes = False
    made: list[Member] = []
    for name, target in links.items():
        place = prefix / name
        try:
            place.parent.mkdir(parents=True, exist_ok=True)
            place.symlink_to(target)
        except OSError:
            continue  # the disk cannot hold this layout (a parent is a link or a file)
        made.append(Member(name, kind="symlink", target=target))
    for member in made:
        real = Path(os.path.realpath(prefix / member.name))
        if not real.is_relative_to(prefix.resolve()):
            escapes = True
    if not made:
        return
    refused = 0
    for path in _crafted(root, made):
        try:
            read_artifact(path)
        except InvalidPackageError:
            refused += 1
    if escapes:
        assert refused == 2, (links, "escapes on disk but was accepted")
    _held("3 hostile", "symlink chains vs real filesystem (hypothesis)")


# -- class 6: process edges (not signals) --------------------------------------------------------


def _run(args: list[str], cwd: Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cipub_cmd(*args), cwd=cwd, env=cipub_env(), text=True, capture_output=True, timeout=120, check=False, **kwargs
    )  # type: ignore[call-overload]


def test_closed_stdout_exits_10_with_one_line(tmp_path: Path) -> None:
    package = make_package(tmp_path / "pkgs", "pipe", payload="p")
    codes = []
    for i in range(3):
        proc = subprocess.Popen(
            cipub_cmd("upload", str(package), "--target", str(tmp_path / f"ch{i}")),
            cwd=tmp_path,
            env=cipub_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        proc.stdout.close()  # `| head -0`
        _out, err = proc.communicate(timeout=120)
        codes.append(proc.returncode)
        assert proc.returncode == 10, (proc.returncode, err)
        assert err.count("cipub: error:") == 1 and "Fatal Python error" not in err, err
    _held("6 process", "stdout closed early (head)", n=len(codes))


def test_disk_full_and_paths_that_are_files(tmp_path: Path) -> None:
    package = make_package(tmp_path / "pkgs", "full", payload="f")
    with Path("/dev/full").open("w") as full:
        done = subprocess.run(
            cipub_cmd("upload", str(package), "--target", str(tmp_path / "ch"), "--json"),
            cwd=tmp_path,
            env=cipub_env(),
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 10 and done.stderr.count("cipub: error:") == 1, done.stderr
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    for target in (a_file, a_file / "sub"):
        done = _run(["upload", str(package), "--target", str(target)], tmp_path)
        assert done.returncode in (2, 10) and done.stderr.count("cipub: error:") == 1, done.stderr
    work = tmp_path / "work"
    work.mkdir()
    (work / "output").write_text("a file where the manifest's directory goes (the default output/)")
    done = _run(["upload", str(package), "--target", str(tmp_path / "ch-dist")], work)
    assert done.returncode == 10 and done.stderr.count("cipub: error:") == 1, done.stderr
    _held("6 process", "disk full (/dev/full) and file-for-directory paths", n=4)


def test_read_only_channel(tmp_path: Path) -> None:
    package = make_package(tmp_path / "pkgs", "ro", payload="r")
    channel = tmp_path / "ch"
    channel.mkdir()
    channel.chmod(0o555)
    command = cipub_cmd("upload", str(package), "--target", str(channel))
    if os.geteuid() == 0:
        # root writes through modes; without CAP_DAC_OVERRIDE it meets them like anyone else
        command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--", *command]
    done = subprocess.run(
        command, cwd=tmp_path, env=cipub_env(), text=True, capture_output=True, timeout=120, check=False
    )
    assert done.returncode == 5 and done.stderr.count("cipub: error:") == 1, done.stderr  # permission: exit 5
    assert list(channel.iterdir()) == []


def test_read_only_channel_as_root(tmp_path: Path, cipub: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """Root ignores modes, so the refusal is injected where the filesystem would raise it."""
    import errno

    from cipub.channels import local

    package = make_package(tmp_path / "pkgs", "ro", payload="r")

    def read_only(*_args: object, **_kwargs: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system", str(tmp_path / "ch"))

    monkeypatch.setattr(local.LocalChannel, "_create_unchecked", read_only)
    result = cipub("upload", str(package), "--target", str(tmp_path / "ch"), cwd=tmp_path)
    assert result.code == 10 and _one_line(result), result.err
    _held("6 process", "read-only filesystem")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CIPUB_BACKOFF", "nan"),
        ("CIPUB_BACKOFF", "-1"),
        ("CIPUB_BACKOFF", "1e308"),
        ("CIPUB_READ_TIMEOUT", "inf"),
        ("CIPUB_CONNECT_TIMEOUT", "-0.5"),
        ("CIPUB_RETRIES", "99999999999999999999"),
        ("CIPUB_CONCURRENCY", "-3"),
    ],
)
def test_bad_numbers_in_settings(cipub: Cli, tmp_path: Path, variable: str, value: str) -> None:
    package = make_package(tmp_path / "pkgs", "num", payload="n")
    result = cipub("upload", str(package), "--target", str(tmp_path / "ch"), cwd=tmp_path, env={variable: value})
    assert result.code == 2 and _one_line(result), (variable, value, result.code, result.err)
    _held("6 process", "NaN / negative / huge settings")


def test_missing_or_wrong_plan_files(cipub: Cli, tmp_path: Path) -> None:
    (tmp_path / "empty.json").write_text("")
    for plan in (tmp_path / "missing.json", tmp_path / "empty.json", tmp_path):
        result = cipub("ci", "report-plan", str(plan), cwd=tmp_path)
        assert result.code == 2 and _one_line(result), (plan, result.err)
    _held("6 process", "missing / empty / directory --plan", n=3)


# -- class 7: concurrency ------------------------------------------------------------------------


def _at_once(commands: list[list[str]], cwd: Path) -> list[subprocess.CompletedProcess[str]]:
    procs = [
        subprocess.Popen(c, cwd=cwd, env=cipub_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for c in commands
    ]
    results = []
    for p, c in zip(procs, commands, strict=True):
        out, err = p.communicate(timeout=300)
        results.append(subprocess.CompletedProcess(c, p.returncode, out, err))
    return results


@pytest.mark.parametrize("round_", range(3))
def test_two_identical_uploads_and_promotions_at_once_converge(tmp_path: Path, round_: int) -> None:
    packages = [make_package(tmp_path / "pkgs", f"race{i}", payload=f"r{i}") for i in range(4)]
    manifest = _manifest(tmp_path, *packages)
    channel = str(tmp_path / "ch")
    up = ["upload", "-M", str(manifest), "--target", channel, "--label", "test"]
    results = _at_once([cipub_cmd(*up), cipub_cmd(*up)], tmp_path)
    assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
    promote = ["promote", "-M", str(manifest), "--target", channel, "--from", "test", "--to", "main"]
    if round_ % 2:
        promote.append("--move")
    results = _at_once([cipub_cmd(*promote), cipub_cmd(*promote)], tmp_path)
    assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
    truth = local_truth(Path(channel))
    assert set(truth.files["main"]) == {f"noarch/{p.name}" for p in packages}
    assert truth.indexed["main"] == set(truth.files["main"])
    _held("7 concurrency", "identical upload + promote at once (local, processes)", n=2)


# -- test infrastructure: the npm tool bootstrap is atomic ---------------------------------------

FAKE_NPM = """#!/bin/sh
# fake npm: install --prefix DIR pkg@ver...; MODE=ok|fail|hang
prefix=""; while [ $# -gt 0 ]; do
  case "$1" in --prefix) prefix="$2"; shift 2;; *@*) pkg="${1%@*}"; ver="${1##*@}";
    mkdir -p "$prefix/node_modules/$pkg"; echo "{\\"version\\": \\"$ver\\"}" > "$prefix/node_modules/$pkg/package.json";
    [ "$MODE" = fail ] && exit 3; [ "$MODE" = hang ] && sleep 30; shift;; *) shift;; esac
done
echo "$prefix" >> "$CALLS"
"""


@pytest.fixture
def fake_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    from tests.support import node_tools

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    npm = bin_dir / "npm"
    npm.write_text(FAKE_NPM)
    npm.chmod(0o755)
    calls = tmp_path / "calls"
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("CALLS", str(calls))
    monkeypatch.setattr(node_tools, "TOOLS_DIR", tmp_path / "tools")
    monkeypatch.setattr(node_tools, "NODE_PREFIX", tmp_path / "tools" / "node")
    return tmp_path / "tools" / "node", calls


@pytest.mark.parametrize("mode", ["fail", "hang"])
def test_interrupted_tool_install_is_redone_not_trusted(
    fake_tools: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    from tests.support import node_tools

    prefix, calls = fake_tools
    monkeypatch.setenv("MODE", mode)
    monkeypatch.setattr(node_tools, "INSTALL_TIMEOUT", 1.0)
    with pytest.raises(node_tools.ToolInstallError):
        node_tools.bootstrap()
    assert not prefix.exists(), "a half-finished install must never sit where a whole one is expected"
    monkeypatch.setenv("MODE", "ok")
    assert node_tools.bootstrap() == prefix
    assert node_tools._ready(prefix) and calls.read_text().count("\n") == 1
    node_tools.bootstrap()  # ready: not installed again
    assert calls.read_text().count("\n") == 1
    _held("test infra", f"tool install interrupted ({mode}), then redone")


def test_half_install_from_before_is_redone(fake_tools: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support import node_tools

    prefix, calls = fake_tools
    for package, version in node_tools.NPM_PACKAGES.items():  # versions right, but npm never finished
        (prefix / "node_modules" / package).mkdir(parents=True)
        (prefix / "node_modules" / package / "package.json").write_text(json.dumps({"version": version}))
    monkeypatch.setenv("MODE", "ok")
    node_tools.bootstrap()
    assert calls.is_file() and node_tools._ready(prefix)
    _held("test infra", "half install without the ready mark is redone")


def test_debug_still_shows_a_traceback_for_a_real_bug(
    cipub: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The new boundaries (exit 10, EPIPE) must not swallow bugs: an unexpected error is exit 1 with
    a traceback under --debug, also for an OSError that is not about local storage."""
    import errno

    from cipub.workflows import publish as publish_workflow

    package = make_package(tmp_path / "pkgs", "bug", payload="b")
    for bug in (RuntimeError("boom"), OSError(errno.EBADF, "Bad file descriptor")):

        def broken(*_args: object, bug: BaseException = bug, **_kwargs: object) -> None:
            raise bug

        monkeypatch.setattr(publish_workflow, "upload", broken)
        monkeypatch.setattr("cipub.cli.publish.upload", broken, raising=False)
        result = cipub("--debug", "upload", str(package), "--target", str(tmp_path / "ch"), cwd=tmp_path)
        assert result.code == 1 and "Traceback" in result.err and "internal error" in result.err, result.err
