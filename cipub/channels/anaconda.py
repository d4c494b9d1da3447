"""anaconda.org and Anaconda Repository (``https://anaconda.org/OWNER``, ``anaconda+https://HOST/OWNER``).

Labels are native: a file is stored once per owner and carries a set of labels; the conda channel
of label ``L`` is ``CONDA/OWNER/label/L`` (``main``: ``CONDA/OWNER``).

Wire (the binstar REST API as anaconda-client speaks it; ``shared/reference/protocols.md`` §1):
- Token: ``ANACONDA_API_TOKEN``, else ``BINSTAR_API_TOKEN``, else ``ANACONDA_API_KEY`` (the names
  anaconda-client and rattler-build read), or ``--token-file``; sent as ``Authorization: token T``.
  Reads of public packages work without one; writes fail at once (exit 5) naming the variables.
- State: one request per (name, version), whatever the number of files: ``GET /package/OWNER/NAME``
  while the batch does not know the package (its record lists every file, with labels and
  sha256, and a 404 says that neither the package nor the release exists), else
  ``GET /release/OWNER/NAME/VERSION`` (its distributions: the read-back after an upload);
  ``GET /package/OWNER/NAME/files`` when no version is given (build-number lookup).
- Upload: create the package and the release if missing (``GET`` then ``POST``, as anaconda-client
  does; a package or release the state query just found, or found absent, is not asked for again),
  ``POST /stage/...`` with the label and the sha256, the S3 form POST (streamed from disk, never
  held in memory; no anaconda token is sent to the storage host), ``POST /commit/...``.
  A retried commit first asks ``GET /dist/...`` whether the file landed with our sha256.
- Labels: ``POST`` / ``DELETE /channels/OWNER/LABEL`` with ``{package, version, basename}`` naming
  exactly one file (a null field would widen the operation to every file of the owner).
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cipub.channels.base import MAIN_LABEL, Capabilities, ChannelFile, NameRule, Uploaded, as_dict, as_list
from cipub.channels.http import Body, HttpChannel, file_form, segment
from cipub.channels.target import Target, TargetOptions
from cipub.core.artifact import Artifact
from cipub.core.errors import ConflictError, NetworkError, UsageError, VerificationError
from cipub.core.secrets import Secret
from cipub.core.transport import HttpClient, server_message

log = logging.getLogger("cipub.channels.anaconda")

TOKEN_ENV = ("ANACONDA_API_TOKEN", "BINSTAR_API_TOKEN", "ANACONDA_API_KEY")
DEFAULT_API = "https://api.anaconda.org"
DEFAULT_CONDA = "https://conda.anaconda.org"
#: anaconda.org lower-cases labels, so cipub refuses names the server would change (verification
#: would then miss them): the one naming rule, lowercase only
ANACONDA_LABELS = NameRule(
    re.compile(r"[a-z0-9][a-z0-9._-]*"),
    "anaconda.org labels are lowercase letters, digits, '.', '_' and '-' (the server lower-cases them)",
)
_ABOUT_KEYS = ("summary", "description", "license", "license_url", "license_family", "home", "dev_url", "doc_url")


def conda_base_for(api_base: str) -> str:
    """The conda download host of an API host: conda's own rule (first ``api`` -> ``conda``)."""
    if api_base.rstrip("/") == DEFAULT_API:
        return DEFAULT_CONDA
    return re.sub(r"([./])api([./]|$)", r"\1conda\2", api_base.rstrip("/"), count=1)


def read_about(path: Path) -> dict[str, Any]:
    """``info/about.json`` of a package (empty if it has none), for the package's page."""
    from conda_package_streaming import package_streaming

    try:
        with path.open("rb") as fh:
            stream = package_streaming.stream_conda_component(path.name, fh, package_streaming.CondaComponent.info)
            for tar, member in stream:
                if member.name == "info/about.json":
                    extracted = tar.extractfile(member)
                    data = json.loads(extracted.read(1024 * 1024)) if extracted else {}
                    stream.close()
                    return data if isinstance(data, dict) else {}
    except (OSError, ValueError) as exc:  # the package was checked before; about.json is decoration
        log.info("%s: no readable info/about.json (%s)", path.name, exc)
    return {}


