from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from cipub.core import manifest as m
from cipub.core.errors import UsageError


def entry(filename: str = "demo-1.0-h_0.conda", sha: str = "a" * 64) -> m.ArtifactEntry:
    return m.ArtifactEntry(filename, "noarch", "demo", "1.0", "h_0", 0, "generic", sha, 10, f"dist/noarch/{filename}")


def test_round_trip_and_schema(tmp_path: Path) -> None:
    man = m.Manifest(artifacts=[entry()], build_numbers=[m.BuildNumberDecision("demo", "1.0", 0, 2, 3, "bumped")])
    path = m.write(man, tmp_path / "dist" / "cipub-manifest.json")
    data = json.loads(path.read_text())
    jsonschema.validate(data, m.schema())
    assert data["schema"] == 1
    back = m.load(path)
    assert back.artifacts == man.artifacts
    assert back.build_numbers == man.build_numbers


def test_atomic_write_leaves_no_temp_files(tmp_path: Path) -> None:
    m.write(m.Manifest(artifacts=[entry()]), tmp_path / "x.json")
    m.write(m.Manifest(artifacts=[entry()]), tmp_path / "x.json")
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(schema=2), "unsupported manifest schema"),
        (lambda d: d["artifacts"][0].update(sha256="xyz"), "artifacts/0/sha256"),
        (lambda d: d["artifacts"][0].update(filename="../evil.conda"), "artifacts/0/filename"),
        (lambda d: d.update(extra=1), "Additional properties"),
    ],
)
def test_invalid_manifests_are_usage_errors(tmp_path: Path, mutate, message: str) -> None:
    data = m.Manifest(artifacts=[entry()]).to_dict()
    mutate(data)
    (tmp_path / "x.json").write_text(json.dumps(data))
    with pytest.raises(UsageError, match=message):
        m.load(tmp_path / "x.json")


