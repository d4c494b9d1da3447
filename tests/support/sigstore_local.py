"""A local Sigstore instance on 127.0.0.1: npm's ``@sigstore/mock`` (mock Fulcio CA with a CT log, and
a Rekor transparency log) behind a small Node HTTP server written here.

    with LocalSigstore() as sigstore:
        sigstore.trust_config      # ClientTrustConfig JSON file (trusted root + signing config)
        sigstore.trusted_root      # the trusted root alone (what py-rattler's TrustedRoot reads)

The mock Fulcio takes the identity token's ``sub`` as the certificate's SAN (a URI) and its ``iss``
as the issuer extension; it does not check the token's signature (the real Fulcio does). Keys are
fresh per server, so a bundle signed by one instance does not verify against another's root.

The npm package is installed in the per-user tool cache (tests/support/tool_cache.py) behind a file lock, atomically
(a ready mark written last, the directory renamed into place), like tests/support/node_tools.py
does for the CI tools. A machine without Node/npm makes the tests that need it FAIL, saying why.
The server is stopped by its own pid, never by name.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from tests.support.tool_cache import TOOLS_DIR, install_atomically, locked

PACKAGE = "@sigstore/mock"
VERSION = "0.12.1"
#: the per-user tool cache (tests/support/tool_cache.py), shared by every checkout on the machine
PREFIX = TOOLS_DIR / f"sigstore-mock-{VERSION}"
READY_MARK = ".cipub-ready"
INSTALL_TIMEOUT = float(os.environ.get("CIPUB_TEST_TOOLS_TIMEOUT", "1800"))

# Listens on 127.0.0.1 (an OS-chosen port), serves Fulcio's POST /api/v2/signingCert and Rekor's
# POST /api/v1/log/entries from the mock's handlers (moving the bearer identity token that
# sigstore-python sends into the body, where the mock Fulcio reads it, and its CSR from base64 to
# PEM; and logging a DSSE entry in the canonical form the real Rekor stores), writes the client trust config to argv[2]
# and prints "READY <base URL>" once it answers.
_DRIVER = r"""
const http = require("node:http");
const fs = require("node:fs");
const crypto = require("node:crypto");
const mock = require("@sigstore/mock");
const { generateKeyPair } = require("@sigstore/mock/dist/util/key");

const b64 = (bytes) => Buffer.from(bytes).toString("base64");
const der = (view) => Buffer.from(view.buffer, view.byteOffset, view.byteLength);

const sha256 = (data) => crypto.createHash("sha256").update(data).digest("hex");

// The real Rekor stores a DSSE entry in canonical form (hashes and signature/verifier pairs);
// the mock logs the proposed entry as it came, which verifiers reject. Canonicalize it first.
function canonicalDsse(body) {
  const entry = JSON.parse(body);
  const content = entry.kind === "dsse" && entry.spec && entry.spec.proposedContent;
  if (!content) return body;
  const envelope = JSON.parse(content.envelope);
  const spec = {
    envelopeHash: { algorithm: "sha256", value: sha256(content.envelope) },
    payloadHash: { algorithm: "sha256", value: sha256(Buffer.from(envelope.payload, "base64")) },
    signatures: envelope.signatures.map((s) => ({ signature: s.sig, verifier: content.verifiers[0] })),
  };
  return JSON.stringify({ apiVersion: entry.apiVersion, kind: "dsse", spec });
}

