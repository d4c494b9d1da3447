"""``cipub ci verify``: a staged release is on its label with the built sha256, and installs.

Run between upload and promotion: every file of the manifest(s) must carry the label with the
sha256 the build recorded; then each package this machine can install (its platform and noarch)
is solved and installed, exactly that build, into a throw-away environment with py-rattler.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cipub.core.errors import NetworkError, UsageError, VerificationError
from cipub.core.options import Settings
from cipub.core.secrets import scrub
from cipub.workflows.report import SILENT, Reporter
from cipub.workflows.target import load_manifests, open_target

if TYPE_CHECKING:
    from cipub.channels.base import Channel, ChannelFile
    from cipub.core.manifest import ArtifactEntry, Manifest

#: install: from the label and the dependency channels; isolated: from the label alone; files: no install
VERIFY_MODES = ("install", "isolated", "files")


@dataclass
class Checked:
    entry: ArtifactEntry
    state: str  # "installed", "on channel", or what is wrong
    ok: bool


def verify(
    settings: Settings,
    *,
    manifests: Sequence[Path] = (),
    mode: str = "install",
    platform: str | None = None,
    report: Reporter = SILENT,
) -> list[Checked]:
    """Verify the manifest(s) in ``settings.label``; report to the CI provider; VerificationError (exit 8)."""
    if mode not in VERIFY_MODES:
        raise UsageError(f"--mode {mode!r}: choose one of {', '.join(VERIFY_MODES)}")
    manifest, _ = load_manifests(manifests, settings)
    if mode == "install":
        _check_build_channels(settings, manifest)
    target = open_target(settings)
    report.say(f"verifying {len(manifest.artifacts)} file(s) in label {settings.label} of {target.display}")
    results = verify_release(
        manifest,
        target,
        settings.label,
        mode=mode,
        dependency_channels=settings.channels,
        platform=platform,
        report=report,
        index_wait=settings.index_wait,
    )
    _report_to_ci(results, settings.label)
    if settings.require_attestation:  # issue 16: and each file is attested by the required signer
        from cipub.policy.attest import check_attestations
        from cipub.workflows.publish import attestation_requirement

        requirement = attestation_requirement(settings, report)
        count = check_attestations(
            target, manifest, settings.label, requirement, consequence="the staged files do not verify"
        )
        report.say(f"verified {count} attestation(s) by {settings.require_attestation}")
    return results


def _check_build_channels(settings: Settings, manifest: Manifest) -> None:
    """Channels given explicitly (``CIPUB_CHANNELS``, ``channels`` in the config) that differ from
    those a file was built from are refused (exit 2), as ``cipub build`` refuses them beside the
    variant config's ``channel_sources``: a file verified from other channels than its build's says
    nothing about whether it installs where it was built to install."""
    if settings.origin("channels").kind == "default":
        return
    given = list(settings.channels)
    for entry in manifest.artifacts:
        if entry.channels and entry.channels != given:
            raise UsageError(
                f"{entry.key} was built from {', '.join(entry.channels)}; the channels setting "
                f"({settings.sources['channels']}) names {', '.join(given)}",
                hint="drop the channels setting: verify installs each file from the channels its build used",
            )


def _report_to_ci(results: Sequence[Checked], label: str) -> None:
    from cipub.ci import provider, reports

    provider.report_outputs({"command": "verify", "label": label, "verified": len(results)})
    rows = [
        [
            reports.md_code(r.entry.filename),
            reports.md_cell(r.entry.subdir),
            reports.md_code(r.entry.sha256[:12]),
            reports.md_cell(label),
            reports.md_cell(r.state),
        ]
        for r in results
    ]
    reports.report_summary(
        f"### cipub verify: {len(results)} file(s) in label {reports.md_code(label)}\n\n"
        + reports.markdown_table(["File", "Subdir", "sha256", "Label", "State"], rows)
    )


def check_on_channel(manifest: Manifest, channel: Channel, label: str) -> list[Checked]:
    """Each manifest file carries ``label`` on the channel with the sha256 the build recorded."""
    from cipub.channels.base import find_file

    results = []
    listed: dict[tuple[str, str], list[ChannelFile]] = {}
    for a in manifest.artifacts:
        key = (a.name, a.version)
        if key not in listed:
            listed[key] = channel.files(a.name, a.version)
        found = find_file(listed[key], a.subdir, a.filename)
        sha = found.sha256_in(label) if found is not None else None
        if found is None or label not in found.labels:
            results.append(Checked(a, f"not in label {label}", False))
        elif sha != a.sha256:
            results.append(Checked(a, f"sha256 {str(sha)[:12]} in label {label}, built {a.sha256[:12]}", False))
        else:
            results.append(Checked(a, "on channel", True))
    return results


def rattler_client(credentials: tuple[str, dict[str, str]] | None) -> Any:
    """A py-rattler client that sends the target's credentials to the target's conda host only
    (an ``AddHeadersMiddleware`` bound to that host); None: py-rattler's default, anonymous."""
    if credentials is None:
        return None
    from rattler.networking import AddHeadersMiddleware, Client

    host, headers = credentials

    def headers_for(request_host: str, _path: str) -> dict[str, str] | None:
        return dict(headers) if request_host == host else None

    return Client([AddHeadersMiddleware(headers_for)])


