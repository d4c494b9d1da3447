"""JFrog Artifactory conda repositories: ``artifactory+https://HOST/artifactory/REPO``.

Artifactory has no labels, so a label maps to a repository: ``main`` -> ``REPO``, ``L`` ->
``REPO-L`` (``label_channel_name``); those local conda repositories must exist. Conda clients
install from ``https://HOST/artifactory/api/conda/<repo>``.

- State: ``GET /api/repositories`` names the label repositories (``REPO`` and ``REPO-*``); folder
  info ``GET /api/storage/<repo>/<subdir>`` lists files, file info ``GET /api/storage/<repo>/<path>``
  gives the sha256 Artifactory computed. build_number comes from the repository's conda index
  (``/api/conda/<repo>/<subdir>/repodata.json``), else from the build string's ``_N``.
- Upload: ``PUT /<repo>/<subdir>/<file>`` with ``X-Checksum-Sha256`` (Artifactory rejects a body
  that does not match), streamed from disk -- only after file info said the path is free. A PUT
  *replaces* an existing file when the token may delete/overwrite, and Artifactory has no
  create-only header, so cipub checks first and reads back after; use a token without the
  delete/overwrite permission to make the server enforce it too.
- Promotion (``add_label``): ``POST /api/copy/<repo>/<path>?to=/<repo-L>/<path>`` (server-side
  copy from the source label's repository, which the policy names), then file info must show the
  same sha256. ``remove_label``: ``DELETE`` the copy in that label's repository.
- Token: ``ARTIFACTORY_TOKEN`` (Bearer) or ``--token-file``; else ``ARTIFACTORY_USERNAME`` +
  ``ARTIFACTORY_PASSWORD`` (HTTP Basic).
"""

from __future__ import annotations

import base64
import logging
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from cipub.channels.base import (
    MAIN_LABEL,
    Capabilities,
    ChannelFile,
    Uploaded,
    check_filename,
    check_subdir,
    group_copies,
    is_subdir,
    label_channel_name,
    label_of_channel,
    package_of,
    repodata_records,
)
from cipub.channels.http import HttpChannel
from cipub.channels.target import Target, TargetOptions
from cipub.core.artifact import Artifact
from cipub.core.errors import AuthError, CipubError, ConflictError, NetworkError, VerificationError
from cipub.core.secrets import Secret, read_token
from cipub.core.transport import file_chunks, server_message

log = logging.getLogger("cipub.artifactory")

#: where the token is read from, first name first (also the secret `cipub ci init github` names)
TOKEN_ENV = ("ARTIFACTORY_TOKEN",)


