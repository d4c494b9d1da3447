"""Waiting for a server's conda index to list what cipub just wrote.

Servers that index in the background (Artifactory documents up to 30 s; anaconda.org is
eventually consistent) answer a promotion before installers can see it. ``cipub promote`` reports
success only once the ``--to`` label's ``repodata.json`` lists every promoted file with its
sha256, waiting at most the ``index-wait`` setting, as ``ci verify`` does for the label it checks.
The index is read where a conda client reads it, with the credentials a conda client would send.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from cipub.core.errors import VerificationError

if TYPE_CHECKING:
    from cipub.channels.base import Channel
    from cipub.channels.target import TargetOptions
    from cipub.core.manifest import ArtifactEntry


def unlisted(channel: Channel, entries: Sequence[ArtifactEntry], label: str, options: TargetOptions) -> list[str]:
    """Keys of ``entries`` that the conda index of ``label`` does not list with their sha256."""
    from cipub.channels.base import repodata_records
    from cipub.core.transport import HttpClient, server_message

    source_of = getattr(channel, "install_source", None)
    source = str(source_of(label) if source_of is not None else channel.install_url(label)).rstrip("/")
    credentials_of = getattr(channel, "install_credentials", None)
    credentials = credentials_of(label) if credentials_of is not None else None
    parts = urlsplit(source)
    headers = credentials[1] if credentials is not None and credentials[0] == parts.hostname else None
    missing: list[str] = []
    with HttpClient.for_target(
        f"{parts.scheme}://{parts.netloc}",
        options,
        what=f"the conda index of {channel.display}",
        credentials=headers,
        refusal_is_auth=headers is not None,
    ) as http:
        for subdir in sorted({e.subdir for e in entries}):
            response = http.request(
                "GET", f"{source}/{subdir}/repodata.json", follow_redirects=True, max_bytes=options.max_download_bytes
            )
            what = f"label {label}'s {subdir}/repodata.json"
            if response.status_code not in (200, 404):  # 404: the label has no such subdir indexed yet
                raise VerificationError(
                    f"{channel.display}: the files are in label {label!r}, but its conda index could not be "
                    f"read: {what} answered {response.status_code} {server_message(response)}",
                    hint="installers read the label there: check the token's read rights, then re-run",
                )
            found = (
                repodata_records(http.parse(response, dict, f"reading {what}")) if response.status_code == 200 else {}
            )
            missing += [
                e.key for e in entries if e.subdir == subdir and found.get(e.filename, {}).get("sha256") != e.sha256
            ]
    return missing


def wait_until_listed(
    channel: Channel, entries: Sequence[ArtifactEntry], label: str, options: TargetOptions, timeout: float
) -> None:
    """Return once the index of ``label`` lists every entry (servers that index themselves only);
    VerificationError (exit 8) when it still does not after ``timeout`` seconds."""
    from cipub.channels.base import poll_until

    if not entries or not channel.capabilities.server_side_index:
        return  # cipub writes a local directory's or a bucket's index itself, before this
    missing: list[str] = []

    def listed() -> bool:
        nonlocal missing
        missing = unlisted(channel, entries, label, options)
        return not missing

    if poll_until(listed, timeout=timeout, sleep=time.sleep, delay=0.5, max_delay=5.0):
        return
    raise VerificationError(
        f"{channel.display}: the files are in label {label!r}, but after {timeout:g} s its conda index "
        f"(repodata.json) does not list {len(missing)} of them: {', '.join(missing)}",
        hint="the server indexes in the background: re-run the same command (it changes nothing and waits "
        "again), or allow longer with CIPUB_INDEX_WAIT (config `index-wait`)",
    )
