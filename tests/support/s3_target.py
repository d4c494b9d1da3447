"""An S3 channel target for tests: moto's standalone server (``moto_server``) on 127.0.0.1.

    with moto_server() as endpoint:                       # one per session
        with s3_target(tmp_path, server=endpoint) as h:   # a fresh bucket per test
            ...

The bucket gets a public-read policy, as a static channel behind a CDN would, so py-rattler
installs from the plain HTTP endpoint without credentials. ``state()`` reads the bucket with
boto3 and hashes the bytes itself: it never trusts metadata or cipub.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import itertools
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from tests.support.targets import TargetHandle

ACCESS_KEY = "cipub-test-access"
SECRET_KEY = "cipub-test-secret-9f3c1e"  # a canary: must never appear in cipub's output
REGION = "us-east-1"
_counter = itertools.count()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes] | None = None, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server for {url} exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"server at {url} did not start within {timeout}s")


_WATCHDOG = (
    "import os, sys, threading\n"
    "from moto.server import main\n"
    "threading.Thread(target=main, args=(['-H', sys.argv[1], '-p', sys.argv[2]],), daemon=True).start()\n"
    "sys.stdin.read()\n"
    "os._exit(0)\n"
)


@contextlib.contextmanager
def moto_server(log_dir: Path | None = None) -> Iterator[str]:
    """Start ``moto_server`` (from the ``moto[server]`` test extra) and yield its endpoint URL."""
    try:
        import moto.server  # noqa: F401
    except ModuleNotFoundError as exc:  # fail, never skip: the acceptance depends on it
        raise RuntimeError("moto[server] is not installed: pip install -e '.[test]'") from exc
    port = free_port()
    log = (log_dir / "moto.log").open("wb") if log_dir else subprocess.DEVNULL
    # moto's own server main, plus a watchdog: it exits when its stdin closes, i.e. when this
    # process ends however it ends (the test session leaves through os._exit, skipping atexit).
    proc = subprocess.Popen(
        [sys.executable, "-c", _WATCHDOG, "127.0.0.1", str(port)],
        stdin=subprocess.PIPE,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{endpoint}/moto-api/", proc)
        yield endpoint
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if log is not subprocess.DEVNULL:
            log.close()


def aws_env(endpoint: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": REGION,
        # keep boto3 away from any developer's ~/.aws
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }


def s3_client(endpoint: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name=REGION,
        config=Config(s3={"addressing_style": "path"}),
    )


def make_public_bucket(endpoint: str, bucket: str) -> None:
    client = s3_client(endpoint)
    client.create_bucket(Bucket=bucket)
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["s3:GetObject"],
                "Resource": [f"arn:aws:s3:::{bucket}/*"],
            }
        ],
    }
    client.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))


def bucket_state(endpoint: str, bucket: str, prefix: str) -> dict[str, dict[str, str]]:
    """{label: {"subdir/filename": sha256}} from the bucket's own bytes."""
    client = s3_client(endpoint)
    root = f"{prefix}/" if prefix else ""
    state: dict[str, dict[str, str]] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=root):
        for obj in page.get("Contents", []):
            rel = obj["Key"][len(root) :]
            if not rel.endswith((".conda", ".tar.bz2")):
                continue
            parts = rel.split("/")
            if parts[0] == "label" and len(parts) == 4:
                label, subdir, filename = parts[1], parts[2], parts[3]
            elif len(parts) == 2:
                label, subdir, filename = "main", parts[0], parts[1]
            else:
                continue
            body = client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            state.setdefault(label, {})[f"{subdir}/{filename}"] = hashlib.sha256(body).hexdigest()
    return state


_shared: dict[str, Any] = {}
_shared_lock = threading.Lock()


def shared_s3() -> str:
    """The process-wide moto server's endpoint (started on first use, stopped at exit)."""
    with _shared_lock:
        if "endpoint" not in _shared:
            stack = contextlib.ExitStack()
            _shared["endpoint"] = stack.enter_context(moto_server())
            atexit.register(stack.close)
        return str(_shared["endpoint"])


@contextlib.contextmanager
def s3_target(tmp_path: Path, server: str | None = None) -> Iterator[TargetHandle]:
    """A fresh public bucket with the channel under the prefix ``conda/chan``."""
    with contextlib.ExitStack() as stack:
        endpoint = server or stack.enter_context(moto_server(tmp_path))
        bucket = f"cipub-{os.getpid()}-{next(_counter)}"
        prefix = "conda/chan"
        make_public_bucket(endpoint, bucket)

        def install_url(label: str) -> str:
            tail = "" if label == "main" else f"/label/{label}"
            return f"{endpoint}/{bucket}/{prefix}{tail}"

        yield TargetHandle(
            kind="s3",
            url=f"s3://{bucket}/{prefix}",
            env=aws_env(endpoint),
            install_url=install_url,
            state=lambda: bucket_state(endpoint, bucket, prefix),
        )
