"""Local stand-ins for AWS: a moto server for DynamoDB/EventBridge, on 127.0.0.1 only.

Used by the embedded demo, the integration tests and the benchmarks, so all three exercise
the daemon over real sockets exactly as it runs against AWS.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from poller_devtools.local_server import KeepAliveWSGIServer

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


class SerializedApp:
    """WSGI wrapper that lets one request at a time into moto.

    DynamoDB applies writes to an item one at a time, so a conditional write is atomic; moto does
    not lock, and under werkzeug's threaded server two racing conditional writes could both win
    (seen in tests: 2 of 20 trials of 4 racers). The keep-alive server runs one request at a time
    too; the lock keeps the guarantee whatever serves the app. Replicas, leases and cancels race
    by design, so the local stand-in must serialise like the real service. moto is CPU-bound
    under the GIL, so little is lost.
    """

    def __init__(self, app: Any) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: Any, start_response: Any) -> Any:
        with self._lock:
            return list(self._app(environ, start_response))


def make_moto_server(host: str, port: int) -> KeepAliveWSGIServer:
    """moto's own WSGI app, unmodified, serialised, behind a keep-alive server
    (``poller_devtools.local_server``)."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    app = SerializedApp(DomainDispatcherApplication(create_backend_app))
    return KeepAliveWSGIServer(app, host, port)


@contextmanager
def running_moto_server(host: str = "127.0.0.1", port: int = 0, in_process: bool = True) -> Iterator[str]:
    """A moto server that serialises requests like DynamoDB does per item.

    ``in_process=False`` runs it as a child process (for benchmarks: no GIL shared with the daemon).
    """
    if in_process:
        server = make_moto_server(host, port)
        thread = threading.Thread(target=server.serve_forever, name="moto", daemon=True)
        thread.start()
        try:
            yield f"http://{host}:{server.server_address[1]}"
        finally:
            server.shutdown()
            thread.join(timeout=10)
        return
    port = port or free_port(host)
    proc = subprocess.Popen(
        [sys.executable, "-m", "poller_devtools.local", "--host", host, "--port", str(port)],
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m poller_devtools.local",
        description="A moto server (DynamoDB, EventBridge) that serialises requests like DynamoDB.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=5000, help="port (default 5000)")
    args = parser.parse_args(argv)
    server = make_moto_server(args.host, args.port)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"moto (serialised) on http://{args.host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
