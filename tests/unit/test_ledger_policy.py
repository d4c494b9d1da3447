"""The ledger's records and what they mean (cipub.core.ledger, cipub.policy.ledger / prune / yank):
pure functions, no channel, no network."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from cipub.channels.base import ChannelFile
from cipub.channels.target import ledger_target
from cipub.core import ledger
from cipub.core.errors import UsageError
from cipub.core.ledger import LabelAction, Record
from cipub.core.manifest import ArtifactEntry, Manifest, PromotionReceipt, UploadReceipt
from cipub.policy.ledger import facts, promotion_set, variant_key
from cipub.policy.prune import decide_prune
from cipub.policy.yank import decide_yank, parse_spec

TARGET = "./.cipub/channel"


def entry(name: str, number: int = 0, sha: str = "a") -> ArtifactEntry:
    return ArtifactEntry(
        f"{name}-1.0-h0_{number}.conda", "noarch", name, "1.0", f"h0_{number}", number, "generic", sha * 64, 1, "x"
    )


def staged(*entries: ArtifactEntry, recipe: str | None = None, outcome: str = "ok") -> Record:
    m = Manifest(artifacts=list(entries), recipe=recipe)
    if outcome == "ok":
        m.uploads = [UploadReceipt(e.filename, e.subdir, e.sha256, TARGET, "test", "uploaded") for e in entries]
    return Record("upload", m, outcome=outcome, error=None if outcome == "ok" else "conflict")  # type: ignore[arg-type]


def promoted(*entries: ArtifactEntry) -> Record:
    m = Manifest(artifacts=list(entries))
    m.promotions = [
        PromotionReceipt(e.filename, e.subdir, e.sha256, TARGET, "test", "main", "promoted") for e in entries
    ]
    return Record("promote", m)


def test_two_builds_are_both_pending_and_the_note_says_so() -> None:
    a, b = entry("a"), entry("b")
    chosen = promotion_set([staged(a, recipe="ra"), staged(b, recipe="rb")], TARGET, "test", "main")
    assert [e.name for e in chosen.entries] == ["a", "b"]
    assert chosen.basis == "pending"
    assert "staged by 2 runs" in chosen.notes[0]


def test_only_the_newest_build_of_a_variant_and_the_older_is_named() -> None:
    old, new = entry("a", 0, "a"), entry("a", 1, "b")
    chosen = promotion_set([staged(old), staged(new)], TARGET, "test", "main")
    assert chosen.entries == [new]
    assert any("superseded by build 1" in n for n in chosen.notes)


def test_a_failed_upload_is_left_out_and_said() -> None:
    good, rebuilt = entry("a", 0, "a"), entry("a", 0, "b")
    chosen = promotion_set([staged(good), staged(rebuilt, outcome="failed")], TARGET, "test", "main")
    assert chosen.entries == [good]
    assert any("its upload failed" in n for n in chosen.notes)


def test_nothing_pending_is_the_last_promotion_again_less_yanked() -> None:
    a, b = entry("a"), entry("b")
    records = [staged(a, b), promoted(a, b)]
    again = promotion_set(records, TARGET, "test", "main")
    assert (again.basis, again.entries) == ("last-promotion", [a, b])
    yank = Record(
        "yank", Manifest(), actions=[LabelAction("yank", "yanked", TARGET, "broken", "noarch", a.filename, a.sha256)]
    )
    assert promotion_set([*records, yank], TARGET, "test", "main").entries == [b]


def test_other_targets_and_labels_do_not_count() -> None:
    assert promotion_set([staged(entry("a"))], "s3://elsewhere", "test", "main").entries == []
    assert promotion_set([staged(entry("a"))], TARGET, "rc", "main").entries == []


def test_names_restrict_the_set() -> None:
    chosen = promotion_set(
        [staged(entry("a")), staged(entry("b"))], TARGET, "test", "main", wanted=lambda e, _r: e.name == "b"
    )
    assert [e.name for e in chosen.entries] == ["b"]
    assert any("not named" in n for n in chosen.notes)


def test_records_round_trip_and_are_never_replaced(tmp_path: Path) -> None:
    first = ledger.write(staged(entry("a")), tmp_path)
    second = ledger.write(staged(entry("b")), tmp_path)
    assert first != second
    loaded = ledger.load(tmp_path)
    assert [r.manifest.artifacts[0].name for r in loaded] == ["a", "b"]
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(json.loads(first.read_text()), ledger.schema())


def test_a_foreign_file_in_the_ledger_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text('{"hello": 1}')
    with pytest.raises(UsageError, match="not a cipub ledger record"):
        ledger.load(tmp_path)


def file(name: str, number: int, *labels: str) -> ChannelFile:
    return ChannelFile.from_copies(
        "noarch", f"{name}-1.0-h0_{number}.conda", dict.fromkeys(labels, "c" * 64), build_number=number
    )


def test_prune_keeps_promoted_unknown_and_newest() -> None:
    old, new, rel_old, rel_new, foreign = (
        file("a", 0, "test"),
        file("a", 1, "test"),
        file("r", 0, "test", "main"),
        file("r", 1, "test"),
        file("f", 0, "test"),
    )
    known = [
        ArtifactEntry(f.filename, "noarch", f.name, "1.0", f.build, f.build_number, None, "c" * 64, 1, "")
        for f in (old, new, rel_old, rel_new)
    ]
    recs = [staged(*known), promoted(known[2])]
    decided = {
        d.file.filename: (d.action, d.reason)
        for d in decide_prune(
            [old, new, rel_old, rel_new, foreign],
            facts(recs, TARGET, "test", "main"),
            "test",
            superseded=True,
            older_than_days=None,
            now=datetime.now(timezone.utc),
        )
    }
    assert decided[old.filename] == ("remove", "superseded by build 1")
    assert decided[new.filename][0] == "keep"
    assert decided[rel_old.filename] == ("keep", "also in label main")
    assert decided[rel_new.filename][0] == "keep"
    assert decided[foreign.filename][0] == "keep" and "not staged by this project" in decided[foreign.filename][1]


def test_prune_older_than_by_the_ledger_receipt_time() -> None:
    only = file("a", 0, "test")
    known = ArtifactEntry(only.filename, "noarch", "a", "1.0", only.build, 0, None, "c" * 64, 1, "")
    record = staged(known)
    record.at = (datetime.now(timezone.utc) - timedelta(days=40)).isoformat()
    kwargs = {"superseded": False, "now": datetime.now(timezone.utc)}
    known_facts = facts([record], TARGET, "test", "main")
    [keep] = decide_prune([only], known_facts, "test", older_than_days=60, include_newest=True, **kwargs)  # type: ignore[arg-type]
    [drop] = decide_prune([only], known_facts, "test", older_than_days=30, include_newest=True, **kwargs)  # type: ignore[arg-type]
    assert (keep.action, drop.action) == ("keep", "remove")
    # without --include-newest the newest build of its variant stays, however old
    [newest] = decide_prune([only], known_facts, "test", older_than_days=30, **kwargs)  # type: ignore[arg-type]
    assert newest.action == "keep" and "newest build" in newest.reason


def test_yank_decisions_and_specs() -> None:
    assert decide_yank(file("a", 0, "main", "test"), "main", "broken").action == "yank"
    assert decide_yank(file("a", 0, "broken", "test"), "main", "broken").action == "already"
    assert decide_yank(file("a", 0, "test"), "main", "broken").action == "refuse"
    spec = parse_spec("a=1.0=*_3")
    assert spec.matches(file("a", 3, "main")) and not spec.matches(file("a", 2, "main"))
    assert parse_spec("a-1.0-h0_2.conda").build == "h0_2"
    with pytest.raises(UsageError, match="invalid package spec"):
        parse_spec("a")


def test_variant_key_ignores_only_the_build_number() -> None:
    assert variant_key("a", "1", "noarch", "h12_0") == variant_key("a", "1", "noarch", "h12_7")
    assert variant_key("a", "1", "noarch", "h12_0") != variant_key("a", "1", "noarch", "h13_0")


# -- one ledger, several targets (issue 18) -------------------------------------------------------

OTHER = "s3://bucket/other"


def on(record: Record, target: str) -> Record:
    """``record`` as this cipub writes it: naming the (normalised) target it acted on."""
    record.target = ledger_target(target)
    return record


def uploaded_to(target: str, *entries: ArtifactEntry, outcome: str = "ok") -> Record:
    m = Manifest(artifacts=list(entries))
    if outcome == "ok":
        m.uploads = [UploadReceipt(e.filename, e.subdir, e.sha256, target, "test", "uploaded") for e in entries]
    record = Record("upload", m, outcome=outcome, error=None if outcome == "ok" else "conflict")  # type: ignore[arg-type]
    return on(record, target)


def test_two_targets_in_one_ledger_do_not_mix() -> None:
    a, b, c = entry("a"), entry("b"), entry("c")
    records = [
        uploaded_to(TARGET, a),
        uploaded_to(OTHER, b, outcome="failed"),  # failed before any receipt: only the record names OTHER
        on(Record("build", Manifest(artifacts=[c])), OTHER),  # built for OTHER, never uploaded
    ]
    here, there = facts(records, TARGET, "test", "main"), facts(records, OTHER, "test", "main")
    assert set(here.known) == {(a.key, a.sha256)}
    assert (here.failed, here.never_staged) == ({}, {})
    assert set(there.known) == {(b.key, b.sha256), (c.key, c.sha256)}
    assert set(there.failed) == {(b.key, b.sha256)}
    assert set(there.never_staged) == {(b.key, b.sha256), (c.key, c.sha256)}
    assert set(there.staged) == set()
    # promoting on TARGET says nothing about OTHER's failed upload; on OTHER it does
    chosen = promotion_set(records, TARGET, "test", "main")
    assert chosen.entries == [a]
    assert not any("b-1.0" in n for n in chosen.notes)
    assert any("b-1.0" in n and "its upload failed" in n for n in promotion_set(records, OTHER, "test", "main").notes)


def test_a_failed_upload_on_another_target_is_not_a_failure_here() -> None:
    same = entry("a")  # the same build, uploaded fine here and refused on the other target
    records = [uploaded_to(TARGET, same), uploaded_to(OTHER, same, outcome="failed")]
    here = facts(records, TARGET, "test", "main")
    assert here.failed == {} and here.never_staged == {}
    assert (same.key, same.sha256) in facts(records, OTHER, "test", "main").failed


def test_records_match_the_target_in_any_spelling(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    built = on(Record("build", Manifest(artifacts=[entry("a")])), "./ch")
    for spelling in ("./ch/", str(tmp_path / "ch"), f"file://{tmp_path / 'ch'}", "./ch/../ch"):
        assert set(facts([built], spelling, "test", "main").known) == {(entry("a").key, entry("a").sha256)}
    assert facts([built], "./elsewhere", "test", "main").known == {}


def test_a_promotion_into_this_target_from_another_counts_here_too() -> None:
    a = entry("a")
    m = Manifest(artifacts=[a])
    m.promotions = [PromotionReceipt(a.filename, a.subdir, a.sha256, OTHER, "test", "main", "promoted")]
    across = on(Record("promote", m), TARGET)  # cipub promote --target TARGET --to-target OTHER
    assert set(facts([across], OTHER, "test", "main").known) == {(a.key, a.sha256)}
    assert set(facts([across], TARGET, "test", "main").known) == {(a.key, a.sha256)}
    assert facts([across], "s3://bucket/third", "test", "main").known == {}


def test_records_of_older_cipub_are_attributed_by_their_receipts_else_count_everywhere() -> None:
    a, b = entry("a"), entry("b")
    legacy_upload = staged(a)  # no target: its receipts say TARGET
    legacy_build = Record("build", Manifest(artifacts=[b]), outcome="failed", error="boom")  # no target, no receipt
    assert legacy_upload.target is None and legacy_build.target is None
    here = facts([legacy_upload, legacy_build], TARGET, "test", "main")
    there = facts([legacy_upload, legacy_build], OTHER, "test", "main")
    assert set(here.known) == {(a.key, a.sha256), (b.key, b.sha256)}
    # unattributable: conservatively kept on every target (see cipub.policy.ledger.of_target)
    assert set(there.known) == {(b.key, b.sha256)} and set(there.failed) == {(b.key, b.sha256)}


def test_the_ledger_target_is_normalised_and_never_a_secret() -> None:
    assert ledger_target("quetz://Quetz.Example/chan") == ledger_target("quetz+https://quetz.example/chan/")
    assert ledger_target("https://anaconda.org/owner/label/dev") == ledger_target("https://anaconda.org/owner")
    assert ledger_target("https://anaconda.org/owner") != ledger_target("https://anaconda.org/another")
    assert ledger_target("s3://bucket/prefix") == "s3://bucket/prefix"
    for secret in ("https://user:hunter2@anaconda.org/owner", "quetz+https://h/c?token=hunter2", "not a target"):
        assert ledger_target(secret) is None


def test_a_record_keeps_its_target_and_one_without_is_still_read(tmp_path: Path) -> None:
    path = ledger.write(uploaded_to(OTHER, entry("a")), tmp_path)
    data = json.loads(path.read_text())
    assert data["target"] == "s3://bucket/other"
    del data["target"]  # as cipub wrote records before they named their target
    (tmp_path / "19990101T000000000000Z-upload-00.json").write_text(json.dumps(data))
    old, new = ledger.load(tmp_path)
    assert (old.target, new.target) == (None, "s3://bucket/other")
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(data, ledger.schema())
