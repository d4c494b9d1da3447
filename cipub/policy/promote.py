"""Promotion by manifest: exactly the manifest's files go from one label to another, verified.

1. Read the channel's state; every manifest file must be on the channel with the manifest's sha256
   and carry the source label (or already carry the target label: promotion is idempotent).
   Any problem stops the command before anything changes, naming the files.
2. Add the target label to the files that need it (label-less servers copy the bytes).
3. Read back: each file carries the target label with the manifest's sha256 (else exit 8).
4. With ``move``: only now take the source label off, and read back again.
Files that are not in the manifest are never touched, whatever else the source label holds.
"""

from __future__ import annotations

from cipub.channels.base import Channel, ChannelFile, find_file
from cipub.core.errors import UsageError, VerificationError
from cipub.core.manifest import ArtifactEntry, Manifest, PromotionReceipt
from cipub.policy.publish import Progress, channel_state, verify_labels


def promote(
    manifest: Manifest,
    channel: Channel,
    from_label: str,
    to_label: str,
    *,
    move: bool = False,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> list[PromotionReceipt]:
    say = progress or (lambda _msg: None)
    if from_label == to_label:
        raise UsageError(f"--from and --to are both {from_label!r}")
    if not manifest.artifacts:
        raise UsageError("the manifest lists no artifacts: nothing to promote")
    with channel:
        state = channel_state(channel, manifest.artifacts)
        todo: list[tuple[ArtifactEntry, ChannelFile]] = []
        done: list[tuple[ArtifactEntry, ChannelFile]] = []
        problems = []
        for e in manifest.artifacts:
            f = find_file(state.get(e.key, []), e.subdir, e.filename)
            if f is None:
                problems.append(f"{e.key} is not on the channel")
            elif to_label in f.labels and f.sha256_in(to_label) == e.sha256:
                done.append((e, f))
            elif from_label not in f.labels:
                problems.append(f"{e.key} is not in label {from_label!r} (it has: {', '.join(sorted(f.labels))})")
            elif f.sha256_in(from_label) != e.sha256:
                problems.append(f"{e.key} in label {from_label!r} is not the file that was built (sha256 differs)")
            elif to_label in f.labels:
                problems.append(f"{e.key} in label {to_label!r} has different content")
            else:
                todo.append((e, f))
        if problems:
            raise VerificationError(
                "cannot promote: " + "; ".join(problems) + " — nothing was changed",
                hint=f"upload the manifest to {from_label!r} first (`cipub upload --label {from_label}`)",
            )
        receipts: list[PromotionReceipt] = []
        if dry_run:
            for e, _f in todo:
                say(f"would promote {e.key}: {from_label} -> {to_label}{' (move)' if move else ''}")
                receipts.append(_receipt(e, channel, from_label, to_label, "planned"))
            for e, _f in done:
                say(f"already in {to_label}: {e.key}")
            return receipts

        for e, f in todo:
            channel.add_label(f, to_label)
            say(f"promoted  {e.key}: {from_label} -> {to_label}")
            receipts.append(_receipt(e, channel, from_label, to_label, "promoted"))
        for e, _f in done:
            say(f"already   {e.key} in {to_label}")
            receipts.append(_receipt(e, channel, from_label, to_label, "already-promoted"))
        verify_labels(channel, manifest.artifacts, to_label)

        if move:
            state = channel_state(channel, manifest.artifacts)
            for e in manifest.artifacts:
                f = find_file(state.get(e.key, []), e.subdir, e.filename)
                if f is not None and from_label in f.labels:
                    channel.remove_label(f, from_label)
                    say(f"removed   {e.key} from {from_label}")
                    receipts.append(_receipt(e, channel, from_label, to_label, "removed-from-source"))
            verify_labels(channel, manifest.artifacts, from_label, absent=True)
            verify_labels(channel, manifest.artifacts, to_label)
    manifest.promotions.extend(receipts)
    return receipts


def _receipt(e: ArtifactEntry, channel: Channel, from_label: str, to_label: str, state: str) -> PromotionReceipt:
    return PromotionReceipt(
        filename=e.filename,
        subdir=e.subdir,
        sha256=e.sha256,
        target=channel.display,
        from_label=from_label,
        to_label=to_label,
        state=state,  # type: ignore[arg-type]
    )