(async () => {
  const server = http.createServer();
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  const base = `http://127.0.0.1:${server.address().port}`;
  const ctKeys = generateKeyPair();
  const ctlog = await mock.initializeCTLog(ctKeys);
  const ca = await mock.initializeCA(generateKeyPair(), ctlog);
  const tlogKeys = generateKeyPair();
  const tlog = await mock.initializeTLog(base, tlogKeys);
  const handlers = [mock.fulcioHandler(ca), mock.rekorHandler(tlog)];
  server.on("request", (req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", async () => {
      const handler = handlers.find((h) => h.path === req.url.split("?")[0]);
      if (req.method !== "POST" || !handler) {
        res.writeHead(404, { "Content-Type": "text/plain" });
        res.end("not found");
        return;
      }
      let body = Buffer.concat(chunks).toString();
      const auth = (req.headers.authorization || "").match(/^bearer\s+(.+)$/i);
      if (handler.path.endsWith("/signingCert") && auth) {
        // sigstore-python sends the identity token as a bearer header; the mock reads it from the body
        const parsed = JSON.parse(body);
        parsed.credentials = parsed.credentials || { oidcIdentityToken: auth[1] };
        // ... and the CSR as base64 of its PEM (protobuf JSON bytes); the mock parses PEM text
        const csr = parsed.certificateSigningRequest;
        if (typeof csr === "string" && !csr.startsWith("-----")) {
          parsed.certificateSigningRequest = Buffer.from(csr, "base64").toString();
        }
        body = JSON.stringify(parsed);
      }
      if (handler.path === "/api/v1/log/entries") body = canonicalDsse(body);
      const out = await handler.fn(body);
      res.writeHead(out.statusCode, { "Content-Type": out.contentType || "text/plain" });
      res.end(typeof out.response === "string" ? out.response : der(out.response));
    });
  });
  const start = new Date(Date.now() - 3600 * 1000).toISOString();
  const spki = (keys) => keys.publicKey.export({ format: "der", type: "spki" });
  const logKey = (keys) => ({
    rawBytes: b64(spki(keys)),
    keyDetails: "PKIX_ECDSA_P256_SHA_256",
    validFor: { start },
  });
  const tlogDer = spki(tlogKeys);
  const trustedRoot = {
    mediaType: "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
    tlogs: [{
      baseUrl: base,
      hashAlgorithm: "SHA2_256",
      publicKey: logKey(tlogKeys),
      logId: { keyId: b64(crypto.createHash("sha256").update(tlogDer).digest()) },
    }],
    certificateAuthorities: [{
      subject: { organization: "sigstore.mock", commonName: "sigstore" },
      uri: base,
      certChain: { certificates: [{ rawBytes: b64(der(ca.rootCertificate)) }] },
      validFor: { start },
    }],
    ctlogs: [{
      baseUrl: base,
      hashAlgorithm: "SHA2_256",
      publicKey: logKey(ctKeys),
      logId: { keyId: b64(der(ctlog.logID)) },
    }],
    timestampAuthorities: [],
  };
  const service = (url) => ({ url, majorApiVersion: 1, validFor: { start }, operator: "cipub-tests" });
  const signingConfig = {
    mediaType: "application/vnd.dev.sigstore.signingconfig.v0.2+json",
    caUrls: [service(base)],
    oidcUrls: [],
    rekorTlogUrls: [service(base)],
    tsaUrls: [],
    rekorTlogConfig: { selector: "ANY" },
    tsaConfig: { selector: "ANY" },
  };
  const config = {
    mediaType: "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
    trustedRoot,
    signingConfig,
  };
  fs.writeFileSync(process.argv[2], JSON.stringify(config, null, 2));
  console.log(`READY ${base}`);
})().catch((err) => { console.error(err); process.exit(2); });
"""


def _pins() -> str:
    return hashlib.sha256(f"{PACKAGE}@{VERSION}\n{_DRIVER}".encode()).hexdigest()


def _ready() -> bool:
    try:
        return (PREFIX / READY_MARK).read_text(encoding="utf-8").strip() == _pins()
    except OSError:
        return False


def _install_into(partial: Path) -> None:
    npm = shutil.which("npm") or "npm"
    (partial / "package.json").write_text('{"name": "cipub-sigstore-mock", "private": true}\n', encoding="utf-8")
    cmd = [npm, "install", "--prefix", str(partial), "--no-audit", "--no-fund", "--loglevel=error"]
    proc = subprocess.run(
        [*cmd, f"{PACKAGE}@{VERSION}"], capture_output=True, text=True, check=False, timeout=INSTALL_TIMEOUT
    )
    if proc.returncode != 0:
        pytest.fail(f"npm could not install {PACKAGE}@{VERSION}:\n{proc.stderr[-2000:]}", pytrace=False)
    (partial / "server.cjs").write_text(_DRIVER, encoding="utf-8")
    (partial / READY_MARK).write_text(_pins() + "\n", encoding="utf-8")


def ensure_installed() -> Path:
    """``<tool cache>/sigstore-mock-VERSION`` with the pinned npm package and the driver; installed when missing."""
    if _ready():
        return PREFIX
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        pytest.fail("the local Sigstore needs Node.js 20 with npm on PATH (apt-get install nodejs npm)", pytrace=False)
    with locked("sigstore-mock"):
        if not _ready():
            install_atomically(PREFIX, "sigstore-mock", _install_into)
    return PREFIX


class LocalSigstore:
    """The mock Sigstore server, started on 127.0.0.1 and stopped by its own pid."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.trust_config = workdir / "trust_config.json"
        self.trusted_root = workdir / "trusted_root.json"
        self.url = ""
        self._proc: subprocess.Popen[str] | None = None

    def start(self) -> LocalSigstore:
        prefix = ensure_installed()
        self._proc = subprocess.Popen(
            [str(shutil.which("node")), str(prefix / "server.cjs"), str(self.trust_config)],
            cwd=prefix,  # require() resolves from .tools/sigstore-mock/node_modules
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline().strip()
        if not line.startswith("READY "):
            err = self._proc.stderr.read() if self._proc.stderr else ""
            self.stop()
            pytest.fail(f"the local Sigstore did not start: {line!r} {err[-2000:]}", pytrace=False)
        self.url = line.split(" ", 1)[1]
        config = json.loads(self.trust_config.read_text(encoding="utf-8"))
        self.trusted_root.write_text(json.dumps(config["trustedRoot"]), encoding="utf-8")
        return self

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        os.kill(proc.pid, signal.SIGTERM)  # our own child, by its pid
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def __enter__(self) -> LocalSigstore:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
