"""Log lines of the CLI pass the secret scrubber: a URL can carry a token (anaconda.org's
``/t/TOKEN/`` form, read by ``ci verify`` and by promote's index wait), and a retry logs its URL."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import REPO

SCRIPT = """
import logging
from cipub.cli import _app
from cipub.core.secrets import read_token
_app._configure_logging()
read_token(["ANACONDA_API_TOKEN"])
logging.getLogger("cipub.transport").warning("GET https://conda.example/t/tok-canary-4d2f9e81/me/noarch")
"""


def test_a_logged_url_with_a_token_is_scrubbed() -> None:
    env = {**os.environ, "ANACONDA_API_TOKEN": "tok-canary-4d2f9e81", "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True)
    assert "tok-canary-4d2f9e81" not in proc.stderr
    assert "cipub: GET https://conda.example/t/***/me/noarch" in proc.stderr


RETRY_SCRIPT = """
import logging, sys
from cipub.cli import _app
_app.state.verbose = int(sys.argv[1])
_app._configure_logging()
logging.getLogger("urllib3.connectionpool").warning("Retrying (Retry(total=2)) after connection broken")
logging.getLogger("cipub.transport").warning("cipub's own warning")
"""


def test_urllib3_retry_lines_show_only_when_verbose() -> None:
    # sigstore and anaconda-client retry through urllib3, which warns on each attempt: noise at the
    # default verbosity (cipub reports the outcome), useful with -v
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    runs = {
        level: subprocess.run(
            [sys.executable, "-c", RETRY_SCRIPT, level], env=env, capture_output=True, text=True, check=True
        ).stderr
        for level in ("0", "1")
    }
    assert "Retrying" not in runs["0"] and "cipub's own warning" in runs["0"]
    assert "Retrying" in runs["1"]
