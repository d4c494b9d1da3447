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
  copy), then file info must show the same sha256. ``remove_label``: ``DELETE`` the copy in the
  source repository, only when another label's repository holds the same sha256.
- Token: ``ARTIFACTORY_TOKEN`` (Bearer) or ``--token-file``; else ``ARTIFACTORY_USERNAME`` +
  ``ARTIFACTORY_PASSWORD`` (HTTP Basic).
"""

from __future__ import annotations

import base64
import logging
import re
import threading
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from cipub.channels import Target, TargetOptions
from cipub.channels.base import MAIN_LABEL, ChannelFile, label_channel_name
from cipub.core.artifact import Artifact, split_filename
from cipub.core.errors import AuthError, ConflictError, InvalidPackageError, NetworkError, UsageError, VerificationError
from cipub.core.secrets import Secret, read_token
from cipub.core.transport import HttpClient, file_chunks, server_message

log = logging.getLogger("cipub.artifactory")

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
_SAFE_SUBDIR = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def _check(value: str, pattern: re.Pattern[str], what: str) -> str:
    if not pattern.match(value):
        raise UsageError(f"invalid {what} {value!r}")
    return value


def _suffix_number(build: str) -> int:
    tail = build.rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() else 0


class ArtifactoryChannel:
    """Implements ``cipub.channels.base.Channel`` for Artifactory conda repositories."""

    def __init__(
        self,
        http: HttpClient,
        repo: str,
        *,
        display: str,
        labels: tuple[str, ...] = (),
        max_parallel: int = 4,
    ) -> None:
        self.http = http
        self.repo = _check(repo, _SAFE_NAME, "repository name")
        self.display = display
        self.max_parallel = max(1, max_parallel)
        self._extra_labels = set(labels)
        self._lock = threading.Lock()
        self._labels: set[str] | None = None
        self._repodata: dict[tuple[str, str], dict[str, Any]] = {}

    # -- context ----------------------------------------------------------------------------------
    def __enter__(self) -> ArtifactoryChannel:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with self._lock:
            self._labels = None
            self._repodata.clear()

    # -- helpers ----------------------------------------------------------------------------------
    def repo_for(self, label: str) -> str:
        return label_channel_name(self.repo, _check(label, _SAFE_NAME, "label"))

    def _path(self, subdir: str, filename: str) -> str:
        _check(subdir, _SAFE_SUBDIR, "subdir")
        _check(filename, _SAFE_NAME, "file name")
        return f"{subdir}/{quote(filename)}"

    def _get_json(self, url: str) -> Any | None:
        """GET expecting JSON; None on 404."""
        response = self.http.request("GET", url)
        assert response is not None
        if response.status_code == 404:
            return None
        if response.status_code >= 300:
            raise NetworkError(f"{self.display}: GET {url} answered {response.status_code}: {server_message(response)}")
        try:
            return response.json()
        except ValueError as exc:
            raise NetworkError(f"{self.display}: GET {url} did not answer JSON") from exc

    def labels(self) -> list[str]:
        """Labels = repositories named REPO or REPO-<label>, plus those this command names."""
        with self._lock:
            if self._labels is not None:
                return sorted(self._labels)
        found = {MAIN_LABEL, *self._extra_labels}
        listing = self._get_json("/api/repositories?type=local")
        for item in listing or []:
            key = str(item.get("key", "")) if isinstance(item, dict) else ""
            if key.startswith(f"{self.repo}-") and _SAFE_NAME.match(key[len(self.repo) + 1 :]):
                found.add(key[len(self.repo) + 1 :])
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

    def _repodata_record(self, repo: str, subdir: str, filename: str) -> dict[str, Any] | None:
        with self._lock:
            cached = self._repodata.get((repo, subdir))
        if cached is None:
            cached = self._get_json(f"/api/conda/{repo}/{subdir}/repodata.json") or {}
            with self._lock:
                self._repodata[(repo, subdir)] = cached
        for section in ("packages.conda", "packages"):
            record = (cached.get(section) or {}).get(filename)
            if isinstance(record, dict):
                return record
        return None

    # -- reading ----------------------------------------------------------------------------------
    def files(self, name: str, version: str | None = None) -> list[ChannelFile]:
        found: dict[tuple[str, str], dict[str, str]] = {}
        for label in self.labels():
            repo = self.repo_for(label)
            root = self._get_json(f"/api/storage/{repo}")
            if not isinstance(root, dict):
                continue  # the label's repository does not exist: nothing there
            subdirs = [
                str(c.get("uri", "")).strip("/")
                for c in root.get("children") or []
                if isinstance(c, dict) and c.get("folder")
            ]
            for subdir in subdirs:
                if not _SAFE_SUBDIR.match(subdir):
                    continue
                folder = self._get_json(f"/api/storage/{repo}/{subdir}") or {}
                for child in folder.get("children") or []:
                    filename = str(child.get("uri", "")).strip("/") if isinstance(child, dict) else ""
                    if not filename.startswith(f"{name}-") or child.get("folder"):
                        continue
                    try:
                        f_name, f_version, _build, _ext = split_filename(filename)
                    except InvalidPackageError:
                        continue
                    if f_name != name or (version is not None and f_version != version):
                        continue
                    sha = self.file_sha256(repo, subdir, filename)
                    if sha is not None:
                        found.setdefault((subdir, filename), {})[label] = sha
        result = []
        for (subdir, filename), shas in sorted(found.items()):
            f_name, f_version, build, _ext = split_filename(filename)
            first = sorted(shas)[0]
            record = self._repodata_record(self.repo_for(first), subdir, filename)
            number = record.get("build_number") if record else None
            distinct = set(shas.values())
            result.append(
                ChannelFile(
                    subdir=subdir,
                    filename=filename,
                    name=f_name,
                    version=f_version,
                    build=build,
                    build_number=int(number) if isinstance(number, int) else _suffix_number(build),
                    sha256=distinct.pop() if len(distinct) == 1 else None,
                    labels=frozenset(shas),
                    label_sha256=tuple(sorted(shas.items())),
                )
            )
        return result

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

    def _wrote(self, label: str, repo: str, subdir: str) -> None:
        with self._lock:
            self._extra_labels.add(label)
            if self._labels is not None:
                self._labels.add(label)
            self._repodata.pop((repo, subdir), None)

    def upload(self, artifact: Artifact, label: str) -> None:
        repo = self.repo_for(label)
        path = self._path(artifact.subdir, artifact.filename)
        if self._same_or_conflict(repo, artifact.subdir, artifact.filename, artifact.sha256):
            self._wrote(label, repo, artifact.subdir)
            return
        response = self.http.request(
            "PUT",
            f"/{repo}/{path}",
            content_factory=lambda: file_chunks(artifact.path),
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Length": str(artifact.size),
                "X-Checksum-Sha256": artifact.sha256,
            },
            landed=lambda: self.file_sha256(repo, artifact.subdir, artifact.filename) == artifact.sha256,
        )
        if response is not None and response.status_code >= 300:
            self._fail(response, f"uploading {artifact.filename} to {repo}", repo, label)
        found = self.file_sha256(repo, artifact.subdir, artifact.filename)
        if found != artifact.sha256:
            raise VerificationError(
                f"{self.display}: {repo}/{artifact.key} has sha256 {found} after the upload, expected {artifact.sha256}"
            )
        self._wrote(label, repo, artifact.subdir)

    def add_label(self, file: ChannelFile, label: str) -> None:
        if label in file.labels:
            return
        sources = [lab for lab in sorted(file.labels) if file.sha256_in(lab)]
        if not sources:
            raise VerificationError(f"{file.key}: no label holds a copy with a known sha256")
        sha = file.sha256_in(sources[0])
        assert sha is not None
        source, dest = self.repo_for(sources[0]), self.repo_for(label)
        if self._same_or_conflict(dest, file.subdir, file.filename, sha):
            self._wrote(label, dest, file.subdir)
            return
        path = self._path(file.subdir, file.filename)
        response = self.http.request(
            "POST",
            f"/api/copy/{source}/{path}",
            params={"to": f"/{dest}/{file.subdir}/{file.filename}", "suppressLayouts": "1", "failFast": "1"},
            landed=lambda: self.file_sha256(dest, file.subdir, file.filename) == sha,
        )
        if response is not None and response.status_code >= 300:
            self._fail(response, f"copying {file.key} from {source} to {dest}", dest, label)
        found = self.file_sha256(dest, file.subdir, file.filename)
        if found != sha:
            raise VerificationError(
                f"{self.display}: {dest}/{file.key} has sha256 {found} after the copy, expected {sha}"
            )
        self._wrote(label, dest, file.subdir)

    def remove_label(self, file: ChannelFile, label: str) -> None:
        sha = file.sha256_in(label)
        keeps = [lab for lab in sorted(file.labels - {label}) if file.sha256_in(lab) == sha]
        if not keeps:
            raise VerificationError(f"refusing to remove {file.key} from {label!r}: no other label holds the same file")
        kept = self.repo_for(keeps[0])
        if self.file_sha256(kept, file.subdir, file.filename) != sha:
            raise VerificationError(
                f"refusing to remove {file.key} from {label!r}: its copy in {kept!r} is missing or differs"
            )
        repo = self.repo_for(label)
        response = self.http.request("DELETE", f"/{repo}/{self._path(file.subdir, file.filename)}")
        assert response is not None
        if response.status_code >= 300 and response.status_code != 404:
            self._fail(response, f"removing {file.key} from {repo}", repo, label)
        self._wrote(label, repo, file.subdir)

    def install_url(self, label: str) -> str:
        return f"{str(self.http.client.base_url).rstrip('/')}/api/conda/{self.repo_for(label)}"

    def _fail(self, response: httpx.Response, what: str, repo: str, label: str) -> None:
        message = server_message(response)
        if response.status_code == 404:
            raise UsageError(
                f"{self.display}: {what}: repository {repo!r} not found ({message})",
                hint=f"create the local conda repository {repo!r}; label {label!r} maps to it",
            )
        if response.status_code == 409:
            raise ConflictError(f"{self.display}: {what}: {message}")
        if response.status_code in (400, 413, 415, 422):
            raise InvalidPackageError(f"{self.display}: {what} refused ({response.status_code}): {message}")
        raise NetworkError(f"{self.display}: {what} answered {response.status_code}: {message}")


def open_target(target: Target, options: TargetOptions) -> ArtifactoryChannel:
    base = (options.api_url or target.base).rstrip("/")
    headers: dict[str, str] = {}
    token = read_token(["ARTIFACTORY_TOKEN"], token_file=options.token_file, required=False)
    if token is not None:
        headers["Authorization"] = f"Bearer {token.reveal()}"
    else:
        user = read_token(["ARTIFACTORY_USERNAME"], required=False)
        password = read_token(["ARTIFACTORY_PASSWORD"], required=False)
        if user is None or password is None:
            raise AuthError(
                f"no credentials for {target.raw}: set ARTIFACTORY_TOKEN, "
                "or ARTIFACTORY_USERNAME and ARTIFACTORY_PASSWORD",
                hint="or pass --token-file PATH; tokens are never accepted as command-line values",
            )
        basic = base64.b64encode(f"{user.reveal()}:{password.reveal()}".encode()).decode()
        Secret(basic, "Artifactory basic credentials")  # registered, so it is scrubbed like the password
        headers["Authorization"] = f"Basic {basic}"
    http = HttpClient.for_target(
        base, options, headers=headers, pool_size=max(8, options.concurrency * 2), what=f"Artifactory {base}"
    )
    return ArtifactoryChannel(
        http,
        target.name,
        display=target.raw,
        labels=options.labels,
        max_parallel=options.concurrency,
    )