def _wait_on_channel(manifest: Manifest, channel: Channel, label: str, index_wait: float) -> list[Checked]:
    """:func:`check_on_channel`, repeated (bounded by ``index_wait``) while a file is not shown yet."""
    import time

    from cipub.channels.base import poll_until

    def settled(checked: list[Checked]) -> bool:
        # only "not shown (yet)" can change by waiting; a wrong sha256 is final
        return not any(not r.ok and r.state.startswith("not in label") for r in checked)

    results = check_on_channel(manifest, channel, label)
    # Waiting only helps where the server writes the index; cipub indexes a local directory or
    # an S3 bucket itself when its batch ends, so a file not shown there now never will be.
    if settled(results) or index_wait <= 0 or not channel.capabilities.server_side_index:
        return results

    def shown() -> bool:
        nonlocal results
        forget = getattr(channel, "_forget_batch", None)
        if forget is not None:
            forget()  # read the server afresh, not the batch's cache
        results = check_on_channel(manifest, channel, label)
        return settled(results)

    poll_until(shown, timeout=index_wait, sleep=time.sleep, delay=1.0)
    return results


def install_exactly(
    entry: ArtifactEntry,
    channels: Sequence[str],
    platform: str,
    cache: Path,
    credentials: tuple[str, dict[str, str]] | None = None,
) -> str | None:
    """Solve and install exactly this file (name, version, build) into a fresh prefix, as conda
    would; None when it worked, else what went wrong. ``credentials`` (host, headers) let it read a
    private label."""
    import asyncio

    from rattler import Channel as RattlerChannel
    from rattler import Gateway, install, solve

    spec = f"{entry.name} =={entry.version} {entry.build}"
    client = rattler_client(credentials)

    async def run(prefix: Path) -> str | None:
        subdirs: Any = [platform, "noarch"]
        gateway = Gateway(client=client, cache_dir=cache / "repodata") if client is not None else None
        records = await solve([RattlerChannel(c) for c in channels], [spec], platforms=subdirs, gateway=gateway)
        mine = [r for r in records if r.name.normalized == entry.name.lower()]
        if not mine or mine[0].file_name != entry.filename:
            return f"the solver did not select {entry.filename}"
        served = mine[0].sha256
        if served is not None and served.hex() != entry.sha256:
            return f"the channel serves {entry.filename} with sha256 {served.hex()[:12]}"
        await install(records, target_prefix=prefix, cache_dir=cache, show_progress=False, client=client)
        return None

    with tempfile.TemporaryDirectory(prefix="cipub-verify-") as tmp:
        try:
            return asyncio.run(run(Path(tmp) / "env"))
        except Exception as exc:  # py-rattler has its own exception classes; keep the first line
            # py-rattler names the URL it failed on: a token in it (anaconda.org's /t/TOKEN/) goes
            first = scrub(str(exc).strip().splitlines()[0]) if str(exc).strip() else type(exc).__name__
            if is_network_failure(exc):
                # not a verdict on the package: the channels could not be read (exit 7, not 8)
                raise NetworkError(
                    f"cannot check {spec}: a channel could not be reached ({first})",
                    hint="check the network or the dependency channels (CIPUB_CHANNELS, or `channels` in the "
                    "config); --mode files verifies the label without installing",
                ) from None
            return f"cannot install {spec}: {first}"


#: what py-rattler (reqwest) says when a request never got an answer
_NETWORK_WORDS = ("error sending request", "tcp connect error", "dns error", "timed out", "connection refused")


def is_network_failure(exc: BaseException) -> bool:
    """py-rattler's gateway/fetch/installer errors that come from the network, not the package."""
    text = str(exc).lower()
    return type(exc).__name__ in ("GatewayError", "FetchRepoDataError", "InstallerError") and any(
        word in text for word in _NETWORK_WORDS
    )


def verify_release(
    manifest: Manifest,
    channel: Channel,
    label: str,
    *,
    mode: str = "install",
    dependency_channels: Sequence[str] = (),
    platform: str | None = None,
    report: Reporter = SILENT,
    index_wait: float = 0.0,
) -> list[Checked]:
    """Check every file; VerificationError (exit 8) naming each one that failed. Servers index in
    the background: a file not (yet) shown is looked for again for up to ``index_wait`` seconds."""
    with channel:
        results = _wait_on_channel(manifest, channel, label, index_wait)
        # anaconda.org: the channel URL itself carries the token (/t/TOKEN/); never printed
        source_of = getattr(channel, "install_source", None)
        install_url = source_of(label) if source_of is not None else channel.install_url(label)
        credentials_of = getattr(channel, "install_credentials", None)
        credentials = credentials_of(label) if credentials_of is not None else None
    if mode != "files":
        from rattler import Subdir

        here = platform or str(Subdir.current())
        with tempfile.TemporaryDirectory(prefix="cipub-verify-pkgs-") as cache:
            for i, result in enumerate(results):
                if result.ok and result.entry.subdir in (here, "noarch"):
                    # the channels the file's build solved from (channel_sources, -c), as recorded
                    # in the manifest; a manifest that names none: the channels setting
                    dependencies = result.entry.channels or list(dependency_channels)
                    sources = [install_url] + (dependencies if mode == "install" else [])
                    problem = install_exactly(result.entry, sources, here, Path(cache), credentials)
                    results[i] = Checked(result.entry, problem or "installed", problem is None)
    for r in results:
        report.say(f"{'ok' if r.ok else 'FAILED':<7}{r.entry.key}  {r.state}")
    failed = [r for r in results if not r.ok]
    if failed:
        raise VerificationError(
            f"{len(failed)} of {len(results)} file(s) failed verification in label {label}: "
            + "; ".join(f"{r.entry.key}: {r.state}" for r in failed),
            hint="nothing was promoted; upload the manifest again (`cipub upload`) and re-run verify",
        )
    return results
