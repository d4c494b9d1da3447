"""A local OpenID Connect issuer that signs CI identity tokens, as GitHub Actions and GitLab do.

    with OidcIssuer() as issuer:
        env = issuer.github_env()              # ACTIONS_ID_TOKEN_REQUEST_URL / _TOKEN, GITHUB_ACTIONS
        jwt = issuer.mint("prefix.dev")        # what GitLab puts in an ``id_tokens`` variable

Endpoints (the parts of a real issuer that verifiers and CI jobs use):

    GET /.well-known/openid-configuration   {"issuer", "jwks_uri", ...}
    GET /.well-known/jwks                   the public signing key (RS256)
    GET /token?api-version=2.0&audience=A   GitHub's job token service: needs
                                            ``Authorization: bearer <request token>`` -> {"value": JWT}

Tokens carry ``iss``, ``aud``, ``sub``, ``iat``, ``nbf``, ``exp`` and the GitHub-style claims
``repository``, ``repository_owner``, ``workflow``, ``ref`` (overridable per token).
``forge()`` signs with a key the issuer never published, for negative tests.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

DEFAULT_CLAIMS = {
    "repository": "acme/widgets",
    "repository_owner": "acme",
    "workflow": "release",
    "ref": "refs/heads/main",
}


class OidcIssuer:
    def __init__(self, *, claims: dict[str, str] | None = None) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._rogue_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = uuid.uuid4().hex[:16]
        self.request_token = f"gha-request-{secrets.token_hex(8)}"
        self.claims = dict(DEFAULT_CLAIMS, **(claims or {}))
        self.issued: list[dict[str, Any]] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> OidcIssuer:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                issuer._handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> OidcIssuer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "issuer not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- tokens -----------------------------------------------------------------------------------
    def mint(self, audience: str, *, expires_in: int = 300, issuer: str | None = None, **claims: Any) -> str:
        now = int(time.time())
        body = {
            **self.claims,
            "iss": issuer or self.url,
            "aud": audience,
            "sub": f"repo:{self.claims['repository']}:ref:{self.claims['ref']}",
            "iat": now,
            "nbf": now - 5,
            "exp": now + expires_in,
            "jti": uuid.uuid4().hex,
            **claims,
        }
        self.issued.append(body)
        return jwt.encode(body, self._key, algorithm="RS256", headers={"kid": self.kid})

    def forge(self, audience: str, **claims: Any) -> str:
        """A token that looks right but is signed with a key this issuer never published."""
        now = int(time.time())
        body = {**self.claims, "iss": self.url, "aud": audience, "iat": now, "exp": now + 300, **claims}
        return jwt.encode(body, self._rogue_key, algorithm="RS256", headers={"kid": self.kid})

    def github_env(self) -> dict[str, str]:
        """The variables a GitHub Actions job with ``id-token: write`` sees."""
        return {
            "GITHUB_ACTIONS": "true",
            "ACTIONS_ID_TOKEN_REQUEST_URL": f"{self.url}/token?api-version=2.0",
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": self.request_token,
        }

    def jwks(self) -> dict[str, Any]:
        public = json.loads(RSAAlgorithm.to_jwk(self._key.public_key()))
        public.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        return {"keys": [public]}

    # -- HTTP -------------------------------------------------------------------------------------
    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(request.path)
        if parts.path == "/.well-known/openid-configuration":
            self._send(
                request,
                200,
                {
                    "issuer": self.url,
                    "jwks_uri": f"{self.url}/.well-known/jwks",
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "response_types_supported": ["id_token"],
                    "subject_types_supported": ["public"],
                },
            )
        elif parts.path == "/.well-known/jwks":
            self._send(request, 200, self.jwks())
        elif parts.path == "/token":
            auth = request.headers.get("Authorization", "")
            scheme, _, value = auth.partition(" ")
            if scheme.lower() != "bearer" or value != self.request_token:
                self._send(request, 401, {"message": "bad or missing request token"})
                return
            query = parse_qs(parts.query)
            audience = query.get("audience", [""])[-1]
            if not audience:
                self._send(request, 400, {"message": "audience is required"})
                return
            self._send(request, 200, {"count": 1, "value": self.mint(audience)})
        else:
            self._send(request, 404, {"message": "not found"})

    @staticmethod
    def _send(request: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)