def test_not_json(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text("{nope")
    with pytest.raises(UsageError, match="not valid JSON"):
        m.load(tmp_path / "x.json")


def test_merge_dedupes_and_refuses_divergent_duplicates() -> None:
    a = m.Manifest(artifacts=[entry("a-1-h_0.conda"), entry("n-1-h_0.conda")])
    b = m.Manifest(artifacts=[entry("b-1-h_0.conda"), entry("n-1-h_0.conda")])
    merged = m.merge([a, b])
    assert [e.filename for e in merged.artifacts] == ["a-1-h_0.conda", "n-1-h_0.conda", "b-1-h_0.conda"]
    c = m.Manifest(artifacts=[entry("n-1-h_0.conda", sha="b" * 64)])
    with pytest.raises(UsageError, match="different sha256"):
        m.merge([a, c])


def test_manifest_and_packages_move_together(tmp_path: Path, cipub) -> None:
    """CI: the build job's dist/ is downloaded somewhere else in the publish job."""
    from tests.support.packages import make_package

    build_dir = tmp_path / "build"
    pkg = make_package(build_dir, "demo", "1.0", 0)
    dist = build_dir / "dist"
    (dist / "noarch").mkdir(parents=True)
    pkg.rename(dist / "noarch" / pkg.name)
    from cipub.core.artifact import read_artifact

    man = m.Manifest(artifacts=[m.ArtifactEntry.from_artifact(read_artifact(dist / "noarch" / pkg.name))])
    m.write(man, dist / "cipub-manifest.json")
    assert (
        json.loads((dist / "cipub-manifest.json").read_text())["artifacts"][0]["path"]
        == "noarch/demo-1.0-h0000000_0.conda"
    )

    for cell in ("cell-a", "cell-b"):
        moved = tmp_path / "publish" / cell
        moved.parent.mkdir(exist_ok=True)
        import shutil

        shutil.copytree(dist, moved)
    result = cipub(
        "upload",
        "--manifest",
        "cell-a/cipub-manifest.json",
        "--manifest",
        "cell-b/cipub-manifest.json",
        "--target",
        str(tmp_path / "chan"),
        cwd=tmp_path / "publish",
    )
    assert result.code == 0, result.err
    assert (tmp_path / "chan" / "label" / "test" / "noarch" / pkg.name).is_file()


# -- the quick check (conforms) never says yes where jsonschema says no --------------------------------

_ODD_VALUES = [
    None,
    True,
    0,
    -1,
    1.0,
    2.5,
    "",
    "x",
    "a" * 64,
    "A" * 64,
    "x.conda\n",
    "../x.conda",
    [],
    {},
    ["s"],
    {"k": 1},
]


def _full_manifest() -> dict:  # type: ignore[type-arg]
    man = m.Manifest(
        artifacts=[entry()],
        build_numbers=[m.BuildNumberDecision("demo", "1.0", 0, 2, 3, "bumped")],
        uploads=[m.UploadReceipt("demo-1.0-h_0.conda", "noarch", "a" * 64, "file:///c", "test", "uploaded", "now")],
        promotions=[
            m.PromotionReceipt("demo-1.0-h_0.conda", "noarch", "a" * 64, "file:///c", "test", "main", "promoted", "now")
        ],
    )
    return man.to_dict()


def _paths(value: object, prefix: tuple = ()) -> list[tuple]:  # type: ignore[type-arg]
    found = [prefix]
    if isinstance(value, dict):
        for key, sub in value.items():
            found += _paths(sub, (*prefix, key))
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            found += _paths(sub, (*prefix, i))
    return found


def test_quick_check_accepts_what_cipub_writes() -> None:
    data = _full_manifest()
    jsonschema.validate(data, m.schema())
    assert m.conforms(data, m.schema())


def test_quick_check_never_accepts_what_jsonschema_rejects() -> None:
    """Every field of a full manifest replaced by each odd value, and an extra key at every level."""
    import copy

    base = _full_manifest()
    validator = jsonschema.Draft202012Validator(m.schema())
    checked = 0
    for path in _paths(base)[1:]:
        for odd in [*_ODD_VALUES, "__drop__"]:
            data = copy.deepcopy(base)
            parent = data
            for key in path[:-1]:
                parent = parent[key]
            if odd == "__drop__":
                del parent[path[-1]]
            else:
                parent[path[-1]] = odd
            if m.conforms(data, m.schema()):
                assert validator.is_valid(data), (path, odd)
            checked += 1
        container = base
        for key in path:
            container = container[key]
        if isinstance(container, dict):
            data = copy.deepcopy(base)
            target = data
            for key in path:
                target = target[key]
            target["unexpected"] = "x"
            if m.conforms(data, m.schema()):
                assert validator.is_valid(data), path
    assert checked > 100


def test_a_located_file_is_remembered_only_for_the_same_entry_path_and_base(tmp_path: Path) -> None:
    """artifact_path finds each file once (issue 12), but a new path or base is looked up again."""
    from cipub.core.artifact import read_artifact
    from tests.support.packages import make_package

    first = make_package(tmp_path / "one", "demo", "1.0", 0)
    man = m.Manifest(artifacts=[m.ArtifactEntry.from_artifact(read_artifact(first))])
    entry = man.artifacts[0]
    assert man.artifact_path(entry) == first
    m.write(man, tmp_path / "out" / "cipub-manifest.json")  # the entry's path is now relative to out/
    assert entry.path != str(first) and man.artifact_path(entry).resolve() == first.resolve()
    loaded = m.load(tmp_path / "out" / "cipub-manifest.json")
    assert loaded.artifact_path(loaded.artifacts[0]).resolve() == first.resolve()

    second = tmp_path / "two" / first.name
    second.parent.mkdir()
    second.write_bytes(first.read_bytes())
    entry.path = str(second)  # another path: found again, not the remembered one
    assert man.artifact_path(entry) == second
    man.base_dir = tmp_path / "two"
    entry.path = first.name  # relative, against another base: found again
    assert man.artifact_path(entry) == second


def test_each_file_records_its_own_cell_and_the_job_only_when_one_run_built_several(tmp_path: Path) -> None:
    single = entry("single-1.0-h_0.conda")
    single.variant, single.variant_id = {"libfoo": "2"}, "linux-64-libfoo2"
    grouped = entry("grouped-1.0-h_0.conda", "b" * 64)
    grouped.variant, grouped.variant_id, grouped.job = {"flavour": "lemon"}, "linux-64-flavourlemon", "linux-64-job"
    written = m.write(m.Manifest(artifacts=[single, grouped]), tmp_path / "cipub-manifest.json")
    raw = json.loads(written.read_text())["artifacts"]
    # a one-cell build writes what earlier cipub wrote (no "job"): older readers still read it
    assert "job" not in raw[0] and raw[1]["job"] == "linux-64-job"
    jsonschema.validate(json.loads(written.read_text()), m.schema())
    loaded = m.load(written)
    assert [(a.variant_id, a.job, a.variant) for a in loaded.artifacts] == [
        ("linux-64-libfoo2", None, {"libfoo": "2"}),
        ("linux-64-flavourlemon", "linux-64-job", {"flavour": "lemon"}),
    ]
    # the job is a text or null, like the cell id
    data = json.loads(written.read_text())
    data["artifacts"][1]["job"] = 3
    with pytest.raises(UsageError, match="job"):
        m.Manifest.from_dict(data)


def test_a_written_manifest_and_ledger_record_hold_one_line_per_file_and_receipt(tmp_path: Path) -> None:
    """Each artifact and receipt is one line (a diff of two manifests is a line per file), and the
    text reads back as the same values."""
    from cipub.core import ledger

    entries = [
        m.ArtifactEntry(f"p{i}-1.0-0.conda", "noarch", f"p{i}", "1.0", "0", 0, "generic", "ab" * 32, 10, f"p{i}.conda")
        for i in range(3)
    ]
    manifest = m.Manifest(artifacts=entries)
    manifest.uploads.append(m.UploadReceipt(entries[0].filename, "noarch", "ab" * 32, "/chan", "test", "uploaded"))
    path = m.write(manifest, tmp_path / "cipub-manifest.json")
    text = path.read_text(encoding="utf-8")
    assert json.loads(text) == manifest.to_dict(relative_to=tmp_path)
    lines = text.splitlines()
    assert sum('"filename": "p' in line for line in lines) == 4  # 3 artifacts + 1 receipt, one line each
    assert all(line.count('"filename"') <= 1 for line in lines)
    record = ledger.write(ledger.Record("upload", manifest), tmp_path / "ledger")
    record_lines = record.read_text(encoding="utf-8").splitlines()
    assert sum('"filename": "p' in line for line in record_lines) == 4
    (back,) = ledger.load(tmp_path / "ledger")
    assert [(a.key, a.sha256) for a in back.manifest.artifacts] == [(a.key, a.sha256) for a in entries]


def test_a_builds_channels_are_recorded_only_without_credentials() -> None:
    """The manifest never holds a secret: channels with a token in the URL are not recorded (verify
    then uses the channels setting, as for a manifest that names none)."""
    from cipub.workflows.build import _recordable

    assert _recordable(["conda-forge", "file:///srv/mirror"]) == ["conda-forge", "file:///srv/mirror"]
    assert _recordable(["conda-forge", "https://conda.anaconda.org/t/abc123/private"]) == []
    assert _recordable(["https://user:pw@mirror.example/c"]) == []