class ArtifactoryChannel(HttpChannel):
    """Implements ``cipub.channels.base.Channel`` for Artifactory conda repositories."""

    capabilities = Capabilities(server_side_copy=True, server_side_index=True, lists_labels=True)
    server = "Artifactory"
    token_env = TOKEN_ENV
    name_what = "repository name"

    _labels: set[str] | None
    _repodata: dict[tuple[str, str], dict[str, dict[str, Any]]]

    def auth_headers(self, token: Secret) -> dict[str, str]:
        """The token is the whole Authorization value (``Bearer T`` or ``Basic B``; see open_target)."""
        return {"Authorization": token.reveal()}

    def _forget_batch(self) -> None:
        with self._lock:
            self._labels = None
            self._repodata = {}

    # -- helpers ----------------------------------------------------------------------------------
    def repo_for(self, label: str) -> str:
        return label_channel_name(self.name, self.check_label(label))

    def _path(self, subdir: str, filename: str) -> str:
        return f"{check_subdir(subdir)}/{quote(check_filename(filename))}"

    def _get_json(
        self,
        url: str,
        expect: type[dict[str, Any]] | type[list[Any]] = dict,
        max_bytes: int | None = None,
        *,
        api_404: bool = False,
    ) -> Any | None:
        """GET expecting a JSON ``expect`` (exit 7 otherwise); None on 404 (with ``api_404``: only
        on the API's own JSON 404, an empty or HTML one is another server's, exit 7)."""
        response = self.http.request("GET", url, max_bytes=max_bytes)
        if self._not_found(response, f"GET {url}") if api_404 else response.status_code == 404:
            return None
        if response.status_code >= 300:
            raise self._fail(response, f"GET {url}")
        return self.http.parse(response, expect, f"GET {url}")

    def labels(self) -> list[str]:
        """Labels = repositories named REPO or REPO-<label> (one listing, cached for the batch)."""
        with self._lock:
            if self._labels is not None:
                return sorted(self._labels)
        found = {MAIN_LABEL}
        listing = self._get_json("/api/repositories?type=local", list, api_404=True)
        if listing is None:
            # every Artifactory answers this listing: a 404 is another server, or a URL without the
            # context path (https://HOST/REPO for https://HOST/artifactory/REPO); reading on would
            # report an empty channel (status, prune exit 0) or blame a missing repository
            raise NetworkError(
                f"{self.display}: GET /api/repositories answered 404: not an Artifactory API",
                hint="check the target URL: artifactory+https://HOST/artifactory/REPO (with the context path)",
            )
        for item in listing:
            label = label_of_channel(self.name, str(item.get("key", ""))) if isinstance(item, dict) else None
            if label is not None:
                found.add(label)
        with self._lock:
            self._labels = found
        return sorted(found)

    def file_sha256(self, repo: str, subdir: str, filename: str) -> str | None:
        """sha256 of a stored file as Artifactory computed it; None if absent."""
        info = self._get_json(f"/api/storage/{repo}/{self._path(subdir, filename)}")
        if not isinstance(info, dict):
            return None
        checksums = info.get("checksums") or {}
        sha = checksums.get("sha256") if isinstance(checksums, dict) else None
        if not sha:
            raise VerificationError(
                f"{self.display}: Artifactory reports no sha256 for {repo}/{subdir}/{filename}",
                hint="ask the administrator to calculate sha256 checksums (POST /api/checksum/sha256)",
            )
        return str(sha).lower()

    def _build_number(self, repo: str, subdir: str, filename: str) -> int | None:
        """From the repository's conda index (cached per batch); None if it does not list the file."""
        with self._lock:
            records = self._repodata.get((repo, subdir))
        if records is None:
            records = repodata_records(
                self._get_json(f"/api/conda/{repo}/{subdir}/repodata.json", max_bytes=self._options.max_download_bytes)
            )
            with self._lock:
                self._repodata[(repo, subdir)] = records
        number = (records.get(filename) or {}).get("build_number")
        return number if isinstance(number, int) else None

    # -- reading ----------------------------------------------------------------------------------
    def _children(self, path: str, *, folders: bool) -> list[str] | None:
        """Names of a storage folder's children (folders or files); None if it does not exist."""
        info = self._get_json(f"/api/storage/{path}")
        if not isinstance(info, dict):
            return None
        return [
            str(c.get("uri", "")).strip("/")
            for c in info.get("children") or []
            if isinstance(c, dict) and bool(c.get("folder")) == folders
        ]

    def files(self, name: str, version: str | None = None) -> list[ChannelFile]:
        rows = []
        for label in self.labels():
            repo = self.repo_for(label)
            for subdir in filter(is_subdir, self._children(repo, folders=True) or []):
                for filename in self._children(f"{repo}/{subdir}", folders=False) or []:
                    if filename.startswith(f"{name}-") and package_of(filename, name, version):
                        sha = self.file_sha256(repo, subdir, filename)
                        if sha is not None:
                            rows.append(((subdir, filename), label, sha, None))
        return [
            ChannelFile.from_copies(
                subdir,
                filename,
                copies,
                build_number=self._build_number(self.repo_for(min(copies)), subdir, filename),
            )
            for (subdir, filename), copies, _ in group_copies(rows)
        ]

    # -- writing ----------------------------------------------------------------------------------
    def _same_or_conflict(self, repo: str, subdir: str, filename: str, sha256: str) -> bool:
        """True if the path holds exactly ``sha256``; False if free; ConflictError if it differs."""
        existing = self.file_sha256(repo, subdir, filename)
        if existing is None:
            return False
        if existing != sha256:
            raise ConflictError(
                f"{subdir}/{filename} already exists in repository {repo!r} with different content",
                hint="cipub never overwrites; build with a new build number",
            )
        return True

    def _read_back(self, repo: str, subdir: str, filename: str, sha256: str, after: str) -> None:
        found = self.file_sha256(repo, subdir, filename)
        if found != sha256:
            raise VerificationError(
                f"{self.display}: {repo}/{subdir}/{filename} has sha256 {found} after the {after}, expected {sha256}"
            )

    def _wrote(self, label: str, repo: str, subdir: str) -> None:
        with self._lock:
            if self._labels is not None:
                self._labels.add(label)
            self._repodata.pop((repo, subdir), None)

    def upload(self, artifact: Artifact, label: str) -> Uploaded:
        repo = self.repo_for(label)
        path = self._path(artifact.subdir, artifact.filename)
        done: Uploaded = "skipped-identical"  # the label's repository holds these bytes already
        if not self._same_or_conflict(repo, artifact.subdir, artifact.filename, artifact.sha256):
            response = self.http.request(
                "PUT",
                f"/{repo}/{path}",
                content_factory=lambda: file_chunks(artifact.path, sha256=artifact.sha256),
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Length": str(artifact.size),
                    "X-Checksum-Sha256": artifact.sha256,
                },
                landed=lambda: self.file_sha256(repo, artifact.subdir, artifact.filename) == artifact.sha256,
            )
            if not response.is_success:
                raise self._write_error(response, f"uploading {artifact.filename} to {repo}", repo, label)
            self._read_back(repo, artifact.subdir, artifact.filename, artifact.sha256, "upload")
            done = "uploaded"
        self._wrote(label, repo, artifact.subdir)
        return done

    def add_label(self, file: ChannelFile, label: str, *, source_label: str | None) -> bool:
        source_label, sha = file.source_copy(source_label)
        source, dest = self.repo_for(source_label), self.repo_for(label)
        there = self._same_or_conflict(dest, file.subdir, file.filename, sha)
        if not there:
            response = self.http.request(
                "POST",
                f"/api/copy/{source}/{self._path(file.subdir, file.filename)}",
                params={"to": f"/{dest}/{file.subdir}/{file.filename}", "suppressLayouts": "1", "failFast": "1"},
                landed=lambda: self.file_sha256(dest, file.subdir, file.filename) == sha,
            )
            if not response.is_success:
                raise self._write_error(response, f"copying {file.key} from {source} to {dest}", dest, label)
            self._read_back(dest, file.subdir, file.filename, sha, "copy")
        self._wrote(label, dest, file.subdir)
        return not there

    def remove_label(self, file: ChannelFile, label: str) -> None:
        repo = self.repo_for(label)
        response = self.http.request("DELETE", f"/{repo}/{self._path(file.subdir, file.filename)}")
        if not response.is_success and response.status_code != 404:  # 404: already gone
            raise self._write_error(response, f"removing {file.key} from {repo}", repo, label)
        self._wrote(label, repo, file.subdir)

    def fetch(self, file: ChannelFile, label: str, dest: Path) -> None:
        """Download ``label``'s copy of ``file`` (its repository) to ``dest`` (cross-target promotion)."""
        path = f"/{self.repo_for(label)}/{self._path(file.subdir, file.filename)}"
        got = self.http.download(path, dest)
        if got.status != 200 or got.sha256 is None:
            raise NetworkError(
                f"{self.display}: downloading {file.key} from {self.repo_for(label)!r} answered {got.status}"
            )

    def install_url(self, label: str) -> str:
        return f"{self.base_url}/api/conda/{self.repo_for(label)}"

    def _write_error(self, response: httpx.Response, action: str, repo: str, label: str) -> CipubError:
        if response.status_code == 409:
            return ConflictError(f"{self.display}: {action}: {server_message(response)}")
        return self._refused(response, action, missing=f"repository {repo!r}", label=label)


def open_target(target: Target, options: TargetOptions) -> ArtifactoryChannel:
    base = (options.api_url or target.base).rstrip("/")
    token = options.read_token(TOKEN_ENV)
    if token is not None:
        bearer = Secret(f"Bearer {token.reveal()}", token.source)
        return ArtifactoryChannel(base, target.name, options, bearer, target.display)
    user = read_token(["ARTIFACTORY_USERNAME"], required=False)
    password = read_token(["ARTIFACTORY_PASSWORD"], required=False, allow_spaces=True)
    if user is None or password is None:
        raise AuthError(
            f"no credentials for {target.display}: "
            "set ARTIFACTORY_TOKEN, or ARTIFACTORY_USERNAME and ARTIFACTORY_PASSWORD",
            hint="or pass --token-file PATH; tokens are never accepted as command-line values",
        )
    # a Secret, so the encoded pair is scrubbed like the password
    basic = base64.b64encode(f"{user.reveal()}:{password.reveal()}".encode()).decode()
    header = Secret(f"Basic {basic}", "Artifactory basic credentials")
    return ArtifactoryChannel(base, target.name, options, header, target.display)
