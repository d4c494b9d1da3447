"""From settings to what the workflows act on: the opened target, the manifest(s) to use."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cipub.core.options import Settings

if TYPE_CHECKING:
    from cipub.channels import TargetOptions
    from cipub.channels.base import Channel
    from cipub.core.manifest import Manifest


def target_options(settings: Settings) -> TargetOptions:
    """How the target is reached: the retry budget, timeouts, where the token is, the labels used."""
    from cipub.channels import TargetOptions
    from cipub.core.secrets import check_url_option

    return TargetOptions(
        api_url=check_url_option(settings.api_url, "--api-url") if settings.api_url else None,
        token_file=Path(settings.token_file) if settings.token_file else None,
        concurrency=settings.concurrency,
        retries=settings.retries,
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        backoff=settings.backoff,
        request_timeout=settings.request_timeout,
        command_deadline=time.monotonic() + settings.command_timeout,
        max_download_bytes=settings.max_download_mb * 1024 * 1024,
        index_wait=settings.index_wait,
        labels=tuple(dict.fromkeys((settings.label, settings.promote_from, settings.promote_to))),
    )


def with_target_label(settings: Settings) -> Settings:
    """The settings with the label a target URL names (``https://anaconda.org/OWNER/label/L``).

    rattler-build's ``publish --to`` puts the upload label in the URL; in cipub that is the staging
    label (``label``: where build and upload put files, what ci verify checks). A label given
    otherwise (flag, environment, config) must agree: two different answers are refused, not ranked.
    A target that does not parse is left for the command to report when it opens it.
    """
    if "anaconda.org" not in settings.target.lower():
        # only anaconda.org URLs name a label: every other command (plan, build) skips importing
        # the channel layer here (issue 12, ~60 ms of start-up)
        return settings
    from dataclasses import replace

    from cipub.channels.target import parse_target
    from cipub.core.errors import UsageError
    from cipub.core.options import Origin

    try:
        named = parse_target(settings.target).label
    except UsageError:
        return settings
    if named is None or named == settings.label:
        return settings
    if settings.origin("label").kind != "default":
        raise UsageError(
            f"the target {settings.target} names label {named!r}, but the label is {settings.label!r} "
            f"({settings.origin('label')})",
            hint="drop the label from one of them",
        )
    where = settings.origin("target")
    origins = {**settings.origins, "label": Origin(where.kind, f"{where.where} (the label in the target URL)")}
    return replace(settings, label=named, origins=origins)


def check_dependency_channels(settings: Settings) -> None:
    """Refuse a ``-c`` value that can only be a publish target (the old meaning of ``-c``)."""
    urls = [c for c in settings.channels if "://" in c]
    if not urls:
        # names and paths (conda-forge, ./local) are never a publish target nor carry a credential:
        # nothing to check, no channel layer to import (start-up, issue 12; benchmark B9)
        return
    from cipub.channels.target import check_dependency_channel

    for channel in urls:
        check_dependency_channel(channel)


def open_target(settings: Settings) -> Channel:
    """The channel target the settings name (not yet entered: use it as a context manager).

    The label settings are checked first, against the rule every target shares, so a bad
    ``--label`` fails before a build or an upload starts (a server's stricter rule, e.g.
    anaconda.org's lowercase labels, is checked by the target when it uses the label).
    """
    from cipub.channels import open_channel

    check_label_settings(settings)
    _refuse_target_in_output_dir(settings)
    return open_channel(settings.target, target_options(settings))


def _refuse_target_in_output_dir(settings: Settings) -> None:
    """A local channel that is (or sits in) the output directory would take the build's own files
    for published ones (``--target ./output`` put every build straight into ``main``)."""
    from cipub.channels.target import parse_target
    from cipub.core.errors import UsageError

    target = parse_target(settings.target)
    if target.kind != "local":
        return
    channel, output = Path(target.base).resolve(), Path(settings.output_dir).resolve()
    if channel == output or channel.is_relative_to(output):
        raise UsageError(
            f"the target {settings.target} overlaps the output directory {settings.output_dir}",
            hint="publish to a channel directory of its own (the default is ./.cipub/channel)",
        )


def check_label_settings(settings: Settings) -> None:
    """UsageError (exit 2) naming the flag, for a label setting no target accepts."""
    from cipub.channels.base import NAMES
    from cipub.core.errors import UsageError
    from cipub.core.options import OPTIONS

    for key in ("label", "promote_from", "promote_to"):
        value = getattr(settings, key)
        if not NAMES.matches(value):
            origin = settings.origin(key)
            where = OPTIONS[key].flag if origin.kind in ("flag", "default") else origin.where
            raise UsageError(f"{where}: invalid label {value!r}", hint=f"label names {NAMES.explained}")


def require_write_credentials(channel: Channel) -> None:
    """Before anything is built or sent: a target that will refuse writes for want of a token
    fails now (exit 5, no network). S3 checks its AWS credential chain; targets without the check (local) pass."""
    check = getattr(channel, "require_credentials", None)
    if callable(check):
        check()


def load_manifests(paths: Sequence[Path], settings: Settings) -> tuple[Manifest, Path]:
    """One manifest, or several merged (one per matrix cell), and where its receipts are written.

    No paths: the settings' manifest. Several: merged, and written to the settings' manifest path
    (the inputs stay as they were).
    """
    from cipub.core import manifest as manifest_mod

    chosen = list(paths) or [settings.manifest_path]
    loaded = [manifest_mod.load(p) for p in chosen]
    if len(loaded) == 1:
        return loaded[0], chosen[0]
    merged = manifest_mod.merge(loaded)
    _refuse_replacing_another_manifest(Path(settings.manifest_path), chosen, merged)
    return merged, Path(settings.manifest_path)


def _refuse_replacing_another_manifest(path: Path, inputs: Sequence[Path], merged: Manifest) -> None:
    """A merge is written to the settings' manifest path: never over a manifest of other files (a
    local build's), which the next plain ``cipub upload``/``promote`` would then no longer see. The
    same merge again (the same files and sha256s: a re-run) may replace its own receipts."""
    from cipub.core import manifest as manifest_mod
    from cipub.core.errors import CipubError, UsageError

    if not path.exists() or any(path.resolve() == Path(p).resolve() for p in inputs):
        return
    try:
        there = {(e.key, e.sha256) for e in manifest_mod.load(path).artifacts}
    except CipubError:
        there = None
    if there == {(e.key, e.sha256) for e in merged.artifacts}:
        return
    raise UsageError(
        f"{path} holds another manifest; the merge of {len(inputs)} manifests would replace it",
        hint="give the merge its own place with --output-dir DIR (then `cipub promote --output-dir DIR`), "
        f"or move {path} away first",
    )
