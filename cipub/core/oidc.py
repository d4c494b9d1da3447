"""Trusted publishing: trade the CI job's OIDC identity token for a short-lived upload token.

No long-lived secret is stored in the CI settings. The CI provider signs a JWT saying which
repository and workflow is running; the package server (prefix.dev convention) checks it against
the trusted publisher configured for the channel and answers with a token valid for minutes.

- GitHub Actions (job needs ``permissions: id-token: write``): GET
  ``$ACTIONS_ID_TOKEN_REQUEST_URL&audience=AUD`` with ``Authorization: bearer
  $ACTIONS_ID_TOKEN_REQUEST_TOKEN`` -> ``{"value": "<JWT>"}``.
- GitLab CI: the job declares ``id_tokens: PREFIX_DEV_ID_TOKEN: {aud: prefix.dev}``; the runner
  puts the JWT in that variable (``PREFIX_ID_TOKEN`` is accepted too).
- Exchange: ``POST {server}/api/oidc/mint_token`` with ``{"token": "<JWT>"}``; the response body
  is the upload token itself.

Both the JWT and the minted token are :class:`cipub.core.secrets.Secret` values (scrubbed from every
message) and masked in the CI log.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from urllib.parse import urlencode, urlsplit

from cipub.core.errors import AuthError, NetworkError
from cipub.core.secrets import Secret, mask
from cipub.core.transport import HttpClient, server_message

log = logging.getLogger("cipub.core.oidc")

MINT_PATH = "/api/oidc/mint_token"
PREFIX_DEV_AUDIENCE = "prefix.dev"


def audience_for(server_url: str) -> str:
    """``prefix.dev`` for prefix.dev itself; the host name for any other server (as rattler does)."""
    host = (urlsplit(server_url).hostname or "").lower()
    if host == "prefix.dev" or host.endswith(".prefix.dev"):
        return PREFIX_DEV_AUDIENCE
    return host


def gitlab_variables(audience: str) -> list[str]:
    """Variables a GitLab ``id_tokens`` block may use for this audience, most specific first."""
    derived = re.sub(r"[^A-Za-z0-9]", "_", audience).upper() + "_ID_TOKEN"
    names = [derived, "PREFIX_DEV_ID_TOKEN", "PREFIX_ID_TOKEN"]
    return list(dict.fromkeys(names))


def _register(value: str, source: str) -> Secret:
    secret = Secret(value, source)
    mask(value)
    return secret


def ci_identity_token(
    audience: str, *, environ: Mapping[str, str] | None = None, http: HttpClient | None = None
) -> Secret | None:
    """The CI job's OIDC token for ``audience``, or None when not running with one available."""
    env = os.environ if environ is None else environ
    for name in gitlab_variables(audience):
        value = env.get(name, "").strip()
        if value:
            return _register(value, name)
    request_url = env.get("ACTIONS_ID_TOKEN_REQUEST_URL", "").strip()
    request_token = env.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "").strip()
    if not request_url and not request_token:
        return None
    if not (request_url and request_token):
        raise AuthError(
            "GitHub Actions OIDC is half configured (ACTIONS_ID_TOKEN_REQUEST_URL or _TOKEN is missing)",
            hint="give the job `permissions: id-token: write`",
        )
    _register(request_token, "ACTIONS_ID_TOKEN_REQUEST_TOKEN")
    client = http or HttpClient("", what="GitHub OIDC token service", retries=3)
    try:
        # Append to the URL's own query (it already carries api-version): httpx ``params`` would replace it.
        separator = "&" if urlsplit(request_url).query else "?"
        data = client.json(
            "GET",
            f"{request_url}{separator}{urlencode({'audience': audience})}",
            headers={"Authorization": f"bearer {request_token}"},
        )
    finally:
        if http is None:
            client.close()
    jwt = data.get("value") if isinstance(data, dict) else None
    if not isinstance(jwt, str) or not jwt:
        raise AuthError("the GitHub OIDC token service answered without a token ('value')")
    return _register(jwt, "GitHub Actions OIDC token")


def mint_token(server_url: str, identity: Secret, *, http: HttpClient) -> Secret:
    """Exchange the CI identity token at the server for a short-lived upload token."""
    url = server_url.rstrip("/") + MINT_PATH
    hint = "configure a trusted publisher for this repository and workflow on the server, or set PREFIX_API_KEY"
    try:
        response = http.request("POST", url, json={"token": identity.reveal()})
    except AuthError as exc:
        raise AuthError(f"trusted publishing failed: {exc.message}", hint=hint) from exc
    if response.status_code >= 300:
        raise AuthError(
            f"{server_url} refused the CI's OIDC token ({response.status_code}): {server_message(response)}",
            hint=hint,
        )
    token = response.text.strip()
    if not token:
        raise NetworkError(f"{server_url}: the token exchange answered with an empty body")
    log.info("trusted publishing: received a short-lived upload token from %s", server_url)
    return _register(token, "trusted publishing token")


def trusted_publishing_token(
    server_url: str, *, environ: Mapping[str, str] | None = None, http: HttpClient
) -> Secret | None:
    """A short-lived token via trusted publishing, or None when the CI offers no identity token."""
    identity = ci_identity_token(audience_for(server_url), environ=environ, http=http)
    if identity is None:
        return None
    return mint_token(server_url, identity, http=http)