def multipart_form(
    fields: list[tuple[str, str]], filename: str, path: Path, size: int, sha256: str | None = None
) -> tuple[str, int, Body]:
    """The storage's form POST: the presigned fields, then the file part last (S3 ignores fields
    after it), streamed from disk (see ``file_form``)."""
    boundary = uuid.uuid4().hex
    head = "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n' for name, value in fields
    )
    head += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    )
    return file_form(boundary, head, path, size, sha256)


class AnacondaChannel(HttpChannel):
    """Implements ``cipub.channels.base.Channel`` against the anaconda.org (binstar) API."""

    capabilities = Capabilities(native_labels=True, server_side_copy=True, server_side_index=True, lists_labels=True)
    server = "anaconda"
    token_env = TOKEN_ENV
    label_names = ANACONDA_LABELS
    name_what = "anaconda.org owner"
    name_rule = NameRule(re.compile(r"[^/]+"), "expected one owner (user or organisation) after the host")
    extra_headers = (("Accept", "application/json"),)

    #: packages / releases known to exist during this batch, and a lock per key
    _known: set[tuple[str, ...]]
    _key_locks: dict[tuple[str, ...], threading.Lock]
    #: packages and releases the state query found absent in this batch (their GET need not be repeated)
    _absent: set[tuple[str, ...]]

    # -- plumbing -----------------------------------------------------------------------------
    @property
    def api_base(self) -> str:
        return self.base_url

    @property
    def owner(self) -> str:
        return self.name

    @property
    def conda_base(self) -> str:
        return conda_base_for(self.base_url)

    def auth_headers(self, token: Secret) -> dict[str, str]:
        return {"Authorization": f"token {token.reveal()}"}

    @property
    def storage(self) -> HttpClient:
        """For the presigned storage POST: carries no anaconda token (it goes to another host)."""
        return self.plain_client("", "package storage")

    def _forget_batch(self) -> None:
        self._known, self._absent, self._key_locks = set(), set(), {}

    def _release_path(self, name: str, version: str) -> str:
        return f"/{segment(self.owner)}/{segment(name)}/{segment(version)}"

    # -- state --------------------------------------------------------------------------------
    def files(self, name: str, version: str | None = None) -> list[ChannelFile]:
        if version is not None:
            with self._lock:
                package_known = ("package", name) in self._known
            if not package_known:
                found = self._release_files_from_package(name, version)
                if found is not None:
                    return found
            response = self.http.request("GET", f"/release{self._release_path(name, version)}")
            key = ("release", name, version)
            if self._not_found(response, f"reading release {name} {version}"):
                with self._lock:
                    self._absent.add(key)
                return []
            if response.status_code != 200:
                raise self._fail(response, f"reading release {name} {version}")
            with self._lock:  # the release exists, so does its package: an upload needs neither GET
                self._known.update({key, ("package", name)})
                self._absent.discard(key)
            dists = as_list(self.http.parse(response, dict, f"reading release {name} {version}").get("distributions"))
        else:
            response = self.http.request("GET", f"/package/{segment(self.owner)}/{segment(name)}/files")
            if self._not_found(response, f"reading the files of {name}"):
                return []
            if response.status_code != 200:
                raise self._fail(response, f"reading the files of {name}")
            dists = self.http.parse(response, list, f"reading the files of {name}")
        found = []
        for listed in dists:
            channel_file = self._channel_file(name, self._complete(name, version, listed))
            if channel_file is not None:
                found.append(channel_file)
        return found

    def _release_files_from_package(self, name: str, version: str) -> list[ChannelFile] | None:
        """The files of release ``version``, read from the package's record (``GET /package/OWNER/NAME``,
        which lists every file of the package), while this batch does not know whether the package
        exists: the same answer says that too. A 404 means neither the package nor the release is
        there, so an upload skips both GETs before creating them (the release's GET was already
        skipped after a 404 from ``/release``; the package's was not: 8 requests per new package
        where rattler-build's uploader makes 7). In the common case, a new version of a package, the
        upload read this record anyway (its existence check). Once the package is known, the smaller
        release record is read (the read-back after the upload). None: the record lists no files
        (not every server of this protocol may put them there), so the release record decides.
        """
        what = f"reading package {name}"
        response = self.http.request("GET", f"/package/{segment(self.owner)}/{segment(name)}")
        package, release = ("package", name), ("release", name, version)
        if self._not_found(response, what):
            with self._lock:
                self._absent.update({package, release})
            return []
        if response.status_code != 200:
            raise self._fail(response, what)
        record = self.http.parse(response, dict, what)
        listed = record.get("files")
        if not isinstance(listed, list):
            return None
        dists = [
            d
            for d in listed
            if isinstance(d, dict) and str(d.get("version") or as_dict(d.get("attrs")).get("version") or "") == version
        ]
        versions = record.get("versions")
        with self._lock:
            self._known.add(package)
            self._absent.discard(package)
            if dists or (isinstance(versions, list) and version in versions):
                self._known.add(release)
                self._absent.discard(release)
            elif isinstance(versions, list):  # the record lists its releases, and not this one
                self._absent.add(release)
        found = []
        for dist in dists:
            channel_file = self._channel_file(name, self._complete(name, version, dist))
            if channel_file is not None:
                found.append(channel_file)
        return found

    def _complete(self, name: str, version: str | None, dist: Any) -> Any:
        """``labels`` and ``sha256`` in a release's file list are not documented: when a server
        leaves them out, read the file's own record (``GET /dist/...``, documented) instead."""
        if not isinstance(dist, dict) or ("labels" in dist and "sha256" in dist):
            return dist
        subdir, _, filename = str(dist.get("basename") or "").rpartition("/")
        version = str(dist.get("version") or version or "")
        if not (subdir and filename and version):
            return dist
        path = f"/dist{self._release_path(name, version)}/{segment(subdir)}/{segment(filename)}"
        response = self.http.request("GET", path)
        if response.status_code != 200:
            return dist
        record = self.http.parse(response, dict, f"reading {subdir}/{filename}")
        return {**dist, **record}

    @staticmethod
    def _channel_file(name: str, dist: Any) -> ChannelFile | None:
        if not isinstance(dist, dict):
            return None
        basename = str(dist.get("basename") or "")
        subdir, _, filename = basename.rpartition("/")
        if not subdir or not filename.endswith((".conda", ".tar.bz2")):
            return None  # not a conda file (anaconda.org also hosts pypi files and notebooks)
        attrs = as_dict(dist.get("attrs"))
        build = str(attrs.get("build") or filename.removesuffix(".conda").removesuffix(".tar.bz2").rsplit("-", 2)[-1])
        try:
            build_number = int(attrs.get("build_number", build.rsplit("_", 1)[-1]))
        except (TypeError, ValueError):
            build_number = 0
        sha256 = dist.get("sha256")
        # old anaconda.org files may carry the string "None": unknown content, never "identical"
        if not isinstance(sha256, str) or not re.fullmatch(r"[0-9a-f]{64}", sha256):
            sha256 = None
        return ChannelFile(
            subdir=subdir,
            filename=filename,
            name=name,
            version=str(dist.get("version") or attrs.get("version") or ""),
            build=build,
            build_number=build_number,
            sha256=sha256,
            labels=frozenset(str(label) for label in as_list(dist.get("labels"))),
        )

    def _dist(self, artifact: Artifact) -> ChannelFile | None:
        path = f"/dist{self._release_path(artifact.name, artifact.version)}/{segment(artifact.subdir)}/"
        response = self.http.request("GET", path + segment(artifact.filename))
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._fail(response, f"reading {artifact.key}")
        return self._channel_file(artifact.name, self.http.parse(response, dict, f"reading {artifact.key}"))

    def _landed(self, artifact: Artifact) -> bool:
        """Did an earlier attempt create exactly this file? (asked before a retried commit)"""
        existing = self._dist(artifact)
        return existing is not None and existing.sha256 == artifact.sha256

    # -- creating packages and releases ---------------------------------------------------------
    def _once(self, key: tuple[str, ...], create: Callable[[], None]) -> None:
        """Run ``create`` once per batch per key, even with parallel uploads of one package."""
        with self._lock:
            if key in self._known:
                return
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            if key in self._known:
                return
            create()
            with self._lock:
                self._known.add(key)

    def _exists(self, path: str, what: str) -> bool:
        response = self.http.request("GET", path)
        if response.status_code not in (200, 404):
            raise self._fail(response, f"reading {what}")
        return response.status_code == 200

    def _ensure_package(self, artifact: Artifact, about: Callable[[], dict[str, Any]]) -> None:
        key = ("package", artifact.name)

        def create() -> None:
            path = f"/package/{segment(self.owner)}/{segment(artifact.name)}"
            with self._lock:
                just_read_absent = key in self._absent
            if not just_read_absent and self._exists(path, f"package {artifact.name}"):
                return
            info = about()
            attrs = {key: info.get(key) for key in _ABOUT_KEYS}
            attrs.update(
                name=artifact.name,
                package_types=["conda"],
                license={
                    "name": info.get("license"),
                    "url": info.get("license_url"),
                    "family": info.get("license_family"),
                },
            )
            created = self.http.request("POST", path, json={"public": True, "publish": False, "public_attrs": attrs})
            if created.status_code == 404:
                raise UsageError(
                    f"{self.display}: cannot create package {artifact.name}: {server_message(created)}",
                    hint=f"check that the owner {self.owner!r} exists and is spelled as on the server",
                )
            # 409: a parallel job created it between our GET and POST -- what we wanted
            if created.status_code not in (200, 201, 409):
                raise self._fail(created, f"creating package {artifact.name}")

        self._once(key, create)

    def _ensure_release(self, artifact: Artifact, about: Callable[[], dict[str, Any]]) -> None:
        key = ("release", artifact.name, artifact.version)

        def create() -> None:
            path = f"/release{self._release_path(artifact.name, artifact.version)}"
            with self._lock:
                just_read_absent = key in self._absent
            if not just_read_absent and self._exists(path, f"release {artifact.name} {artifact.version}"):
                return
            info = about()
            payload: dict[str, Any] = {"requirements": [], "announce": None, "description": None}
            payload.update({key: info.get(key) for key in _ABOUT_KEYS})
            payload.update(version=artifact.version, home_page=info.get("home"))
            created = self.http.request("POST", path, json=payload)
            if created.status_code not in (200, 201, 409):
                raise self._fail(created, f"creating release {artifact.name} {artifact.version}")

        self._once(key, create)

    # -- upload -------------------------------------------------------------------------------
    def upload(self, artifact: Artifact, label: str) -> Uploaded:
        self._require_token()
        self.check_label(label)
        about_cache: list[dict[str, Any]] = []

        def about() -> dict[str, Any]:
            if not about_cache:
                about_cache.append(read_about(artifact.path))
            return about_cache[0]

        self._ensure_package(artifact, about)
        self._ensure_release(artifact, about)
        staged = self._stage(artifact, label)
        if isinstance(staged, str):
            return staged
        self._store(artifact, staged)
        self._commit(artifact, label, str(staged["dist_id"]))
        return "uploaded"

    def _file_path(self, kind: str, artifact: Artifact) -> str:
        # the basename keeps its slash, as anaconda-client sends it
        return f"/{kind}{self._release_path(artifact.name, artifact.version)}/{segment(artifact.subdir)}/" + (
            segment(artifact.filename)
        )

    def _stage(self, artifact: Artifact, label: str) -> dict[str, Any] | Uploaded:
        """The server's staging answer, or what was done when the file is there already (409)."""
        payload = {
            "distribution_type": "conda",
            "description": None,
            "attrs": artifact.index,
            "dependencies": {"depends": [{"name": d.split(" ", 1)[0], "specs": []} for d in artifact.depends]},
            "channels": [label],
            "sha256": artifact.sha256,
        }
        response = self.http.request("POST", self._file_path("stage", artifact), json=payload)
        if response.status_code == 200:
            staged: dict[str, Any] = self.http.parse(response, dict, f"staging {artifact.key}")
            if (
                not {"post_url", "form_data", "dist_id"} <= staged.keys()
                or not isinstance(staged["post_url"], str)
                or not isinstance(staged["form_data"], dict)
            ):
                raise NetworkError(
                    f"{self.display}: staging {artifact.key} answered without post_url, form_data and dist_id"
                )
            return staged
        if response.status_code == 409:
            return self._already_there(artifact, label)
        raise self._refused(response, f"staging {artifact.key}")

    def _already_there(self, artifact: Artifact, label: str) -> Uploaded:
        """The file exists (a parallel job, or an earlier attempt): fine only if it is ours."""
        existing = self._dist(artifact)
        if existing is None or existing.sha256 != artifact.sha256:
            raise ConflictError(
                f"{artifact.key} already exists on {self.display} with different content",
                hint="cipub never overwrites: rebuild with a new build number",
            )
        if label not in existing.labels:
            self._label_op("POST", existing, label)
            return "label-added"
        return "skipped-identical"

    def _store(self, artifact: Artifact, staged: dict[str, Any]) -> None:
        """The presigned form POST to the storage host, streamed from disk."""
        form = staged["form_data"]
        fields = [(str(k), str(v)) for k, v in (form.items() if isinstance(form, dict) else [])]
        md5_b64 = base64.b64encode(bytes.fromhex(artifact.md5)).decode()
        fields += [("Content-Length", str(artifact.size)), ("Content-MD5", md5_b64)]
        content_type, length, body = multipart_form(
            fields, artifact.filename, artifact.path, artifact.size, artifact.sha256
        )
        # Re-posting the same object under the same key is harmless, so plain retries are safe here.
        response = self.storage.request(
            "POST",
            str(staged["post_url"]),
            content_factory=body,
            headers={"Content-Type": content_type, "Content-Length": str(length)},
        )
        if 200 <= response.status_code < 300:
            return
        code = re.search(r"<Code>([^<]+)</Code>", response.text)
        detail = code.group(1) if code else response.reason_phrase
        if response.status_code == 403:
            raise NetworkError(
                f"{self.display}: the storage refused {artifact.key} (403 {detail}): the presigned upload "
                "expired or its signature does not match",
                hint="re-run: cipub stages the file afresh; a clock far off the real time also causes this",
            )
        if detail in ("InvalidDigest", "BadDigest"):
            raise VerificationError(
                f"the storage refused {artifact.key}: checksum mismatch ({detail})",
                hint="the file changed while it was being uploaded; rebuild or re-run",
            )
        raise NetworkError(f"{self.display}: storing {artifact.key} answered {response.status_code} ({detail})")

    def _commit(self, artifact: Artifact, label: str, dist_id: str) -> None:
        response = self.http.request(
            "POST",
            self._file_path("commit", artifact),
            json={"dist_id": dist_id},
            landed=lambda: self._landed(artifact),
        )
        if response.status_code == 200:  # also when an earlier attempt's answer was lost
            return
        if response.status_code == 409:
            self._already_there(artifact, label)
            return
        if response.status_code == 404 and self._landed(artifact):
            return  # an attempt whose answer was lost had committed (and used up the dist_id)
        if response.status_code == 402:
            raise self._refused(response, f"committing {artifact.key}")
        raise self._fail(response, f"committing {artifact.key}")

    # -- labels -------------------------------------------------------------------------------
    def _label_op(self, method: str, file: ChannelFile, label: str) -> None:
        self._require_token()
        self.check_label(label)
        if not (file.name and file.version and file.subdir and file.filename):
            raise UsageError(f"refusing a label change that does not name one file ({file.key})")
        body = {"package": file.name, "version": file.version, "basename": file.key}
        # add/remove of a label is idempotent, so retries need no landed check
        response = self.http.request(method, f"/channels/{segment(self.owner)}/{segment(label)}", json=body)
        if response.status_code in (200, 201, 204):
            return
        if response.status_code == 404 and method == "POST":
            raise VerificationError(f"{self.display}: {file.key} ({file.version}) is not on the channel")
        verb = "adding" if method == "POST" else "removing"
        raise self._fail(response, f"{verb} label {label!r} on {file.key}")

    def add_label(self, file: ChannelFile, label: str, *, source_label: str | None) -> bool:
        """A label change: the file is stored once, whatever label it came from (the server's
        answer is the same whether the label was there: True)."""
        self._label_op("POST", file, label)
        return True

    def remove_label(self, file: ChannelFile, label: str) -> None:
        self._label_op("DELETE", file, label)

    def fetch(self, file: ChannelFile, label: str, dest: Path) -> None:
        """Download the one stored copy of ``file`` (any label) to ``dest`` (cross-target promotion).
        A redirect to another host (the package store) is followed without the token."""
        path = f"/download/{segment(self.owner)}/{segment(file.name)}/{segment(file.version)}/{file.key}"
        got = self.download_from_store(path, dest)
        if got.status != 200 or got.sha256 is None:
            raise NetworkError(f"{self.display}: downloading {file.key} answered {got.status}")

    def copy_from_owner(self, source_owner: str, file: ChannelFile, from_label: str, to_label: str) -> None:
        """Server-side copy of one file from another owner's ``from_label`` into this owner's
        ``to_label`` (anaconda.org's ``/copy/package``, as conda-forge's staging copy does), with
        this channel's token. POST: the server refuses (409) rather than replace an existing file."""
        self._require_token()
        self.check_label(to_label)
        path = f"/copy/package/{segment(source_owner)}/{segment(file.name)}/{segment(file.version)}/{file.key}"
        body = {"to_owner": self.owner, "from_channel": from_label, "to_channel": to_label}
        response = self.http.request("POST", path, json=body)
        if response.status_code in (200, 201):
            return
        if response.status_code == 409:
            raise ConflictError(f"{self.display}: {file.key} already exists (copy refused, nothing replaced)")
        raise self._fail(response, f"copying {file.key} from owner {source_owner!r}")

    def install_url(self, label: str) -> str:
        base = f"{self.conda_base}/{self.owner}"
        return base if label == MAIN_LABEL else f"{base}/label/{label}"

    def install_credentials(self, label: str) -> tuple[str, dict[str, str]] | None:
        """None: conda clients read anaconda.org's private channels with the token in the path
        (:meth:`install_source`), not in a header."""
        return None

    def install_source(self, label: str) -> str:
        """The channel URL a conda client reads ``label`` from: with a token, the token-in-path form
        ``CONDA_BASE/t/<TOKEN>/OWNER[/label/L]`` (how conda and anaconda-client read private
        channels). It holds the token: give it to py-rattler only, never print it."""
        if self._token is None:
            return self.install_url(label)
        base = f"{self.conda_base}/t/{segment(self._token.reveal())}/{self.owner}"
        return base if label == MAIN_LABEL else f"{base}/label/{label}"


def open_target(target: Target, options: TargetOptions) -> AnacondaChannel:
    token = options.read_token(TOKEN_ENV, what=target.display)
    api_base = options.api_url or target.base or DEFAULT_API
    return AnacondaChannel(api_base, target.name, options, token, target.display)
