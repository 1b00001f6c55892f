"""An HTTP/1.1 keep-alive server for a WSGI app (moto), on aiohttp, one request at a time.

Why not werkzeug's server, which moto ships with: it answers every request with ``Connection:
close``. Each AWS call then opened a TCP connection and tore it down again, and on the client
side every call left a transport, a protocol and a socket as cyclic garbage: at 10,000
executions that churn was what made the daemon's garbage collections, and so its event-loop
lag, long (``bench/stall_report.py`` sampled sockets, transports' ``__del__`` and weakref
callbacks in the long turns). DynamoDB itself keeps connections alive; so does this server.

The app runs on the server's event loop, inline: requests are therefore served one at a time,
which the stand-in needs anyway (``poller_devtools.local.SerializedApp``). ``serve_forever``,
``shutdown`` and ``server_address`` mirror ``socketserver`` so it drops in for werkzeug's.
"""

from __future__ import annotations

import asyncio
import io
import json
import socket
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote

from aiohttp import web
from multidict import CIMultiDict

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

MAX_REQUEST_BYTES = 32 * 1024 * 1024  # DynamoDB accepts 16 MB batch requests
LONG_POLL_STEP_SECONDS = 0.05  # how often an SQS long poll looks at the queue again
_HOP_BY_HOP = frozenset({"connection", "content-length", "keep-alive", "transfer-encoding"})


def _latin1(text: str) -> str:
    """PEP 3333: environ strings carry bytes as latin-1 code points."""
    return text.encode().decode("latin-1")


def wsgi_environ(request: web.BaseRequest, body: bytes, server_address: tuple[str, int]) -> dict[str, Any]:
    """The environ werkzeug's server would build for this request (headers, path, query, body)."""
    raw_path, _, query = request.raw_path.partition("?")
    environ: dict[str, Any] = {
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": _latin1(unquote(raw_path)),
        "QUERY_STRING": _latin1(query),
        "REQUEST_URI": _latin1(request.raw_path),
        "RAW_URI": _latin1(request.raw_path),
        "REMOTE_ADDR": request.remote or "",
        "SERVER_NAME": server_address[0],
        "SERVER_PORT": str(server_address[1]),
        "SERVER_PROTOCOL": f"HTTP/{request.version.major}.{request.version.minor}",
        "CONTENT_LENGTH": str(len(body)),
    }
    for name, value in request.headers.items():
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_LENGTH", "TRANSFER_ENCODING"):  # the body is read whole, dechunked
            continue
        if key != "CONTENT_TYPE":
            key = f"HTTP_{key}"
            if key in environ:
                value = f"{environ[key]},{value}"
        environ[key] = value.replace("\r\n", "")
    return environ


def long_poll_seconds(target: str | None, body: bytes) -> float | None:
    """The wait of an SQS ReceiveMessage long poll (JSON protocol), else None."""
    if target != "AmazonSQS.ReceiveMessage":
        return None
    try:
        wait = json.loads(body).get("WaitTimeSeconds")
    except (ValueError, AttributeError):
        return None
    return float(wait) if isinstance(wait, int | float) and wait > 0 else None


class KeepAliveWSGIServer:
    """Serves ``app`` on ``host:port`` (bound at construction, like ``socketserver``)."""

    def __init__(self, app: WSGIApp, host: str, port: int) -> None:
        self._app = app
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self._sock.listen(1024)
        self.server_address: tuple[str, int] = self._sock.getsockname()[:2]
        self._loop = asyncio.new_event_loop()
        self._done = threading.Event()

    def serve_forever(self) -> None:
        """Serve until :meth:`shutdown` (from another thread or a signal handler's thread)."""
        runner = web.AppRunner(self._web_app(), access_log=None, handle_signals=False)
        try:
            self._loop.run_until_complete(runner.setup())
            self._loop.run_until_complete(web.SockSite(runner, self._sock).start())
            self._loop.run_forever()
        finally:
            self._loop.run_until_complete(runner.cleanup())
            self._loop.close()
            self._done.set()

    def shutdown(self) -> None:
        if not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._done.wait(timeout=10)

    def _web_app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_REQUEST_BYTES)
        app.router.add_route("*", "/{path:.*}", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        wait = long_poll_seconds(request.headers.get("X-Amz-Target"), body)
        if wait is None:
            return self._call(request, body)
        return await self._long_poll(request, body, wait)

    async def _long_poll(self, request: web.Request, body: bytes, wait: float) -> web.Response:
        """SQS ReceiveMessage with WaitTimeSeconds, served as repeated short polls.

        moto waits for messages inside the request, which here would hold every other request
        (DynamoDB, EventBridge) for the whole wait. The short polls leave the loop free between
        them, and the client sees what a long poll answers: messages as soon as there are some.
        """
        short = json.dumps({**json.loads(body), "WaitTimeSeconds": 0}).encode()
        deadline = asyncio.get_running_loop().time() + wait
        while True:
            response = self._call(request, short)
            answered = response.body if isinstance(response.body, bytes) else b""
            if response.status != 200 or b'"Messages"' in answered:
                return response
            if asyncio.get_running_loop().time() >= deadline:
                return response
            await asyncio.sleep(LONG_POLL_STEP_SECONDS)

    def _call(self, request: web.Request, body: bytes) -> web.Response:
        started: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            started.update(status=status, headers=headers)
            return lambda data: chunks.append(data)

        chunks: list[bytes] = []
        result = self._app(wsgi_environ(request, body, self.server_address), start_response)
        try:
            chunks.extend(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        code, _, reason = started["status"].partition(" ")
        headers = CIMultiDict((n, v) for n, v in started["headers"] if n.lower() not in _HOP_BY_HOP)
        return web.Response(status=int(code), reason=reason or None, body=b"".join(chunks), headers=headers)
