"""Local stand-ins for AWS: a moto server for DynamoDB/EventBridge, on 127.0.0.1 only.

Used by the embedded demo, the integration tests and the benchmarks, so all three exercise
the daemon over real sockets exactly as it runs against AWS.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local-moto",
    "AWS_SECRET_ACCESS_KEY": "local-moto",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def use_local_credentials() -> None:
    """Placeholder credentials for moto/drssim, so no real AWS credentials are ever sent there."""
    for key, value in LOCAL_CREDENTIALS.items():
        os.environ[key] = value
    os.environ.pop("AWS_SESSION_TOKEN", None)
    os.environ.pop("AWS_PROFILE", None)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_moto_server(host: str = "127.0.0.1", port: int = 0, in_process: bool = True) -> Iterator[str]:
    """A moto server; ``in_process=False`` runs it as a child process (for benchmarks: no GIL sharing)."""
    if in_process:
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
        server.start()
        bound_host, bound_port = server.get_host_and_port()
        try:
            yield f"http://{bound_host}:{bound_port}"
        finally:
            server.stop()
        return
    port = port or free_port(host)
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", host, "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://{host}:{port}"
    try:
        _wait_until_up(url, proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _wait_until_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto server exited with code {proc.returncode}")
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"moto server at {url} did not come up within {timeout} s")
